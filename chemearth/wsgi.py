"""WSGI entry point for gunicorn: Django, with map tiles answered in front of it
(``portal.tile_fast_path``, named by string as chemearth names every app)."""

import os

from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")
django_application = get_wsgi_application()
application = import_string("portal.tile_fast_path.TileFastPath")(django_application)
