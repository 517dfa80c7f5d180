"""Celery tasks of the dashboards: computing figures ahead of their viewers (``warm``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.db import OperationalError

log = logging.getLogger(__name__)
# Set while a warm-up waits in the queue: changes in a burst (an ingest of many files, a steward
# editing several policies) queue one, and one queued after it starts sees the later change.
QUEUED_KEY = "dashboards:warm-queued"


@shared_task(time_limit=3600, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=3)
def warm_dashboards(reason: str = "") -> dict:
    """Compute every audience's default dashboard figures into the cache."""
    from .warm import warm

    try:
        cache.delete(QUEUED_KEY)
    except Exception:  # noqa: BLE001 — Redis down: the figures are computed anyway
        log.warning("cache unavailable while warming dashboards", exc_info=True)
    result = warm()
    log.info("warmed dashboards after %s: %s", reason or "a change", result)
    return result
