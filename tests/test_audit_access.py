"""Reads of non-public data are audited under the country whose data went out; public reads not."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import Agreement, AuditEvent, Membership, Organisation, ReleasePolicy
from tests.worlds import accept_licences


@pytest.fixture
def world(write_csv):
    """USA public; RUS embargoed; a partner whose agreement covers RUS."""
    for code, lon, lat in (("USA", -100.0, 40.0), ("RUS", 33.0, 68.5)):
        path = write_csv(
            [
                ["sample_id", "longitude", "latitude", "Cu_ppm"],
                [f"{code}-1", lon, lat, 11],
                [f"{code}-2", lon + 0.5, lat + 0.3, 12],
            ],
            name=f"{code}.csv",
        )
        survey_ingest(
            path=path,
            options=IngestOptions(
                survey=f"{code} survey", medium="topsoil", scale_km=10, country=code
            ),
        )
    usa, rus = Country.objects.by_code("USA"), Country.objects.by_code("RUS")
    ReleasePolicy.objects.create(country=usa, in_force=True)
    ReleasePolicy.objects.create(country=rus, in_force=True, available_on=dt.date(2099, 1, 1))
    partner = User.objects.create_user("p", password="x")
    organisation = Organisation.objects.create(name="Org", slug="org")
    Membership.objects.create(organisation=organisation, user=partner)
    agreement = Agreement.objects.create(
        organisation=organisation, title="A", valid_from=dt.date(2000, 1, 1), licence_text="L"
    )
    agreement.countries.add(rus)
    accept_licences(partner)
    return partner


@pytest.mark.django_db
def test_a_partner_reading_embargoed_data_is_audited_under_that_country(client, world):
    client.force_login(world)
    response = client.get("/api/v1/measurements/?element=Cu&country=RUS")
    assert response.status_code == 200 and len(response.json()["results"]) == 2
    events = list(AuditEvent.objects.filter(kind="access"))
    assert [(e.user, e.country.iso_a3) for e in events] == [(world, "RUS")]
    assert "country=RUS" in events[0].path


@pytest.mark.django_db
def test_a_partner_reading_public_data_is_not_audited(client, world):
    client.force_login(world)
    response = client.get("/api/v1/samples/?country=USA")
    assert len(response.json()["features"]) == 2
    assert not AuditEvent.objects.filter(kind="access").exists()


@pytest.mark.django_db
def test_anonymous_reads_are_not_audited_and_see_no_embargoed_rows(client, world):
    response = client.get("/api/v1/measurements/?element=Cu")
    assert {row["country"] for row in response.json()["results"]} == {"USA"}
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS).exists()


@pytest.mark.django_db
def test_a_detail_read_of_embargoed_data_is_audited(client, world):
    client.force_login(world)
    sample_id = client.get("/api/v1/samples/?country=RUS").json()["features"][0]["id"]
    assert client.get(f"/api/v1/samples/{sample_id}/").status_code == 200
    assert AuditEvent.objects.filter(kind="access", country__iso_a3="RUS").count() == 2
