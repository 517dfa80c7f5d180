"""One HTTP kit (portal/http.py): every /api/v1/ and /tiles/ endpoint gives the same bad input
the same 400 with the same wording, never a 500, and authenticates the same way.

The endpoints are found by walking the URL map (as tests/test_leaks.py does), so a new endpoint
is checked without registering it here.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from baselines import grid
from portal import http

pytestmark = pytest.mark.django_db

CELL = grid.cell_at(25.0, 62.0, 80_000).code
# A value for each URL parameter name the map uses.
PATH_VALUES = {"code": CELL, "key": "0" * 24, "z": "0", "x": "0", "y": "0",
               "symbol": "Cu", "adm0_a3": "FIN", "slug": "no-such-survey", "pk": "1",
               "public_id": "00000000-0000-4000-8000-000000000000",
               "token": "not-signed", "collection": "samples", "feature": "1",
               "expires": "9999999999", "signature": "A" * 43, "fmt": "png"}  # fmt: skip
# Parameters every data endpoint understands, all valid: each test spoils one of them.
VALID = {"element": "Cu", "medium": "topsoil", "scale": "80", "bbox": "20,60,30,65",
         "lon": "25", "lat": "62", "region": "world"}  # fmt: skip
DASHBOARDS = "/api/v1/dashboards/"
# The endpoints that must reject each bad parameter (the positive control of the walk).
MUST_REJECT = {
    "element": {"/api/v1/cells/<code>/stats", "/api/v1/cells/<code>/samples",
                "/api/v1/viewer/values", "/api/v1/layers", "/api/v1/measurements/",
                DASHBOARDS + "change"},
    "medium": {"/api/v1/cells/<code>/stats", "/api/v1/viewer/values", "/api/v1/viewer/elements",
               "/api/v1/layers", "/api/v1/measurements/", "/api/v1/samples/",
               *(DASHBOARDS + d for d in ("exceedance", "exceedance/cells", "baselines",
                                          "compare"))},
    "bbox": {"/api/v1/viewer/values", "/api/v1/measurements/", "/api/v1/samples/"},
    "scale": {"/api/v1/viewer/values", "/api/v1/cells/at", "/api/v1/layers",
              DASHBOARDS + "coverage/cells", DASHBOARDS + "exceedance/cells"},
    "region": {DASHBOARDS + d for d in ("coverage", "coverage/cells", "exceedance",
                                        "exceedance/cells", "volume", "baselines")},
}  # fmt: skip
BAD = {"element": "Xx", "medium": "lava", "bbox": "30,60,20,65", "scale": "3",
       "region": "country:XXX"}  # fmt: skip


def walk(patterns, prefix: str = ""):
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def endpoints() -> list[tuple[str, str]]:
    """(route, concrete URL) of every /api/v1/ and /tiles/ route, format-suffix variants aside;
    routes are shown as ``/api/v1/cells/<code>/stats``."""
    found = []
    for raw in walk(get_resolver().url_patterns):
        if not raw.startswith(("api/v1/", "tiles/", "ogcapi/")) or "format>" in raw:
            continue
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", raw.replace("^", "").replace("$", ""))
        route = re.sub(r"<\w+:(\w+)>", r"<\1>", route).replace("\\.", ".")
        url = route
        for name, value in PATH_VALUES.items():
            url = url.replace(f"<{name}>", value)
        assert "<" not in url, f"no value for a parameter of {raw}"
        found.append(("/" + route, "/" + url))
    return sorted(set(found))


ENDPOINTS = endpoints()


def test_the_walk_finds_the_api_and_the_tiles():
    routes = {route for route, _ in ENDPOINTS}
    for needed in set().union(*MUST_REJECT.values()) | {"/tiles/<key>/<z>/<x>/<y>.png"}:
        assert needed in routes, (needed, sorted(routes))


@pytest.mark.parametrize("route, url", ENDPOINTS, ids=[r for r, _ in ENDPOINTS])
def test_a_nul_byte_is_the_same_400_everywhere(client, route, url):
    for bad in (f"{url}?element=%00", f"{url}?{'&'.join(f'{k}={v}' for k, v in VALID.items())}%00"):
        response = client.get(bad)
        assert response.status_code == 400, (bad, response.status_code)
        assert response.json() == http.error_body(
            400, "NUL characters are not allowed in the path or parameters."
        )


def test_a_nul_byte_in_the_path_is_a_400():
    for url in ("/api/v1/elements/%00/", "/tiles/%00.json", "/api/v1/cells/%00/stats"):
        response = Client().get(url)
        assert response.status_code == 400 and response.json()["error"] == "invalid", url


@pytest.mark.parametrize("parameter", sorted(BAD))
def test_a_bad_parameter_gets_the_same_400_and_wording_from_every_endpoint(client, parameter):
    """Every endpoint either ignores the parameter or rejects it with the kit's one wording;
    none answers a 500, and the endpoints known to use it do reject it."""
    query = {**VALID, parameter: BAD[parameter]}
    bodies, rejecting = set(), set()
    # The OGC API takes the parameters its standard names and refuses any other by name (checked
    # below), so this walk is of /api/v1/ and /tiles/.
    for route, url in (e for e in ENDPOINTS if not e[0].startswith("/ogcapi/")):
        response = client.get(url, query)
        assert response.status_code != 500, (url, parameter)
        if response.status_code == 400 and parameter in str(response.json().get("reason")):
            body = response.json()
            assert set(body) == {"error", "reason", "status"} and body["status"] == 400
            bodies.add(repr(body))
            rejecting.add(route)
    assert MUST_REJECT[parameter] <= rejecting, MUST_REJECT[parameter] - rejecting
    assert len(bodies) == 1, f"{parameter}: different answers {bodies}"


def test_the_ogc_api_parses_its_bbox_with_the_kit_and_names_unknown_parameters(client):
    items = "/ogcapi/collections/samples/items"
    bad_box = client.get(items, {"bbox": BAD["bbox"]})
    assert bad_box.status_code == 400
    assert bad_box.json() == http.error_body(
        400, {"bbox": "expected west < east and south < north"}
    )
    unknown = client.get(items, {"element": "Cu"})
    assert unknown.status_code == 400 and "element" in unknown.json()["reason"]


def test_a_malformed_cursor_is_a_400_on_both_lists(client):
    for url in (
        "/api/v1/samples/?cursor=cD1hYmM%3D",
        "/api/v1/measurements/?cursor=cD1hYmM%3D",
        "/api/v1/samples/?cursor=garbage",
        "/api/v1/measurements/?cursor=garbage",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.json()["reason"] == {"cursor": "not a cursor this API gave out"}


@pytest.mark.parametrize("route, url", ENDPOINTS, ids=[r for r, _ in ENDPOINTS])
def test_every_endpoint_refuses_a_bad_token_with_the_same_401(route, url):
    response = Client(HTTP_AUTHORIZATION="Token nonsense").get(url, VALID)
    assert response.status_code == 401, (url, response.status_code)
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == http.error_body(401, "Invalid token.", "authentication_failed")


def test_a_box_past_the_world_is_clamped_and_an_inverted_one_refused():
    assert http.parse_bbox("-400,-100,400,100") == (-180.0, -90.0, 180.0, 90.0)
    for text, reason in (
        ("30,60,20,65", "west < east"),
        ("nan,1,2,3", "finite"),
        ("1,2,3", "west,south"),
        ("-200,0,-190,10", "outside the world"),
    ):
        with pytest.raises(http.BadParameter) as raised:
            http.parse_bbox(text)
        assert reason in raised.value.reason


def test_registering_with_next_naming_a_view_lands_on_the_account_page(client):
    response = client.post(
        "/accounts/register/?next=account",
        {"username": "newcomer", "email": "n@example.org", "password1": "a-Long-pass-4821",
         "password2": "a-Long-pass-4821", "next": "account"},
    )  # fmt: skip
    assert response.status_code == 302 and response.url == "/accounts/me/"


def test_lists_never_read_country_boundaries(client, write_csv):
    """A joined country would bring its boundary (70 KB a row for the USA): lists defer it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from baselines.models import Country
    from sharing.models import ReleasePolicy
    from tests.worlds import ingest_survey

    ingest_survey(write_csv, [["US-1", -100.0, 38.0, 12.5]], country="USA")
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    cell = grid.cell_at(-100.0, 38.0, 80_000).code
    for url in ("/api/v1/samples/", "/api/v1/measurements/?element=Cu",
                f"/api/v1/cells/{cell}/samples?element=Cu&medium=topsoil"):  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200 and b"US-1" in response.content, url
        assert not [q["sql"] for q in queries if '"boundary"' in q["sql"]], url
