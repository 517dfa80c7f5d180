"""WSGI entry point for gunicorn: Django, with map tiles answered in front of it
(``portal.tile_fast_path``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")
django_application = get_wsgi_application()

from portal.tile_fast_path import TileFastPath  # noqa: E402 (needs Django set up)

application = TileFastPath(django_application)
