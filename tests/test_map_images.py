"""Map images (maps.images, /api/v1/layers/<key>/image.png|.pdf): the sheet's legend is the
layer's, its pixels are the layer's class colours, the tiles' access rules hold, PDFs have the
paper's page size at the DPI, and bad parameters are a 400 naming them."""

from __future__ import annotations

import datetime as dt
import io
import re
import zlib

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.urls import reverse
from django.utils import translation
from PIL import Image

from baselines.models import Country, Survey
from maps import images
from maps.classification import Legend
from maps.legend_image import format_value, legend_lines
from maps.models import MapLayer
from maps.tiling import TileSource
from portal import map_images
from sharing.access import viewer_scope
from sharing.models import Agreement, AuditEvent, Membership, Organisation
from tests.test_layers import RUS_POINTS, USA_POINTS, pixel, rendered, rgba
from tests.test_layers import world as _world  # noqa: F401 (the fixture)
from tests.worlds import accept_licences

USA_VIEW = "-106,36,-84,44"


@pytest.fixture
def world(request):
    """test_layers' world: USA public, RUS embargoed; returns the partner who sees RUS."""
    return request.getfixturevalue("_world")


def url(layer: MapLayer, fmt: str = "png") -> str:
    return reverse("api:layer-image", args=[layer.key, fmt])


def hexcolour(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


@pytest.mark.django_db
def test_the_sheet_legend_and_pixels_are_the_layers(client, world):
    layer = rendered()
    assert layer.state == MapLayer.State.READY
    legend = Legend.from_json(layer.legend)
    assert legend.to_json() == layer.legend  # the stored legend, read back whole

    response = client.get(url(layer), {"bbox": USA_VIEW, "paper": "screen", "dpi": "96"})
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    sheet_png = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    assert sheet_png.shape == (800, 1280, 3)

    # The legend drawn: the layer's classes, in its display unit, with counts, n and censoring.
    fr = images.frame((-106, 36, -84, 44), "screen", "landscape", 96)
    survey = Survey.objects.get(name="USA soils")
    caption = images.Caption("Copper", "Cu", "topsoil", 80, "grid cells", layer.scheme,
                             layer.data_version, layer.policy_version, layer.key,
                             [survey.name])  # fmt: skip
    sheet = images.compose(fr, legend, caption, layer.directory, images.boundary_polygons(fr))
    assert sheet.legend_rows[: len(legend_lines(legend))] == legend_lines(legend)
    drawn = [text for colour, text in sheet.legend_rows if colour]
    classes = layer.legend["classes"][::-1]
    assert len(drawn) == len(classes) >= 2
    for text, c in zip(drawn, classes, strict=True):
        band = f"{c['band']}  " if c.get("band") else ""
        assert text.startswith(f"{band}{format_value(c['lower_display'])} – ")
        assert f"{format_value(c['upper_display'])} {layer.legend['unit']}  ({c['count']})" in text
    assert sheet.legend_rows[-1][1].startswith(f"n = {layer.legend['n']}; ")
    assert survey.name in " ".join(sheet.texts) and sheet.citations_shown == 1
    assert any(layer.data_version[:12] in t and layer.key in t for t in sheet.texts)
    assert "north is up" in " ".join(sheet.texts)

    # Pixels at the samples: the class colour of the layer's own tile there, a legend colour.
    colours = {c["colour"] for c in layer.legend["classes"]}
    source = TileSource.open(layer.directory)
    z = 6
    for lon, lat in USA_POINTS:
        x, y = (int(v[0]) for v in fr.pixel_of(np.array([lon]), np.array([lat])))
        tx, ty, px, py = pixel(lon, lat, z)
        tile = rgba(source.tile_png(z, tx, ty))
        got = hexcolour(sheet_png[y, x])
        assert got in colours
        assert got == hexcolour(tile[py, px]) or got in {
            hexcolour(tile[py + dy, px + dx]) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        }  # the sheet's zoom is not the tile's: a pixel at a cell edge may fall either side
        assert (np.asarray(sheet.image)[y, x] == sheet_png[y, x]).all()


@pytest.mark.django_db
def test_a_restricted_layer_image_is_a_404_for_others_and_served_to_its_audience(client, world):
    partner = world
    # Another partner (made first: a new agreement makes new policy versions and layers): an
    # agreement of its own (USA, another audience) does not open this one.
    other = User.objects.create_user("other", password="x")
    organisation = Organisation.objects.create(name="Other org", slug="other-org")
    Membership.objects.create(organisation=organisation, user=other)
    agreement = Agreement.objects.create(
        organisation=organisation, title="B", valid_from=dt.date(2000, 1, 1), licence_text="L"
    )
    agreement.countries.add(Country.objects.by_code("USA"))
    accept_licences(other)
    layer = rendered(partner)
    assert not layer.is_public and layer.state == MapLayer.State.READY
    params = {"bbox": "30,66,42,71", "paper": "screen", "dpi": "96"}
    assert client.get(url(layer), params).status_code == 404
    client.force_login(other)
    assert viewer_scope(other).audience != viewer_scope(partner).audience
    response = client.get(url(layer), params)
    assert response.status_code == 404 and response.json()["reason"] == "Not found."
    client.force_login(partner)
    before = AuditEvent.objects.filter(kind="access", country__iso_a3="RUS").count()
    response = client.get(url(layer), params)
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert AuditEvent.objects.filter(kind="access", country__iso_a3="RUS").count() == before + 1
    # Its audience's sheet shows the embargoed cells in the layer's class colours.
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    fr = images.frame((30, 66, 42, 71), "screen", "landscape", 96)
    lon, lat = RUS_POINTS[0]
    x, y = (int(v[0]) for v in fr.pixel_of(np.array([lon]), np.array([lat])))
    assert hexcolour(image[y, x]) in {c["colour"] for c in layer.legend["classes"]}


@pytest.mark.django_db
def test_the_surveys_cited_are_those_the_layers_audience_sees_in_the_view(rf, world):
    partner = world
    public, restricted = rendered(), rendered(partner)
    anonymous = rf.get("/")
    anonymous.user = AnonymousUser()
    usa, rus = (-106.0, 36.0, -84.0, 44.0), (30.0, 66.0, 42.0, 71.0)
    names = lambda request, layer, box: [  # noqa: E731
        s.name for s in map_images.surveys_in_view(request, layer, box)
    ]
    assert names(anonymous, public, usa) == ["USA soils"]
    assert names(anonymous, public, rus) == []  # embargoed: not in the public layer
    as_partner = rf.get("/")
    as_partner.user = partner
    assert names(as_partner, restricted, rus) == ["RUS soils"]
    assert names(as_partner, restricted, (-20.0, -10.0, 10.0, 10.0)) == []


@pytest.mark.django_db
def test_a_pdf_has_the_paper_size_at_the_dpi(client, world):
    layer = rendered()
    params = {"bbox": USA_VIEW, "paper": "a4", "orientation": "portrait", "dpi": "150"}
    response = client.get(url(layer, "pdf"), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    box = re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", response.content)
    width_pt, height_pt = float(box.group(1)), float(box.group(2))
    # A4 is 595.3 × 841.9 pt; the sheet is whole pixels at 150 dpi (1240 × 1754).
    assert abs(width_pt - 595.3) < 0.5 and abs(height_pt - 841.9) < 0.5
    # The page's image is the sheet's pixels, losslessly (no JPEG blurring the class colours).
    stream = re.search(rb"/Width (\d+) /Height (\d+) .*?/FlateDecode /Length (\d+) >>\nstream\n",
                       response.content)  # fmt: skip
    width, height, length = (int(v) for v in stream.groups())
    assert (width, height) == (1240, 1754)
    start = stream.end()
    pixels = zlib.decompress(response.content[start : start + length])
    png = client.get(url(layer), params)
    sheet = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))
    page = np.frombuffer(pixels, np.uint8).reshape(height, width, 3)
    # Equal but for the minute in the versions line, drawn at the same place.
    assert (page != sheet).any(axis=2).mean() < 0.001
    assert images.sheet_size("a4", "portrait", 150) == (1240, 1754)
    assert images.sheet_size("a3", "landscape", 300) == (4961, 3508)


@pytest.mark.django_db
def test_a_chinese_sheet_says_it_in_chinese(client, world):
    layer = rendered()
    response = client.get(url(layer), {"bbox": USA_VIEW, "lang": "zh-hans"})
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    fr = images.frame((-106, 36, -84, 44), "screen", "landscape", 150)
    with translation.override("zh-hans"):
        caption = images.Caption("铜", "Cu", "表土", 80, "网格", "percentiles", "d", "p", "k")
        sheet = images.compose(fr, Legend.from_json(layer.legend), caption, None, [])
    assert sheet.texts[0] == "表土中的铜 (Cu)"
    assert "墨卡托" in " ".join(sheet.texts)  # the projection note, translated


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, parameter",
    [
        ({"bbox": "nonsense"}, "bbox"),
        ({}, "bbox"),
        ({"bbox": USA_VIEW, "paper": "a5"}, "paper"),
        ({"bbox": USA_VIEW, "orientation": "sideways"}, "orientation"),
        ({"bbox": USA_VIEW, "dpi": "9000"}, "dpi"),
        ({"bbox": USA_VIEW, "dpi": "abc"}, "dpi"),
        ({"bbox": USA_VIEW, "paper": "a3", "dpi": "600"}, "dpi"),  # 69.6 megapixels: refused
        ({"bbox": USA_VIEW, "lang": "fr"}, "lang"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, world, params, parameter):
    layer = rendered()
    response = client.get(url(layer), params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and parameter in body["reason"]


@pytest.mark.django_db
def test_an_unknown_layer_is_a_404(client, world):
    response = client.get(reverse("api:layer-image", args=["0" * 24, "png"]), {"bbox": USA_VIEW})
    assert response.status_code == 404


@pytest.mark.django_db
def test_map_images_have_a_rate_of_their_own(client, world, monkeypatch):
    from django.core.cache import cache

    from portal.throttles import MapImageThrottle

    cache.clear()
    monkeypatch.setattr(MapImageThrottle, "THROTTLE_RATES", {"map_image": "2/minute"})
    layer = rendered()
    params = {"bbox": USA_VIEW, "dpi": "72"}
    assert [client.get(url(layer), params).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(
        reverse("api:layers"), {"element": "Cu", "medium": "topsoil"}
    ).status_code in (
        200,
        202,
    )  # the rest of the API is not held back


@pytest.mark.django_db
def test_a_points_layer_sheet_shows_its_samples_and_cites_their_survey(client, world):
    layer = rendered(style="points")  # USA's public release shows exact locations
    assert layer.style == "points" and layer.state == MapLayer.State.READY
    response = client.get(url(layer), {"bbox": USA_VIEW, "paper": "screen", "dpi": "96"})
    assert response.status_code == 200
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    fr = images.frame((-106, 36, -84, 44), "screen", "landscape", 96)
    colours = {c["colour"] for c in layer.legend["classes"]}
    for lon, lat in USA_POINTS:
        x, y = (int(v[0]) for v in fr.pixel_of(np.array([lon]), np.array([lat])))
        assert hexcolour(image[y, x]) in colours
    anonymous = client.get("/").wsgi_request
    assert [s.name for s in map_images.surveys_in_view(anonymous, layer, fr.lonlat_bounds)] == [
        "USA soils"
    ]


@pytest.mark.django_db
def test_citations_that_do_not_fit_are_counted_not_cut(world):
    layer = rendered()
    fr = images.frame((-106, 36, -84, 44), "screen", "landscape", 96)
    citations = [
        f"Survey number {i}, a long citation of a geochemical survey, {1990 + i}."
        for i in range(80)
    ]
    caption = images.Caption("Copper", "Cu", "topsoil", 80, "grid cells", "percentiles",
                             "d", "p", "k", citations)  # fmt: skip
    sheet = images.compose(fr, Legend.from_json(layer.legend), caption, None, [])
    assert 0 < sheet.citations_shown < 80
    more = 80 - sheet.citations_shown
    assert sheet.texts[-1] == f"… and {more} more surveys (see the portal's survey pages)."
    assert sum(t.startswith("• Survey number") for t in sheet.texts) == sheet.citations_shown


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bbox",
    ["-180,-90,180,90", "-400,-90,400,90", "0,0,0.000001,0.000001", "170,-10,180,10", "0,84,10,90"],
)
def test_any_valid_view_makes_a_sheet(client, world, bbox):
    """The whole world, a box wider than it, a box smaller than a pixel at the layer's finest zoom,
    the antimeridian and the pole beyond Web Mercator's edge."""
    layer = rendered()
    response = client.get(url(layer), {"bbox": bbox, "dpi": "72"})
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
