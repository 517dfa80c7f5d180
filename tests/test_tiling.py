"""Tile cutting (maps.tiling): exact cell edges at every zoom, empty tiles, ranges, seeding.

Expected pixels are computed independently of the engine: pixel centres from the XYZ/Web Mercator
formulas, tested against each cell's lon/lat rectangle from baselines.grid.Cell.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

import maps.render as render
from baselines import grid
from maps.render import RenderInput, render_layer
from maps.tiling import EMPTY_TILE, TileSource, seed, tile_range

COLOURS = ["#000080", "#00beff", "#00af50", "#ffeb00", "#e61400"]
BREAKS = np.array([10.0, 20.0, 40.0, 80.0])
CLASS_VALUE = [5.0, 15.0, 30.0, 60.0, 100.0]  # one value inside each class

# 80 km cells in the Alps and around (row, col, class 0..4): two neighbours in one band, one in
# the band south of them (whose columns differ), one further east, and two stacked cells across
# a band boundary. test_cells_are_where_they_were_picked checks they are the cells of these places.
CELLS = [(57, 176, 0), (57, 177, 1), (58, 179, 2), (59, 183, 3), (63, 188, 4), (64, 191, 4)]
PLACES = [(11.0, 48.5), (12.1, 48.5), (12.1, 47.8), (14.0, 47.0), (9.0, 44.5), (9.0, 43.8)]


def cells_input(cells, scale=80_000, style="cells") -> RenderInput:
    rows = np.array([c[0] for c in cells])
    cols = np.array([c[1] for c in cells])
    lon, lat = grid.centres_lonlat(rows, cols, scale)
    values = np.array([CLASS_VALUE[c[2]] for c in cells])
    return RenderInput(style, scale, lon, lat, values, BREAKS, COLOURS)


def test_cells_are_where_they_were_picked():
    for (row, col, _), place in zip(CELLS, PLACES, strict=True):
        assert grid.cell_at(*place, 80_000) == grid.Cell(80_000, row, col)


def pixel_lonlat(z: int, tx: int, ty: int) -> tuple[np.ndarray, np.ndarray]:
    """Longitude of each pixel column and latitude of each pixel row (centres) of a tile."""
    n = 256 * 2**z
    lon = (tx * 256 + np.arange(256) + 0.5) / n * 360 - 180
    lat = np.degrees(np.arctan(np.sinh(math.pi * (1 - 2 * (ty * 256 + np.arange(256) + 0.5) / n))))
    return lon, lat


def expected_tile(cells, scale, z, tx, ty) -> np.ndarray:
    lon, lat = pixel_lonlat(z, tx, ty)
    out = np.zeros((256, 256), np.uint8)
    for row, col, k in cells:
        ring = np.array(grid.Cell(scale, row, col).polygon_lonlat())
        west, east = ring[:, 0].min(), ring[:, 0].max()
        south, north = ring[:, 1].min(), ring[:, 1].max()
        # Half-open cells: the west and north edges belong to the cell.
        inside_c = (lon >= west) & (lon < east)
        inside_r = (lat <= north) & (lat > south)
        out[np.ix_(inside_r, inside_c)] = k + 1
    return out


def decode(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.mode == "P" and img.size == (256, 256)
    assert img.info.get("transparency") == 0
    return np.array(img)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="session")
def reference_data():
    """Overrides conftest's autouse database fixture: these tests touch no database, and
    pytest-django creates none when no collected test asks for one."""


@pytest.fixture(params=["dense", "sparse"])
def storage(request, monkeypatch):
    if request.param == "sparse":
        monkeypatch.setattr(render, "DENSE_MAX_CELLS", 0)
    return request.param


@pytest.fixture
def cells_layer(tmp_path, storage):
    result = render_layer(cells_input(CELLS), tmp_path / "cells")
    return result, TileSource.open(result.directory)


def test_cells_exact_at_every_zoom(cells_layer):
    result, src = cells_layer
    assert result.native_zoom == 4 and result.maxzoom == 7
    assert result.n_features == len(CELLS)
    centre = grid.Cell(80_000, 58, 179).centroid_lonlat
    for z in range(0, result.maxzoom + 1):
        x0, y0 = tile_of(*centre, z)
        for tx in range(max(x0 - 1, 0), min(x0 + 2, 2**z)):
            for ty in range(max(y0 - 1, 0), min(y0 + 2, 2**z)):
                want = expected_tile(CELLS, 80_000, z, tx, ty)
                png = src.tile_png(z, tx, ty)
                if not want.any():
                    assert png is None, (z, tx, ty)
                    continue
                got = decode(png)
                assert np.array_equal(got, want), (z, tx, ty, np.argwhere(got != want)[:5])


def test_overzoom_edge_is_exact(cells_layer):
    """At the highest zoom, the west edge of a cell falls between the right pair of pixels."""
    result, src = cells_layer
    z = result.maxzoom
    ring = np.array(grid.Cell(80_000, 63, 188).polygon_lonlat())
    west, lat = ring[:, 0].min(), ring[:, 1].mean()
    tx, ty = tile_of(west, lat, z)
    tile = decode(src.tile_png(z, tx, ty))
    lon, lats = pixel_lonlat(z, tx, ty)
    i = int(np.argmin(np.abs(lats - lat)))
    j = int(np.searchsorted(lon, west))  # first pixel column whose centre is east of the edge
    assert 0 < j < 256
    assert tile[i, j - 1] == 0 and tile[i, j] == 5


def test_png_and_empty_tile(cells_layer):
    _, src = cells_layer
    assert src.tile_png(4, 0, 15) is None  # far from the data (south-west Pacific)
    img = Image.open(io.BytesIO(EMPTY_TILE))
    assert img.size == (256, 256) and len(EMPTY_TILE) < 200
    assert img.convert("RGBA").getextrema()[3] == (0, 0)
    palette = img.getpalette()
    assert palette is not None


def test_out_of_range(cells_layer):
    result, src = cells_layer
    for z, x, y in [(-1, 0, 0), (3, 8, 0), (3, 0, 8), (3, -1, 0), (result.maxzoom + 1, 0, 0)]:
        with pytest.raises(ValueError):
            src.tile_png(z, x, y)


def test_matches_rio_tiler_read_of_the_cog(tmp_path):
    """At the COG's own zoom, a nearest-neighbour rio-tiler read of layer.tif equals the tile."""
    rio_io = pytest.importorskip("rio_tiler.io")
    result = render_layer(cells_input(CELLS), tmp_path / "c")
    src = TileSource.open(result.directory)
    z = result.cog_zoom
    x0, y0, x1, y1 = tile_range(result.bounds, z)
    with rio_io.Reader(str(result.cog_path)) as cog:
        for tx in range(x0, x1 + 1):
            for ty in range(y0, y1 + 1):
                img = cog.tile(tx, ty, z, resampling_method="nearest")
                ours = src.tile_array(z, tx, ty)
                ours = np.zeros((256, 256), np.uint8) if ours is None else ours
                assert np.array_equal(img.data[0], ours), (tx, ty)


def test_seed_writes_only_non_empty_tiles(tmp_path):
    result = render_layer(cells_input(CELLS), tmp_path / "c")
    written = {}
    count = seed(result.directory, 5, lambda z, x, y, png: written.setdefault((z, x, y), png))
    assert count == len(written) > 0
    src = TileSource.open(result.directory)
    for z in range(6):
        for tx in range(2**z):
            for ty in range(2**z):
                png = src.tile_png(z, tx, ty)
                assert (png is not None) == ((z, tx, ty) in written)
    assert all(decode(p).any() for p in written.values())


def test_antimeridian_and_far_north(tmp_path):
    lon = np.array([179.95, -179.95, 179.5, 20.0])
    lat = np.array([66.0, 66.0, 80.5, 84.9])
    inp = RenderInput(
        "cells", 10_000, lon, lat, np.array([5.0, 15.0, 30.0, 100.0]), BREAKS, COLOURS
    )
    result = render_layer(inp, tmp_path / "am")
    src = TileSource.open(result.directory)
    assert result.bounds[0] <= -179.9 and result.bounds[2] >= 179.9
    z = 6
    west = src.tile_png(z, 0, tile_of(-179.95, 66.0, z)[1])
    east = src.tile_png(z, 2**z - 1, tile_of(179.95, 66.0, z)[1])
    assert west is not None and east is not None
    assert src.tile_png(z, *tile_of(179.5, 80.5, z)) is not None
    assert src.tile_png(z, *tile_of(20.0, 84.9, z)) is not None
    assert seed(result.directory, 3, lambda *a: None) > 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scale=st.sampled_from(grid.SCALES_M),
    lat=st.floats(-75, 78),
    lon=st.floats(-175, 175),
    offsets=st.lists(
        st.tuples(st.integers(-30, 30), st.integers(-30, 30), st.integers(0, 4)),
        min_size=1,
        max_size=6,
        unique_by=lambda t: (t[0], t[1]),
    ),
)
def test_cell_centre_pixel_has_its_class(tmp_path_factory, scale, lat, lon, offsets):
    base = grid.cell_at(lon, lat, scale)
    cells = [(base.row + dr, base.col + dc, k) for dr, dc, k in offsets]
    # Only cells of the grid (offsets may step past a row's western or eastern end).
    k = grid.subdivisions(scale)
    cells = [
        c for c in cells
        if 0 <= c[0] < grid.rows_in_world(k) and 0 <= c[1] < grid.columns_in_rows(c[0], k)
    ]  # fmt: skip
    assume(cells)
    result = render_layer(cells_input(cells, scale), tmp_path_factory.mktemp("h") / "l")
    src = TileSource.open(result.directory)
    z = result.native_zoom
    n = 256 * 2**z
    for row, col, k in cells:
        clon, clat = grid.Cell(scale, row, col).centroid_lonlat
        if abs(clat) > 85:  # beyond Web Mercator: drawn nowhere
            continue
        px = (clon + 180) / 360 * n
        py = (1 - math.asinh(math.tan(math.radians(clat))) / math.pi) / 2 * n
        tile = src.tile_array(z, int(px) // 256, int(py) // 256)
        assert tile is not None and tile[int(py) % 256, int(px) % 256] == k + 1
