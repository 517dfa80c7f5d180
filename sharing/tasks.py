"""Timed release: when an embargo ends (or an agreement starts or ends), bump the policy version,
write the release to the audit log, and tell map layers to re-render.

The policy version already changes at the first request after 00:00 UTC (it counts the release
instants passed), so data opens on time even if this job runs late; the job makes the release
visible to caches that are not consulted by requests (pre-rendered map layers) and leaves a record.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from baselines.models import Country

from .audit import audit_record
from .models import AuditEvent, PolicyCounter, ReleasePolicy, SurveyEmbargo
from .signals import visibility_changed
from .versioning import bump_policy_version, release_instants_between


@shared_task(time_limit=300)
def release_due_embargoes() -> list[str]:
    """Process the release instants passed since the last run; returns the days processed."""
    now = timezone.now()
    with transaction.atomic():
        counter, _ = PolicyCounter.objects.select_for_update().get_or_create(pk=1)
        days = release_instants_between(counter.released_through, now)
        counter.released_through = now
        counter.save(update_fields=["released_through"])
        if not days:
            return []
        bump_policy_version()
        countries = set(
            ReleasePolicy.objects.filter(available_on__in=days).values_list("country", flat=True)
        ) | set(
            SurveyEmbargo.objects.filter(available_on__in=days).values_list(
                "survey__countries", flat=True
            )
        )
        for country in Country.objects.filter(pk__in=[c for c in countries if c]):
            audit_record(
                kind=AuditEvent.Kind.RELEASE,
                summary=f"Data of {country.code} released on schedule",
                country=country,
            )
        transaction.on_commit(
            lambda: visibility_changed.send(sender=None, reason="scheduled release")
        )
    return [day.isoformat() for day in days]
