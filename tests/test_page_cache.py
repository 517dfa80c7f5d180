"""The read API's page cache (``portal.page_cache``): a repeated JSON feature page is one cache
read, yet it is audited like the first, and a new policy or new data can never be answered from
an old entry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import AuditEvent, ReleasePolicy, SurveyEmbargo
from tests.worlds import partner_with_agreement

PAGES = (
    "/api/v1/samples/?limit=50",
    "/ogcapi/collections/samples/items?limit=50&f=json",
)


@pytest.fixture
def world(write_csv):
    header = ["sample_id", "site_id", "longitude", "latitude", "collection_date", "Cu_ppm"]
    for country, lon, lat in (("FIN", 25.0, 62.0), ("NOR", 10.0, 60.0)):
        rows = [
            [f"{country}-{i}", f"S{i}", lon + i * 0.137, lat + i * 0.071, "2010-05-01", i + 1]
            for i in range(6)
        ]
        survey_ingest(
            path=write_csv([header, *rows], f"{country}.csv"),
            options=IngestOptions(survey=country, medium="topsoil", scale_km=10, country=country),
        )
    ReleasePolicy.objects.create(country=Country.objects.by_code("FIN"), in_force=True)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("NOR"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    partner, _ = partner_with_agreement(["NOR"])
    cache.clear()
    return partner


def codes(response) -> list[str]:
    return sorted(f["properties"]["code"] for f in response.json()["features"])


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_a_repeated_page_is_read_from_the_cache_and_audited_each_time(client, world, url):
    client.force_login(world)
    first = client.get(url)
    assert first.status_code == 200 and first["X-Page-Cache"] == "miss"
    audits = AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS, country__iso_a3="NOR")
    after_first = audits.count()
    assert after_first == 1  # the partner saw Norway's embargoed rows
    second = client.get(url)
    assert second["X-Page-Cache"] == "hit"
    assert second.content == first.content and second["Content-Type"] == first["Content-Type"]
    assert len(codes(second)) == 12
    assert audits.count() == after_first + 1  # the hit is audited like the miss


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_viewers_with_other_rights_never_share_an_entry(client, world, url):
    client.force_login(world)
    assert len(codes(client.get(url))) == 12
    client.logout()
    anonymous = client.get(url)
    assert anonymous["X-Page-Cache"] == "miss"
    assert codes(anonymous) == [f"FIN-{i}" for i in range(6)]
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS, user=None).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_a_new_embargo_is_obeyed_at_once(client, world, url):
    assert len(codes(client.get(url))) == 6
    assert client.get(url)["X-Page-Cache"] == "hit"
    from baselines.models import Survey

    SurveyEmbargo.objects.create(
        survey=Survey.objects.get(slug="fin"), available_on=dt.date(2099, 1, 1)
    )
    after = client.get(url)
    assert after["X-Page-Cache"] == "miss" and codes(after) == []


@pytest.mark.django_db
def test_new_data_is_answered_at_once(client, world, write_csv):
    url = PAGES[0]
    assert len(codes(client.get(url))) == 6
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    survey_ingest(
        path=write_csv([header, ["FIN2-1", 26.0, 63.0, 4]], "fin2.csv"),
        options=IngestOptions(survey="FIN2", medium="topsoil", scale_km=10, country="FIN"),
    )
    after = client.get(url)
    assert after["X-Page-Cache"] == "miss" and "FIN2-1" in codes(after)


@pytest.mark.django_db
def test_html_pages_are_not_kept(client, world):
    client.force_login(world)
    for _ in range(2):
        page = client.get("/ogcapi/collections/samples/items?limit=5&f=html")
        assert page.status_code == 200 and "X-Page-Cache" not in page


@pytest.mark.django_db
def test_a_cache_outage_costs_time_not_the_answer(client, world, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    page = client.get(PAGES[0])
    assert page.status_code == 200 and len(codes(page)) == 6
