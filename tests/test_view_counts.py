"""For one view the legend, the charts, the layer API, the measurements API and the cell popups
agree on n (issue 17 §4), in each style.

The world is the demo's Kola survey with the demo policies, seen by the demo steward of Norway and
Russia: Norway and Russia in full with exact locations (128 + 290 samples), Finland as the public
sees it, located only at 20 km cell centres (188). The points map holds the 418 samples it can
place; the cells and surface maps at 20 km all 606. Before the charts counted the style's rows the
points legend said 418 and the charts of the same view 606.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from baselines import demo, grid
from baselines.models import Element, Medium, Survey
from maps import layers
from maps.models import MapLayer
from sharing.access import viewer_scope
from sharing.demo import demo_policies_load

KOLA_BBOX = "20,64,40,73"
EXPECTED = {"cells": 606, "surface": 606, "points": 418}


@pytest.fixture
def kola(db):
    demo.demo_dataset_load(demo.DEMO_DATASETS[1])
    demo_policies_load()
    return Survey.objects.get(name=demo.DEMO_DATASETS[1].options.survey)


def render(user, style: str) -> MapLayer:
    spec = layers.LayerSpec(
        Element.objects.get(symbol="Ni"), Medium.objects.get(code="subsoil"), 20_000, style
    )
    layer = layers.find_layer(spec, viewer_scope(user), user)
    return layers.render(MapLayer.objects.select_related("element", "medium").get(pk=layer.pk))


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["cells", "surface", "points"])
def test_legend_charts_and_api_agree_on_n_in_every_style(client, kola, style):
    steward = User.objects.get(username="steward")
    client.force_login(steward)
    render(steward, style)
    params = {"element": "Ni", "medium": "subsoil", "scale": 20, "style": style}
    layer = client.get("/api/v1/layers", params).json()
    assert layer["state"] == "ready"
    legend = client.get(layer["legend"]).json()
    charts = client.get("/api/v1/viewer/values", {**params, "bbox": KOLA_BBOX}).json()
    assert legend["n"] == charts["n"] == layer["n_values"] == EXPECTED[style]
    assert sum(c["count"] for c in legend["classes"]) == legend["n"]
    assert charts["style"] == style
    # The measurements API lists the same rows: all of them, and as many at exact locations as
    # the points map shows.
    rows = client.get(
        "/api/v1/measurements/", {"survey": kola.slug, "element": "Ni", "limit": 1000}
    ).json()["results"]
    exact = [r for r in rows if r["location"]["precision_km"] is None]
    assert len(rows) == EXPECTED["cells"] and len(exact) == EXPECTED["points"]


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["cells", "points"])
def test_cell_popups_count_what_the_map_counts(client, kola, style):
    """Every 20 km cell's popup (statistics and sample list) counts the rows the map of its style
    shows: over all cells they add up to the legend's n (points: Finland's samples, shown only
    as cell centres, are in no points popup)."""
    steward = User.objects.get(username="steward")
    client.force_login(steward)
    render(steward, style)
    params = {"element": "Ni", "medium": "subsoil", "scale": 20, "style": style}
    legend = client.get(client.get("/api/v1/layers", params).json()["legend"]).json()
    codes = set(kola.samples.values_list(grid.cell_field_name(20_000), flat=True))
    total = 0
    params = {"element": "Ni", "medium": "subsoil", "style": style}
    countries = set()
    for code in sorted(codes):
        stats = client.get(f"/api/v1/cells/{code}/stats", params).json()
        samples = client.get(f"/api/v1/cells/{code}/samples", params).json()
        n = stats["statistics"]["n"]
        assert n == len(samples["samples"]) == samples["samples_in_cell"]
        for s in samples["samples"]:
            assert s["method"] == "Aqua regia" and s["detection_limit"] is not None
            countries.add(s["country"])
        total += n
    assert total == legend["n"] == EXPECTED[style]
    assert ("FIN" in countries) is (style == "cells")
