#!/bin/sh
# One release step before the web containers start (compose service `migrate`, and the smoke
# test): apply the database migrations once, and copy the image's hashed static files into the
# folder Nginx serves (DJANGO_STATIC_ROOT, a shared volume). Old hashed files stay there, so pages
# cached by browsers before an upgrade still find their stylesheet.
set -eu
python manage.py migrate --no-input
python manage.py collectstatic --no-input
