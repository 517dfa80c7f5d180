from django.apps import AppConfig


class MapsConfig(AppConfig):
    name = "maps"

    def ready(self) -> None:
        from . import signals  # noqa: F401 (connects the receivers)
