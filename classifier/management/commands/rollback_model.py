"""Serve the previously active model again (``classifier.promotion.rollback_model``)."""

from __future__ import annotations

from typing import Any

from classifier.management.model_switch import SwitchCommand
from classifier.models import ModelPromotion
from classifier.promotion import rollback_model


class Command(SwitchCommand):
    help = (
        "Switch the site's active model back to the previous one atomically (the current one "
        "becomes 'previous', so a second rollback undoes the first) and record it; refused, like "
        "promote_model, when some of its species are not in the Species table. Running "
        "workers pick it up within a few seconds, without a restart."
    )

    def switch(self, *, performed_by: str, options: dict[str, Any]) -> ModelPromotion:
        return rollback_model(performed_by=performed_by)
