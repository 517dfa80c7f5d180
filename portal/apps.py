from django.apps import AppConfig


class PortalConfig(AppConfig):
    """Every public surface: the REST API, tiles, pages and their template tags."""

    name = "portal"
