"""Home page figures count only what the viewer may see, and their cache never carries one
audience's figures to another or outlives a policy change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.access import viewer_scope
from sharing.models import Agreement, Membership, Organisation, ReleasePolicy
from sharing.selectors import visible_figures
from tests.worlds import accept_licences


@pytest.fixture
def world(write_csv):
    for code, lon, lat, n in (("USA", -100.0, 40.0, 2), ("RUS", 33.0, 68.5, 3)):
        rows = [[f"{code}-{i}", lon + i * 0.1, lat, 10 + i] for i in range(n)]
        survey_ingest(
            path=write_csv(
                [["sample_id", "longitude", "latitude", "Cu_ppm"], *rows], f"{code}.csv"
            ),
            options=IngestOptions(survey=code, medium="topsoil", scale_km=10, country=code),
        )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    rus = ReleasePolicy.objects.create(
        country=Country.objects.by_code("RUS"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    partner = User.objects.create_user("p", password="x")
    organisation = Organisation.objects.create(name="O", slug="o")
    Membership.objects.create(organisation=organisation, user=partner)
    agreement = Agreement.objects.create(
        organisation=organisation, title="A", valid_from=dt.date(2000, 1, 1), licence_text="L"
    )
    agreement.countries.add(rus.country)
    accept_licences(partner)
    return partner, rus


@pytest.mark.django_db
def test_cached_figures_follow_the_viewers_rights_and_policy_changes(world):
    partner, rus = world
    assert visible_figures(viewer_scope(None))["samples"] == 2
    assert visible_figures(viewer_scope(partner))["samples"] == 5
    assert visible_figures(viewer_scope(None))["samples"] == 2  # not the partner's cached figure
    rus.available_on = None
    rus.save()
    assert visible_figures(viewer_scope(None)) == {"countries": 2, "samples": 5, "elements": 1}


@pytest.mark.django_db
def test_viewers_with_equal_rights_share_one_cache_key(world, django_user_model):
    first = django_user_model.objects.create_user("a", password="x")
    second = django_user_model.objects.create_user("b", password="x")
    assert viewer_scope(first).cache_key == viewer_scope(second).cache_key
    assert viewer_scope(first).cache_key != viewer_scope(world[0]).cache_key


@pytest.mark.django_db
def test_the_home_page_shows_the_anonymous_figures(client, world):
    page = client.get("/").content.decode()
    assert '<div class="n">2</div>' in page and '<div class="n">5</div>' not in page
