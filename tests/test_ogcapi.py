"""OGC API – Features at /ogcapi/: real clients (GDAL's ogrinfo and ogr2ogr, OWSLib) against a
live server, and the rules of the gate at the client level.

The world: USA public (exact locations, one Cu value below detection), NOR public with Ni
confidential, FIN public at 20 km cells, RUS embargoed (a partner's accepted agreement grants
it), SWE without a policy (hidden from everyone but staff).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from urllib.parse import parse_qs, urlsplit

import hypothesis
import pytest
import schemathesis
from django.test import Client
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)

from baselines import grid
from baselines.models import Country, Element, Sample, Survey
from sharing.models import AuditEvent, ReleasePolicy
from tests.worlds import api_token, ingest_survey, partner_with_agreement

OGR2OGR, OGRINFO = shutil.which("ogr2ogr"), shutil.which("ogrinfo")
needs_gdal = pytest.mark.skipif(not (OGR2OGR and OGRINFO), reason="GDAL's tools not installed")

HEADER = ("sample_id", "longitude", "latitude", "sampled_on", "depth", "Cu_ppm", "Ni_ppm")
ROWS = {
    "USA": [
        ("US-1", -100.0, 40.0, "2019-05-01", "0-5 cm", 12.5, 20.25),
        ("US-2", -100.05, 40.02, "2019-06-11", "0-5 cm", 30.75, 25.5),
        ("US-3", -90.0, 35.0, "2020-07-21", "5-10 cm", "<0.5", 9.125),
    ],
    "NOR": [
        ("NO-1", 10.7, 59.9, "2018-08-01", "", 21.0, 1414.2136),
        ("NO-2", 10.8, 60.0, "2018-08-02", "", 18.5, 1732.0508),
    ],
    "FIN": [
        ("FI-1", 25.123457, 62.765431, "2017-09-03", "", 41.0, 52.0),
        ("FI-2", 24.941736, 60.173159, "2017-09-04", "", 44.0, 57.0),
    ],
    "RUS": [
        ("RU-1", 37.614729, 55.758316, "2021-05-05", "", 7331.8713, 9173.2281),
        ("RU-2", 39.718364, 57.626183, "2021-05-06", "", 7412.6359, 9284.5172),
    ],
    "SWE": [("SE-1", 18.068416, 59.329371, "2016-01-01", "", 6137.2419, 5926.3817)],
}
PUBLIC = ("USA", "NOR", "FIN")


def build_world(write_csv) -> dict[str, Survey]:
    surveys = {
        code: ingest_survey(write_csv, rows, country=code, name=f"OGC {code} soils", header=HEADER)
        for code, rows in ROWS.items()
    }
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    nor = ReleasePolicy.objects.create(country=Country.objects.by_code("NOR"), in_force=True)
    nor.confidential_elements.set([Element.objects.get(symbol="Ni")])
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, public_precision_m=20_000
    )
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("RUS"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    return surveys


@pytest.fixture
def world(write_csv):
    return build_world(write_csv)


def token_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {api_token(user, name=f'client {uuid.uuid4()}')}")


def get_json(client, url, **extra):
    response = client.get(url, **extra)
    assert response.status_code == 200, (url, response.status_code, response.content[:400])
    return response.json()


def features(client, collection: str, query: str = "") -> list[dict]:
    body = get_json(client, f"/ogcapi/collections/{collection}/items?limit=10000{query}")
    assert not any(link["rel"] == "next" for link in body["links"])
    return body["features"]


def codes(found: list[dict]) -> set[str]:
    return {f["properties"]["code"] for f in found}


def assert_400_naming(response, parameter: str) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:400])
    body = response.json()
    assert body["error"] == "invalid" and body["status"] == 400, body
    assert parameter in body["reason"], body
    return body


# --- the service's description ---------------------------------------------------------------


@pytest.mark.django_db
def test_landing_page_links_the_definition_conformance_and_collections(client):
    body = get_json(client, "/ogcapi/")
    rels = {link["rel"]: link for link in body["links"]}
    assert rels["service-desc"]["href"].endswith("/ogcapi/api")
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["conformance"]["href"].endswith("/ogcapi/conformance")
    assert rels["data"]["href"].endswith("/ogcapi/collections")
    assert {"self", "alternate", "service-doc"} <= rels.keys()


@pytest.mark.django_db
def test_conformance_declares_exactly_what_is_implemented(client):
    classes = set(get_json(client, "/ogcapi/conformance")["conformsTo"])
    features = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    assert {features + c for c in ("core", "geojson", "html", "oas30")} <= classes
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in classes
    # Part 2 (CRS by reference) and Part 8's draft sorting classes are implemented (their
    # behaviour: tests/test_ogcapi_crs_sort.py).
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes
    sorting = "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/"
    assert {sorting + c for c in ("sortables", "sorting", "features-sorting")} <= classes
    # Not implemented, so not declared: spatial, temporal and array CQL2 functions, CASEI and
    # ACCENTI, property-to-property comparisons, arithmetic; Part 4 (writes), Part 5 (schemas).
    assert not any(
        c.endswith(("spatial-functions", "temporal-functions", "array-functions",
                    "case-insensitive-comparison", "accent-insensitive-comparison",
                    "property-property", "arithmetic", "basic-spatial-functions"))
        for c in classes
    )  # fmt: skip
    assert not any("ogcapi-features-4" in c or "ogcapi-features-5" in c for c in classes)
    assert len(classes) == 15


@pytest.mark.django_db
def test_api_definition_is_openapi_3_with_the_limit_bounds(client):
    response = client.get("/ogcapi/api")
    assert response["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    document = response.json()
    assert document["openapi"].startswith("3.0")
    assert "/collections/{collectionId}/items" in document["paths"]
    limit = document["components"]["parameters"]["limit"]["schema"]
    assert (limit["default"], limit["maximum"]) == (100, 10_000)


# --- collections ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_collections_are_those_the_caller_may_see(client, world):
    public = {c["id"] for c in get_json(client, "/ogcapi/collections")["collections"]}
    expected = {"samples"} | {world[c].slug for c in PUBLIC}
    assert expected <= public
    assert world["RUS"].slug not in public and world["SWE"].slug not in public
    partner, _ = partner_with_agreement(["RUS"])
    body = get_json(token_client(partner), "/ogcapi/collections")
    assert world["RUS"].slug in {c["id"] for c in body["collections"]}
    assert world["SWE"].slug not in {c["id"] for c in body["collections"]}


@pytest.mark.django_db
def test_collection_extent_is_of_locations_as_shown(client, world):
    fin = get_json(client, f"/ogcapi/collections/{world['FIN'].slug}")
    centroids = [grid.cell_at(lon, lat, 20_000).centroid_lonlat for _, lon, lat, *_ in ROWS["FIN"]]
    west, south, east, north = fin["extent"]["spatial"]["bbox"][0]
    assert west == round(min(c[0] for c in centroids), 6)
    assert north == round(max(c[1] for c in centroids), 6)
    for _, lon, lat, *_ in ROWS["FIN"]:  # the stored points are not the box's corners
        assert lon not in (west, east) and lat not in (south, north)
    assert fin["extent"]["temporal"]["interval"] == [
        ["2017-09-03T00:00:00Z", "2017-09-04T23:59:59Z"]
    ]
    usa = get_json(client, f"/ogcapi/collections/{world['USA'].slug}")
    assert usa["extent"]["spatial"]["bbox"] == [[-100.05, 35.0, -90.0, 40.02]]
    assert usa["itemType"] == "feature"


@pytest.mark.django_db
def test_hidden_and_missing_collections_answer_the_same_404(client, world):
    hidden, missing = world["SWE"].slug, "no-such-survey"
    for suffix in ("", "/items", "/queryables", "/items/1"):
        a = client.get(f"/ogcapi/collections/{hidden}{suffix}")
        b = client.get(f"/ogcapi/collections/{missing}{suffix}")
        assert a.status_code == b.status_code == 404, suffix
        assert a.content == b.content, suffix
        assert a["Content-Type"] == b["Content-Type"] == "application/json"
        assert a.json() == {"error": "not_found", "reason": "Not found.", "status": 404}
    # A hidden sample in the collection of all samples is a missing one too.
    hidden_id = Sample.objects.get(code="SE-1").pk
    missing_id = Sample.objects.order_by("-pk").first().pk + 1000
    a = client.get(f"/ogcapi/collections/samples/items/{hidden_id}")
    b = client.get(f"/ogcapi/collections/samples/items/{missing_id}")
    assert a.status_code == b.status_code == 404 and a.content == b.content


# --- items ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_items_come_in_pages_linked_by_a_cursor(client, world):
    seen, url, pages = [], "/ogcapi/collections/samples/items?limit=2", 0
    while url:
        body = get_json(client, url)
        pages += 1
        assert body["type"] == "FeatureCollection"
        assert body["numberReturned"] == len(body["features"]) <= 2
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timeStamp"])
        rels = {link["rel"]: link["href"] for link in body["links"]}
        assert rels["collection"].endswith("/ogcapi/collections/samples")
        seen += [f["id"] for f in body["features"]]
        url = rels.get("next")
        if url:
            assert parse_qs(urlsplit(url).query)["cursor"] == [str(seen[-1])]
    visible = {code for country in PUBLIC for code, *_ in ROWS[country]}
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {Sample.objects.get(pk=pk).code for pk in seen} == visible
    assert pages == 4  # 7 samples, 2 a page


@pytest.mark.django_db
def test_limit_above_the_maximum_is_a_400_naming_limit(client, world):
    for limit in ("10001", "0", "-1", "many"):
        assert_400_naming(client.get(f"/ogcapi/collections/samples/items?limit={limit}"), "limit")
    assert get_json(client, "/ogcapi/collections/samples/items?limit=10000")["numberReturned"] == 7


@pytest.mark.django_db
def test_unknown_parameters_and_bad_values_name_the_parameter(client, world):
    items = "/ogcapi/collections/samples/items"
    assert_400_naming(client.get(f"{items}?colour=red"), "colour")
    assert_400_naming(client.get(f"{items}?bbox=10,60,5,70"), "bbox")
    assert_400_naming(client.get(f"{items}?datetime=yesterday"), "datetime")
    assert_400_naming(client.get(f"{items}?cursor=abc"), "cursor")
    assert_400_naming(client.get(f"{items}?properties=colour"), "properties")
    assert_400_naming(client.get(f"{items}?f=xml"), "f")


@pytest.mark.django_db
def test_bbox_selects_samples_and_snapped_ones_by_their_cell(client, world):
    assert codes(features(client, "samples", "&bbox=-101,39,-99,41")) == {"US-1", "US-2"}
    assert codes(features(client, "samples", "&bbox=-101,39,0,-99,41,10")) == {"US-1", "US-2"}
    # A tiny box around FI-1's stored point and one elsewhere in its 20 km cell answer alike.
    _, lon, lat, *_ = ROWS["FIN"][0]
    cell = grid.cell_at(lon, lat, 20_000)
    ring = cell.polygon_lonlat()
    far_lon = min(p[0] for p in ring) + 0.01 if lon > cell.centroid_lonlat[0] else None
    far_lon = far_lon or max(p[0] for p in ring) - 0.01
    far_lat = min(p[1] for p in ring) + 0.01 if lat > cell.centroid_lonlat[1] else None
    far_lat = far_lat or max(p[1] for p in ring) - 0.01
    d = 0.002
    at_point = features(client, "samples", f"&bbox={lon - d},{lat - d},{lon + d},{lat + d}")
    elsewhere = features(
        client, "samples", f"&bbox={far_lon - d},{far_lat - d},{far_lon + d},{far_lat + d}"
    )
    assert codes(at_point) == codes(elsewhere) == {"FI-1"}


@pytest.mark.django_db
def test_snapped_coordinates_for_a_country_public_at_20_km(client, world, django_user_model):
    found = {f["properties"]["code"]: f for f in features(client, world["FIN"].slug)}
    for code, lon, lat, *_ in ROWS["FIN"]:
        cell = grid.cell_at(lon, lat, 20_000)
        centroid = cell.centroid_lonlat
        feature = found[code]
        assert feature["geometry"]["coordinates"] == [round(centroid[0], 6), round(centroid[1], 6)]
        assert feature["properties"]["location_precision_km"] == 20
        assert feature["properties"]["cell"] == cell.code
    text = json.dumps(found)
    for _, lon, lat, *_ in ROWS["FIN"]:
        assert repr(lon) not in text and repr(lat) not in text
    # Staff see them exactly (the positive control of the snapping).
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("s", password="x", is_staff=True))
    exact = {f["properties"]["code"]: f for f in features(staff, world["FIN"].slug)}
    assert exact["FI-1"]["geometry"]["coordinates"] == [25.123457, 62.765431]
    assert exact["FI-1"]["properties"]["location_precision_km"] is None


@pytest.mark.django_db
def test_element_values_in_mg_kg_and_values_below_detection(client, world):
    found = {f["properties"]["code"]: f["properties"] for f in features(client, "samples")}
    assert found["US-1"]["Cu"] == 12.5 and found["US-1"]["Ni"] == 20.25
    assert found["US-3"]["Cu"] is None
    assert found["US-3"]["below_detection_limit"] == "Cu<0.5"
    assert found["US-1"]["below_detection_limit"] is None
    assert found["US-1"]["sampled_on"] == "2019-05-01" and found["US-1"]["depth"] == "0-5 cm"
    assert (found["US-1"]["country"], found["US-1"]["medium"]) == ("USA", "topsoil")


@pytest.mark.django_db
def test_confidential_element_is_absent(client, world, django_user_model):
    nor = features(client, world["NOR"].slug)
    assert nor and all("Ni" not in f["properties"] for f in nor)
    assert all(f["properties"]["Cu"] is not None for f in nor)
    assert (
        "Ni"
        not in get_json(client, f"/ogcapi/collections/{world['NOR'].slug}/queryables")["properties"]
    )
    body = client.get("/ogcapi/collections/samples/items?limit=10000").content.decode()
    for _, *_, ni in ROWS["NOR"]:
        assert repr(ni) not in body
    samples = {f["properties"]["code"]: f["properties"] for f in features(client, "samples")}
    assert samples["NO-1"]["Ni"] is None  # a column of the collection (USA's Ni is public)
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("s", password="x", is_staff=True))
    staff_nor = {f["properties"]["code"]: f for f in features(staff, world["NOR"].slug)}
    assert staff_nor["NO-1"]["properties"]["Ni"] == 1414.2136


@pytest.mark.django_db
def test_properties_chooses_the_columns(client, world):
    found = features(client, "samples", "&properties=code,Cu")
    assert found and all(set(f["properties"]) == {"code", "Cu"} for f in found)
    assert features(client, "samples", "&properties=")[0]["properties"] == {}


@pytest.mark.django_db
def test_datetime_selects_by_sampling_date(client, world):
    assert codes(features(client, "samples", "&datetime=2019-05-01")) == {"US-1"}
    assert codes(features(client, "samples", "&datetime=2019-06-01/..")) == {"US-2", "US-3"}
    assert codes(features(client, "samples", "&datetime=../2017-12-31T23:00:00Z")) == {
        "FI-1", "FI-2"
    }  # fmt: skip
    assert_400_naming(
        client.get("/ogcapi/collections/samples/items?datetime=2020-01-01/2019-01-01"), "datetime"
    )


# --- CQL2 ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cql2_text_and_json_filter_on_queryables(client, world):
    def matching(text, lang="cql2-text"):
        from urllib.parse import quote

        return codes(features(client, "samples", f"&filter-lang={lang}&filter={quote(text)}"))

    assert matching("Cu > 20") == {"US-2", "NO-1", "FI-1", "FI-2"}
    assert matching("Cu > 20 AND country = 'USA'") == {"US-2"}
    assert matching("40 < Cu") == {"FI-1", "FI-2"}
    assert matching("Cu IS NULL") == {"US-3"}
    assert matching("sampled_on >= DATE('2019-06-01')") == {"US-2", "US-3"}
    assert matching("country IN ('NOR', 'FIN') AND NOT Cu BETWEEN 19 AND 42") == {
        "NO-2", "FI-2"
    }  # fmt: skip
    assert matching("depth LIKE '5%'") == {"US-3"}
    assert matching("depth <> '0-5 cm'") == {"US-3"}
    assert matching(f"survey = '{world['FIN'].slug}'") == {"FI-1", "FI-2"}
    as_json = {
        "op": "and",
        "args": [
            {"op": ">", "args": [{"property": "Cu"}, 20]},
            {"op": "between", "args": [{"property": "Cu"}, 40, 42]},
        ],
    }
    assert matching(json.dumps(as_json), "cql2-json") == {"FI-1"}


@pytest.mark.django_db
def test_cql2_tests_only_values_the_caller_may_see(client, world):
    from urllib.parse import quote

    # Norway's Ni values are above 1,000 but confidential: no filter finds them.
    found = codes(features(client, "samples", f"&filter={quote('Ni > 1000')}"))
    assert found == set()
    found = codes(features(client, "samples", f"&filter={quote('Cu > 7000')}"))
    assert found == set()  # Russia's embargoed values
    partner, _ = partner_with_agreement(["RUS"])
    found = codes(features(token_client(partner), "samples", f"&filter={quote('Cu > 7000')}"))
    assert found == {"RU-1", "RU-2"}


@pytest.mark.django_db
def test_cql2_on_a_non_queryable_property_is_a_400_naming_filter(client, world):
    items = "/ogcapi/collections/samples/items?filter="
    body = assert_400_naming(client.get(items + "geom_x > 1"), "filter")
    assert "geom_x" in body["reason"]["filter"]
    assert_400_naming(client.get(items + "location_precision_km = 20"), "filter")
    # Norway's confidential Ni is no queryable of its survey for the public.
    assert_400_naming(
        client.get(f"/ogcapi/collections/{world['NOR'].slug}/items?filter=Ni > 1"), "filter"
    )


@pytest.mark.django_db
def test_cql2_syntax_and_type_errors_are_400s_naming_filter(client, world):
    items = "/ogcapi/collections/samples/items"
    for text in ("Cu >", "Cu >> 5", "country = 'NOR", "Cu > 'abc'", "sampled_on > 5"):
        assert_400_naming(client.get(items, {"filter": text}), "filter")
    for text in ("S_INTERSECTS(geometry, POINT(25 62))", "Cu > Ni", "CASEI(country) = 'nor'"):
        assert_400_naming(client.get(items, {"filter": text}), "filter")
    bad_json = {"filter": "{not json", "filter-lang": "cql2-json"}
    assert_400_naming(client.get(items, bad_json), "filter")
    assert_400_naming(client.get(items, {"filter": "Cu > 1", "filter-lang": "sql"}), "filter-lang")


# --- formats, languages, authentication, audit --------------------------------------------------


@pytest.mark.django_db
def test_json_for_clients_and_html_for_browsers(client, world):
    items = f"/ogcapi/collections/{world['USA'].slug}/items"
    assert client.get(items)["Content-Type"] == "application/geo+json"
    assert client.get(items, HTTP_ACCEPT="*/*")["Content-Type"] == "application/geo+json"
    assert client.get(items, HTTP_ACCEPT="application/geo+json")["Content-Type"] == (
        "application/geo+json"
    )
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for url, kwargs in ((items, {"HTTP_ACCEPT": browser}), (items + "?f=html", {})):
        response = client.get(url, **kwargs)
        assert response["Content-Type"].startswith("text/html")
        html = response.content.decode()
        assert "US-1" in html and "12.5" in html and "<table>" in html
    assert client.get("/ogcapi/collections?f=json")["Content-Type"] == "application/json"
    queryables = client.get(f"/ogcapi/collections/{world['USA'].slug}/queryables")
    assert queryables["Content-Type"] == "application/schema+json"
    assert queryables.json()["properties"]["Cu"]["type"] == "number"


@pytest.mark.django_db
def test_html_pages_speak_both_languages(client, world):
    pages = [
        "/ogcapi/?f=html",
        "/ogcapi/conformance?f=html",
        "/ogcapi/api?f=html",
        "/ogcapi/collections?f=html",
        f"/ogcapi/collections/{world['USA'].slug}?f=html",
        f"/ogcapi/collections/{world['USA'].slug}/queryables?f=html",
        f"/ogcapi/collections/{world['USA'].slug}/items?f=html",
        f"/ogcapi/collections/samples/items/{Sample.objects.get(code='US-1').pk}?f=html",
    ]
    english = {page: client.get(page).content.decode() for page in pages}
    assert "Collections" in english[pages[3]] and "Features" in english[pages[6]]
    for page in pages:
        html = client.get(page, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
        assert '<html lang="zh-hans">' in html, page
        assert "化学地球" in html, page
    chinese = client.get(pages[3], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "数据集" in chinese and ">Collections<" not in chinese
    chinese = client.get(pages[6], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "要素" in chinese and ">Features" not in chinese


@pytest.mark.django_db
def test_bad_token_is_a_401_and_a_token_sees_what_the_session_sees(client, world):
    bad = Client(HTTP_AUTHORIZATION="Token nonsense")
    for url in ("/ogcapi/", "/ogcapi/collections", "/ogcapi/collections/samples/items"):
        response = bad.get(url)
        assert response.status_code == 401, url
        assert response.json()["status"] == 401 and response.json()["reason"]
        assert response["WWW-Authenticate"] == "Token"
    partner, _ = partner_with_agreement(["RUS"])
    session = Client()
    session.force_login(partner)
    url = f"/ogcapi/collections/{world['RUS'].slug}/items?properties=code,Cu"
    by_token = token_client(partner).get(url).json()
    by_session = session.get(url).json()
    assert codes(by_token["features"]) == codes(by_session["features"]) == {"RU-1", "RU-2"}
    assert by_token["features"] == by_session["features"]


@pytest.mark.django_db
def test_partner_before_acceptance_sees_what_the_public_sees(client, world):
    """Rows as the public; the agreement's own collection is refused naming the licence (as on
    /api/v1/), while the public and other partners still get the plain 404."""
    pending, agreement = partner_with_agreement(["RUS"], username="pending", accepted=False)
    rus = f"/ogcapi/collections/{world['RUS'].slug}"
    assert client.get(rus).status_code == 404
    for url in (rus, rus + "/items"):
        response = token_client(pending).get(url)
        assert response.status_code == 403, url
        body = response.json()
        assert body["error"] == "licence_not_accepted"
        assert body["licence_url"].endswith(f"/agreements/{agreement.pk}/licence/")
    assert token_client(pending).get("/ogcapi/collections/no-such").status_code == 404
    assert codes(features(token_client(pending), "samples")) == codes(features(client, "samples"))


@pytest.mark.django_db
def test_item_reads_are_audited_for_non_public_data(client, world):
    partner, _ = partner_with_agreement(["RUS"])
    features(token_client(partner), world["RUS"].slug)
    events = AuditEvent.objects.filter(kind="access", user=partner)
    assert [e.country.iso_a3 for e in events] == ["RUS"]
    assert "ogcapi items" in events[0].summary and "/ogcapi/" in events[0].path
    features(token_client(partner), world["USA"].slug)  # public data: no event
    assert AuditEvent.objects.filter(kind="access", user=partner).count() == 1
    features(client, "samples")
    assert AuditEvent.objects.filter(kind="access").count() == 1


@pytest.mark.django_db
def test_one_feature_and_its_collection(client, world):
    pk = Sample.objects.get(code="US-1").pk
    feature = get_json(client, f"/ogcapi/collections/{world['USA'].slug}/items/{pk}")
    assert feature["type"] == "Feature" and feature["id"] == pk
    assert feature["properties"]["Cu"] == 12.5
    assert {link["rel"] for link in feature["links"]} >= {"self", "alternate", "collection"}
    # The same sample through another survey's collection is not there.
    assert client.get(f"/ogcapi/collections/{world['NOR'].slug}/items/{pk}").status_code == 404
    assert client.get("/ogcapi/collections/samples/items/abc").status_code == 404


@pytest.mark.django_db
def test_a_page_reads_element_columns_in_one_query(client, world, django_assert_max_num_queries):
    client.get("/ogcapi/collections/samples/items?limit=1")  # caches warmed (scope, collections)
    with django_assert_max_num_queries(12) as queries:
        body = get_json(client, "/ogcapi/collections/samples/items?limit=10000")
    assert body["numberReturned"] == 7
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum("baselines_measurement" in s for s in sql) == 1, sql
    assert not any('"boundary"' in s for s in sql), sql


# --- real clients against a live server --------------------------------------------------------


def run(*args: str, headers: str | None = None) -> str:
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF"}
    env.pop("GDAL_HTTP_HEADERS", None)
    if headers:
        env["GDAL_HTTP_HEADERS"] = headers
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout


def api_count(base: str, collection: str, headers: dict | None = None) -> int:
    """``numberReturned`` summed over the pages of a collection, following the next links."""
    import requests

    total, url = 0, f"{base}/collections/{collection}/items?limit=3"
    while url:
        body = requests.get(url, headers=headers or {}, timeout=60).json()
        total += body["numberReturned"]
        url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
    return total


def gpkg_rows(path, table: str) -> list[dict]:
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
        rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def ogr2ogr_copy(tmp_path, base: str, collection: str, headers: str | None = None):
    out = tmp_path / f"{collection}-{abs(hash(headers))}.gpkg"
    run(OGR2OGR, "-f", "GPKG", str(out), f"OAPIF:{base}", collection, headers=headers)
    return gpkg_rows(out, collection)


@needs_gdal
@pytest.mark.django_db(transaction=True)
def test_gdal_lists_and_copies_the_collections(live_server, write_csv, tmp_path):
    world = build_world(write_csv)
    base = f"{live_server.url}/ogcapi"
    listing = run(OGRINFO, "-ro", "-so", f"OAPIF:{base}")
    listed = set(re.findall(r"^\d+: (\S+)", listing, re.M))
    assert {"samples"} | {world[c].slug for c in PUBLIC} <= listed, listing
    assert world["RUS"].slug not in listed and world["SWE"].slug not in listed
    rows = ogr2ogr_copy(tmp_path, base, "samples")
    assert len(rows) == api_count(base, "samples") == 7
    by_code = {r["code"]: r for r in rows}
    assert set(by_code) == {code for c in PUBLIC for code, *_ in ROWS[c]}
    assert by_code["US-1"]["Cu"] == 12.5 and by_code["NO-1"]["Ni"] is None
    for survey in (world["FIN"].slug, world["USA"].slug):
        assert (
            len(ogr2ogr_copy(tmp_path, base, survey))
            == api_count(base, survey)
            == (len(ROWS["FIN"]) if survey == world["FIN"].slug else len(ROWS["USA"]))
        )
    summary = run(OGRINFO, "-ro", "-so", f"OAPIF:{base}", world["FIN"].slug)
    assert "Feature Count: 2" in summary, summary
    # GDAL gets Finland's samples at their 20 km cells' centres, never the stored points.
    out = tmp_path / "fin.geojson"
    run(OGR2OGR, "-f", "GeoJSON", str(out), f"OAPIF:{base}", world["FIN"].slug)
    shown = {
        f["properties"]["code"]: f["geometry"]["coordinates"]
        for f in json.loads(out.read_text())["features"]
    }
    for code, lon, lat, *_ in ROWS["FIN"]:
        centroid = grid.cell_at(lon, lat, 20_000).centroid_lonlat
        assert shown[code] == pytest.approx(centroid, abs=1e-6), code
        assert shown[code] != pytest.approx([lon, lat], abs=1e-3), code


@needs_gdal
@pytest.mark.django_db(transaction=True)
def test_gdal_with_a_token_gets_what_the_accepted_agreement_grants(
    live_server, write_csv, tmp_path
):
    world = build_world(write_csv)
    base = f"{live_server.url}/ogcapi"
    partner, _ = partner_with_agreement(["RUS"])
    pending, _ = partner_with_agreement(
        ["RUS"], username="pending", organisation="Pending agency", accepted=False
    )
    keys = {name: api_token(user) for name, user in (("partner", partner), ("pending", pending))}
    rus = world["RUS"].slug
    granted = f"Authorization: Token {keys['partner']}"
    assert rus in run(OGRINFO, "-ro", "-so", f"OAPIF:{base}", headers=granted)
    rows = ogr2ogr_copy(tmp_path, base, "samples", granted)
    headers = {"Authorization": f"Token {keys['partner']}"}
    assert len(rows) == api_count(base, "samples", headers) == 9
    values = {r["code"]: r["Cu"] for r in rows}
    assert values["RU-1"] == 7331.8713 and values["RU-2"] == 7412.6359
    assert len(ogr2ogr_copy(tmp_path, base, rus, granted)) == 2
    for headers in (f"Authorization: Token {keys['pending']}", None):
        assert rus not in run(OGRINFO, "-ro", "-so", f"OAPIF:{base}", headers=headers)
        rows = ogr2ogr_copy(tmp_path, base, "samples", headers)
        assert len(rows) == 7 and not {"RU-1", "RU-2"} & {r["code"] for r in rows}
    # A bad token is refused, not served as the public.
    result = subprocess.run(
        [OGRINFO, "-ro", "-so", f"OAPIF:{base}"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "GDAL_HTTP_HEADERS": "Authorization: Token nonsense"},
    )  # fmt: skip
    assert result.returncode != 0 and "401" in result.stderr + result.stdout


@pytest.mark.django_db(transaction=True)
def test_owslib_reads_the_same_items(live_server, write_csv):
    from owslib import ogcapi
    from owslib.ogcapi.features import Features

    # OWSLib updates its module-wide default headers with an instance's own: put them back.
    defaults = dict(ogcapi.REQUEST_HEADERS)
    try:
        _owslib_reads_the_same_items(live_server, write_csv, Features)
    finally:
        ogcapi.REQUEST_HEADERS.clear()
        ogcapi.REQUEST_HEADERS.update(defaults)


def _owslib_reads_the_same_items(live_server, write_csv, Features):
    world = build_world(write_csv)
    base = f"{live_server.url}/ogcapi"
    api = Features(base, headers={})
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        in (api.conformance()["conformsTo"])
    )
    ids = set(api.feature_collections())
    assert {"samples", world["USA"].slug} <= ids and world["RUS"].slug not in ids
    items = api.collection_items(world["USA"].slug, limit=10)
    assert {f["properties"]["code"] for f in items["features"]} == {"US-1", "US-2", "US-3"}
    queryables = api.collection_queryables(world["USA"].slug)
    assert queryables["properties"]["Cu"]["type"] == "number"
    partner, _ = partner_with_agreement(["RUS"])
    key = api_token(partner)
    as_partner = Features(base, headers={"Authorization": f"Token {key}"})
    items = as_partner.collection_items(world["RUS"].slug, limit=10, filter="Cu > 7400")
    assert [f["properties"]["code"] for f in items["features"]] == ["RU-2"]


# --- the API checked against its own OpenAPI document (schemathesis) ----------------------------


def _ogc_schema():
    # Loaded at import, as tests/test_openapi.py loads /api/schema/ (no database needed).
    from chemearth.wsgi import application

    return schemathesis.openapi.from_wsgi("/ogcapi/api", application)


ogc_schema = _ogc_schema()


@ogc_schema.parametrize()
@hypothesis.settings(
    max_examples=12, deadline=None, suppress_health_check=list(hypothesis.HealthCheck)
)
@pytest.mark.django_db
def test_the_ogc_api_answers_as_its_definition_says(
    case, write_csv, wsgi_requests_keep_the_test_connection
):
    """Generated requests (bounded): never a 5xx; statuses and content types as described."""
    if not Survey.objects.filter(name="OGC USA soils").exists():
        build_world(write_csv)
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance]
    )
