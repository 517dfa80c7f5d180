"""Capability URLs of restricted layers' tiles (portal/tile_capabilities.py): they open one layer
to whoever holds them until they expire, without a session; anything else is the same 404."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from maps.models import MapLayer
from portal import tile_capabilities
from sharing.models import Agreement
from tests.test_layers import RUS_POINTS, content, pixel, rendered, rgba
from tests.test_layers import world as _world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner(request):
    """The world of tests/test_layers.py (USA public, RUS embargoed) and its RUS partner."""
    return request.getfixturevalue("_world")


MISSING = f"/tiles/{'0' * 24}/5/0/0.png"


def partner_layer(client, partner) -> tuple[MapLayer, dict]:
    layer = rendered(partner)
    client.force_login(partner)
    document = client.get(
        "/api/v1/layers", {"element": "Cu", "medium": "topsoil", "scale": 80}
    ).json()
    client.logout()
    assert document["id"] == layer.key and not document["public"]
    return layer, document


def tile(template: str, lon: float, lat: float, z: int = 5) -> tuple[str, int, int]:
    tx, ty, col, row = pixel(lon, lat, z)
    return template.format(z=z, x=tx, y=ty), col, row


def test_a_partner_gets_a_capability_that_opens_its_tiles_without_a_session(client, partner):
    layer, document = partner_layer(client, partner)
    assert document["tiles"].startswith(f"/tiles/c/{layer.key}/")
    assert document["tiles_expire"] >= time.time() + 600
    assert "sessionid" not in document["tiles"] and "Token" not in document["tiles"]
    url, col, row = tile(document["tiles"], *RUS_POINTS[0])
    response = client.get(url)  # no session, no token: the URL is the capability
    assert response.status_code == 200
    assert rgba(content(response))[row, col, 3] == 255
    assert response["Cache-Control"].startswith("private, max-age=")
    assert "Authorization" not in response.get("Vary", "")  # it depends on the URL alone


def test_a_public_layer_needs_no_capability(client, partner):  # noqa: ARG001
    document = client.get("/api/v1/layers", {"element": "Cu", "medium": "topsoil"}).json()
    assert document["public"] and document["tiles_expire"] is None
    assert not document["tiles"].startswith("/tiles/c/")


def denied(client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.content == client.get(MISSING).content  # no hint of what was wrong


def test_expired_tampered_and_other_layer_capabilities_are_404(client, partner):
    layer, document = partner_layer(client, partner)
    url, *_ = tile(document["tiles"], *RUS_POINTS[0])
    _, _, _, key, expires, signature, *rest = url.split("/")
    assert key == layer.key
    # Tampered: the signature, the expiry pushed later, the key.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    denied(client, "/".join(["", "tiles", "c", key, expires, flipped, *rest]))
    denied(client, "/".join(["", "tiles", "c", key, str(int(expires) + 300), signature, *rest]))
    public = rendered()
    denied(client, "/".join(["", "tiles", "c", public.key, expires, signature, *rest]))
    # Expired: genuinely signed, but its time has passed (a replayed old URL).
    past = int(time.time()) - 1
    old = tile_capabilities.signature(key, past)
    denied(client, "/".join(["", "tiles", "c", key, str(past), old, *rest]))
    # Issued an hour ago with the usual lifetime: expired now.
    then, signed = tile_capabilities.issue(key, now=time.time() - 3600)
    denied(client, "/".join(["", "tiles", "c", key, str(then), signed, *rest]))


def test_a_revoked_agreement_kills_the_capability_with_its_layer(client, partner):
    layer, document = partner_layer(client, partner)
    url, *_ = tile(document["tiles"], *RUS_POINTS[0])
    assert client.get(url).status_code == 200
    Agreement.objects.update(valid_to=dt.date(2001, 1, 1))
    denied(client, url)
    layer.refresh_from_db()
    assert layer.state == MapLayer.State.RETIRED


def test_tilejson_of_a_restricted_layer_carries_the_capability(client, partner):
    layer, _ = partner_layer(client, partner)
    client.force_login(partner)
    tilejson = client.get(f"/tiles/{layer.key}.json").json()
    assert f"/tiles/c/{layer.key}/" in tilejson["tiles"][0]
