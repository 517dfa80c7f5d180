from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Data sharing"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (announces visibility changes to other apps)
