"""Beat's heartbeat: beat queues ``beat_heartbeat`` every HEALTH_BEAT_SECONDS and a worker writes
the time to the cache (under the deployment's key prefix); beat also writes it when it starts.
The health check calls beat down once the last heartbeat is older than HEALTH_BEAT_MAX_AGE."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.signals import beat_init
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "health:beat"
# Kept well beyond any stale limit, so "stale" (an old time) and "never" (no key) stay apart.
HEARTBEAT_KEEP_SECONDS = 7 * 24 * 3600


def record_heartbeat(at: float | None = None) -> float:
    """Write beat's heartbeat (a Unix time, default now) and return it."""
    at = time.time() if at is None else at
    cache.set(HEARTBEAT_KEY, at, timeout=HEARTBEAT_KEEP_SECONDS)
    return at


def last_heartbeat() -> float | None:
    value = cache.get(HEARTBEAT_KEY)
    return float(value) if isinstance(value, int | float) else None


@shared_task(time_limit=60, ignore_result=False)
def beat_heartbeat() -> dict:
    """Queued by beat; says which deployment's worker ran it (tests/test_isolation.py)."""
    return {"deployment": settings.DEPLOYMENT_NAME, "at": record_heartbeat()}


@beat_init.connect
def _beat_started(sender=None, **kwargs) -> None:
    """A heartbeat as beat starts: its first scheduled one comes only an interval later."""
    try:
        record_heartbeat()
    except Exception:
        logger.warning("could not record beat's heartbeat at start-up", exc_info=True)
