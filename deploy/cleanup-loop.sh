#!/bin/sh
# Compose service `cleanup`: remove identified-but-never-saved photos (older than
# BIRDSITE_PENDING_PHOTO_MAX_AGE_HOURS) every CLEANUP_INTERVAL_SECONDS. A failed round (database or
# S3 briefly down) is logged and retried next round rather than restarting the container.
set -u
while true; do
  python manage.py cleanup_pending_photos || echo "cleanup_pending_photos failed; next try in ${CLEANUP_INTERVAL_SECONDS:-3600} s" >&2
  sleep "${CLEANUP_INTERVAL_SECONDS:-3600}"
done
