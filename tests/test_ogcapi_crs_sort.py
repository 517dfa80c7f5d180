"""OGC API – Features at /ogcapi/: CRS by reference (Part 2: ``crs``, ``bbox-crs``,
``Content-Crs``) and sorting (Part 8 draft: ``/sortables``, ``sortby``), with real clients.

The world is tests/test_ogcapi.py's (USA public and exact, NOR public with Ni confidential, FIN
public at 20 km cells, RUS embargoed but granted by a partner's agreement, SWE without a policy)
plus a second USA survey with undated samples and a sample id that repeats one of the first
survey's, so sorting meets missing values and ties.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.test import Client
from pyproj import Transformer

from baselines import grid
from baselines.models import Country, Sample, Survey
from sharing.models import ReleasePolicy
from tests.test_ogcapi import (
    HEADER,
    OGR2OGR,
    OGRINFO,
    ROWS,
    assert_400_naming,
    build_world,
    get_json,
    needs_gdal,
    run,
    token_client,
)
from tests.worlds import api_token, ingest_survey, partner_with_agreement

from .test_browser_dashboards import open_page, serious_violations
from .test_browser_steward import CHROMIUM, CHROMIUM_ARGS, PHONE_WIDTH
from .test_browser_viewer import ARTIFACTS

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRSS = [CRS84, EPSG + "4326", EPSG + "3857", EPSG + "6933"]
RIVERS = [  # a second USA survey: two undated samples, one sharing a code with the soils
    ("US-1", -95.0, 38.0, "", "", 3.0, 4.0),
    ("US-9", -96.0, 39.0, "", "", 5.0, 6.0),
    ("AA-1", -97.0, 37.0, "2021-01-01", "", 7.0, 8.0),
]
PUBLIC = ("USA", "NOR", "FIN")
PUBLIC_CODES = {code for c in PUBLIC for code, *_ in ROWS[c]} | {code for code, *_ in RIVERS}
HIDDEN_CODES = {code for c in ("RUS", "SWE") for code, *_ in ROWS[c]}
PUBLIC_FEATURES = sum(len(ROWS[c]) for c in PUBLIC) + len(RIVERS)  # US-1 is in two surveys
ITEMS = "/ogcapi/collections/samples/items"


def build_sort_world(write_csv) -> dict[str, Survey]:
    surveys = build_world(write_csv)
    surveys["USA-rivers"] = ingest_survey(
        write_csv, RIVERS, country="USA", name="OGC USA rivers", header=HEADER
    )
    assert ReleasePolicy.objects.filter(country=Country.objects.by_code("USA")).exists()
    return surveys


@pytest.fixture
def world(write_csv):
    return build_sort_world(write_csv)


def everything(client, query: str = "", collection: str = "samples") -> list[dict]:
    body = get_json(client, f"/ogcapi/collections/{collection}/items?limit=10000{query}")
    assert not any(link["rel"] == "next" for link in body["links"])
    return body["features"]


def paged(client, url: str) -> tuple[list[dict], int]:
    """Every feature of ``url``, following the next links; and the number of pages."""
    found, pages = [], 0
    while url:
        body = get_json(client, url)
        pages += 1
        found += body["features"]
        url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        assert pages < 100, "the next links do not end"
    return found, pages


def shown_lonlat(feature: dict) -> tuple[float, float]:
    """Where the public sees a sample: FIN's at its 20 km cell's centre, the others exactly."""
    survey = Survey.objects.get(slug=feature["properties"]["survey"])
    rows = RIVERS if survey.name == "OGC USA rivers" else ROWS[feature["properties"]["country"]]
    _, lon, lat, *_ = next(r for r in rows if r[0] == feature["properties"]["code"])
    if feature["properties"]["country"] == "FIN":
        return grid.cell_at(lon, lat, 20_000).centroid_lonlat
    return lon, lat


def expected_order(features: list[dict], sortby: str) -> list[int]:
    """Feature ids in ``sortby`` order as the API defines it: each key ascending or
    descending, missing values last either way, then the id ascending."""
    keys = [(k.lstrip("+-"), k.startswith("-")) for k in sortby.split(",")]

    def value(feature, name):
        return feature["id"] if name == "id" else feature["properties"][name]

    ordered = sorted(features, key=lambda f: f["id"])
    for name, descending in reversed(keys):  # stable sorts, least significant key first
        present = [f for f in ordered if value(f, name) is not None]
        missing = [f for f in ordered if value(f, name) is None]
        present.sort(key=lambda f, n=name: value(f, n), reverse=descending)
        ordered = present + missing
    return [f["id"] for f in ordered]


def decoded(cursor: str):
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


# --- the collections' description ---------------------------------------------------------------


@pytest.mark.django_db
def test_collections_list_their_crs_storage_crs_and_sortables(client, world):
    for collection in get_json(client, "/ogcapi/collections")["collections"]:
        assert collection["crs"] == CRSS, collection["id"]
        assert collection["storageCrs"] == CRS84
        assert collection["extent"]["spatial"]["crs"] == CRS84
        assert collection["defaultSortOrder"] == ["id"]
        rels = {link["rel"]: link for link in collection["links"]}
        sortables = rels["http://www.opengis.net/def/rel/ogc/1.0/sortables"]
        assert sortables["href"].endswith(f"/ogcapi/collections/{collection['id']}/sortables")
        assert sortables["type"] == "application/schema+json"


@pytest.mark.django_db
def test_sortables_are_a_json_schema_without_element_values(client, world):
    url = f"/ogcapi/collections/{world['USA'].slug}/sortables"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    body = response.json()
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["$id"] == f"http://testserver{url}"
    assert body["type"] == "object" and body["additionalProperties"] is False
    assert body["properties"] == {
        "id": {"title": "feature id (the default order)", "type": "integer"},
        "code": {"title": "sample id", "type": "string"},
        "survey": {"title": "survey (slug)", "type": "string"},
        "country": {"title": "country (ISO 3166 alpha-3)", "type": "string"},
        "sampled_on": {
            "title": "sampling date (undated samples last)", "type": "string", "format": "date"
        },
    }  # fmt: skip
    # Element columns are queryable but not sortable (see portal/ogcapi/sorting.py).
    queryables = get_json(client, f"/ogcapi/collections/{world['USA'].slug}/queryables")
    assert "Cu" in queryables["properties"] and "Cu" not in body["properties"]
    html = client.get(url + "?f=html").content.decode()
    assert "sampled_on" in html and "<table>" in html
    chinese = client.get(url + "?f=html", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="zh-hans">' in chinese


@pytest.mark.django_db
def test_sortables_of_a_hidden_collection_are_the_404_of_a_missing_one(client, world):
    hidden = client.get(f"/ogcapi/collections/{world['SWE'].slug}/sortables")
    missing = client.get("/ogcapi/collections/no-such-survey/sortables")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content


@pytest.mark.django_db
def test_items_link_their_sortables_in_the_body_and_a_link_header(client, world):
    response = client.get(ITEMS)
    sortables = "http://testserver/ogcapi/collections/samples/sortables"
    rel = "http://www.opengis.net/def/rel/ogc/1.0/sortables"
    assert response["Link"] == f'<{sortables}>; rel="{rel}"; type="application/schema+json"'
    assert {link["rel"]: link["href"] for link in response.json()["links"]}[rel] == sortables
    assert client.head(ITEMS)["Link"] == response["Link"]


# --- crs -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_content_crs_names_the_coordinates_crs(client, world):
    assert client.get(ITEMS)["Content-Crs"] == f"<{CRS84}>"
    for uri in CRSS:
        response = client.get(ITEMS, {"crs": uri})
        assert response.status_code == 200 and response["Content-Crs"] == f"<{uri}>"
        assert response["Content-Type"] == "application/geo+json"
    pk = Sample.objects.get(code="US-1", survey=world["USA"]).pk
    one = client.get(f"/ogcapi/collections/samples/items/{pk}", {"crs": EPSG + "3857"})
    assert one["Content-Crs"] == f"<{EPSG}3857>"


@pytest.mark.django_db
def test_projected_coordinates_are_the_shown_location_transformed(client, world):
    for code in ("3857", "6933"):
        to_crs = Transformer.from_crs("OGC:CRS84", f"EPSG:{code}", always_xy=True)
        found = everything(client, f"&crs={quote(EPSG + code)}")
        assert {f["properties"]["code"] for f in found} == PUBLIC_CODES
        for feature in found:
            x, y = to_crs.transform(*shown_lonlat(feature))
            assert feature["geometry"]["coordinates"] == pytest.approx([x, y], abs=0.01), code
    # Finland's samples, public at 20 km cells, are the cells' centres transformed to EPSG:6933,
    # not a transform of the stored points.
    fin = everything(client, f"&crs={quote(EPSG + '6933')}", collection=world["FIN"].slug)
    to_grid = Transformer.from_crs("OGC:CRS84", "EPSG:6933", always_xy=True)
    for feature in fin:
        _, lon, lat, *_ = next(r for r in ROWS["FIN"] if r[0] == feature["properties"]["code"])
        cell = grid.cell_at(lon, lat, 20_000)
        centre = to_grid.transform(*cell.centroid_lonlat)
        assert feature["geometry"]["coordinates"] == pytest.approx(centre, abs=0.01)
        stored = to_grid.transform(lon, lat)
        assert feature["geometry"]["coordinates"] != pytest.approx(stored, abs=100)


@pytest.mark.django_db
def test_epsg_4326_is_latitude_then_longitude(client, world):
    lonlat = {f["id"]: f["geometry"]["coordinates"] for f in everything(client)}
    latlon = {
        f["id"]: f["geometry"]["coordinates"]
        for f in everything(client, f"&crs={quote(EPSG + '4326')}")
    }
    assert latlon.keys() == lonlat.keys()
    for pk, (lon, lat) in lonlat.items():
        assert latlon[pk] == [lat, lon]
    us1 = Sample.objects.get(code="US-1", survey=world["USA"]).pk
    assert latlon[us1] == [40.0, -100.0]
    # The safe CURIE names the same CRS.
    curie = everything(client, f"&crs={quote('[EPSG:4326]')}")
    assert {f["id"]: f["geometry"]["coordinates"] for f in curie} == latlon


@pytest.mark.django_db
def test_one_feature_in_another_crs(client, world):
    pk = Sample.objects.get(code="FI-1").pk
    url = f"/ogcapi/collections/{world['FIN'].slug}/items/{pk}"
    _, lon, lat, *_ = ROWS["FIN"][0]
    cell = grid.cell_at(lon, lat, 20_000)
    feature = get_json(client, url, data={"crs": EPSG + "6933"})
    to_6933 = Transformer.from_crs("OGC:CRS84", "EPSG:6933", always_xy=True)
    centre = to_6933.transform(*cell.centroid_lonlat)
    assert feature["geometry"]["coordinates"] == pytest.approx(centre, abs=0.01)
    clon, clat = cell.centroid_lonlat
    feature = get_json(client, url, data={"crs": EPSG + "4326"})
    assert feature["geometry"]["coordinates"] == [round(clat, 6), round(clon, 6)]
    html = client.get(url, {"crs": EPSG + "3857", "f": "html"}).content.decode()
    assert "Easting (m)" in html and "EPSG:3857" in html


@pytest.mark.django_db
def test_bbox_crs_selects_the_rows_of_the_equivalent_crs84_box(client, world):
    def codes_in(box, crs=None):
        query = "&bbox=" + ",".join(repr(v) for v in box)
        if crs:
            query += "&bbox-crs=" + quote(crs)
        return {f["properties"]["code"] for f in everything(client, query)}

    _, fi_lon, fi_lat, *_ = ROWS["FIN"][0]
    d = 0.002
    boxes = [
        (-101.0, 39.0, -99.0, 41.0),  # US-1 and US-2
        (-97.5, 36.5, -94.5, 38.5),  # the rivers' AA-1 and US-1
        (fi_lon - d, fi_lat - d, fi_lon + d, fi_lat + d),  # FI-1's stored point: its 20 km cell
        (5.0, 55.0, 30.0, 65.0),  # NOR and FIN
    ]
    for west, south, east, north in boxes:
        expected = codes_in((west, south, east, north))
        assert expected, (west, south, east, north)
        assert codes_in((south, west, north, east), EPSG + "4326") == expected
        assert codes_in((west, south, east, north), CRS84) == expected
        for code in ("3857", "6933"):
            to_crs = Transformer.from_crs("OGC:CRS84", f"EPSG:{code}", always_xy=True)
            x0, y0 = to_crs.transform(west, south)
            x1, y1 = to_crs.transform(east, north)
            assert codes_in((x0, y0, x1, y1), EPSG + code) == expected, code
    # A box reaching the edges of Web Mercator's square world reaches the poles.
    world_3857 = (-20037508.35, -20037508.35, 20037508.35, 20037508.35)
    assert codes_in(world_3857, EPSG + "3857") == PUBLIC_CODES
    # The rows of the box and the CRS of the answer are independent.
    both = everything(
        client, f"&bbox=39,-101,41,-99&bbox-crs={quote(EPSG + '4326')}&crs={quote(EPSG + '3857')}"
    )
    assert {f["properties"]["code"] for f in both} == {"US-1", "US-2"}
    assert all(abs(f["geometry"]["coordinates"][0]) > 1e6 for f in both)


@pytest.mark.django_db
def test_unknown_crs_and_bad_boxes_are_400s_naming_the_parameter(client, world):
    for bad in ("EPSG:4326", EPSG + "9999", "http://www.opengis.net/def/crs/EPSG/0/32633", "x"):
        body = assert_400_naming(client.get(ITEMS, {"crs": bad}), "crs")
        assert set(body) == {"error", "reason", "status"}
        assert set(body["reason"]) == {"crs"}
        assert_400_naming(client.get(ITEMS, {"bbox": "0,0,1,1", "bbox-crs": bad}), "bbox-crs")
    pk = Sample.objects.get(code="US-1", survey=world["USA"]).pk
    assert_400_naming(client.get(f"{ITEMS}/{pk}", {"crs": EPSG + "9999"}), "crs")
    metres = {"bbox-crs": EPSG + "3857"}
    assert_400_naming(client.get(ITEMS, {"bbox": "10,10,0,0", **metres}), "bbox")
    assert_400_naming(client.get(ITEMS, {"bbox": "a,b,c,d", **metres}), "bbox")
    assert_400_naming(client.get(ITEMS, {"bbox": "0,0,inf,1", **metres}), "bbox")
    assert_400_naming(client.get(ITEMS, {"bbox": "41,-99,39,-101", "bbox-crs": EPSG + "4326"}),
                      "bbox")  # fmt: skip


@pytest.mark.django_db
def test_html_items_page_maps_its_features_locally(client, world):
    url = f"/ogcapi/collections/{world['FIN'].slug}/items"
    html = client.get(url, {"f": "html", "crs": EPSG + "4326"}).content.decode()
    assert 'class="ogc-map"' in html and 'role="region"' in html
    points = json.loads(re.search(r'id="ogc-points"[^>]*>(.*?)</script>', html, re.S).group(1))
    # The map is in longitude/latitude whatever CRS the table shows, at the cells' centres.
    by_code = {p["code"]: p for p in points}
    for code, lon, lat, *_ in ROWS["FIN"]:
        clon, clat = grid.cell_at(lon, lat, 20_000).centroid_lonlat
        assert (by_code[code]["lon"], by_code[code]["lat"]) == (round(clon, 6), round(clat, 6))
        assert repr(lon) not in html and repr(lat) not in html
    assert html.index(">Latitude<") < html.index(">Longitude<")  # the table in EPSG:4326 order
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/leaflet/leaflet.js" in sources and "/static/ogcapi/items-map.js" in sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    script = (Path(__file__).resolve().parent.parent / "static/ogcapi/items-map.js").read_text()
    assert "/api/v1/boundaries" in script and "tileLayer" not in script and "http" not in script
    empty = client.get(url, {"f": "html", "datetime": "1900-01-01"}).content.decode()
    assert 'class="ogc-map"' not in empty  # no features, no map


# --- sortby ------------------------------------------------------------------------------------


SORTS = [
    "code", "-code", "sampled_on", "-sampled_on", "survey,-code", "country,-sampled_on,code",
    "-id", "id", "+code", "-survey,sampled_on",
]  # fmt: skip


@pytest.mark.django_db
def test_sortby_orders_the_features(client, world):
    unsorted = everything(client)
    assert {f["properties"]["code"] for f in unsorted} == PUBLIC_CODES
    for sortby in SORTS:
        found = everything(client, f"&sortby={quote(sortby)}")
        assert [f["id"] for f in found] == expected_order(unsorted, sortby), sortby
    codes = [f["properties"]["code"] for f in everything(client, "&sortby=-code")]
    assert codes[:2] == ["US-9", "US-3"] and codes[-1] == "AA-1"
    dated = [f["properties"]["sampled_on"] for f in everything(client, "&sortby=-sampled_on")]
    assert dated[0] == "2021-01-01" and dated[-2:] == [None, None]  # undated last, both ways
    dated = [f["properties"]["sampled_on"] for f in everything(client, "&sortby=sampled_on")]
    assert dated[0] == "2017-09-03" and dated[-2:] == [None, None]
    # "+" unencoded arrives as a space: read as ascending.
    plus = get_json(client, f"{ITEMS}?limit=10000&sortby=+code")["features"]
    assert [f["id"] for f in plus] == expected_order(unsorted, "code")


@pytest.mark.django_db
def test_paging_a_sorted_collection_returns_every_visible_sample_once(client, world):
    unsorted = everything(client)
    for sortby in SORTS:
        expected = expected_order(unsorted, sortby)
        for limit in (1, 2, 3):
            found, pages = paged(client, f"{ITEMS}?limit={limit}&sortby={quote(sortby)}")
            assert [f["id"] for f in found] == expected, (sortby, limit)
            assert pages == -(-len(expected) // limit)
    # Sorted pages of a filtered, boxed, reprojected collection.
    query = (f"&filter={quote('Cu > 10')}&bbox=-180,-90,180,90&crs={quote(EPSG + '3857')}"
             "&sortby=-sampled_on,code")  # fmt: skip
    whole = everything(client, query)
    found, _ = paged(client, f"{ITEMS}?limit=2{query}")
    assert [f["id"] for f in found] == [f["id"] for f in whole]
    assert [f["id"] for f in whole] == expected_order(whole, "-sampled_on,code")
    assert [f["properties"]["code"] for f in whole] == [
        "US-2", "US-1", "NO-2", "NO-1", "FI-2", "FI-1"
    ]  # fmt: skip


@pytest.mark.django_db
def test_the_next_link_keeps_the_order_and_carries_its_sort_keys(client, world):
    body = get_json(client, f"{ITEMS}?limit=2&sortby=-sampled_on,code&crs={quote(EPSG + '3857')}")
    nxt = next(x["href"] for x in body["links"] if x["rel"] == "next")
    query = parse_qs(urlsplit(nxt).query)
    assert query["sortby"] == ["-sampled_on,code"] and query["crs"] == [EPSG + "3857"]
    last = body["features"][-1]
    assert decoded(query["cursor"][0]) == [
        "-sampled_on,code", [last["properties"]["sampled_on"], last["properties"]["code"],
                             last["id"]],
    ]  # fmt: skip
    # Without sortby the cursor stays the last id (as before).
    body = get_json(client, f"{ITEMS}?limit=2&sortby=id")
    nxt = next(x["href"] for x in body["links"] if x["rel"] == "next")
    assert parse_qs(urlsplit(nxt).query)["cursor"] == [str(body["features"][-1]["id"])]


@pytest.mark.django_db
def test_bad_sortby_and_cursors_are_400s_naming_the_parameter(client, world):
    for bad, named in (
        ("Cu", "Cu"),
        ("geometry", "geometry"),
        ("code,-Ni", "Ni"),
        ("location_precision_km", "location_precision_km"),
        ("", "''"),
        ("code,code", "code"),
        ("-code,+code", "code"),
        ("--code", "-code"),
    ):
        body = assert_400_naming(client.get(ITEMS, {"sortby": bad}), "sortby")
        assert named in body["reason"]["sortby"], (bad, body)
    first = get_json(client, f"{ITEMS}?limit=2&sortby=code")
    cursor = parse_qs(
        urlsplit(next(x["href"] for x in first["links"] if x["rel"] == "next")).query
    )["cursor"][0]
    # A cursor of one order used with another, or without sortby, is refused.
    body = assert_400_naming(client.get(ITEMS, {"sortby": "-code", "cursor": cursor}), "cursor")
    assert "sortby='code'" in body["reason"]["cursor"]
    assert_400_naming(client.get(ITEMS, {"cursor": cursor}), "cursor")
    assert_400_naming(client.get(ITEMS, {"sortby": "code", "cursor": "12"}), "cursor")
    forged = [  # (sortby, what the cursor decodes to)
        ("code", ["code", ["x"]]), ("code", ["code", [1, 2]]), ("code", ["code", [None, 1]]),
        ("code", {"a": 1}), ("sampled_on", ["sampled_on", ["someday", 1]]),
        ("code", ["code", ["x", -1]]), ("code", ["code", ["x", True]]),
    ]  # fmt: skip
    for sortby, payload in forged:
        cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        assert_400_naming(client.get(ITEMS, {"sortby": sortby, "cursor": cursor}), "cursor")
    for cursor in ("!!", "e30", "bm90IGpzb24"):
        assert_400_naming(client.get(ITEMS, {"sortby": "code", "cursor": cursor}), "cursor")


# --- the gate through every new parameter --------------------------------------------------------


def _all_ways(client) -> list[dict]:
    """Features through every new parameter: sorted, paged, reprojected, boxed in other CRSs."""
    found = []
    for sortby in SORTS:
        found += paged(client, f"{ITEMS}?limit=3&sortby={quote(sortby)}")[0]
    for crs in CRSS:
        found += everything(client, f"&crs={quote(crs)}&sortby=-code")
    world_boxes = {
        EPSG + "4326": "-90,-180,90,180",
        EPSG + "3857": "-20037508.35,-20037508.35,20037508.35,20037508.35",
        EPSG + "6933": "-17367530.45,-7342230.14,17367530.45,7342230.14",
    }
    for crs, box in world_boxes.items():
        found += everything(client, f"&bbox={box}&bbox-crs={quote(crs)}&sortby=country")
    # A cursor forged to start before every sample still yields only visible ones.
    start = base64.urlsafe_b64encode(json.dumps(["code", ["", 0]]).encode()).decode()
    found += everything(client, f"&sortby=code&cursor={start}")
    return found


@pytest.mark.django_db
def test_hidden_rows_never_appear_through_sortby_crs_or_bbox_crs(world, django_user_model):
    public = _all_ways(Client())
    assert {f["properties"]["code"] for f in public} == PUBLIC_CODES
    partner, _ = partner_with_agreement(["RUS"])
    granted = _all_ways(token_client(partner))
    assert {f["properties"]["code"] for f in granted} == PUBLIC_CODES | {"RU-1", "RU-2"}
    pending, _ = partner_with_agreement(
        ["RUS"], username="pending", organisation="Pending agency", accepted=False
    )
    assert {f["properties"]["code"] for f in _all_ways(token_client(pending))} == PUBLIC_CODES
    # Norway's confidential Ni stays out in every CRS and order; Finland's stored points too.
    for f in public:
        if f["properties"]["country"] == "NOR":
            assert f["properties"]["Ni"] is None
    text = json.dumps(public)
    for _, lon, lat, *_ in ROWS["FIN"]:
        assert repr(lon) not in text and repr(lat) not in text
    # Positive control: staff see the hidden rows the same ways.
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("s", password="x", is_staff=True))
    assert {f["properties"]["code"] for f in _all_ways(staff)} >= HIDDEN_CODES


# --- real clients ------------------------------------------------------------------------------


def gdal_version() -> tuple[int, ...]:
    if not OGRINFO:
        return (0,)
    text = subprocess.run([OGRINFO, "--version"], capture_output=True, text=True).stdout
    return tuple(int(n) for n in re.search(r"GDAL (\d+)\.(\d+)", text).groups())


def geojson_coordinates(path) -> dict[str, list[float]]:
    return {
        f["properties"]["code"] + "@" + f["properties"]["survey"]: f["geometry"]["coordinates"]
        for f in json.loads(path.read_text())["features"]
    }


def api_coordinates(base: str, crs: str) -> dict[str, list[float]]:
    import requests

    body = requests.get(f"{base}/collections/samples/items", timeout=60,
                        params={"limit": 10000, "crs": crs}).json()  # fmt: skip
    return {
        f["properties"]["code"] + "@" + f["properties"]["survey"]: f["geometry"]["coordinates"]
        for f in body["features"]
    }


@needs_gdal
@pytest.mark.django_db(transaction=True)
def test_gdal_reprojects_the_crs84_features_to_what_crs_returns(live_server, write_csv, tmp_path):
    """GDAL 3.6 predates Part 2 in its OAPIF driver (no CRS open option: it reads CRS84 and
    ignores the crs list, which it must keep doing now that the class is declared); its own
    reprojection (-t_srs, PROJ) of what it reads agrees with the server's crs= answer."""
    build_sort_world(write_csv)
    base = f"{live_server.url}/ogcapi"
    for code in ("3857", "6933"):
        out = tmp_path / f"samples-{code}.geojson"
        run(OGR2OGR, "-f", "GeoJSON", "-t_srs", f"EPSG:{code}", str(out), f"OAPIF:{base}",
            "samples")  # fmt: skip
        by_gdal = geojson_coordinates(out)
        by_server = api_coordinates(base, EPSG + code)
        assert by_gdal.keys() == by_server.keys() and len(by_gdal) == PUBLIC_FEATURES
        for key, xy in by_server.items():
            # GDAL reprojects the 6-decimal degrees it read; the server transforms the shown
            # location itself: they differ by that rounding (< 0.25 m at Finland's latitudes).
            assert xy == pytest.approx(by_gdal[key], abs=0.25), (code, key)


@pytest.mark.skipif(gdal_version() < (3, 7), reason="GDAL's OAPIF driver reads Part 2 from 3.7")
@pytest.mark.django_db(transaction=True)
def test_gdal_asks_for_a_crs_and_gets_it_in_authority_axis_order(
    live_server, write_csv, tmp_path
):  # pragma: no cover - GDAL 3.6 on the project's machine
    build_sort_world(write_csv)
    base = f"{live_server.url}/ogcapi"
    for code in ("3857", "6933", "4326"):
        out = tmp_path / f"samples-oo-{code}.geojson"
        run(OGR2OGR, "-f", "GeoJSON", str(out), f"OAPIF:{base}", "samples",
            "-oo", f"CRS=EPSG:{code}")  # fmt: skip
        by_gdal = geojson_coordinates(out)
        # GDAL turns the server's EPSG:4326 latitude, longitude into its own longitude, latitude.
        by_server = api_coordinates(base, CRS84 if code == "4326" else EPSG + code)
        assert by_gdal.keys() == by_server.keys()
        for key, xy in by_server.items():
            assert xy == pytest.approx(by_gdal[key], abs=0.01), (code, key)


@pytest.mark.django_db(transaction=True)
def test_owslib_sorts_and_reprojects(live_server, write_csv):
    from owslib import ogcapi
    from owslib.ogcapi.features import Features

    defaults = dict(ogcapi.REQUEST_HEADERS)
    try:
        world = build_sort_world(write_csv)
        partner, _ = partner_with_agreement(["RUS"])
        base = f"{live_server.url}/ogcapi"
        api = Features(base, headers={})
        assert (
            "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
            in (api.conformance()["conformsTo"])
        )
        items = api.collection_items("samples", limit=10000, sortby=("code", "desc"))
        codes = [f["properties"]["code"] for f in items["features"]]
        assert codes == sorted(codes, reverse=True) and set(codes) == PUBLIC_CODES
        usa = api.collection_items(
            world["USA"].slug, limit=10, sortby=("sampled_on", "asc"), crs=EPSG + "4326"
        )
        assert [f["properties"]["code"] for f in usa["features"]] == ["US-1", "US-2", "US-3"]
        assert usa["features"][0]["geometry"]["coordinates"] == [40.0, -100.0]
        as_partner = Features(base, headers={"Authorization": f"Token {api_token(partner)}"})
        items = as_partner.collection_items(
            "samples", limit=10000, sortby=("survey", "desc"), crs=EPSG + "3857"
        )
        codes = {f["properties"]["code"] for f in items["features"]}
        assert codes == PUBLIC_CODES | {"RU-1", "RU-2"}
        collection = api.collection(world["USA"].slug)
        assert collection["crs"] == CRSS and collection["storageCrs"] == CRS84
    finally:
        ogcapi.REQUEST_HEADERS.clear()
        ogcapi.REQUEST_HEADERS.update(defaults)


# --- the HTML items page's map in a real browser ---------------------------------------------


MARKERS = ".ogc-map path.leaflet-interactive"  # the features (the outlines are not interactive)


@pytest.fixture(scope="module")
def chromium():
    """Chromium for this module's one browser test (as tests/test_browser_dashboards.py)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_items_page_map_draws_every_feature_with_local_files_only(
    chromium, live_server, write_csv
):
    """Chromium: the map draws one marker per feature of the page (in a projected CRS's page
    too: the map is in longitude/latitude) over the country outlines from /api/v1/boundaries,
    with no console error and no request to another host, fits a phone, passes axe-core with no
    serious violation, and a marker leads to its feature's page."""
    from playwright.sync_api import expect

    build_sort_world(write_csv)
    url = f"{ITEMS}?f=html&sortby=-code&crs={quote(EPSG + '3857')}"
    for language in ("en", "zh-hans"):
        for width in (1280, PHONE_WIDTH):
            where = (language, width)
            page, watch, response = open_page(
                chromium, live_server, url, language=language, width=width
            )
            assert response.status == 200, where
            expect(page.locator(".ogc-map")).to_have_class(re.compile(r"\bleaflet-container\b"))
            expect(page.locator(MARKERS)).to_have_count(PUBLIC_FEATURES)
            expect(page.locator(".ogc-map path[fill='#f3f1ea']").first).to_be_attached()
            if width == PHONE_WIDTH:
                assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
            assert serious_violations(page) == [], where
            assert watch.problems == [], where
            page.screenshot(path=str(ARTIFACTS / f"ogcapi-items-{language}-{width}.png"))
            page.context.close()
    page, watch, _ = open_page(chromium, live_server, url)
    expect(page.locator(MARKERS)).to_have_count(PUBLIC_FEATURES)
    with page.expect_navigation():
        page.locator(MARKERS).first.dispatch_event("click")
    assert re.search(r"/ogcapi/collections/samples/items/\d+\?f=html$", page.url), page.url
    assert watch.problems == []
    page.context.close()
