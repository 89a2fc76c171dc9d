"""Remove photos identified but never saved (rows and stored files); run it from cron."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.services.identification import cleanup_pending_photos


class Command(BaseCommand):
    help = "Delete temporary photos older than PENDING_PHOTO_MAX_AGE_HOURS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="age limit in hours (default: settings.PENDING_PHOTO_MAX_AGE_HOURS)",
        )

    def handle(self, *args, hours: float | None, **options) -> None:
        hours = settings.PENDING_PHOTO_MAX_AGE_HOURS if hours is None else hours
        if hours < 0:
            raise CommandError("--hours must be 0 or more")
        deleted = cleanup_pending_photos(older_than=timedelta(hours=hours))
        self.stdout.write(f"Deleted {deleted} abandoned photo{'s' if deleted != 1 else ''}.")
