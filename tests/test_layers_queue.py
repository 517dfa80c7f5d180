"""Map layers through the real queue: the Redis broker and a Celery worker process render the
demo survey, the portal serves its tiles, and a policy change retires it and queues the next."""

from __future__ import annotations

import datetime as dt
import io
import time

import numpy as np
import pytest
from PIL import Image

from baselines.ingest import survey_ingest
from baselines.models import Country, Sample
from maps.models import MapLayer
from sharing.models import ReleasePolicy

from .test_layers import pixel

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

PARAMS = {"element": "Cu", "medium": "topsoil", "scale": 80, "style": "cells"}


@pytest.fixture
def usgs():
    """The real USGS DS 801 demo survey (4,857 sites), released to the public."""
    from baselines.demo import DEMO_DATASETS

    dataset = DEMO_DATASETS[0]
    survey_ingest(path=dataset.file, options=dataset.options)
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)


def wait_ready(client, params=PARAMS, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    progress_seen = []
    while time.monotonic() < deadline:
        body = client.get("/api/v1/layers", params).json()
        progress_seen.append(body["progress"])
        if body["state"] in ("ready", "empty", "failed"):
            body["progress_seen"] = progress_seen
            return body
        time.sleep(0.3)
    raise AssertionError(f"layer not rendered within {timeout} s: {body}")


def test_the_worker_renders_the_demo_survey_and_the_portal_serves_its_tiles(
    celery_worker_process, client, usgs
):
    body = wait_ready(client)
    assert body["state"] == "ready", body
    layer = MapLayer.objects.get(key=body["id"])
    assert layer.legend["n"] > 4000 and layer.tiles_seeded > 0
    west, south, east, north = body["bounds"]
    assert -130 < west < -65 and 20 < south < 50 and -130 < east < -60 and 24 < north < 52

    # Every sample's pixel is coloured at zoom 4; the middle of the Atlantic is not.
    samples = list(Sample.objects.values_list("geom", flat=True)[:200])
    z = 4
    images: dict[tuple[int, int], np.ndarray] = {}
    for point in samples:
        tx, ty, col, row = pixel(point.x, point.y, z)
        if (tx, ty) not in images:
            response = client.get(body["tiles"].format(z=z, x=tx, y=ty))
            assert response.status_code == 200
            png = b"".join(response.streaming_content) if response.streaming else response.content
            image = Image.open(io.BytesIO(png))
            assert image.size == (256, 256) and image.mode == "P"
            images[tx, ty] = np.asarray(image.convert("RGBA"))
        assert images[tx, ty][row, col, 3] == 255
    tx, ty, col, row = pixel(-40.0, 30.0, z)
    response = client.get(body["tiles"].format(z=z, x=tx, y=ty))
    png = b"".join(response.streaming_content) if response.streaming else response.content
    assert np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[row, col, 3] == 0
    legend = client.get(body["legend"]).json()
    assert legend["symbol"] == "Cu" and len(legend["classes"]) >= 5
    assert client.get(body["legend_png"])["Content-Type"] == "image/png"


def test_a_policy_change_retires_the_layer_and_the_worker_renders_the_new_one(
    celery_worker_process, client, usgs
):
    first = wait_ready(client)
    tile_url = first["tiles"].format(z=0, x=0, y=0)
    assert client.get(tile_url).status_code == 200
    policy = ReleasePolicy.objects.get(country__iso_a3="USA")
    policy.public_precision_m = 20_000  # through the ORM: the signal retires and refreshes
    policy.save()
    assert client.get(tile_url).status_code == 404
    assert MapLayer.objects.get(key=first["id"]).state == MapLayer.State.RETIRED
    # The refresh task queued the new version of this recently used layer; it gets rendered
    # without anyone asking for it.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        fresh = MapLayer.objects.exclude(key=first["id"]).filter(state="ready").first()
        if fresh:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("no new layer rendered after the policy change")
    second = wait_ready(client)
    assert second["id"] == fresh.key != first["id"]
    assert dt.datetime.now(dt.UTC) - fresh.rendered_at < dt.timedelta(minutes=5)
