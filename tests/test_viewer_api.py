"""The map viewer's own endpoints (portal/viewer_api.py) and its page: what each viewer gets, at
which precision, and JSON errors with a reason."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from baselines import grid
from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element
from portal.map_page import table_position
from sharing.models import ReleasePolicy

pytestmark = pytest.mark.django_db

# USA public and exact; NOR public with Ni confidential; FIN public at 20 km cells.
POINTS = {
    "USA": [(-100.00, 40.00, 12.5, 20.0), (-100.05, 40.02, 30.0, 25.0), (-90.0, 35.0, 8.0, 9.0)],
    "NOR": [(10.70, 59.90, 21.0, 14.0), (10.80, 60.00, 18.5, 11.0)],
    "FIN": [(25.12, 62.76, 41.0, 52.0), (24.94, 60.17, 44.0, 57.0)],
}


@pytest.fixture
def world(write_csv):
    for code, rows in POINTS.items():
        path = write_csv(
            [
                ["sample_id", "longitude", "latitude", "Cu_ppm", "Ni_ppm"],
                *[[f"{code}-{i}", lon, lat, cu, ni] for i, (lon, lat, cu, ni) in enumerate(rows)],
            ],
            f"{code}.csv",
        )
        survey_ingest(
            path=path,
            options=IngestOptions(survey=code, medium="topsoil", scale_km=10, country=code),
        )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    nor = ReleasePolicy.objects.create(country=Country.objects.by_code("NOR"), in_force=True)
    nor.confidential_elements.set([Element.objects.get(symbol="Ni")])
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, public_precision_m=20_000
    )


@pytest.fixture
def staff_client():
    staff = Client()
    staff.force_login(User.objects.create_user("s", password="x", is_staff=True))
    return staff


def test_elements_with_data_follow_the_viewers_rights(world, client, django_user_model):
    body = client.get("/api/v1/viewer/elements?medium=topsoil").json()
    by_symbol = {e["symbol"]: e for e in body["elements"]}
    assert by_symbol["Cu"]["n"] == 7
    assert by_symbol["Ni"]["n"] == 5  # Norway's Ni is confidential
    assert by_symbol["Cu"]["finest_scale_km"] == 10
    staff = django_user_model.objects.create_user("st", password="x", is_staff=True)
    client.force_login(staff)
    body = client.get("/api/v1/viewer/elements?medium=topsoil").json()
    assert {e["symbol"]: e["n"] for e in body["elements"]}["Ni"] == 7


def test_elements_of_an_unknown_medium_is_a_json_400(client):
    response = client.get("/api/v1/viewer/elements?medium=moon-dust")
    assert response.status_code == 400
    assert "moon-dust" in response.json()["reason"]["medium"]


def test_cell_at_uses_the_grid_module(client):
    body = client.get("/api/v1/cells/at?lon=10.75&lat=59.91&scale=20").json()
    assert body["code"] == grid.cell_at(10.75, 59.91, 20_000).code
    west, south, east, north = body["bounds"]
    assert west <= 10.75 <= east and south <= 59.91 <= north
    assert body["outline"][0] == body["outline"][-1]
    for query in ("lon=200&lat=0&scale=20", "lon=0&lat=0&scale=3", "lat=0&scale=20"):
        response = client.get(f"/api/v1/cells/at?{query}")
        assert response.status_code == 400 and response.json()["reason"]


def test_cell_samples_exact_where_allowed(world, client):
    code = grid.cell_at(-100.0, 40.0, 80_000).code
    body = client.get(f"/api/v1/cells/{code}/samples?element=Cu&medium=topsoil").json()
    assert [s["value"] for s in body["samples"]] == [12.5, 30.0]
    assert body["samples"][0]["location"]["coordinates"] == [-100.0, 40.0]
    assert body["samples_in_cell"] == 2


def test_cell_samples_never_finer_than_the_public_precision(world, client, staff_client):
    fin_10k = grid.cell_at(25.12, 62.76, 10_000).code
    fin_20k = grid.cell_at(25.12, 62.76, 20_000).code
    anon = client.get(f"/api/v1/cells/{fin_10k}/samples?element=Cu&medium=topsoil").json()
    assert anon["samples"] == [] and anon["samples_in_cell"] == 0
    anon = client.get(f"/api/v1/cells/{fin_20k}/samples?element=Cu&medium=topsoil").json()
    assert len(anon["samples"]) == 1
    assert anon["samples"][0]["location"] is None
    assert anon["samples"][0]["location_precision_km"] == 20
    assert "25.12" not in json.dumps(anon)
    # Norway's Ni is confidential: no value, not even its sample, for the public.
    nor = grid.cell_at(10.70, 59.90, 80_000).code
    assert (
        client.get(f"/api/v1/cells/{nor}/samples?element=Ni&medium=topsoil").json()["samples"] == []
    )
    staff = staff_client.get(f"/api/v1/cells/{fin_10k}/samples?element=Cu&medium=topsoil")
    assert staff.json()["samples"][0]["location"]["coordinates"] == [25.12, 62.76]


def test_cell_samples_bad_code_is_a_json_400(client):
    response = client.get("/api/v1/cells/NOPE/samples?element=Cu&medium=topsoil")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


def test_values_of_the_view(world, client):
    url = "/api/v1/viewer/values?element=Cu&medium=topsoil&scale=80&bbox=-130,20,-60,55"
    body = client.get(url).json()
    assert body["n"] == 3 and body["unit"] == "mg/kg"
    assert sum(body["histogram"]["counts"]) == 3
    assert [p[0] for p in body["probability"]] == [8.0, 12.5, 30.0]
    assert body["probability"][1][1] == pytest.approx(0.5)
    assert body["statistics"]["median"] == 12.5


def test_values_of_the_view_respect_precision_and_confidentiality(world, client):
    europe = "bbox=0,50,40,75"
    body = client.get(f"/api/v1/viewer/values?element=Cu&medium=topsoil&scale=80&{europe}").json()
    assert body["n"] == 4  # NOR 2 + FIN 2 (FIN may feed 20 km products and coarser)
    body = client.get(f"/api/v1/viewer/values?element=Cu&medium=topsoil&scale=10&{europe}").json()
    assert body["n"] == 2  # FIN's rows feed no 10 km product for the public
    body = client.get(f"/api/v1/viewer/values?element=Ni&medium=topsoil&scale=80&{europe}").json()
    assert body["n"] == 2  # Norway's Ni is confidential
    # A box smaller than a 20 km cell around a FIN sample cannot tell where in its cell it is.
    cell = grid.cell_at(25.12, 62.76, 20_000)
    lons, lats = zip(*cell.polygon_lonlat(), strict=True)
    west, south = min(lons), min(lats)
    tiny = "bbox=25.10,62.74,25.14,62.78"
    far = f"bbox={west + 0.01:.3f},{south + 0.01:.3f},{west + 0.03:.3f},{south + 0.03:.3f}"
    assert not (west + 0.01 <= 25.12 <= west + 0.03 and south + 0.01 <= 62.76 <= south + 0.03)
    near = client.get(f"/api/v1/viewer/values?element=Cu&medium=topsoil&scale=20&{tiny}").json()
    other = client.get(f"/api/v1/viewer/values?element=Cu&medium=topsoil&scale=20&{far}").json()
    assert near["n"] == other["n"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "element=Xx&medium=topsoil&scale=80&bbox=0,0,1,1",
        "element=Cu&medium=topsoil&scale=3&bbox=0,0,1,1",
        "element=Cu&medium=topsoil&scale=80&bbox=0,0,1",
        "element=Cu&medium=topsoil&scale=80&bbox=5,0,1,1",
    ],
)
def test_values_bad_parameters_are_json_400(client, query):
    response = client.get(f"/api/v1/viewer/values?{query}")
    assert response.status_code == 400
    assert response.json()["status"] == 400 and response.json()["reason"]


def test_boundaries_are_simplified_geojson_with_an_etag(client):
    response = client.get("/api/v1/boundaries", HTTP_ACCEPT_ENCODING="identity")
    assert response.status_code == 200
    body = json.loads(response.content)
    codes = {f["properties"]["code"] for f in body["features"]}
    assert {"NOR", "USA", "CHN"} <= codes
    assert len(response.content) < 3_000_000
    again = client.get("/api/v1/boundaries", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_map_page_in_both_languages(client):
    response = client.get("/map/")
    assert response.status_code == 200
    config = response.context["config"]
    assert config["strings"]["median"] == "Median"
    assert {e["symbol"] for e in config["elements"]} >= {"Cu", "Ni", "Fe", "U"}
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/map/"})
    response = client.get("/map/")
    assert response.context["config"]["strings"]["median"] == "中位数"
    assert "地图" in response.content.decode()


@pytest.mark.parametrize(
    ("z", "position"),
    [(1, (1, 1)), (2, (1, 18)), (5, (2, 13)), (26, (4, 8)), (57, (9, 3)), (72, (6, 4)),
     (80, (6, 12)), (86, (6, 18)), (92, (10, 6)), (55, (6, 1))],
)  # fmt: skip
def test_periodic_table_positions(z, position):
    assert table_position(z) == position


# --- the viewer's endpoints against the leak test's world -----------------------------------------
# tests/test_leaks.py walks every URL, but URLs with path parameters get no query string there, and
# these endpoints answer 400 without element and medium; so they are walked here with them.


def viewer_urls(world) -> list[str]:
    urls = ["/api/v1/viewer/elements?medium=topsoil"]
    for element in ("Cu", "Ni"):
        for sample in world.samples.values():
            for size in (80_000, 20_000, 10_000, 500):
                code = sample.cell_code(size)
                urls.append(f"/api/v1/cells/{code}/samples?element={element}&medium=topsoil")
            # A box a little larger than 0.02° around the sample, at 2 decimals.
            x, y = sample.geom.x, sample.geom.y
            box = f"{x - 0.02:.2f},{y - 0.02:.2f},{x + 0.02:.2f},{y + 0.02:.2f}"
            for scale in ("80", "20", "10", "0.5"):
                urls.append(
                    f"/api/v1/viewer/values?element={element}&medium=topsoil&scale={scale}"
                    f"&bbox={box}"
                )
        for scale in ("80", "20", "10", "1", "0.5"):
            urls.append(
                f"/api/v1/viewer/values?element={element}&medium=topsoil&scale={scale}"
                "&bbox=-180,-90,180,90"
            )
    return list(dict.fromkeys(urls))


def test_viewer_endpoints_show_no_secret(tmp_path):
    from .test_leaks import ANON, PARTNER, STAFF, Matcher, build_world, client_for, response_text

    world = build_world(tmp_path)
    urls = viewer_urls(world)
    found: dict[str, list[str]] = {}
    for viewer in (ANON, PARTNER, STAFF):
        matcher = Matcher(world.secrets[ANON if viewer == STAFF else viewer])
        client = client_for(world, viewer)
        hits = []
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (viewer, url, response.content[:200])
            # The request's own cell code is an echo, not a finding.
            text = response_text(response).replace(url.split("/")[4], "«echo»")
            hits += [f"{url}: {secret.label} ({matched})" for secret, matched in matcher.find(text)]
        found[viewer] = hits
    assert found[ANON] == []
    assert found[PARTNER] == []
    assert len(found[STAFF]) > 10  # positive control: staff see the secrets through the same URLs
