"""The classifier app: stored files follow their rows; `/readyz` asks whether a model serves."""

from django.apps import AppConfig

from core import health


def model_readiness() -> dict[str, str | bool]:
    """Ready when a model loads; the detail names the version served. `stale`: a newer version
    is active but this worker cannot fetch it yet (the S3 model store is down): it keeps serving
    the one it has (the log says why)."""
    # Imported at the first probe: loading the app must not pull in PIL, NumPy and the ml package.
    from classifier.active_model import model_status

    status = model_status()
    return {
        "detail": f"ok: {status.version}",
        "version": status.version,
        "stale": status.stale,
        "active": status.active,
    }


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"

    def ready(self) -> None:
        from classifier import signals  # noqa: F401  (connects stored-file cleanup)

        health.register_check(name="model", check=model_readiness)
