"""Re-render map layers when what they show changes: a policy change or release
(``sharing.signals.visibility_changed``) or an ingest (a new ``Ingestion`` row)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from baselines.models import Ingestion
from sharing.signals import visibility_changed

log = logging.getLogger(__name__)


def _queue_refresh(reason: str) -> None:
    from .tasks import refresh_map_layers

    try:
        refresh_map_layers.delay(reason)
    except Exception as exc:  # noqa: BLE001 — broker down: the beat job catches up
        log.warning("could not queue a map layer refresh (%s): %s", reason, exc)


@receiver(visibility_changed)
def _visibility_changed(sender, reason: str = "", **kwargs) -> None:
    # Retire at once (a rename per layer), so no stale tile is served even by a front server
    # while the refresh waits in the queue; the refresh then queues the new versions.
    from . import layers

    layers.retire_stale()
    _queue_refresh(f"visibility: {reason}")


@receiver(post_save, sender=Ingestion)
def _ingested(sender, instance: Ingestion, created: bool, **kwargs) -> None:
    if created:
        transaction.on_commit(lambda: _queue_refresh(f"ingest into {instance.survey_id}"))
