"""The Celery application: workers render map layers and ingest queued files; beat runs the
timed jobs (embargo releases, layer clean-up)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")

app = Celery("chemearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One JSON line per finished task (chemearth/logs.py).
from chemearth.logs import connect_task_logs  # noqa: E402

connect_task_logs()
