"""The policy version changes on every write the rules read, whatever the path, and never repeats;
the scope cache keyed by it is therefore never stale, and works without Redis."""

from __future__ import annotations

import pytest
from django.db import transaction

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element
from sharing.access import viewer_scope, visible_measurements
from sharing.models import ReleasePolicy
from sharing.versioning import policy_version


@pytest.fixture
def finland(write_csv):
    path = write_csv(
        [["sample_id", "longitude", "latitude", "Cu_ppm", "Ni_ppm"], ["F-1", 25.0, 62.0, 12, 30]]
    )
    survey_ingest(
        path=path,
        options=IngestOptions(survey="Finland", medium="topsoil", scale_km=10, country="FIN"),
    )
    return Country.objects.by_code("FIN")


@pytest.mark.django_db
def test_a_bulk_update_without_signals_changes_the_version(finland):
    policy = ReleasePolicy.objects.create(country=finland, in_force=False)
    before = policy_version()
    ReleasePolicy.objects.filter(pk=policy.pk).update(in_force=True)
    assert policy_version() != before


@pytest.mark.django_db
def test_the_scope_follows_a_write_that_sent_no_signal(finland):
    policy = ReleasePolicy.objects.create(country=finland, in_force=True)
    assert visible_measurements(viewer_scope(None)).count() == 2  # now cached
    ni = Element.objects.get(symbol="Ni")
    # A raw insert into the m2m table: no m2m_changed signal, but the trigger bumps the version.
    ReleasePolicy.confidential_elements.through.objects.bulk_create(
        [ReleasePolicy.confidential_elements.through(releasepolicy=policy, element=ni)]
    )
    visible = visible_measurements(viewer_scope(None))
    assert list(visible.values_list("element__symbol", flat=True)) == ["Cu"]


@pytest.mark.django_db
def test_a_version_seen_inside_a_rolled_back_transaction_never_comes_back(finland):
    with transaction.atomic():
        ReleasePolicy.objects.create(country=finland, in_force=True)
        inside = policy_version()
        transaction.set_rollback(True)
    ReleasePolicy.objects.create(country=finland, in_force=False)
    assert policy_version() != inside


@pytest.mark.django_db
def test_staff_status_changes_the_version(django_user_model):
    user = django_user_model.objects.create_user("s", password="x")
    before = policy_version()
    user.is_staff = True
    user.save()
    assert policy_version() != before


@pytest.mark.django_db
def test_scopes_are_computed_when_redis_is_down(finland, settings):
    ReleasePolicy.objects.create(country=finland, in_force=True)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    assert visible_measurements(viewer_scope(None)).count() == 2
