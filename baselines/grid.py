"""The 8 nested sampling-grid scales: cell codes, cell polygons and parent cells.

Cells are squares in EPSG:6933 (EASE-Grid 2.0 Global, a cylindrical equal-area projection), all
sharing one origin, so a cell's area on the ellipsoid is exactly its size squared and every point on
Earth lies in exactly one cell of each scale.

A cell code reads ``<scale>-<row>-<col>``, e.g. ``20K-00412-01733`` or ``500M-16480-40211``:
rows count down from the northern edge of the grid, columns east from its western edge, both from 0.
Codes sort by scale, then row, then column.

Parents: every size divides 80 km, and a cell nests in exactly one cell of each coarser scale whose
size is a multiple of its own. The one pair that does not divide is 4 km in 10 km: a 4 km cell
whose row or column is 2 mod 5 straddles a 10 km line (up to four 10 km cells); its parent there is
defined as the coarser cell holding the child's centre. A sample's own code at each scale is
always computed from its point, never from a parent, so it is exact at every scale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np
from pyproj import Transformer

GRID_SRID = 6933
# Sizes in metres, coarse to fine. Integer metres keep every computation exact.
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

# The grid's origin is the north-west corner of the EPSG:6933 world (x ±17,367,530 m at ±180°,
# y ±7,342,230 m at the poles), pushed outwards to a multiple of 80 km so every scale shares it.
# Edge cells therefore reach past the antimeridian and the poles; their outlines and centres are
# clipped to the projection's domain (see _clip).
ORIGIN_X = -17_440_000
ORIGIN_Y = 7_360_000
EXTENT_X = 2 * -ORIGIN_X
EXTENT_Y = 2 * ORIGIN_Y

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


def cell_area_km2(size_m: int) -> float:
    """The area of one cell of a scale (cells are equal-area squares in EPSG:6933)."""
    return (size_m / 1000) ** 2


def coarser_containing(size_m: int) -> tuple[int, ...]:
    """The coarser scales whose cells each contain whole cells of ``size_m``, coarse to fine
    (one origin for every scale: a cell nests in every scale its size divides; 4 km cells do
    not nest in 10 km ones)."""
    return tuple(c for c in SCALES_M if c > size_m and c % size_m == 0)


@lru_cache(maxsize=1)
def _to_grid() -> Transformer:
    return Transformer.from_crs(4326, GRID_SRID, always_xy=True)


@lru_cache(maxsize=1)
def _to_wgs84() -> Transformer:
    return Transformer.from_crs(GRID_SRID, 4326, always_xy=True)


def project(lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude/latitude to grid metres (EPSG:6933)."""
    x, y = _to_grid().transform(np.asarray(lon, dtype="f8"), np.asarray(lat, dtype="f8"))
    return np.asarray(x), np.asarray(y)


def unproject(x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Grid metres (EPSG:6933) to WGS84 longitude/latitude."""
    lon, lat = _to_wgs84().transform(np.asarray(x, dtype="f8"), np.asarray(y, dtype="f8"))
    return np.asarray(lon), np.asarray(lat)


def indices_xy(x: np.ndarray, y: np.ndarray, size_m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the cells holding grid points (x, y) at one scale.

    A point on a cell edge belongs to the cell east of it and south of it (half-open cells), so no
    point is in two cells.
    """
    x, y = np.asarray(x, dtype="f8"), np.asarray(y, dtype="f8")
    col = np.floor((x - ORIGIN_X) / size_m).astype(np.int64)
    row = np.floor((ORIGIN_Y - y) / size_m).astype(np.int64)
    # The division rounds: a point one ulp west of (or north of) an edge can land one cell too far.
    col -= (ORIGIN_X + col * size_m) > x
    col += (ORIGIN_X + (col + 1) * size_m) <= x
    row -= (ORIGIN_Y - row * size_m) < y
    row += (ORIGIN_Y - (row + 1) * size_m) >= y
    return row, col


def centres_xy(row: np.ndarray, col: np.ndarray, size_m: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid metres (EPSG:6933) of the centres of cells given by row and column at one scale."""
    row, col = np.asarray(row, dtype="f8"), np.asarray(col, dtype="f8")
    return ORIGIN_X + (col + 0.5) * size_m, ORIGIN_Y - (row + 0.5) * size_m


def bounds_xy(
    row: np.ndarray, col: np.ndarray, size_m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :attr:`Cell.bounds`: (xmin, ymin, xmax, ymax) arrays in grid metres of the cells
    (row, col) of one size; any size whose multiples share the grid origin works (map rasters)."""
    row, col = np.asarray(row, dtype="f8"), np.asarray(col, dtype="f8")
    xmin = ORIGIN_X + col * size_m
    ymax = ORIGIN_Y - row * size_m
    return xmin, ymax - size_m, xmin + size_m, ymax


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
    def bounds(self) -> tuple[int, int, int, int]:
        """(xmin, ymin, xmax, ymax) in grid metres."""
        xmin = ORIGIN_X + self.col * self.size_m
        ymax = ORIGIN_Y - self.row * self.size_m
        return xmin, ymax - self.size_m, xmin + self.size_m, ymax

    @property
    def centre_xy(self) -> tuple[float, float]:
        xmin, ymin, xmax, ymax = self.bounds
        return (xmin + xmax) / 2, (ymin + ymax) / 2

    @property
    def centroid_lonlat(self) -> tuple[float, float]:
        """Centre of the cell's part on Earth (edge cells reach past ±180° and the poles)."""
        xmin, ymin, xmax, ymax = _clip(self.bounds)
        lon, lat = _unproject_edges(np.array([(xmin + xmax) / 2]), np.array([(ymin + ymax) / 2]))
        return float(lon[0]), float(lat[0])

    @property
    def area_m2(self) -> int:
        return self.size_m * self.size_m

    def parent(self, size_m: int) -> Cell:
        """The cell of a coarser (or equal) scale holding this cell (by its centre: module doc)."""
        if size_m < self.size_m:
            raise ValueError("a parent is coarser than its child")
        if size_m % self.size_m == 0:
            factor = size_m // self.size_m
            return Cell(size_m, self.row // factor, self.col // factor)
        x, y = self.centre_xy
        row, col = indices_xy(np.array([x]), np.array([y]), size_m)
        return Cell(size_m, int(row[0]), int(col[0]))

    def parents(self) -> dict[int, Cell]:
        """This cell and its parent at every coarser scale, by scale size."""
        return {size: self.parent(size) for size in SCALES_M if size >= self.size_m}

    def polygon_xy(self) -> list[tuple[float, float]]:
        xmin, ymin, xmax, ymax = self.bounds
        return [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin)]

    def polygon_lonlat(self, densify: int = 8) -> list[tuple[float, float]]:
        """The cell's outline in WGS84 (clipped at ±180° and the poles), edges densified."""
        xmin, ymin, xmax, ymax = _clip(self.bounds)
        ring = [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin)]
        xs: list[float] = []
        ys: list[float] = []
        for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
            for i in range(densify):
                t = i / densify
                xs.append(x0 + (x1 - x0) * t)
                ys.append(y0 + (y1 - y0) * t)
        xs.append(ring[0][0])
        ys.append(ring[0][1])
        lon, lat = _unproject_edges(np.array(xs), np.array(ys))
        return list(zip(lon.tolist(), lat.tolist(), strict=True))

    def geometry(self):  # -> django.contrib.gis.geos.Polygon
        """The cell as a GEOS polygon in WGS84 (SRID 4326)."""
        from django.contrib.gis.geos import Polygon

        return Polygon(self.polygon_lonlat(), srid=4326)


@lru_cache(maxsize=1)
def domain_xy() -> tuple[float, float]:
    """(x at 180°, y at 90°): the half-widths of the EPSG:6933 world."""
    x, y = project(np.array([180.0]), np.array([90.0]))
    return float(x[0]), float(y[0])


def centroids_lonlat(cells: list[Cell]) -> list[tuple[float, float]]:
    """``Cell.centroid_lonlat`` of many cells in one transform (one PROJ call per cell cost
    ~0.3 ms, most of a 1,000-feature page whose locations are snapped)."""
    if not cells:
        return []
    bounds = np.array([_clip(cell.bounds) for cell in cells], dtype="f8")
    lon, lat = _unproject_edges(
        (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    )
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _clip(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x_edge, y_edge = domain_xy()
    xmin, ymin, xmax, ymax = bounds
    return max(xmin, -x_edge), max(ymin, -y_edge), min(xmax, x_edge), min(ymax, y_edge)


def _unproject_edges(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """unproject, with points on the domain's edge put exactly on ±180° and the poles (PROJ's
    inverse is ~2 mm off there, which would leave a pole outside its own cell)."""
    x_edge, y_edge = domain_xy()
    lon, lat = unproject(x, y)
    lon = np.where(x >= x_edge, 180.0, np.where(x <= -x_edge, -180.0, lon))
    lat = np.where(y >= y_edge, 90.0, np.where(y <= -y_edge, -90.0, lat))
    return lon, lat


def _checked_lonlat(lon, lat) -> tuple[np.ndarray, np.ndarray]:
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
        raise InvalidCellCode(f"{code!r} is not a cell code (expected e.g. 20K-00412-01733)")
    size = LABEL_SCALES[match.group(1)]
    row, col = int(match.group(2)), int(match.group(3))
    if row >= EXTENT_Y // size or col >= EXTENT_X // size:
        raise InvalidCellCode(f"{code!r} lies outside the grid")
    return Cell(size, row, col)


def cell_at(lon: float, lat: float, size_m: int) -> Cell:
    """The cell of one scale holding a WGS84 point."""
    x, y = project(*_checked_lonlat([lon], [lat]))
    row, col = indices_xy(x, y, size_m)
    return Cell(size_m, int(row[0]), int(col[0]))


# Every scale is a multiple of the finest, so a point's row and column at any scale are its finest
# row and column floor-divided by the ratio (indices_xy is an exact floor; the nesting tests check
# cell_at agrees with Cell.parent for every dividing pair).
_FINEST_M = SCALES_M[-1]
assert all(size % _FINEST_M == 0 for size in SCALES_M)


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
    one pass. Any row or column outside 0…99,999 (none on this grid: rows stop at 29,439 and columns
    at 69,759) is formatted one by one, with format_code's sign and width.
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
    """
    x, y = project(*_checked_lonlat(lon, lat))
    finest_row, finest_col = indices_xy(x, y, _FINEST_M)
    out: dict[int, np.ndarray] = {}
    for size in SCALES_M:
        factor = size // _FINEST_M
        codes = format_codes(size, finest_row // factor, finest_col // factor)
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


def cell_aligned_bbox(
    bbox: tuple[float, float, float, float], size_m: int
) -> tuple[float, float, float, float]:
    """A WGS84 bbox grown to the edges of the cells of one scale it touches.

    EPSG:6933 is cylindrical (x depends on longitude only, y on latitude only), so a longitude /
    latitude box is a rectangle in grid metres and the cells it touches form a rectangle too.
    Filtering snapped samples by this box reveals no more than which cells hold samples.
    """
    west, south, east, north = bbox
    x, y = project(np.array([west, east]), np.array([south, north]))
    xmin = ORIGIN_X + math.floor((x[0] - ORIGIN_X) / size_m) * size_m
    xmax = ORIGIN_X + math.ceil((x[1] - ORIGIN_X) / size_m) * size_m
    ymax = ORIGIN_Y - math.floor((ORIGIN_Y - y[1]) / size_m) * size_m
    ymin = ORIGIN_Y - math.ceil((ORIGIN_Y - y[0]) / size_m) * size_m
    # The padded grid reaches past the projection's domain (±180°, ±90°): clamp to it.
    x_edge, y_edge = domain_xy()
    lon, lat = unproject(
        np.array([max(xmin, -x_edge), min(xmax, x_edge)]),
        np.array([max(ymin, -y_edge), min(ymax, y_edge)]),
    )
    return (
        max(float(lon[0]), -180.0),
        max(float(lat[0]), -90.0),
        min(float(lon[1]), 180.0),
        min(float(lat[1]), 90.0),
    )
