"""The featured map (``maps.featured``): what a bare ``/map/`` opens on and the home page previews,
its public layer queued for rendering after every change so it is ready before anyone opens it."""

from __future__ import annotations

import json
import re

import pytest

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element, Medium
from maps import featured, layers
from maps.models import FeaturedMap, MapLayer
from sharing.models import ReleasePolicy


@pytest.fixture
def usa(write_csv, monkeypatch):
    monkeypatch.setattr(layers, "queue_render", lambda layer: None)  # queued, not sent
    header = ["sample_id", "longitude", "latitude", "Cu_ppm", "Zn_ppm"]
    rows = [[f"U-{i}", -100 + i * 0.5, 40 + i * 0.2, 10 + i, 50 + i] for i in range(12)]
    survey_ingest(
        path=write_csv([header, *rows], "usa.csv"),
        options=IngestOptions(survey="usa", medium="topsoil", scale_km=40, country="USA"),
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)


def page_config(html: str, name: str) -> dict:
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html, re.S)
    assert found, name
    return json.loads(found.group(1))


@pytest.mark.django_db
def test_the_default_is_copper_in_topsoil_and_an_administrator_may_change_it(client, usa):
    config = page_config(client.get("/map/").content.decode(), "viewer-config")
    assert config["featured"] == featured.DEFAULT.as_json()
    assert (config["featured"]["element"], config["featured"]["medium"]) == ("Cu", "topsoil")
    FeaturedMap.objects.create(
        element=Element.objects.get(symbol="Zn"), medium=Medium.objects.get(code="topsoil"),
        latitude=41.0, longitude=-99.0, zoom=5,
    )  # fmt: skip
    config = page_config(client.get("/map/").content.decode(), "viewer-config")
    assert config["featured"] == {
        "element": "Zn", "medium": "topsoil", "style": "cells", "lat": 41.0, "lng": -99.0, "z": 5,
    }  # fmt: skip


@pytest.mark.django_db
def test_its_public_layer_is_queued_at_the_scale_the_viewer_opens_it_at(usa, settings):
    settings.MAP_SEED_FEATURED = True
    # Zoom 4 asks for 40 km cells, the survey's own scale.
    layer = featured.seed_featured()
    assert layer.state == MapLayer.State.QUEUED and layer.is_public
    assert (layer.element.symbol, layer.medium.code, layer.scale_m, layer.style) == (
        "Cu", "topsoil", 40_000, "cells",
    )  # fmt: skip
    # Zoom 6 would ask for 10 km, finer than any survey of copper: the viewer keeps 40 km.
    assert featured.scale_for_zoom(6, 40) == 40 and featured.scale_for_zoom(6) == 10
    # After a change the refresh queues it again (its new version), however nobody asked for it.
    assert layers.refresh_layers()["featured"] == layer.key
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(public_precision_m=80_000)
    refreshed = layers.refresh_layers()
    assert refreshed["featured"] and refreshed["featured"] != layer.key


@pytest.mark.django_db
def test_the_home_page_previews_it_when_the_viewer_sees_its_data(client, usa):
    html = client.get("/").content.decode()
    assert 'id="featured-map"' in html and "maps/preview.js" in html
    preview = page_config(html, "featured-config")
    assert (preview["element"], preview["scale"], preview["layers"]) == ("Cu", 40, "/api/v1/layers")
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(in_force=False)
    html = client.get("/").content.decode()
    assert 'id="featured-map"' not in html  # nothing public to preview


@pytest.mark.django_db
def test_no_featured_layer_without_public_data(monkeypatch):
    monkeypatch.setattr(layers, "queue_render", lambda layer: None)
    assert featured.seed_featured() is None


@pytest.mark.django_db
def test_an_opening_view_outside_the_viewers_bounds_is_refused_by_name():
    from django.core.exceptions import ValidationError

    row = FeaturedMap(
        element=Element.objects.get(symbol="Cu"), medium=Medium.objects.get(code="topsoil"),
        latitude=120.0, longitude=-97.0, zoom=30,
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        row.full_clean()
    assert set(refused.value.message_dict) == {"latitude", "zoom"}


@pytest.mark.django_db
def test_the_preview_says_while_its_layer_renders(client, usa):
    html = client.get("/").content.decode()
    assert 'id="featured-map-status" role="status" hidden>Rendering the map…' in html
