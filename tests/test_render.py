"""Layer rendering (maps.render) and legend images (maps.legend_image): files, COG, styles."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import rasterio
from PIL import Image

import maps.render as render
from maps.classification import build_legend
from maps.legend_image import legend_png
from maps.render import RenderInput, render_layer
from maps.tiling import TileSource

COLOURS = ["#000080", "#00beff", "#00af50", "#ffeb00", "#e61400"]
BREAKS = np.array([10.0, 20.0, 40.0, 80.0])


@pytest.fixture(scope="session")
def reference_data():
    """Overrides conftest's autouse database fixture: these tests touch no database."""


def lonlat_input(style, lon, lat, values, scale=20_000, **kw) -> RenderInput:
    lon, lat = np.asarray(lon, "f8"), np.asarray(lat, "f8")
    return RenderInput(style, scale, lon, lat, np.asarray(values, "f8"), BREAKS, COLOURS, **kw)


def world_pixel(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 256 * 2**z
    px = (lon + 180) / 360 * n
    py = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int(px), int(py)


def pixel_at(src: TileSource, lon: float, lat: float, z: int) -> int:
    px, py = world_pixel(lon, lat, z)
    tile = src.tile_array(z, px // 256, py // 256)
    return 0 if tile is None else int(tile[py % 256, px % 256])


def test_cog_is_valid_and_files_complete(tmp_path):
    rng = np.random.default_rng(0)
    inp = lonlat_input(
        "cells", rng.uniform(5, 25, 3000), rng.uniform(45, 60, 3000), rng.lognormal(3, 1, 3000)
    )
    calls = []
    result = render_layer(inp, tmp_path / "layer", lambda f, m: calls.append((f, m)))
    assert len(calls) >= 5 and calls[-1][0] == 1.0
    assert all(0 <= f <= 1 for f, _ in calls)
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)
    names = sorted(p.name for p in result.directory.iterdir())
    assert names == ["grid.npy", "layer.tif", "meta.json"]  # no temporary file left
    with rasterio.open(result.cog_path) as cog:
        assert cog.crs.to_epsg() == 3857
        assert cog.dtypes == ("uint8",) and cog.nodata == 0
        assert cog.profile["tiled"] and cog.block_shapes[0] == (256, 256)
        assert cog.overviews(1)
        assert cog.colormap(1)[1][:3] == (0, 0, 128)
        assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert set(np.unique(cog.read(1))) <= set(range(6))
    # The data's west edge is a cell's west edge at most one cell west of 5° E: 20 km cells are
    # at most 20 / (111.32 cos 60°) = 0.36° wide here (plus the 10 % the grid allows).
    assert 5 - 1.1 * 20 / (111.32 * math.cos(math.radians(60))) < result.bounds[0] <= 5
    assert 60 < result.bounds[3] < 60 + 1.1 * 20 / 111.32


def test_directory_must_be_empty(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "old").write_text("")
    with pytest.raises(FileExistsError):
        render_layer(lonlat_input("cells", [10], [50], [5]), tmp_path / "x")


@pytest.mark.parametrize(
    "change",
    [
        {"style": "heatmap"},
        {"scale_m": 3000},
        {"values": np.array([np.nan])},
        {"colours": COLOURS[:3]},
        {"values": np.array([])},
    ],
)
def test_bad_input(tmp_path, change):
    base = lonlat_input("cells", [10], [50], [5]).__dict__ | change
    if len(base["values"]) == 0:
        base["lon"] = base["lat"] = np.array([])
    with pytest.raises(ValueError):
        render_layer(RenderInput(**base), tmp_path / "x")


def test_crash_while_writing_cog_leaves_no_layer(tmp_path, monkeypatch):
    def crash(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"II*\0 half a tiff")
        raise RuntimeError("disk full")

    monkeypatch.setattr(render.rasterio, "open", crash)
    with pytest.raises(RuntimeError):
        render_layer(lonlat_input("cells", [10], [50], [5]), tmp_path / "x")
    names = {p.name for p in (tmp_path / "x").iterdir()}
    assert "layer.tif" not in names and "meta.json" not in names
    assert not [n for n in names if n.endswith(".tmp")]


def test_surface_masked_beyond_distance(tmp_path):
    # Two samples 600 km apart at 20 km scale: colour near each, nothing half-way.
    inp = lonlat_input("surface", [10.0, 18.0], [50.0, 50.0], [5.0, 100.0], scale=20_000)
    result = render_layer(inp, tmp_path / "s")
    src = TileSource.open(result.directory)
    z = result.native_zoom
    assert pixel_at(src, 10.0, 50.0, z) == 1
    assert pixel_at(src, 18.0, 50.0, z) == 5
    assert pixel_at(src, 14.0, 50.0, z) == 0
    # mask 30 km (1.5 × scale) in true metres: 1° of longitude at 50° N is 71.7 km.
    assert pixel_at(src, 10.0 + 20 / 71.7, 50.0, z) == 1
    assert pixel_at(src, 10.0 + 40 / 71.7, 50.0, z) == 0


def test_surface_mask_is_true_distance_at_high_latitude(tmp_path):
    """On the Kola peninsula (68° N) a degree of longitude is 0.37 of one of latitude: the mask
    is in true metres all the same."""
    lon0, lat0, mask = 33.0, 68.0, 15_000.0
    inp = lonlat_input("surface", [lon0], [lat0], [30.0], scale=10_000, surface_mask_m=mask)
    result = render_layer(inp, tmp_path / "k")
    src = TileSource.open(result.directory)
    z = result.maxzoom
    km_per_deg_lon = 111.32 * math.cos(math.radians(lat0))
    for frac, want in [(0.8, 3), (1.2, 0)]:  # east-west
        assert pixel_at(src, lon0 + frac * 15 / km_per_deg_lon, lat0, z) == want, frac
        assert pixel_at(src, lon0 - frac * 15 / km_per_deg_lon, lat0, z) == want, frac
    for frac, want in [(0.5, 3), (1.5, 0)]:  # north-south: pixels are coarser (2.5 grid km)
        assert pixel_at(src, lon0, lat0 + frac * 15 / 111.2, z) == want, frac


def test_surface_interpolates_in_log_space(tmp_path):
    # Half-way between 10 and 1000 mg/kg, IDW of log10 gives 100 (class 4), not 505 (class 5);
    # the breaks leave room for the pixel centre (±1.9 km) not being exactly half-way.
    breaks = np.array([20.0, 40.0, 60.0, 200.0])
    lon, lat = np.array([10.0, 11.0]), np.array([50.0, 50.0])
    values = np.array([10.0, 1000.0])
    inp = RenderInput("surface", 20_000, lon, lat, values, breaks, COLOURS, surface_mask_m=100_000)
    result = render_layer(inp, tmp_path / "s")
    src = TileSource.open(result.directory)
    assert pixel_at(src, 10.5, 50.0, result.native_zoom) == 4


def test_points_drawn_at_positions(tmp_path):
    lon, lat = [10.0, 10.2, -70.0], [50.0, 50.1, -30.0]
    result = render_layer(lonlat_input("points", lon, lat, [5, 100, 30]), tmp_path / "p")
    assert result.n_features == 3 and result.maxzoom == 18
    src = TileSource.open(result.directory)
    for z in (3, 8, 14):
        for lo, la, k in zip(lon, lat, [1, 5, 3], strict=True):
            if z == 3 and k in (1, 5):
                continue  # the two European points overlap at z3: the higher class is on top
            px, py = world_pixel(lo, la, z)
            tile = src.tile_array(z, px // 256, py // 256)
            assert tile[py % 256, px % 256] == k
            # A disk of 7 px: 3 px away coloured, 5 px away not.
            if 5 <= px % 256 < 251 and 5 <= py % 256 < 251:
                assert tile[py % 256, px % 256 + 3] == k
                assert tile[py % 256 + 5, px % 256] == 0
    px, py = world_pixel(10.0, 50.0, 3)
    assert src.tile_array(3, px // 256, py // 256)[py % 256, px % 256] == 5
    with rasterio.open(result.cog_path) as cog:
        assert cog.read(1).max() == 5


def test_points_at_edge_of_a_tile(tmp_path):
    """A disk cut by a tile edge continues in the neighbouring tile."""
    z = 10
    n = 256 * 2**z
    lon = (512 * 300 + 256 * 2 - 0.5) / n * 360 - 180  # half a pixel west of a tile edge
    result = render_layer(lonlat_input("points", [lon], [45.0], [30]), tmp_path / "p")
    src = TileSource.open(result.directory)
    px, py = world_pixel(lon, 45.0, z)
    west = src.tile_array(z, px // 256, py // 256)
    east = src.tile_array(z, px // 256 + 1, py // 256)
    assert west[py % 256, 255] == 3 and east[py % 256, 0:3].tolist() == [3, 3, 3]


def legend_for(n_classes: int):
    rng = np.random.default_rng(1)
    values = rng.lognormal(2, 1, 500)
    censored = np.zeros(500, bool)
    censored[:20] = True
    values[:20] = np.nan
    dl = np.where(censored, 0.5, np.nan)
    return build_legend(values, censored, dl, scheme="quantiles", n=n_classes, symbol="Cu")


def test_legend_png_grows_with_classes():
    sizes = []
    for n in (3, 5, 8):
        legend = legend_for(n)
        png = legend_png(legend)
        img = Image.open(io.BytesIO(png))
        img.verify()
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG"
        sizes.append(img.size[1])
        # Swatch colours are drawn: the top class's colour appears.
        rgb = tuple(int(legend.classes[-1].colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in {c[:3] for _, c in img.convert("RGBA").getcolors(100_000)}
    assert sizes[0] < sizes[1] < sizes[2]
    assert legend_png(legend_for(5), title="Copper in topsoil")


def test_legend_png_of_empty_legend():
    legend = build_legend(np.array([]), np.array([], bool), np.array([]), symbol="Cu")
    assert Image.open(io.BytesIO(legend_png(legend))).size[1] > 0
