"""Celery tasks of the maps app: render a layer, refresh layers after a change, clean up."""

from __future__ import annotations

import logging

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.signals import task_failure
from django.db import OperationalError

from .models import MapLayer

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, time_limit=1800)  # layers.RENDER_TIME_LIMIT
def render_map_layer(self, layer_id: int) -> str:
    """Render one layer; its progress is on the layer row (``/api/v1/layers`` reports it)."""
    from . import layers

    layer = (
        MapLayer.objects.select_related("element", "medium", "viewer").filter(pk=layer_id).first()
    )
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    if layer is None or not layers.claim_render(layer.pk, redelivered=redelivered):
        return layer.state if layer else "missing"
    try:
        layer = layers.render(layer)
    except Exception as exc:
        log.exception("rendering layer %s failed", layer.key)
        layers.render_failed(layer_id, exc)
        raise
    return layer.state


@task_failure.connect
def render_worker_lost(sender=None, exception=None, args=None, kwargs=None, **_) -> None:
    """A pool process killed mid-render runs no except block: the worker's main process sees
    it lost and sends this signal, and the layer is queued again (``layers.render_lost``)."""
    if getattr(sender, "name", "") != render_map_layer.name:
        return
    if not isinstance(exception, WorkerLostError):
        return
    from . import layers

    layer_id = args[0] if args else (kwargs or {}).get("layer_id")
    log.warning("the worker rendering layer %s was lost: %s", layer_id, exception)
    layers.render_lost(layer_id, exception)


# A refresh reads the policy tables while a policy change may be writing them; a deadlock or a
# dropped connection is retried rather than leaving stale layers until the next cleanup.
@shared_task(time_limit=600, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def refresh_map_layers(reason: str = "") -> dict:
    """Retire layers made stale by a change and queue new versions of those in use."""
    from . import layers

    result = layers.refresh_layers()
    log.info("refreshed map layers after %s: %s", reason or "a change", result)
    return result


@shared_task(time_limit=600, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def cleanup_map_layers() -> dict:
    """Beat job: retire stale layers (also those a raw SQL change made stale, which sends no
    signal), delete retired layers' files and rows, and remove unused layers."""
    from . import layers

    return {**layers.refresh_layers(), **layers.delete_retired()}
