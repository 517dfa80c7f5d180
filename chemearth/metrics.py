"""Prometheus metrics (prometheus_client): what the portal counts, in one place.

Apps call these objects where the event happens (a tile served, a layer rendered, rows ingested,
a package built); requests and Celery tasks are counted by ``chemearth.logs`` beside their log
line. ``/metrics`` (``portal/metrics.py``) exposes them, with the queue length read at scrape
time. Under gunicorn, each worker process counts apart: set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory shared by the workers and the endpoint adds them up (prometheus_client's
multiprocess mode); without it a scrape sees the process that answers it.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "chemearth_http_requests_total",
    "HTTP requests answered, by method, route pattern and status class.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "chemearth_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASKS = Counter(
    "chemearth_celery_tasks_total", "Celery tasks finished, by task and state.", ["task", "state"]
)
TASK_SECONDS = Histogram(
    "chemearth_celery_task_duration_seconds",
    "Time a Celery task ran, by task.",
    ["task"],
    buckets=(0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)
TILES = Counter(
    "chemearth_tiles_served_total",
    "Map tiles answered: cached (from disk) or cut now.",
    ["cache"],
)
LAYER_RENDERS = Counter(
    "chemearth_layer_renders_total", "Map layers rendered, by outcome.", ["outcome"]
)
INGESTED_ROWS = Counter(
    "chemearth_ingest_rows_total", "Rows written by ingests, by kind.", ["kind"]
)
DOWNLOAD_BYTES = Counter(
    "chemearth_download_package_bytes_total", "Bytes of download packages built."
)
DOWNLOAD_PACKAGES = Counter(
    "chemearth_download_packages_total", "Download packages built, by format.", ["format"]
)
