"""The dashboards' pages and their API twins: same figures, permalinks, errors in the kit's body,
CSV export, audit of non-public rows, synthetic data named."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.urls import reverse

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import AuditEvent, ReleasePolicy
from tests.worlds import partner_with_agreement

PAGES = ("coverage", "exceedance", "change", "volume", "baselines", "compare")


@pytest.fixture
def world(write_csv):
    header = ["sample_id", "site_id", "longitude", "latitude", "ph", "Cd_ppm", "Pb_ppm"]
    for name, country, round_, year, synthetic, lon, lat in (
        ("usa round 1", "USA", 1, 2010, False, -100, 40),
        ("usa round 2", "USA", 2, 2020, True, -100, 40),
        ("nor", "NOR", 1, 2001, False, 10, 60),
    ):
        rows = [
            [f"{name}-{i}", f"S{i}", lon + i * 0.3, lat, "6.0", 0.2 + 0.05 * i * round_, 30 + i]
            for i in range(15)
        ]
        path = write_csv([header, *rows], f"{name}.csv")
        survey_ingest(
            path=path,
            options=IngestOptions(
                survey=name,
                medium="topsoil",
                scale_km=20,
                country=country,
                year=year,
                monitoring_round=round_,
                synthetic=synthetic,
            ),  # fmt: skip
        )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("NOR"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    partner, _agreement = partner_with_agreement(["NOR"])
    return partner


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_every_dashboard_page_and_its_api_twin_answer(client, world, name):
    page = client.get(reverse(f"portal:dashboard-{name}"))
    assert page.status_code == 200, page.content[:500]
    assert b"Permalink" in page.content
    api = client.get(reverse(f"api:dashboard-{name}"), {"element": "Cd", "medium": "topsoil"})
    assert api.status_code == 200, api.content[:500]
    assert api.json()["dashboard"] == name


@pytest.mark.django_db
def test_the_index_lists_every_dashboard_and_its_twin(client, world):
    body = client.get(reverse("api:dashboards")).json()
    assert [d["name"] for d in body["dashboards"]] == list(PAGES)
    for entry in body["dashboards"]:
        assert client.get(entry["url"], {"element": "Cd", "medium": "topsoil"}).status_code == 200
    page = client.get(reverse("portal:dashboards"))
    assert page.status_code == 200
    for name in PAGES:
        assert reverse(f"portal:dashboard-{name}").encode() in page.content


@pytest.mark.django_db
def test_the_page_and_the_api_print_the_same_figures(client, world):
    query = {"region": "country:USA", "element": "Cd", "from": "1", "to": "2"}
    api = client.get(reverse("api:dashboard-change"), query).json()
    assert api["sites"] == 15
    assert api["synthetic_surveys"] == ["usa round 2"]
    page = client.get(reverse("portal:dashboard-change"), query).content.decode()
    assert "Of 15 sites sampled in both rounds" in page
    assert "usa round 2" in page and "Synthetic data" in page
    assert reverse("portal:dashboard-change") + "?region=country" in api["page"]


@pytest.mark.django_db
def test_bad_parameters_are_the_kits_400_naming_them(client, world):
    for params, parameter in (
        ({"region": "country:XXX"}, "region"),
        ({"polygon": "{nonsense"}, "polygon"),
        ({"standard": "nope"}, "standard"),
    ):
        response = client.get(reverse("api:dashboard-exceedance"), params)
        assert response.status_code == 400
        assert parameter in response.json()["reason"]
        page = client.get(reverse("portal:dashboard-exceedance"), params)
        assert page.status_code == 400 and b'role="alert"' in page.content


@pytest.mark.django_db
def test_baselines_download_as_csv(client, world):
    response = client.get(reverse("api:dashboard-baselines"), {"medium": "topsoil", "f": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {r["element"] for r in rows} == {"Cd", "Pb"}
    assert all(int(r["n"]) == 30 for r in rows)  # two USA rounds; Norway is embargoed


@pytest.mark.django_db
def test_the_partner_sees_more_and_is_audited(client, world):
    anonymous = client.get(reverse("api:dashboard-volume")).json()["totals"]["samples"]
    client.force_login(world)
    partner = client.get(reverse("api:dashboard-volume")).json()["totals"]["samples"]
    assert (anonymous, partner) == (30, 45)
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.ACCESS, country__iso_a3="NOR", summary__contains="dashboard"
    ).exists()


@pytest.mark.django_db
def test_a_drawn_polygon_cuts_the_figures(client, world):
    polygon = '{"type":"Polygon","coordinates":[[[-101,39],[-98,39],[-98,41],[-101,41],[-101,39]]]}'
    body = client.get(reverse("api:dashboard-volume"), {"polygon": polygon}).json()
    assert 0 < body["totals"]["samples"] < 30
    assert body["region"].startswith("polygon:")


@pytest.mark.django_db
def test_the_coverage_map_is_geojson_and_refuses_too_many_cells(client, world, monkeypatch):
    body = client.get(reverse("api:dashboard-coverage-cells"), {"scale": "20"}).json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) > 0
    monkeypatch.setattr("portal.dashboards_api.MAX_MAP_CELLS", 1)
    response = client.get(reverse("api:dashboard-coverage-cells"), {"scale": "20"})
    assert response.status_code == 400 and "coarser" in response.json()["reason"]["scale"]


@pytest.mark.django_db
def test_the_exceedance_map_is_geojson_of_cells_with_their_classes(client, world):
    body = client.get(reverse("api:dashboard-exceedance-cells"), {"scale": "80"}).json()
    assert body["type"] == "FeatureCollection"
    properties = [f["properties"] for f in body["features"]]
    assert sum(p["n"] for p in properties) == 30  # both USA rounds; Norway is embargoed
    assert all(p["safe_use"] + p["strict_control"] <= p["n"] for p in properties)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, params",
    [
        ("coverage", {"map_scale": "abc"}),
        ("coverage", {"map_scale": "7"}),
        ("exceedance", {"map_scale": "0.3"}),
        ("exceedance", {"medium": "lava"}),
        ("change", {"element": "Xx"}),
        ("change", {"from": "9"}),
        ("change", {"within_m": "-5"}),
        ("change", {"within_m": "9000"}),
        ("baselines", {"region": "continent:Atlantis"}),
        ("compare", {"a": "country:XXX"}),
        ("volume", {"polygon": '{"type": "Point", "coordinates": [0, 0]}'}),
    ],
)
def test_a_page_with_a_bad_parameter_is_a_400_naming_it(client, world, name, params):
    response = client.get(reverse(f"portal:dashboard-{name}"), params)
    assert response.status_code == 400
    alert = re.search(r'role="alert"><p>(.*?)</p>', response.content.decode(), re.S)
    assert alert and alert.group(1).startswith(f"{next(iter(params))}: "), alert


@pytest.mark.django_db
def test_the_map_scale_in_km_reaches_the_cell_map(client, world):
    page = client.get(reverse("portal:dashboard-coverage"), {"map_scale": "0.5"})
    assert page.status_code == 200
    assert b"scale=0.5" in page.content


@pytest.mark.django_db
def test_compare_names_synthetic_data_and_audits_once(client, world):
    client.force_login(world)
    query = {"a": "country:USA", "b": "country:NOR", "medium": "topsoil"}
    body = client.get(reverse("api:dashboard-compare"), query).json()
    assert body["synthetic_surveys"] == ["usa round 2"]
    assert body["b"]["baselines"][0]["n"] == 15  # Norway's embargoed rows, granted to the partner
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS, country__iso_a3="NOR")
    assert events.count() == 1
    page = client.get(reverse("portal:dashboard-compare"), query).content.decode()
    assert "Synthetic data" in page and "usa round 2" in page


@pytest.mark.django_db
def test_the_coverage_map_audits_the_partners_hidden_cells(client, world):
    anonymous = client.get(reverse("api:dashboard-coverage-cells"), {"scale": "20"}).json()
    client.force_login(world)
    partner = client.get(reverse("api:dashboard-coverage-cells"), {"scale": "20"}).json()
    assert len(partner["features"]) > len(anonymous["features"])  # Norway's cells
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.ACCESS, country__iso_a3="NOR", summary__contains="coverage cells"
    ).exists()
