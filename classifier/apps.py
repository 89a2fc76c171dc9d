"""The classifier app: stored files follow their rows; `/readyz` asks whether a model serves."""

from django.apps import AppConfig

from core import health


def model_readiness() -> str:
    """Ready when the active model loads; the detail names its version."""
    # Imported at the first probe: loading the app must not pull in PIL, NumPy and the ml package.
    from classifier.active_model import get_predictor

    return f"ok: {get_predictor().version}"


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"

    def ready(self) -> None:
        from classifier import signals  # noqa: F401  (connects stored-file cleanup)

        health.register_check(name="model", check=model_readiness)
