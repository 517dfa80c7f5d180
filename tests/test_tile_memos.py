"""The tile path's memos (chemearth/change_feed.py): no query for a warm public tile, and a
superseded layer still 404 as soon as its change is committed — with the memos on, on committed
data, as in production."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection

from chemearth import change_feed
from maps.models import MapLayer
from sharing.models import ReleasePolicy
from tests.test_layers import USA_POINTS, load, pixel, rendered, world  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("world")]


@pytest.fixture
def memos(settings, request):
    request.getfixturevalue("world")  # built and settled (tests/test_layers.py)
    settings.CHANGE_FEED_MEMOS = True
    change_feed.start()
    deadline = time.monotonic() + 10
    while not change_feed.listening():
        assert time.monotonic() < deadline, "the change feed never connected"
        time.sleep(0.02)
    yield
    settings.CHANGE_FEED_MEMOS = False


def wait_for_notice(seen: int) -> None:
    """Notices arrive on the listener's thread right after the commit; wait for that one."""
    deadline = time.monotonic() + 10
    while change_feed.generation() == seen:
        assert time.monotonic() < deadline, "no change notice arrived"
        time.sleep(0.01)


def tile_url(layer: MapLayer, z: int = 3) -> str:
    tx, ty, *_ = pixel(*USA_POINTS[0], z)
    return f"/tiles/{layer.key}/{z}/{tx}/{ty}.png"


def test_a_warm_public_tile_makes_no_query(client, memos, django_assert_num_queries):
    layer = rendered()
    url = tile_url(layer)
    assert client.get(url).status_code == 200  # fills the memos (and the tile cache)
    with django_assert_num_queries(0):
        response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with django_assert_num_queries(0):
        assert client.get(tile_url(layer, 4)).status_code == 200  # uncached tile: no query either


def test_a_policy_change_supersedes_the_layer_at_once(client, memos):
    layer = rendered()
    url = tile_url(layer)
    assert client.get(url).status_code == 200
    seen = change_feed.generation()
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(available_on=dt.date(2099, 1, 1))
    wait_for_notice(seen)
    assert client.get(url).status_code == 404
    layer.refresh_from_db()
    assert layer.state == MapLayer.State.RETIRED


def test_an_ingest_supersedes_the_layer_at_once(client, memos, write_csv):
    layer = rendered()
    url = tile_url(layer)
    assert client.get(url).status_code == 200
    seen = change_feed.generation()
    load(write_csv, "CAN", [(-110.0, 55.0)], 5.0)
    wait_for_notice(seen)
    assert client.get(url).status_code == 404


def test_a_lost_listener_bypasses_the_memos_and_comes_back(client, memos):
    layer = rendered()
    url = tile_url(layer)
    assert client.get(url).status_code == 200
    with connection.cursor() as cursor:  # what a PostgreSQL restart does to the listener
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN %%' AND pid <> pg_backend_pid()"
        )
    deadline = time.monotonic() + 10
    while change_feed.listening():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Bypassed: the answers come from the database (a change now could not be missed).
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(available_on=dt.date(2099, 1, 1))
    assert client.get(url).status_code == 404
    deadline = time.monotonic() + 30
    while not change_feed.listening():
        assert time.monotonic() < deadline, "the listener did not reconnect"
        time.sleep(0.05)
