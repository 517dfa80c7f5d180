"""Map layers: found per audience and version, rendered from visible rows only, tiles served
with the right access, cache headers and states, and never from a stale version."""

from __future__ import annotations

import datetime as dt
import io
import math

import numpy as np
import pytest
from django.contrib.auth.models import User
from PIL import Image

from baselines.models import Country, Element, Medium
from maps import layers
from maps.models import MapLayer
from sharing.access import viewer_scope
from sharing.models import Agreement, Membership, Organisation, ReleasePolicy
from tests.conftest import settle_worker
from tests.worlds import accept_licences, api_token, ingest_survey

USA_POINTS = [(-100.0 + 0.9 * i, 40.0 + 0.4 * (i % 3)) for i in range(12)]
RUS_POINTS = [(33.0 + 0.8 * i, 68.0 + 0.3 * (i % 2)) for i in range(8)]


def load(write_csv, code: str, points, base: float):
    rows = [[f"{code}-{i}", lon, lat, base * (i + 1)] for i, (lon, lat) in enumerate(points)]
    ingest_survey(write_csv, rows, country=code)


@pytest.fixture
def world(write_csv):
    """USA public; RUS embargoed until 2099; a partner whose agreement covers RUS."""
    load(write_csv, "USA", USA_POINTS, 10.0)
    load(write_csv, "RUS", RUS_POINTS, 100.0)
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("RUS"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    partner = User.objects.create_user("partner", password="x")
    organisation = Organisation.objects.create(name="Org", slug="org")
    Membership.objects.create(organisation=organisation, user=partner)
    agreement = Agreement.objects.create(
        organisation=organisation, title="A", valid_from=dt.date(2000, 1, 1), licence_text="L"
    )
    agreement.countries.add(Country.objects.by_code("RUS"))
    accept_licences(partner)
    settle_worker()
    return partner


def spec(style: str = "cells", scale_m: int = 80_000) -> layers.LayerSpec:
    return layers.LayerSpec(
        Element.objects.get(symbol="Cu"), Medium.objects.get(code="topsoil"), scale_m, style
    )


def rendered(viewer=None, style: str = "cells", scale_m: int = 80_000) -> MapLayer:
    layer = layers.find_layer(spec(style, scale_m), viewer_scope(viewer), viewer)
    return layers.render(MapLayer.objects.select_related("element", "medium").get(pk=layer.pk))


def pixel(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """(tile x, tile y, pixel column, pixel row) of a point at zoom z (Web Mercator, XYZ)."""
    n = 2**z * 256
    px = (lon + 180) / 360 * n
    lat_r = math.radians(lat)
    py = (1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n
    return int(px // 256), int(py // 256), int(px % 256), int(py % 256)


def rgba(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.size == (256, 256)
    return np.asarray(image.convert("RGBA"))


@pytest.mark.django_db
def test_a_cells_layer_colours_the_pixels_where_the_samples_are(client, world):
    layer = rendered()
    assert layer.state == MapLayer.State.READY and layer.is_public
    assert layer.legend["n"] == len(USA_POINTS)  # embargoed RUS rows are not in the public map
    z = 5
    for lon, lat in USA_POINTS:
        tx, ty, col, row = pixel(lon, lat, z)
        response = client.get(f"/tiles/{layer.key}/{z}/{tx}/{ty}.png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert rgba(content(response))[row, col, 3] == 255
    tx, ty, col, row = pixel(RUS_POINTS[0][0], RUS_POINTS[0][1], z)
    response = client.get(f"/tiles/{layer.key}/{z}/{tx}/{ty}.png")
    assert rgba(content(response))[row, col, 3] == 0  # hidden data leaves the map transparent


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db
def test_the_partner_layer_differs_from_the_public_one_and_is_hidden_from_the_public(client, world):
    public = rendered()
    partner = rendered(world)
    assert partner.key != public.key and not partner.is_public
    assert partner.legend["n"] == len(USA_POINTS) + len(RUS_POINTS)
    # Breaks come from the rows each audience sees: the partner's include the RUS values.
    assert partner.legend["breaks"] != public.legend["breaks"]
    tx, ty, col, row = pixel(*RUS_POINTS[0], 5)
    client.force_login(world)
    assert rgba(content(client.get(f"/tiles/{partner.key}/5/{tx}/{ty}.png")))[row, col, 3] == 255
    assert client.get(f"/tiles/{public.key}/5/{tx}/{ty}.png").status_code == 200
    client.logout()
    hidden = client.get(f"/tiles/{partner.key}/5/{tx}/{ty}.png")
    missing = client.get(f"/tiles/{'0' * 24}/5/{tx}/{ty}.png")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content  # no hint that the layer exists
    for suffix in (".json", "/legend.json", "/legend.png"):
        assert (
            client.get(f"/tiles/{partner.key}{suffix}").content
            == client.get(f"/tiles/{'0' * 24}{suffix}").content
        )


@pytest.mark.django_db
def test_a_tile_of_a_stale_version_is_never_served_after_a_policy_change(client, world):
    layer = rendered()
    tx, ty, *_ = pixel(*USA_POINTS[0], 3)
    url = f"/tiles/{layer.key}/3/{tx}/{ty}.png"
    assert client.get(url).status_code == 200
    assert layer.tile_path(3, tx, ty).exists() or layer.directory.exists()
    # The USA data goes under embargo again: the public layer must stop at once.
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(available_on=dt.date(2099, 1, 1))
    assert client.get(url).status_code == 404
    layer.refresh_from_db()
    assert layer.state == MapLayer.State.RETIRED
    assert not layer.directory.exists()  # a front server cannot serve its files either
    # The new public layer has no USA rows now.
    assert rendered().state == MapLayer.State.EMPTY


@pytest.mark.django_db
def test_an_ingest_makes_a_new_layer_version(client, world, write_csv):
    first = layers.find_layer(spec(), viewer_scope(None))
    load(write_csv, "CAN", [(-110.0, 55.0)], 5.0)
    second = layers.find_layer(spec(), viewer_scope(None))
    assert second.key != first.key and second.data_version != first.data_version


@pytest.mark.django_db
def test_tiles_are_cacheable_and_revalidate_with_etag(client, world):
    layer = rendered()
    tx, ty, *_ = pixel(*USA_POINTS[0], 4)
    url = f"/tiles/{layer.key}/4/{tx}/{ty}.png"
    first = client.get(url)
    assert "immutable" in first["Cache-Control"] and first["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    second = client.get(url)  # now from the tile cache on disk
    assert content(second) == content(first)


@pytest.mark.django_db
def test_a_tile_of_a_layer_still_rendering_says_so(client, world):
    layer = layers.find_layer(spec(), viewer_scope(None))
    assert layer.state == MapLayer.State.QUEUED
    response = client.get(f"/tiles/{layer.key}/0/0/0.png")
    assert response.status_code == 202 and response["X-Layer-State"] == "queued"
    assert response["Cache-Control"] == "no-store"
    rgba(response.content)  # a valid transparent image the map can show meanwhile
    assert client.get(f"/tiles/{layer.key}/legend.json").status_code == 202


@pytest.mark.django_db
def test_layer_api_answers_the_layer_and_its_urls(client, world):
    response = client.get("/api/v1/layers", {"element": "Cu", "medium": "topsoil", "scale": 80})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "queued" and body["tiles"].endswith("/{z}/{x}/{y}.png")
    assert body["tilejson"] == f"/tiles/{body['id']}.json"
    again = client.get("/api/v1/layers", {"element": "Cu", "medium": "topsoil", "scale": "80"})
    assert again.json()["id"] == body["id"]  # one layer per audience and version
    client.force_login(world)
    assert (
        client.get("/api/v1/layers", {"element": "Cu", "medium": "topsoil", "scale": 80}).json()[
            "id"
        ]
        != body["id"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({"element": "Xx", "medium": "topsoil"}, "element"),
        ({"element": "Cu", "medium": "lava"}, "medium"),
        ({"element": "Cu", "medium": "topsoil", "scale": "7"}, "scale"),
        ({"element": "Cu", "medium": "topsoil", "style": "heatmap"}, "style"),
        ({"element": "Cu", "medium": "topsoil", "scheme": "jenks"}, "scheme"),
        ({"element": "Cu", "medium": "topsoil", "ramp": "rainbow"}, "ramp"),
    ],
)
def test_layer_api_rejects_bad_parameters_with_a_reason(client, params, field):
    response = client.get("/api/v1/layers", params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and field in body["reason"]


@pytest.mark.django_db
def test_points_need_exact_access(client, world):
    response = client.get(
        "/api/v1/layers", {"element": "Cu", "medium": "topsoil", "style": "points"}
    )
    # USA's public release shows exact locations (no public precision set), so points work...
    assert response.status_code == 200
    # ...but not where the public sees only cells.
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(public_precision_m=20_000)
    response = client.get(
        "/api/v1/layers", {"element": "Cu", "medium": "topsoil", "style": "points"}
    )
    assert response.status_code == 403 and "exact" in response.json()["reason"]


@pytest.mark.django_db
def test_a_point_layer_shows_only_exactly_located_samples(world):
    ReleasePolicy.objects.filter(country__iso_a3="USA").update(public_precision_m=20_000)
    layer = rendered(world, style="points")
    assert layer.legend["n"] == len(RUS_POINTS)  # the partner sees RUS exactly, USA in cells


@pytest.mark.django_db
def test_a_surface_layer_renders(world):
    layer = rendered(style="surface", scale_m=40_000)
    assert layer.state == MapLayer.State.READY and layer.directory.joinpath("layer.tif").exists()
    # The interpolated surface covers the samples it was made from and nothing far from them.
    from maps.tiling import TileSource

    source = TileSource.open(layer.directory)
    for lon, lat in USA_POINTS:
        tx, ty, col, row = pixel(lon, lat, 5)
        assert rgba(source.tile_png(5, tx, ty) or b"")[row, col, 3] == 255
    tx, ty, col, row = pixel(RUS_POINTS[0][0], RUS_POINTS[0][1], 5)
    assert source.tile_png(5, tx, ty) is None  # embargoed samples leave no surface


@pytest.mark.django_db
def test_the_queue_being_down_leaves_the_layer_queued_and_retried(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    from maps import tasks

    sent = []

    def refuse(layer_id):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.render_map_layer, "delay", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        layer = layers.find_layer(spec(), viewer_scope(None))
    layer.refresh_from_db()
    assert layer.state == MapLayer.State.QUEUED and "unavailable" in layer.message
    assert layer.queued_at is None
    # The broker is back: the next request for the layer queues it again.
    monkeypatch.setattr(tasks.render_map_layer, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        again = layers.find_layer(spec(), viewer_scope(None))
    assert again.pk == layer.pk and sent == [layer.pk]
    again.refresh_from_db()
    assert again.queued_at is not None and again.message == ""


@pytest.mark.django_db
def test_cleanup_deletes_retired_layers_files(world):
    layer = rendered()
    layers.retire(MapLayer.objects.filter(pk=layer.pk), reason="test")
    assert not layer.directory.exists()
    result = layers.delete_retired(keep=dt.timedelta(0))
    assert result["directories_removed"] >= 1 and not MapLayer.objects.filter(pk=layer.pk).exists()


@pytest.mark.django_db
def test_render_layers_command_renders_in_process_and_skips_what_is_current(world):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "render_layers", "--element", "Cu", "--medium", "topsoil", "--no-progress", stdout=out
    )
    assert "1 layers: 1 ready" in out.getvalue()
    layer = MapLayer.objects.get(state="ready")
    assert layer.is_public and layer.directory.joinpath("meta.json").exists()
    out = StringIO()
    call_command(
        "render_layers", "--element", "Cu", "--medium", "topsoil", "--no-progress", stdout=out
    )
    assert "1 ready" in out.getvalue() and MapLayer.objects.count() == 1
    out = StringIO()
    call_command(
        "render_layers", "--element", "Cu", "--medium", "topsoil", "--as", "partner",
        "--no-progress", stdout=out,
    )  # fmt: skip
    assert MapLayer.objects.filter(is_public=False, state="ready").count() == 1


@pytest.mark.django_db
def test_a_partner_token_opens_its_tiles_and_a_bad_one_is_a_401(client, world):
    partner = rendered(world)
    key = api_token(world)
    url = f"/tiles/{partner.key}/0/0/0.png"
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    # A bad token is the API's 401 on tiles too (as on every /api/v1/ endpoint).
    bad = client.get(url, HTTP_AUTHORIZATION="Token nonsense")
    assert bad.status_code == 401 and bad["WWW-Authenticate"] == "Token"
    assert bad.json()["reason"] == "Invalid token."
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_an_empty_tile_is_cached_as_a_link_to_one_empty_png(client, world):
    layer = rendered()
    z, x, y = 7, 0, 0  # far from any sample
    response = client.get(f"/tiles/{layer.key}/{z}/{x}/{y}.png")
    assert response.status_code == 200
    path = layer.tile_path(z, x, y)
    assert path.exists() and path.stat().st_ino == (layer.directory / "empty.png").stat().st_ino
    assert content(client.get(f"/tiles/{layer.key}/{z}/{x}/{y}.png")) == path.read_bytes()
