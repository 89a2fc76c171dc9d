from django.apps import AppConfig
from django.core.signals import request_started


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from core.db_connections import drop_connections_the_server_closed

        request_started.connect(drop_connections_the_server_closed)
