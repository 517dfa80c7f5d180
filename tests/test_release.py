"""Timed release: the beat job records embargo ends, bumps the policy version and notifies."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from baselines.models import Country
from sharing.models import AuditEvent, PolicyCounter, ReleasePolicy
from sharing.signals import visibility_changed
from sharing.tasks import release_due_embargoes
from sharing.versioning import policy_version


def _policy_opening_today() -> ReleasePolicy:
    return ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"),
        in_force=True,
        available_on=timezone.now().astimezone(dt.UTC).date(),
    )


def _last_checked_yesterday() -> None:
    PolicyCounter.objects.update_or_create(
        pk=1, defaults={"released_through": timezone.now() - dt.timedelta(days=1)}
    )


@pytest.mark.django_db
def test_release_job_records_an_embargo_ending_today_and_bumps_the_version(
    django_capture_on_commit_callbacks,
):
    _policy_opening_today()
    _last_checked_yesterday()
    before = policy_version()
    received = []

    def receiver(**kw):
        received.append(kw["reason"])

    visibility_changed.connect(receiver, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            days = release_due_embargoes()
    finally:
        # Only this test's receiver: clearing them all would also cut the map layers' refresh
        # for every later test in the run.
        visibility_changed.disconnect(receiver)

    assert days == [timezone.now().astimezone(dt.UTC).date().isoformat()]
    assert policy_version() != before
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.RELEASE)
    assert event.country.iso_a3 == "FIN"
    assert "scheduled release" in received


@pytest.mark.django_db
def test_release_job_does_nothing_twice():
    _policy_opening_today()
    _last_checked_yesterday()
    release_due_embargoes()
    version = policy_version()

    assert release_due_embargoes() == []
    assert policy_version() == version
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.RELEASE).count() == 1


@pytest.mark.django_db
def test_release_job_ignores_future_embargoes():
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("RUS"),
        in_force=True,
        available_on=timezone.now().date() + dt.timedelta(days=30),
    )
    _last_checked_yesterday()
    assert release_due_embargoes() == []
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.RELEASE).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery_worker
def test_release_job_runs_on_the_real_worker(celery_worker_process):
    _policy_opening_today()
    _last_checked_yesterday()
    days = release_due_embargoes.delay().get(timeout=60)
    assert days == [timezone.now().astimezone(dt.UTC).date().isoformat()]
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.RELEASE, country__iso_a3="FIN").exists()
