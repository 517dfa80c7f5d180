"""Compute the dashboards again after what they show changes: a policy change or release
(``sharing.signals.visibility_changed``) or an ingest (a new ``Ingestion`` row). Off with
``DASHBOARD_WARM_AFTER_CHANGES=false`` (the tests' setting: their worker must not race them)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from baselines.models import Ingestion
from sharing.signals import visibility_changed

log = logging.getLogger(__name__)


def queue_warm(reason: str) -> None:
    """Queue one warm-up (none while one already waits); a broker or cache outage only costs
    the next viewer the computation."""
    from .tasks import QUEUED_KEY, warm_dashboards

    if not settings.DASHBOARD_WARM_AFTER_CHANGES:
        return
    try:
        if cache.add(QUEUED_KEY, reason, timeout=3600):
            warm_dashboards.delay(reason)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not queue a dashboards warm-up (%s): %s", reason, exc)


@receiver(visibility_changed)
def _visibility_changed(sender, reason: str = "", **kwargs) -> None:
    queue_warm(f"visibility: {reason}")


@receiver(post_save, sender=Ingestion)
def _ingested(sender, instance: Ingestion, created: bool, **kwargs) -> None:
    if created:
        transaction.on_commit(lambda: queue_warm(f"ingest into {instance.survey_id}"))
