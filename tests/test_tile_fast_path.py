"""The tile fast path (portal/tile_fast_path.py) through the WSGI application gunicorn runs:
public and capability tiles answered in front of Django with the same bytes and checks; every
other answer left to Django's full path."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from chemearth.wsgi import application
from portal import tile_capabilities
from sharing.models import ReleasePolicy
from tests.test_layers import RUS_POINTS, USA_POINTS, content, pixel, rendered
from tests.test_layers import world as _world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner(request):
    """The world of tests/test_layers.py (USA public, RUS embargoed) and its RUS partner."""
    return request.getfixturevalue("_world")


def wsgi_get(path: str, **headers) -> tuple[int, dict, bytes]:
    """One GET through ``chemearth.wsgi.application``, as gunicorn calls it."""
    environ = RequestFactory().get(path, **headers).environ
    answer: dict = {}

    def start_response(status: str, response_headers: list) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    # As Django's test client does: the test's transaction must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        body = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def tile_path(layer, lon: float, lat: float, z: int = 4) -> str:
    tx, ty, *_ = pixel(lon, lat, z)
    return f"/tiles/{layer.key}/{z}/{tx}/{ty}.png"


def test_a_public_tile_is_answered_in_front_of_django_with_the_same_bytes(client, partner, caplog):
    layer = rendered()
    path = tile_path(layer, *USA_POINTS[0], z=7)
    caplog.set_level("INFO", logger="chemearth.requests")
    status, headers, body = wsgi_get(path)
    assert status == 200 and headers["X-Tile-Path"] == "fast"
    assert int(headers["Content-Length"]) == len(body)
    assert headers["Content-Type"] == "image/png" and "immutable" in headers["Cache-Control"]
    assert body == content(client.get(path))  # the full path's answer, byte for byte
    assert len(headers["X-Request-ID"]) >= 8
    line = next(r for r in caplog.records if r.name == "chemearth.requests")
    assert line.fields["path"] == path and line.fields["status"] == 200
    # Revalidation and empty tiles too.
    assert wsgi_get(path, HTTP_IF_NONE_MATCH=headers["ETag"])[0] == 304
    far = tile_path(layer, 100.0, -40.0, z=7)
    status, headers, empty = wsgi_get(far)
    assert status == 200 and headers["X-Tile-Path"] == "fast"
    assert int(headers["Content-Length"]) == len(empty)


def test_a_capability_tile_is_answered_in_front_of_django(partner):
    layer = rendered(partner)
    expires, signature = tile_capabilities.issue(layer.key)
    path = tile_path(layer, *RUS_POINTS[0], z=5).replace(
        f"/tiles/{layer.key}/", f"/tiles/c/{layer.key}/{expires}/{signature}/"
    )
    status, headers, body = wsgi_get(path)
    assert status == 200 and headers["X-Tile-Path"] == "fast" and body.startswith(b"\x89PNG")
    assert headers["Cache-Control"].startswith("private, max-age=")


def test_every_other_answer_is_left_to_django(partner):
    public, restricted = rendered(), rendered(partner)
    missing = wsgi_get(f"/tiles/{'0' * 24}/4/0/0.png")
    assert missing[0] == 404 and "X-Tile-Path" not in missing[1]
    assert json.loads(missing[2])["reason"]
    # A restricted layer without capability: Django checks the session (none here) → 404.
    hidden = wsgi_get(tile_path(restricted, *RUS_POINTS[0]))
    assert hidden[0] == 404 and hidden[2] == missing[2] and "X-Tile-Path" not in hidden[1]
    # A refused capability, a bad token, HEAD: Django.
    flipped = f"/tiles/c/{restricted.key}/9999999999/{'A' * 43}/4/0/0.png"
    assert wsgi_get(flipped)[:3:2] == (404, missing[2])
    bad_token = wsgi_get(tile_path(public, *USA_POINTS[0]), HTTP_AUTHORIZATION="Token nope")
    assert bad_token[0] == 401 and "X-Tile-Path" not in bad_token[1]
    assert wsgi_get("/tiles/" + public.key + "/99/0/0.png")[0] == 400  # the full path's reason
    # A superseded layer: Django retires it and answers 404.
    path = tile_path(public, *USA_POINTS[0])
    assert wsgi_get(path)[0] == 200
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(available_on=dt.date(2099, 1, 1))
    status, headers, body = wsgi_get(path)
    assert status == 404 and body == missing[2] and "X-Tile-Path" not in headers
