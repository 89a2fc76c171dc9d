from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"

    def ready(self) -> None:
        from classifier import signals  # noqa: F401  (connects stored-file cleanup)
