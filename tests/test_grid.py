"""Properties of the 8-scale sampling grid (baselines/grid.py): equal-area, square on the ground,
nested (issue #17).

Points are WGS84 longitude/latitude, drawn uniformly and also where grids break: the poles, the
antimeridian, and exact cell edges and corners. Cells are half-open lon/lat rectangles: a cell
holds west <= lon < east and south < lat <= north (a point on an edge belongs to the cell east
and south of it; the South Pole to the last row; 180° is −180°). Shapes and areas are measured
independently of the grid's own formulas, with pyproj's geodesic code on the WGS84 ellipsoid.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from itertools import combinations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from baselines.grid import (
    SCALE_LABELS,
    SCALES_M,
    Cell,
    InvalidCellCode,
    band_columns,
    cell_aligned_bbox,
    cell_aligned_boxes,
    cell_area_km2,
    cell_at,
    cell_codes,
    cells_area_km2,
    centroids_lonlat,
    coarser_containing,
    format_code,
    format_codes,
    parse_code,
    scale_from_km,
    snap_to_cell_centre,
)

PROPERTY = settings(max_examples=100, deadline=None)
FAST_PROPERTY = settings(max_examples=250, deadline=None)

CODE_RE = re.compile(r"^(80K|40K|20K|10K|4K|2K|1K|500M)-\d{5}-\d{5}$")
WGS84 = Geod(ellps="WGS84")
BAND_DEG = 0.72


def _k(size: int) -> int:
    return 80_000 // size


def _columns(size: int, row: int) -> int:
    """Columns of a row, from the band table: n of the row's 80 km band × k."""
    return int(band_columns()[row // _k(size)]) * _k(size)


# --- strategies ----------------------------------------------------------------------------------

lons = st.floats(-180.0, 180.0, allow_nan=False)
lats = st.floats(-90.0, 90.0, allow_nan=False)
edge_lons = (
    st.sampled_from([-180.0, 180.0, -179.9999999, 179.9999999, 0.0, -0.0])
    | st.floats(179.0, 180.0)
    | st.floats(-180.0, -179.0)
)
polar_lats = (
    st.sampled_from([-90.0, 90.0, -89.9999999, 89.9999999, 85.05, -85.05])
    | st.floats(88.0, 90.0)
    | st.floats(-90.0, -88.0)
)
scales = st.sampled_from(SCALES_M)


@st.composite
def cells(draw, size_m: int | None = None) -> Cell:
    """Any cell of the grid."""
    size = size_m if size_m is not None else draw(scales)
    row = draw(st.integers(0, 250 * _k(size) - 1))
    col = draw(st.integers(0, _columns(size, row) - 1))
    return Cell(size, row, col)


@st.composite
def edge_points(draw) -> tuple[float, float]:
    """A point exactly on a cell corner or edge (the doubles the grid uses for its edges)."""
    cell = draw(cells())
    west, south, east, north = cell.bounds
    on = draw(st.sampled_from(["corner", "west", "north"]))
    lon = west if on in ("corner", "west") else draw(st.floats(west, east))
    lat = north if on in ("corner", "north") else draw(st.floats(south, north))
    return lon, lat


points = st.one_of(
    st.tuples(lons, lats),
    st.tuples(edge_lons, lats),
    st.tuples(lons, polar_lats),
    st.tuples(edge_lons, polar_lats),
    edge_points(),
)


def _holds(cell: Cell, lon: float, lat: float) -> bool:
    """Half-open membership, as the module documents it."""
    west, south, east, north = cell.bounds
    lon = -180.0 if lon == 180.0 else lon
    last_row = cell.row == 250 * _k(cell.size_m) - 1
    return west <= lon < east and (south < lat or (last_row and lat == -90.0)) and lat <= north


def _ground_shape(cell: Cell) -> tuple[float, float, float]:
    """(east–west m along the centre parallel, north–south m along the centre meridian, area m²)
    of a cell, with pyproj.Geod: independent of the grid's formulas."""
    west, south, east, north = cell.bounds
    lon_c, lat_c = (west + east) / 2, (south + north) / 2
    _, _, ns = WGS84.inv(lon_c, south, lon_c, north)
    t = np.linspace(west, east, 65)
    _, _, steps = WGS84.inv(t[:-1], np.full(64, lat_c), t[1:], np.full(64, lat_c))
    k = 64
    f = np.linspace(0, 1, k, endpoint=False)
    ring_lon = np.concatenate([west + (east - west) * f, np.full(k, east),
                               east - (east - west) * f, np.full(k, west)])  # fmt: skip
    ring_lat = np.concatenate([np.full(k, south), south + (north - south) * f,
                               np.full(k, north), north - (north - south) * f])  # fmt: skip
    area = abs(WGS84.polygon_area_perimeter(ring_lon, ring_lat)[0])
    return float(np.sum(steps)), float(ns), area


NESTING_PAIRS = [(fine, coarse) for coarse, fine in combinations(SCALES_M, 2)]
DIVIDING_PAIRS = [(f, c) for f, c in NESTING_PAIRS if c % f == 0]
NON_DIVIDING_PAIRS = [(f, c) for f, c in NESTING_PAIRS if c % f != 0]


# --- 1. square on the ground and equal-area ------------------------------------------------------


@PROPERTY
@given(st.tuples(lons, st.floats(-85.0, 85.0)), scales)
@example((25.0, 69.9), 500)
@example((0.0, 0.0), 80_000)
@example((100.0, -70.0), 500)
@example((-60.0, 84.99), 500)
def test_cells_are_square_and_of_nominal_area_on_the_ground(point, size):
    """Issue #17: 70° S–70° N within 1.1 : 1 and 2 %; up to 85° within 1.2 : 1 and 10 %."""
    cell = cell_at(*point, size)
    _, lat_c = cell.centroid_lonlat
    ew, ns, area = _ground_shape(cell)
    aspect = max(ew / ns, ns / ew)
    error = abs(area / size**2 - 1)
    if abs(lat_c) <= 70:
        assert aspect <= 1.1 and error <= 0.02, (cell, aspect, error)
    elif abs(lat_c) <= 85:
        assert aspect <= 1.2 and error <= 0.10, (cell, aspect, error)


def test_the_worst_cells_of_every_scale_are_within_the_bounds():
    """Every row of every scale (cells of a row are equal), not a sample: the worst aspect and
    area error between 70° S and 70° N, and up to 85°, measured with pyproj."""
    for size in (80_000, 20_000, 4_000, 500):
        k = _k(size)
        rows = np.arange(250 * k)
        if size == 500:  # every 500 m row costs a while; the band edges are where the worst are
            rows = np.unique(
                np.concatenate([np.arange(0, 40_000, 160), np.arange(159, 40_000, 160)])
            )
        worst = {70: (0.0, 0.0), 85: (0.0, 0.0)}
        for row in rows.tolist():
            cell = Cell(size, row, 0)
            west, south, east, north = cell.bounds
            lat_c = (south + north) / 2
            limit = 70 if abs(lat_c) <= 70 else 85 if abs(lat_c) <= 85 else None
            if limit is None:
                continue
            ew, ns, area = _ground_shape(cell)
            aspect, error = max(ew / ns, ns / ew), abs(area / size**2 - 1)
            worst[limit] = (max(worst[limit][0], aspect), max(worst[limit][1], error))
        assert worst[70][0] <= 1.1 and worst[70][1] <= 0.02, (size, worst)
        assert worst[85][0] <= 1.2 and worst[85][1] <= 0.10, (size, worst)


@PROPERTY
@given(cells())
def test_cell_area_is_the_true_area_of_its_bounds(cell):
    _, _, area = _ground_shape(cell)
    # pyproj's polygon has geodesic sides; 64 points a side make them follow the parallels.
    assert cell.area_km2 == pytest.approx(area / 1e6, rel=2e-4)
    assert cell_area_km2(cell) == cell.area_km2
    assert cell.area_m2 == pytest.approx(cell.area_km2 * 1e6)


def test_all_cells_of_a_scale_add_up_to_the_area_of_the_earth():
    earth_km2 = 4 * math.pi * 6_371_007.2**2 / 1e6  # the authalic sphere's area
    for size in (80_000, 40_000, 20_000):
        k = _k(size)
        codes = [format_code(size, r, c) for r in range(250 * k) for c in range(_columns(size, r))]
        assert cells_area_km2(codes) == pytest.approx(earth_km2, rel=1e-6)


def test_the_band_table_makes_each_band_s_cells_closest_to_80_km_squared():
    """Independently of the module: each band's area from pyproj (a 1° strip × 360)."""
    table = band_columns()
    assert table.shape == (250,) and table.min() >= 1
    assert (table == table[::-1]).all()  # symmetric about the equator
    for b in range(250):
        north, south = 90 - b * BAND_DEG, 90 - (b + 1) * BAND_DEG
        f = np.linspace(0, 1, 65)
        ring_lon = np.concatenate([f, f[::-1]])
        ring_lat = np.concatenate([np.full(65, south), np.full(65, north)])
        band = abs(WGS84.polygon_area_perimeter(ring_lon, ring_lat)[0]) * 360
        ideal = band / 80_000**2
        assert abs(table[b] - ideal) <= 0.5 + 1e-3, (b, table[b], ideal)
    assert table[0] == table[-1] == 3 and table[124] == table[125] == 499


# --- 2. every point in exactly one cell per scale ------------------------------------------------


@FAST_PROPERTY
@given(points)
@example((180.0, 90.0))
@example((-180.0, -90.0))
@example((0.0, 0.0))
def test_every_wgs84_point_is_in_its_cell_and_in_none_of_the_neighbouring_cells(point):
    lon, lat = point
    for size in SCALES_M:
        cell = cell_at(lon, lat, size)
        assert _holds(cell, lon, lat), (size, cell, cell.bounds)
        k = _k(size)
        for dr in (-1, 0, 1):
            row = cell.row + dr
            if not 0 <= row < 250 * k:
                continue
            for col in range(_columns(size, row)) if dr else (cell.col - 1, cell.col + 1):
                if 0 <= col < _columns(size, row) and (dr, col) != (0, cell.col):
                    if (
                        dr
                        and abs(col - cell.col * _columns(size, row) / _columns(size, cell.row)) > 3
                    ):
                        continue
                    assert not _holds(Cell(size, row, col), lon, lat), (size, row, col)


@FAST_PROPERTY
@given(cells())
def test_cells_tile_the_world_edge_to_edge(cell):
    west, south, east, north = cell.bounds
    size, row, col = cell.size_m, cell.row, cell.col
    if col + 1 < _columns(size, row):
        assert Cell(size, row, col + 1).bounds[0] == east
    else:
        assert east == 180.0
    if col == 0:
        assert west == -180.0
    if row + 1 < 250 * _k(size):
        assert Cell(size, row + 1, 0).bounds[3] == south
    else:
        assert south == -90.0
    if row == 0:
        assert north == 90.0


@FAST_PROPERTY
@given(edge_points())
def test_a_point_on_a_cell_corner_or_edge_belongs_to_the_cell_east_and_south_of_it(point):
    lon, lat = point
    for size in SCALES_M:
        cell = cell_at(lon, lat, size)
        west, south, east, north = cell.bounds
        assert _holds(cell, lon, lat)
        assert lon != east and (lat != south or lat == -90.0)


def test_a_point_one_ulp_west_or_north_of_an_edge_is_in_the_cell_west_or_north_of_it():
    for size in SCALES_M:
        cell = cell_at(25.3, 62.4, size)
        west, _, _, north = cell.bounds
        just_west = float(np.nextafter(west, -np.inf))
        just_north = float(np.nextafter(north, np.inf))
        assert cell_at(just_west, 62.4, size) == Cell(size, cell.row, cell.col - 1)
        assert cell_at(25.3, just_north, size).row == cell.row - 1
        assert cell_at(west, north, size) == cell


def test_longitude_180_and_minus_180_name_the_same_cell():
    for lat in (-90.0, -45.0, 0.0, 60.0, 90.0):
        for size in SCALES_M:
            assert cell_at(180.0, lat, size) == cell_at(-180.0, lat, size)
            assert cell_at(180.0, lat, size).col == 0


# --- 3. nesting ----------------------------------------------------------------------------------


def test_only_4km_cells_fail_to_nest_exactly_and_only_in_10km_cells():
    assert NON_DIVIDING_PAIRS == [(4_000, 10_000)]
    assert coarser_containing(4_000) == (80_000, 40_000, 20_000)
    assert coarser_containing(10_000) == (80_000, 40_000, 20_000)
    assert coarser_containing(500) == (80_000, 40_000, 20_000, 10_000, 4_000, 2_000, 1_000)


@FAST_PROPERTY
@given(points)
def test_a_fine_cell_lies_inside_the_coarse_cell_of_the_same_point_where_sizes_divide(point):
    lon, lat = point
    for fine, coarse in DIVIDING_PAIRS:
        small, big = cell_at(lon, lat, fine), cell_at(lon, lat, coarse)
        assert small.parent(coarse) == big
        w, s, e, n = small.bounds
        bw, bs, be, bn = big.bounds
        assert bw <= w and e <= be and bs <= s and n <= bn, (fine, coarse, small, big)


@FAST_PROPERTY
@given(cells())
def test_a_coarse_cell_is_exactly_the_union_of_its_children(cell):
    for fine in SCALES_M:
        if fine >= cell.size_m or cell.size_m % fine:
            continue
        f = cell.size_m // fine
        if f > 8:
            continue  # 80 → 0.5 km is 25,600 children; the 2- and 5-fold steps chain anyway
        children = [Cell(fine, cell.row * f + i, cell.col * f + j) for i in range(f)
                    for j in range(f)]  # fmt: skip
        assert all(child.parent(cell.size_m) == cell for child in children)
        west, south, east, north = cell.bounds
        assert min(c.bounds[0] for c in children) == west
        assert max(c.bounds[2] for c in children) == east
        assert min(c.bounds[1] for c in children) == south
        assert max(c.bounds[3] for c in children) == north
        assert sum(c.area_km2 for c in children) == pytest.approx(cell.area_km2, rel=1e-9)


@FAST_PROPERTY
@given(cells(size_m=4_000))
def test_a_4km_cell_has_as_its_10km_parent_the_cell_holding_its_centre(cell):
    assert cell.parent(10_000) == cell_at(*cell.centroid_lonlat, 10_000)
    assert cell.parent(20_000) == Cell(20_000, cell.row // 5, cell.col // 5)


def test_parent_refuses_a_finer_scale():
    with pytest.raises(ValueError):
        Cell(20_000, 1, 1).parent(10_000)
    assert Cell(20_000, 1, 1).parent(20_000) == Cell(20_000, 1, 1)
    assert set(Cell(500, 100, 100).parents()) == set(SCALES_M)


# --- 4. codes ------------------------------------------------------------------------------------


def test_a_known_place_has_the_code_computed_by_hand():
    # 62° N is 28° from the pole: 20 km rows are 0.18°, so row floor(28 / 0.18) = 155; its 80 km
    # band is 155 // 4 = 38, with band_columns()[38] × 4 columns; 25° E is 205° from 180° W.
    n = int(band_columns()[38]) * 4
    assert cell_at(25.0, 62.0, 20_000).code == f"20K-00155-{math.floor(205 / (360 / n)):05d}"
    assert cell_at(0.0, 0.0, 80_000).code == "80K-00125-00249"  # 499 columns: 0° is in the middle


@FAST_PROPERTY
@given(points)
def test_a_cell_code_has_the_documented_format_and_parses_back_to_the_cell(point):
    for size in SCALES_M:
        cell = cell_at(*point, size)
        assert CODE_RE.match(cell.code)
        assert cell.code.startswith(SCALE_LABELS[size] + "-")
        assert parse_code(cell.code) == cell
        assert _holds(parse_code(cell.code), *point)


@PROPERTY
@given(st.lists(points, min_size=1, max_size=25))
def test_vectorised_cell_codes_agree_with_cell_at_for_every_point_and_scale(point_list):
    lon_list = [p[0] for p in point_list]
    lat_list = [p[1] for p in point_list]

    codes = cell_codes(np.array(lon_list), np.array(lat_list))

    assert list(codes) == list(SCALES_M)
    for size in SCALES_M:
        assert codes[size].dtype == object and len(codes[size]) == len(point_list)
        assert all(type(code) is str for code in codes[size])
        assert list(codes[size]) == [cell_at(lon, lat, size).code for lon, lat in point_list]
    assert list(cell_codes(lon_list, lat_list)[500]) == list(codes[500])


def test_cell_codes_keep_the_shape_of_a_2d_input_and_a_scalar_gives_str():
    lon = np.array([[0.0, 10.0], [20.0, 30.0]])
    lat = np.array([[0.0, 45.0], [60.0, -70.0]])
    codes = cell_codes(lon, lat)
    for size in SCALES_M:
        assert codes[size].shape == (2, 2)
        assert codes[size][1, 0] == cell_at(20.0, 60.0, size).code
        scalar = cell_codes(180.0, -90.0)[size]
        assert type(scalar) is str and scalar == cell_at(-180.0, -90.0, size).code


def test_cell_codes_of_no_points_are_empty_arrays():
    for lon in ([], np.array([])):
        codes = cell_codes(lon, lon)
        assert list(codes) == list(SCALES_M)
        for size in SCALES_M:
            assert codes[size].dtype == object and codes[size].shape == (0,)


def test_cell_codes_still_reject_points_outside_wgs84():
    for lon, lat in ((180.0000001, 0.0), (0.0, 90.0000001), (math.nan, 0.0), (0.0, math.inf)):
        with pytest.raises(ValueError, match="not a WGS84"):
            cell_codes([0.0, lon], [0.0, lat])


indices = st.integers(-(10**7), 10**7) | st.integers(-10, 100_010) | st.integers(0, 99_999)


@FAST_PROPERTY
@given(scales, st.lists(st.tuples(indices, indices), min_size=1, max_size=50))
@example(500, [(0, 0), (99_999, 99_999), (100_000, -1), (-12_345, 123_456), (39_999, 79_839)])
def test_format_codes_formats_any_row_and_column_like_format_code_and_zfill(size, pairs):
    # Rows and columns on this grid stay within 0…69,759; outside 0…99,999 the codes keep the
    # sign and the extra digits exactly as format_code and the reference's zfill write them.
    row = np.array([p[0] for p in pairs], dtype=np.int64)
    col = np.array([p[1] for p in pairs], dtype=np.int64)

    got = format_codes(size, row, col)

    assert got.dtype == object and got.shape == row.shape
    assert got.tolist() == [format_code(size, int(r), int(c)) for r, c in pairs]
    zfilled = (
        SCALE_LABELS[size]
        + "-"
        + np.char.zfill(row.astype(str), 5).astype(object)
        + "-"
        + np.char.zfill(col.astype(str), 5).astype(object)
    )
    assert got.tolist() == zfilled.tolist()


@FAST_PROPERTY
@given(st.lists(cells(), min_size=2, max_size=30))
def test_codes_sort_by_scale_label_then_row_then_column(cell_list):
    codes = [c.code for c in cell_list]
    by_fields = sorted(cell_list, key=lambda c: (SCALE_LABELS[c.size_m], c.row, c.col))

    assert sorted(codes) == [c.code for c in by_fields]


@FAST_PROPERTY
@given(cells(), cells())
def test_within_one_scale_code_order_is_row_then_column_order(a, b):
    b = Cell(a.size_m, b.row, b.col)
    assert (a.code < b.code) == ((a.row, a.col) < (b.row, b.col))
    assert (a.code == b.code) == (a == b)


def test_code_order_across_scales_is_by_label_text_not_by_size():
    codes = [format_code(size, 1, 1) for size in SCALES_M]
    assert sorted(codes) == [
        "10K-00001-00001",
        "1K-00001-00001",
        "20K-00001-00001",
        "2K-00001-00001",
        "40K-00001-00001",
        "4K-00001-00001",
        "500M-00001-00001",
        "80K-00001-00001",
    ]


def test_the_finest_grid_still_fits_five_digit_rows_and_columns():
    for size in SCALES_M:
        k = 80_000 // size
        for row in (0, 250 * k // 2, 250 * k - 1):
            last = Cell(size, row, _columns(size, row) - 1)
            assert CODE_RE.match(last.code)
            assert parse_code(last.code) == last
    # The widest rows (at the equator, 499 columns at 80 km) end at 499 × 160 − 1 at 500 m.
    assert _columns(500, 20_000) == 79_840
    assert Cell(500, 39_999, 479).code == "500M-39999-00479"


# --- 5. rejecting bad codes and scales -----------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "",
        "   ",
        "20K-1-2",
        "30K-00001-00002",
        "5K-00001-00002",
        "20K-00001-0002",
        "20K-000001-00002",
        "20K_00001_00002",
        "20K-00001-00002-",
        "20K-0000a-00002",
        "20K--0001-00002",
        "K-00001-00002",
        "20000-00001-00002",
        "80K-00250-00000",  # 80 km rows are 0…249
        "80K-00000-00003",  # the polar 80 km bands have 3 columns
        "80K-00125-00499",  # the widest have 499 (0…498)
        "500M-40000-00000",  # 500 m rows are 0…39999
        "500M-20000-79840",  # 500 m columns of the equatorial rows are 0…79839
        "4K-99999-99999",
    ],
)
def test_parse_code_rejects_strings_that_are_not_codes_of_this_grid(code):
    with pytest.raises(InvalidCellCode):
        parse_code(code)


@pytest.mark.parametrize("value", [None, 20_000, b"20K-00001-00002", ("20K", 1, 2)])
def test_parse_code_rejects_non_strings(value):
    with pytest.raises(InvalidCellCode):
        parse_code(value)


@pytest.mark.parametrize(
    ("code", "cell"),
    [
        ("80K-00249-00002", Cell(80_000, 249, 2)),
        ("80K-00125-00498", Cell(80_000, 125, 498)),
        ("500M-39999-00479", Cell(500, 39_999, 479)),
        ("500M-20000-79839", Cell(500, 20_000, 79_839)),
        ("20K-00000-00000", Cell(20_000, 0, 0)),
        (" 20k-00412-01733 ", Cell(20_000, 412, 1_733)),  # case and surrounding blanks forgiven
        ("500m-16480-40211", Cell(500, 16_480, 40_211)),
    ],
)
def test_parse_code_accepts_the_last_row_and_column_and_forgives_case_and_blanks(code, cell):
    assert parse_code(code) == cell
    assert parse_code(code).code == code.strip().upper()


@FAST_PROPERTY
@given(
    st.text(alphabet=st.characters(codec="ascii"), max_size=24)
    | st.from_regex(r"\A(80K|40K|20K|10K|5K|4K|2K|1K|500M|500K)-[0-9]{4,6}-[0-9]{4,6}\Z")
)
def test_parse_code_either_rejects_text_or_returns_the_cell_the_text_names(text):
    try:
        cell = parse_code(text)
    except InvalidCellCode:
        assert not CODE_RE.match(text.strip().upper()) or _beyond_grid(text.strip().upper())
    else:
        assert cell.code == text.strip().upper()
        assert 0 <= cell.row < 250 * (80_000 // cell.size_m)
        assert 0 <= cell.col < _columns(cell.size_m, cell.row)


def _beyond_grid(code: str) -> bool:
    label, row, col = code.split("-")
    size = {v: k for k, v in SCALE_LABELS.items()}[label]
    return int(row) >= 250 * (80_000 // size) or int(col) >= _columns(size, int(row))


def test_parse_code_rejects_non_ascii_digits():
    with pytest.raises(InvalidCellCode):
        parse_code("20K-\u0660\u0660\u0660\u0660\u0661-\u0660\u0660\u0660\u0660\u0662")


@pytest.mark.parametrize(
    ("km", "size_m"),
    [
        (80, 80_000),
        (40, 40_000),
        (20, 20_000),
        (10, 10_000),
        (4, 4_000),
        (2, 2_000),
        (1, 1_000),
        (0.5, 500),
        ("80", 80_000),
        ("10", 10_000),
        ("4", 4_000),
        ("0.5", 500),
        (" 0.5 ", 500),
        ("0.50", 500),
        ("1.0", 1_000),
        (Decimal("0.5"), 500),
        (Decimal("20"), 20_000),
    ],
)
def test_scale_from_km_accepts_the_eight_grid_scales_as_numbers_or_strings(km, size_m):
    assert scale_from_km(km) == size_m
    assert size_m in SCALES_M


@pytest.mark.parametrize(
    "km",
    [5, 0.25, 100, "5", "0.25", "100", 0, -10, 3, 0.4999, 0.5001, 160, "abc", "", "10km", "nan"],
)
def test_scale_from_km_rejects_sizes_that_are_not_grid_scales(km):
    with pytest.raises(ValueError):
        scale_from_km(km)


@pytest.mark.parametrize("km", ["inf", float("inf"), "-inf"])
def test_scale_from_km_rejects_infinity_with_value_error(km):
    with pytest.raises(ValueError):
        scale_from_km(km)


# --- 6. snapping and outlines --------------------------------------------------------------------


@PROPERTY
@given(points)
def test_snap_to_cell_centre_gives_the_middle_of_the_points_own_cell(point):
    lon, lat = point
    for size in SCALES_M:
        cell = cell_at(lon, lat, size)
        snapped = snap_to_cell_centre(lon, lat, size)
        west, south, east, north = cell.bounds
        assert snapped == cell.centroid_lonlat == ((west + east) / 2, (south + north) / 2)
        assert cell_at(*snapped, size) == cell


def test_snapping_coarsens_a_point_to_its_cell_and_nothing_finer():
    lon, lat = 11.123456, 48.654321
    for size in SCALES_M:
        snapped = snap_to_cell_centre(lon, lat, size)
        assert snapped != (lon, lat)
        west, _, _, north = cell_at(lon, lat, size).bounds
        assert snap_to_cell_centre(west + 1e-9, north - 1e-9, size) == snapped


def test_snap_at_the_poles_and_the_antimeridian_stays_in_the_same_cell():
    for lon, lat in ((0.0, 90.0), (0.0, -90.0), (-179.99, 10.0), (179.99, -10.0)):
        for size in SCALES_M:
            snapped = snap_to_cell_centre(lon, lat, size)
            assert cell_at(*snapped, size) == cell_at(lon, lat, size), (lon, lat, size)
            if abs(lon) > 179:
                assert snapped[0] * lon > 0  # the same side of the antimeridian


@PROPERTY
@given(points)
def test_cell_geometry_is_a_wgs84_polygon_covering_the_point_and_not_the_neighbours(point):
    from django.contrib.gis.geos import Point

    lon, lat = point
    here = Point(-180.0 if lon == 180.0 else lon, lat, srid=4326)
    for size in SCALES_M:
        cell = cell_at(lon, lat, size)
        geometry = cell.geometry()
        assert geometry.geom_type == "Polygon" and geometry.srid == 4326 and geometry.valid
        # covers, not contains: a point on the cell's west or north edge is in the cell.
        assert geometry.covers(here), (size, cell)
        assert geometry.extent == cell.bounds
        for dc in (-1, 1):
            if 0 <= cell.col + dc < _columns(size, cell.row):
                other = Cell(size, cell.row, cell.col + dc)
                assert not geometry.covers(Point(*other.centroid_lonlat, srid=4326))


def test_cell_outline_densified_keeps_the_rectangle():
    cell = cell_at(11.1, 48.6, 20_000)
    ring = cell.polygon_lonlat(4)
    assert len(ring) == 17 and ring[0] == ring[-1]
    west, south, east, north = cell.bounds
    assert {p[0] for p in ring} <= {west, east} | {west + (east - west) * i / 4 for i in range(4)}
    assert min(p[1] for p in ring) == south and max(p[1] for p in ring) == north


def test_centroids_of_many_cells_equal_each_cells_own():
    import random

    rng = random.Random(7)
    cells_ = [
        cell_at(rng.uniform(-180, 180), rng.uniform(-90, 90), rng.choice(SCALES_M))
        for _ in range(500)
    ]
    assert centroids_lonlat(cells_) == [cell.centroid_lonlat for cell in cells_]
    assert centroids_lonlat([]) == []


# --- 7. boxes grown to cells ---------------------------------------------------------------------


@PROPERTY
@given(lons, lons, st.floats(-89.0, 89.0), st.floats(0.0, 5.0), scales, st.data())
def test_cell_aligned_boxes_hold_exactly_the_points_whose_cell_touches_the_bbox(
    a, b, south, height, size, data
):
    west, east = min(a, b), max(a, b)
    if east - west > 20 or (size < 4_000 and (east - west > 1 or height > 1)):
        east, height = west + 0.5, min(height, 0.5)
    bbox = (west, south, east, min(south + height, 90.0))
    boxes = cell_aligned_boxes(bbox, size)
    grown = cell_aligned_bbox(bbox, size)
    assert grown[0] <= west and grown[1] <= bbox[1] and grown[2] >= east and grown[3] >= bbox[3]
    for _ in range(20):
        lon = data.draw(st.floats(grown[0], grown[2]))
        lat = data.draw(st.floats(grown[1], grown[3]))
        w, s, e, n = cell_at(lon, lat, size).bounds
        touches = w <= bbox[2] and e >= bbox[0] and s <= bbox[3] and n >= bbox[1]
        inside = any(bw < lon < be and bs < lat < bn for bw, bs, be, bn in boxes)
        on_edge = any(bw <= lon <= be and bs <= lat <= bn for bw, bs, be, bn in boxes)
        if inside:
            assert touches
        if touches and not (lon in (w,) or lat in (n,)):
            assert on_edge
