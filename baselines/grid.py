"""The 8 nested sampling-grid scales: cell codes, cell outlines, areas and parent cells.

The grid is equal-area *and* square on the ground (issue #17). The world is cut into 250 latitude
bands of 0.72° (about 80 km of meridian arc), rows counted from the North Pole. Each 80 km band
is divided into ``n`` equal longitude columns, ``n`` the whole number that makes the band's cells
closest to 80 km × 80 km in area (``band_columns``; at least 1). Every finer scale splits its
80 km cell into ``k × k`` equal longitude/latitude rectangles, ``k = 80 km / size``:

    80 km: 1   40 km: 2   20 km: 4   10 km: 8   4 km: 20   2 km: 40   1 km: 80   500 m: 160

so cells are lon/lat rectangles, a scale nests exactly in every coarser scale whose ``k`` divides
its own (80 ⊃ 40 ⊃ 20 ⊃ 10 and 80 ⊃ 40 ⊃ 20 ⊃ 4 ⊃ 2 ⊃ 1 ⊃ 0.5; 2, 1 and 0.5 km in 10 km too),
and cells of one band differ in area only by the change of latitude across the band. Measured
over every 500 m row (tests/test_grid.py, benchmarks/grid.py): between 70° S and 70° N every
cell is within 1.03 : 1 aspect (east–west vs north–south at its centre) and 1.8 % of its nominal
area; up to 85° within 1.1 : 1 and 8.2 %. The polar caps beyond 85° keep their few columns
(3 at 80 km in the band touching a pole), so cells there narrow towards the pole and become
wedges; their areas are still exact (``Cell.area_km2``) and coverage uses true areas.

A cell code reads ``<scale>-<row>-<col>``, e.g. ``20K-00105-01233``: the row of the scale's band
counted from the North Pole and the column within that band counted east from 180° W, both
from 0 and five digits (at most 40,000 rows and 80,160 columns at 500 m). Codes sort by scale,
then row, then column.

Exactness: cell edges are defined on an integer lattice of 1/640 of an 80 km cell (the finest
surface raster, ``UNIT``): latitude edge ``u`` is ``90 − u·180/160000`` and, in 80 km band ``b``,
longitude edge ``c`` is ``−180 + c·360/(640·n_b)``, each the correctly rounded double of its
decimal value. Every scale uses the same doubles, so nesting is exact in floating point too, and
the SQL of ``sharing.locations`` reproduces a centre bit for bit. Cells are half-open: a point on
an edge belongs to the cell east and south of it; 180° is −180°, the South Pole lies in the last
row.

Parents: a cell nests in exactly one cell of each coarser scale whose ``k`` divides its own. The
one pair that does not divide is 4 km in 10 km (k 20 and 8): its parent there is defined as the
coarser cell holding the child's centre. A sample's own code at each scale is always computed
from its point, never from a parent, so it is exact at every scale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np

# Sizes in metres, coarse to fine.
SCALES_M: tuple[int, ...] = (80_000, 40_000, 20_000, 10_000, 4_000, 2_000, 1_000, 500)
SCALE_LABELS: dict[int, str] = {
    80_000: "80K",
    40_000: "40K",
    20_000: "20K",
    10_000: "10K",
    4_000: "4K",
    2_000: "2K",
    1_000: "1K",
    500: "500M",
}
LABEL_SCALES: dict[str, int] = {label: size for size, label in SCALE_LABELS.items()}

COARSEST_M = 80_000
BANDS = 250  # 80 km bands from pole to pole: 0.72° each
BAND_DEG = 180.0 / BANDS
# Lattice of all edges: UNIT rows and UNIT columns per 80 km cell (the finest raster is a quarter
# of a 500 m cell, maps.render's surface). Every subdivision k used here divides it.
UNIT = 640
UNIT_ROWS = BANDS * UNIT  # 160,000

# WGS84 ellipsoid (areas; the band column counts).
WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
_E2 = WGS84_F * (2 - WGS84_F)
_E = math.sqrt(_E2)

_CODE_RE = re.compile(r"^(80K|40K|20K|10K|4K|2K|1K|500M)-([0-9]{5})-([0-9]{5})$")


class InvalidCellCode(ValueError):
    """A string that is not a cell code of this grid."""


def scale_from_km(km: float | str | Decimal) -> int:
    """Scale size in metres from a size in km (``80``, ``"0.5"``); raises for other sizes."""
    try:
        metres = float(km) * 1000
        size = int(round(metres))
    except (TypeError, ValueError, OverflowError):
        size, metres = -1, math.nan
    if size not in SCALE_LABELS or not math.isclose(metres, size):
        raise ValueError(
            f"{km} km is not a grid scale; the scales are "
            + ", ".join(f"{s / 1000:g}" for s in SCALES_M)
            + " km"
        )
    return size


def scale_km(size_m: int) -> float:
    return size_m / 1000


def scale_label(size_m: int) -> str:
    return SCALE_LABELS[size_m]


def subdivisions(size_m: int) -> int:
    """k: cells of this scale along each side of an 80 km cell (1 … 160)."""
    return COARSEST_M // size_m


def coarser_containing(size_m: int) -> tuple[int, ...]:
    """The coarser scales whose cells each contain whole cells of ``size_m``, coarse to fine
    (those whose k divides this scale's k, i.e. whose size is a multiple of this one: 4 km cells
    do not nest in 10 km ones)."""
    return tuple(c for c in SCALES_M if c > size_m and c % size_m == 0)


# --- the band table and the edge lattice ---------------------------------------------------------


def _q(lat_deg: float) -> float:
    """q(φ) of the authalic latitude (Snyder 3-12): a lon/lat rectangle's area on the ellipsoid
    is a²/2 · Δλ · (q(north) − q(south))."""
    s = math.sin(math.radians(lat_deg))
    return (1 - _E2) * (s / (1 - _E2 * s * s) - math.log((1 - _E * s) / (1 + _E * s)) / (2 * _E))


def _lat_edge(u: int) -> float:
    """Latitude of lattice row edge ``u`` (0 = North Pole … UNIT_ROWS = South Pole)."""
    return 90.0 - (u * 180.0) / UNIT_ROWS


@lru_cache(maxsize=1)
def band_columns() -> np.ndarray:
    """Columns of each 80 km band (north to south): the whole number whose cells are closest to
    80 km × 80 km in area on the WGS84 ellipsoid, at least 1. Computed in plain IEEE doubles;
    tests pin the table."""
    out = []
    for b in range(BANDS):
        north, south = _lat_edge(b * UNIT), _lat_edge((b + 1) * UNIT)
        area = WGS84_A**2 / 2 * 2 * math.pi * (_q(north) - _q(south))
        out.append(max(1, round(area / COARSEST_M**2)))
    table = np.array(out, dtype=np.int64)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=1)
def _unit_lat_edges() -> np.ndarray:
    """The UNIT_ROWS + 1 lattice latitudes, north to south (read-only)."""
    u = np.arange(UNIT_ROWS + 1, dtype="f8")
    edges = 90.0 - (u * 180.0) / UNIT_ROWS
    edges.flags.writeable = False
    return edges


@lru_cache(maxsize=1)
def _unit_col_width() -> np.ndarray:
    """Per 80 km band: the number of lattice columns (UNIT · n_b) as float, for edge arithmetic."""
    widths = (band_columns() * UNIT).astype("f8")
    widths.flags.writeable = False
    return widths


def _check_k(k: int) -> int:
    if k < 1 or UNIT % k:
        raise ValueError(f"{k} does not divide {UNIT}: not a subdivision of the grid")
    return UNIT // k


def rows_in_world(k: int) -> int:
    """Rows of the world at subdivision k (250 · k)."""
    return BANDS * k


def columns_in_rows(rows: np.ndarray | int, k: int) -> np.ndarray:
    """Columns of the world in each row at subdivision k: n_b · k of the row's 80 km band."""
    return band_columns()[np.asarray(rows, dtype=np.int64) // k] * k


def max_columns(k: int) -> int:
    """The most columns any row has at subdivision k (sparse raster keys)."""
    return int(band_columns().max()) * k


def lat_edges(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(north, south) latitudes of rows at subdivision k."""
    step = _check_k(k)
    u = np.asarray(rows, dtype=np.int64) * step
    return 90.0 - (u * 180.0) / UNIT_ROWS, 90.0 - ((u + step) * 180.0) / UNIT_ROWS


def lon_edges(rows: np.ndarray, cols: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(west, east) longitudes of cells (row, col) at subdivision k."""
    step = _check_k(k)
    rows = np.asarray(rows, dtype=np.int64)
    width = _unit_col_width()[rows // k]
    c = np.asarray(cols, dtype=np.int64) * step
    return -180.0 + (c * 360.0) / width, -180.0 + ((c + step) * 360.0) / width


def unit_rows(lat: np.ndarray) -> np.ndarray:
    """Lattice row (subdivision UNIT) of each latitude: north edge ≥ lat > south edge."""
    lat = np.asarray(lat, dtype="f8")
    edges = _unit_lat_edges()
    u = np.clip(np.floor((90.0 - lat) * (UNIT_ROWS / 180.0)).astype(np.int64), 0, UNIT_ROWS - 1)
    # The arithmetic rounds: step to the row whose edges really bracket the point.
    u -= edges[u] < lat
    u += edges[u + 1] >= lat
    return np.clip(u, 0, UNIT_ROWS - 1)


def unit_cols(lon: np.ndarray, urow: np.ndarray) -> np.ndarray:
    """Lattice column of each longitude in its lattice row: west edge ≤ lon < east edge."""
    lon = np.asarray(lon, dtype="f8")
    width = _unit_col_width()[np.asarray(urow, dtype=np.int64) // UNIT]
    c = np.floor((lon + 180.0) * (width / 360.0)).astype(np.int64)
    c = np.clip(c, 0, width.astype(np.int64) - 1)
    c -= (-180.0 + (c * 360.0) / width) > lon
    c += (-180.0 + ((c + 1) * 360.0) / width) <= lon
    return np.clip(c, 0, width.astype(np.int64) - 1)


def rows_at(lat: np.ndarray, k: int) -> np.ndarray:
    """Rows at subdivision k of latitudes (any k dividing UNIT: cells or raster pixels)."""
    return unit_rows(lat) // _check_k(k)


def indices_k(lon: np.ndarray, lat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) at subdivision k of WGS84 points (validated like ``cell_codes``)."""
    lon, lat = checked_lonlat(lon, lat)
    step = _check_k(k)
    u = unit_rows(lat)
    return u // step, unit_cols(lon, u) // step


def indices(lon, lat, size_m: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the cells of one scale holding WGS84 points, vectorised."""
    return indices_k(lon, lat, subdivisions(size_m))


def bounds_lonlat(rows, cols, size_m: int):
    """Vectorised :attr:`Cell.bounds`: (west, south, east, north) arrays of cells of one scale."""
    k = subdivisions(size_m)
    north, south = lat_edges(rows, k)
    west, east = lon_edges(rows, cols, k)
    return west, south, east, north


def centres_lonlat(rows, cols, size_m: int) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of the centres of cells of one scale: the middle of each lon/lat rectangle."""
    west, south, east, north = bounds_lonlat(rows, cols, size_m)
    return (west + east) / 2.0, (south + north) / 2.0


def _q_array(lat: np.ndarray) -> np.ndarray:
    s = np.sin(np.radians(np.asarray(lat, dtype="f8")))
    return (1 - _E2) * (s / (1 - _E2 * s * s) - np.log((1 - _E * s) / (1 + _E * s)) / (2 * _E))


def areas_km2(rows, size_m: int) -> np.ndarray:
    """True areas (km², WGS84 ellipsoid) of cells of one scale in the given rows (a cell's area
    depends only on its row: the columns of a row are equal)."""
    k = subdivisions(size_m)
    rows = np.asarray(rows, dtype=np.int64)
    north, south = lat_edges(rows, k)
    dlon = 2 * math.pi / columns_in_rows(rows, k)
    return WGS84_A**2 / 2 * dlon * (_q_array(north) - _q_array(south)) / 1e6


def cell_area_km2(cell: Cell) -> float:
    """The true area of one cell on the WGS84 ellipsoid (authalic latitude), km²."""
    return float(areas_km2(np.array([cell.row]), cell.size_m)[0])


def cells_area_km2(codes: Iterable[str]) -> float:
    """The summed true area of the cells named by codes (each counted as often as given)."""
    by_size: dict[int, list[int]] = {}
    for code in codes:
        cell = parse_code(code)
        by_size.setdefault(cell.size_m, []).append(cell.row)
    return float(sum(areas_km2(np.array(rows), size).sum() for size, rows in by_size.items()))


def format_code(size_m: int, row: int, col: int) -> str:
    return f"{SCALE_LABELS[size_m]}-{row:05d}-{col:05d}"


@dataclass(frozen=True, slots=True)
class Cell:
    """One grid cell: scale size in metres, row and column."""

    size_m: int
    row: int
    col: int

    @property
    def code(self) -> str:
        return format_code(self.size_m, self.row, self.col)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees: the cell is this lon/lat rectangle."""
        west, south, east, north = bounds_lonlat([self.row], [self.col], self.size_m)
        return float(west[0]), float(south[0]), float(east[0]), float(north[0])

    @property
    def centroid_lonlat(self) -> tuple[float, float]:
        """The middle of the cell's lon/lat rectangle (what location snapping shows)."""
        lon, lat = centres_lonlat([self.row], [self.col], self.size_m)
        return float(lon[0]), float(lat[0])

    @property
    def area_km2(self) -> float:
        return cell_area_km2(self)

    @property
    def area_m2(self) -> float:
        return self.area_km2 * 1e6

    def parent(self, size_m: int) -> Cell:
        """The cell of a coarser (or equal) scale holding this cell (by its centre: module doc)."""
        if size_m < self.size_m:
            raise ValueError("a parent is coarser than its child")
        if size_m % self.size_m == 0:
            factor = size_m // self.size_m
            return Cell(size_m, self.row // factor, self.col // factor)
        return cell_at(*self.centroid_lonlat, size_m)

    def parents(self) -> dict[int, Cell]:
        """This cell and its parent at every coarser scale, by scale size."""
        return {size: self.parent(size) for size in SCALES_M if size >= self.size_m}

    def polygon_lonlat(self, densify: int = 1) -> list[tuple[float, float]]:
        """The cell's outline in WGS84, counter-clockwise from the south-west corner. The cell is
        a lon/lat rectangle, so each side is straight in lon/lat; ``densify`` > 1 adds points
        along the sides (for clients that draw geodesics between vertices)."""
        west, south, east, north = self.bounds
        ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
        out: list[tuple[float, float]] = []
        for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
            for i in range(max(densify, 1)):
                t = i / max(densify, 1)
                out.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
        out.append(ring[0])
        return out

    def geometry(self):  # -> django.contrib.gis.geos.Polygon
        """The cell as a GEOS polygon in WGS84 (SRID 4326)."""
        from django.contrib.gis.geos import Polygon

        return Polygon(self.polygon_lonlat(), srid=4326)


def centroids_lonlat(cells: list[Cell]) -> list[tuple[float, float]]:
    """``Cell.centroid_lonlat`` of many cells, vectorised per scale."""
    out: list[tuple[float, float] | None] = [None] * len(cells)
    by_size: dict[int, list[int]] = {}
    for i, cell in enumerate(cells):
        by_size.setdefault(cell.size_m, []).append(i)
    for size, idx in by_size.items():
        lon, lat = centres_lonlat([cells[i].row for i in idx], [cells[i].col for i in idx], size)
        for i, x, y in zip(idx, lon.tolist(), lat.tolist(), strict=True):
            out[i] = (x, y)
    return out  # type: ignore[return-value]


def checked_lonlat(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Validated WGS84 arrays; 180° is the same meridian as −180° and gets the same cell."""
    lon = np.asarray(lon, dtype="f8")
    lat = np.asarray(lat, dtype="f8")
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"({lon.flat[i]}, {lat.flat[i]}) is not a WGS84 longitude/latitude")
    return np.where(lon == 180.0, -180.0, lon), lat


def parse_code(code: str) -> Cell:
    """The cell a code names; raises InvalidCellCode for anything else."""
    match = _CODE_RE.match(code.strip().upper()) if isinstance(code, str) else None
    if not match:
        raise InvalidCellCode(f"{code!r} is not a cell code (expected e.g. 20K-00105-01233)")
    size = LABEL_SCALES[match.group(1)]
    row, col = int(match.group(2)), int(match.group(3))
    k = subdivisions(size)
    if row >= rows_in_world(k) or col >= int(columns_in_rows(row, k)):
        raise InvalidCellCode(f"{code!r} lies outside the grid")
    return Cell(size, row, col)


def cell_at(lon: float, lat: float, size_m: int) -> Cell:
    """The cell of one scale holding a WGS84 point."""
    row, col = indices([lon], [lat], size_m)
    return Cell(size_m, int(row[0]), int(col[0]))


@lru_cache(maxsize=1)
def _five_digits() -> np.ndarray:
    """``"00000"`` … ``"99999"`` as a ``<U5`` array indexed by the number (2 MB, built once)."""
    numbers = np.arange(100_000)[:, None]
    digits = numbers // 10 ** np.arange(4, -1, -1) % 10 + ord("0")
    return np.ascontiguousarray(digits, dtype=np.uint32).view("<U5").ravel()


def format_codes(size_m: int, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Vectorised :func:`format_code`: an object array (row's shape) of Python str codes.

    Each code is assembled in a fixed-width record (label, 5-digit row from a lookup table, dash,
    5-digit column), the records are read as one ``<U`` string each and turned into str objects in
    one pass. Any row or column outside 0…99,999 (none on this grid: rows stop at 39,999 and
    columns at 80,159) is formatted one by one, with format_code's sign and width.
    """
    row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
    flat_row, flat_col = row.ravel(), col.ravel()
    label = SCALE_LABELS[size_m] + "-"
    record = np.dtype(
        [("label", f"<U{len(label)}"), ("row", "<U5"), ("dash", "<U1"), ("col", "<U5")]
    )
    odd = (flat_row < 0) | (flat_row > 99_999) | (flat_col < 0) | (flat_col > 99_999)
    any_odd = bool(odd.any())
    digits = _five_digits()
    codes = np.empty(flat_row.shape, dtype=record)
    codes["label"] = label
    codes["dash"] = "-"
    codes["row"] = digits[np.where(odd, 0, flat_row) if any_odd else flat_row]
    codes["col"] = digits[np.where(odd, 0, flat_col) if any_odd else flat_col]
    out = codes.view(f"<U{record.itemsize // 4}").astype(object)
    if any_odd:
        for i in np.flatnonzero(odd).tolist():
            out[i] = format_code(size_m, int(flat_row[i]), int(flat_col[i]))
    return out.reshape(row.shape)


def cell_codes(
    lon: Iterable[float] | np.ndarray, lat: Iterable[float] | np.ndarray
) -> dict[int, np.ndarray]:
    """Cell codes of WGS84 points at all 8 scales, vectorised: {size_m: array of codes}.

    Each array has the shape of the input and holds Python str (a 0-d input gives a str).
    The point's lattice row and column are found once; every scale's row and column is their
    floor division by the scale's lattice step (the scales share the lattice's edges, so this is
    exactly the cell holding the point).
    """
    lon, lat = checked_lonlat(lon, lat)
    urow = unit_rows(lat)
    ucol = unit_cols(lon, urow)
    out: dict[int, np.ndarray] = {}
    for size in SCALES_M:
        step = UNIT // subdivisions(size)
        codes = format_codes(size, urow // step, ucol // step)
        out[size] = codes[()] if codes.ndim == 0 else codes
    return out


def nested_order(codes: dict[int, np.ndarray]) -> np.ndarray:
    """Indices that order points cell by cell: by 80 km cell, within it by 40 km cell, and so on
    down to 500 m (``codes`` as from ``cell_codes``). Ingest numbers samples in this order, so the
    samples of one cell hold a run of ids (a few runs where sizes do not nest, 10 → 4 km)."""
    keys = [np.asarray(codes[size], dtype=str) for size in sorted(codes)]  # finest first
    return np.lexsort(keys)


def snap_to_cell_centre(lon: float, lat: float, size_m: int) -> tuple[float, float]:
    """A point moved to the centre of its cell at one scale (public location precision)."""
    return cell_at(lon, lat, size_m).centroid_lonlat


def cell_field_name(size_m: int) -> str:
    """Name of the Sample column holding the cell code at a scale (``cell_20k``, ``cell_500m``)."""
    return "cell_" + SCALE_LABELS[size_m].lower()


def cell_aligned_boxes(
    bbox: tuple[float, float, float, float], size_m: int
) -> list[tuple[float, float, float, float]]:
    """The cells of one scale a WGS84 bbox touches, as few lon/lat boxes (W, S, E, N): one per run
    of 80 km bands whose touched cells share their west and east edges (columns differ between
    bands, so the touched cells form a staircase, not one rectangle). A point lies in one of the
    boxes exactly when its cell touches the bbox (up to points on the boxes' outer edges)."""
    west, south, east, north = (float(v) for v in bbox)
    west, east = (min(max(v, -180.0), 180.0) for v in (west, east))
    south, north = (min(max(v, -90.0), 90.0) for v in (south, north))
    k = subdivisions(size_m)
    step = UNIT // k
    # Rows and columns touched: from the one holding the north-west corner to the one holding
    # the south-east corner, less a row or column the box only reaches along its edge (a box
    # ending exactly on a cell edge does not touch the next cell).
    r0 = int(unit_rows([north])[0]) // step
    r1 = int(unit_rows([south])[0]) // step
    if r1 > r0 and float(lat_edges(np.array([r1]), k)[0][0]) == south:
        r1 -= 1
    boxes: list[tuple[float, float, float, float]] = []
    for b in range(r0 // k, r1 // k + 1):
        first, last = max(r0, b * k), min(r1, b * k + k - 1)
        urow = np.array([first * step])
        c0 = int(unit_cols([west], urow)[0]) // step
        c1 = int(unit_cols([east], urow)[0]) // step
        if c1 > c0 and float(lon_edges(np.array([first]), np.array([c1]), k)[0][0]) == east:
            c1 -= 1
        bw, _ = lon_edges(np.array([first]), np.array([c0]), k)
        _, be = lon_edges(np.array([first]), np.array([c1]), k)
        bn, _ = lat_edges(np.array([first]), k)
        _, bs = lat_edges(np.array([last]), k)
        box = (float(bw[0]), float(bs[0]), float(be[0]), float(bn[0]))
        if boxes and boxes[-1][0] == box[0] and boxes[-1][2] == box[2]:
            boxes[-1] = (box[0], box[1], box[2], boxes[-1][3])
        else:
            boxes.append(box)
    return boxes


def cell_aligned_bbox(
    bbox: tuple[float, float, float, float], size_m: int
) -> tuple[float, float, float, float]:
    """A WGS84 bbox grown to the edges of the cells of one scale it touches (the extent of
    :func:`cell_aligned_boxes`)."""
    boxes = cell_aligned_boxes(bbox, size_m)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
