"""``/metrics``: the portal's Prometheus metrics (``chemearth.metrics``) and the Celery queue's
length read at scrape time. Not public: a scraper sends ``Authorization: Bearer
<METRICS_TOKEN>`` (empty: no token works), staff may look in a browser; anyone else gets the
same 404 as a missing page."""

from __future__ import annotations

import hmac
import logging
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .http import not_found

logger = logging.getLogger(__name__)


class QueueLength:
    """The number of tasks waiting in each of this deployment's Celery queues (Redis ``LLEN``),
    labelled by job kind (``settings.JOB_QUEUES``), read when scraped; left out when the broker
    does not answer (the health check says why)."""

    def collect(self):
        import redis

        try:
            broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
            waiting = {kind: broker.llen(queue) for kind, queue in settings.JOB_QUEUES.items()}
        except Exception:  # noqa: BLE001
            logger.warning("metrics: the broker did not answer", exc_info=True)
            return
        gauge = GaugeMetricFamily(
            "chemearth_celery_queue_length",
            "Tasks waiting in the deployment's Celery queue of each job kind.",
            labels=["queue"],
        )
        for kind, count in waiting.items():
            gauge.add_metric([kind], count)
        yield gauge


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return not_found(request)
    registry = _registry()
    body = generate_latest(registry)
    queue = CollectorRegistry()
    queue.register(QueueLength())
    body += generate_latest(queue)
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
