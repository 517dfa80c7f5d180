"""Cutting XYZ map tiles (256 px paletted PNG, Web Mercator) from a layer rendered by maps.render.

A rendered layer directory holds ``meta.json`` plus the arrays one of three *kinds* of source needs:

``grid`` (styles ``cells`` and ``surface``)
    A uint8 raster on the portal grid's rows (latitude bands of 0.72°/k, ``k`` subdivisions of
    an 80 km cell) and, per row, columns: the grid's own columns of that row for ``cells`` (the
    pixels are the cells themselves; the number of columns changes from one 80 km band to the
    next), or ``columns`` equal longitude steps for ``surface`` (4× finer than the scale). Value
    = class index + 1, 0 = no data. ``grid.npy`` is the dense raster over the data's rows and
    columns; when that would be too large (fine scales over a large area) ``keys.npy`` +
    ``classes.npy`` hold only the occupied pixels, sorted by ``row * world_columns + col``.
``points``
    ``u.npy``/``v.npy``/``classes.npy``: normalised Web Mercator positions (0..1 from the
    north-west corner of the world), sorted by ``u``.

Why grid rows and columns and not a Web Mercator array: the grid's cells are longitude/latitude
rectangles and Web Mercator is cylindrical, so a tile's pixel rows map to grid rows through
latitude only, and within one 80 km band (one column count) its pixel columns map to grid columns
through longitude only. A tile is then a 256-long row vector, one 256-long column vector per 80 km
band it crosses (one or two at the zooms cells are drawn at) and one gather from the raster:
every pixel gets exactly the class of the cell holding its centre, by the grid's own point →
cell arithmetic, at every zoom. Cell edges therefore fall on pixel edges to within half a pixel
at any zoom — exactly where the edge crosses the row of pixel centres. That is what rio-tiler's
nearest-neighbour read of ``layer.tif`` gives at the COG's own zoom (a test checks it tile by
tile), and it stays exact beyond the COG's resolution, where a COG read would resample stored
mercator pixels and blur cell edges by up to a pixel of the COG. It needs no reprojection library
per tile and costs well under a millisecond.

Tiles use the XYZ scheme (y counts from the north). ``TileSource.tile_png`` returns None for a
tile without data; the caller answers :data:`EMPTY_TILE`.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from baselines import grid

TILE_SIZE = 256
MAX_ZOOM = 24  # beyond this XYZ indices overflow what any client asks for
MERCATOR_MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511…°
POINT_RADIUS_PX = 3  # a point is a disk of 37 pixels, 7 px across, at every zoom
META_NAME = "meta.json"


def _png(index: np.ndarray, palette: bytes) -> bytes:
    """A paletted PNG of a uint8 index array; index 0 is fully transparent."""
    img = Image.frombytes("P", (index.shape[1], index.shape[0]), np.ascontiguousarray(index))
    img.putpalette(palette)
    buf = io.BytesIO()
    # Level 1: tiles are mostly flat areas that compress well at any level; level 6 costs ~2x time.
    img.save(buf, "PNG", transparency=0, compress_level=1)
    return buf.getvalue()


EMPTY_TILE: bytes = _png(np.zeros((TILE_SIZE, TILE_SIZE), np.uint8), bytes(3))


def palette_bytes(colours: list[str]) -> bytes:
    """Pillow palette: index 0 (no data, transparent) then one ``#rrggbb`` colour per class."""
    out = bytearray(3)
    for colour in colours:
        c = colour.lstrip("#")
        if len(c) != 6:
            raise ValueError(f"{colour!r} is not a #rrggbb colour")
        out += bytes.fromhex(c)
    return bytes(out)


# --- Web Mercator --------------------------------------------------------------------------------


def lonlat_to_world(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised Web Mercator (u east, v south, both 0..1 over the world) of WGS84 points.

    Latitudes beyond ±85.0511° are clamped to the mercator square's edge.
    """
    lon = np.asarray(lon, dtype="f8")
    lat = np.clip(np.asarray(lat, dtype="f8"), -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT)
    u = (lon + 180.0) / 360.0
    v = 0.5 - np.arcsinh(np.tan(np.radians(lat))) / (2 * math.pi)
    return u, np.clip(v, 0.0, 1.0)


def world_to_lonlat(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(u, dtype="f8") * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(math.pi * (1.0 - 2.0 * np.asarray(v, dtype="f8")))))
    return lon, lat


def pixel_centres(z: int, px0: int, py0: int, width: int, height: int):
    """Longitudes of the pixel columns and latitudes of the pixel rows of a window of the zoom-z
    world image whose top-left pixel is (px0, py0)."""
    world = TILE_SIZE * 2**z
    u = (px0 + np.arange(width) + 0.5) / world
    v = (py0 + np.arange(height) + 0.5) / world
    lon, _ = world_to_lonlat(u, np.zeros(1))
    _, lat = world_to_lonlat(np.zeros(1), v)
    return lon, lat


def tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[int, int, int, int]:
    """(xmin, ymin, xmax, ymax), inclusive, of the zoom-z tiles touching a lon/lat box."""
    west, south, east, north = bounds
    u, v = lonlat_to_world(np.array([west, east]), np.array([north, south]))
    n = 2**z
    # A box ending exactly on a tile edge does not touch the next tile.
    x0, y0 = int(u[0] * n), int(v[0] * n)
    x1, y1 = math.ceil(u[1] * n) - 1, math.ceil(v[1] * n) - 1
    clamp = lambda i: min(max(i, 0), n - 1)  # noqa: E731
    return clamp(x0), clamp(y0), clamp(max(x1, x0)), clamp(max(y1, y0))


# --- sources -------------------------------------------------------------------------------------


def uniform_columns(lon: np.ndarray, columns: int) -> np.ndarray:
    """Columns of longitudes in a raster of ``columns`` equal steps from 180° W (west edge ≤ lon
    < east edge, as the grid's own columns)."""
    lon = np.asarray(lon, dtype="f8")
    c = np.clip(np.floor((lon + 180.0) * (columns / 360.0)).astype(np.int64), 0, columns - 1)
    c -= (-180.0 + (c * 360.0) / columns) > lon
    c += (-180.0 + ((c + 1) * 360.0) / columns) <= lon
    return np.clip(c, 0, columns - 1)


def world_columns(k: int, columns: int | None) -> int:
    """Columns of the widest row of a raster layout (the stride of sparse keys)."""
    return grid.max_columns(k) if columns is None else columns


class GridLookup:
    """Class raster on grid rows (dense or sparse), read through lon/lat vectors.

    ``columns`` None: the grid's own columns at ``k`` (cells); else that many equal longitude
    steps per row (surfaces)."""

    def __init__(
        self,
        k: int,
        columns: int | None,
        row0: int,
        col0: int,
        nrows: int,
        ncols: int,
        dense: np.ndarray | None = None,
        keys: np.ndarray | None = None,
        classes: np.ndarray | None = None,
    ):
        self.k, self.columns, self.row0, self.col0 = k, columns, row0, col0
        self.nrows, self.ncols = nrows, ncols
        self.dense, self.keys, self.classes = dense, keys, classes
        self.world_cols = world_columns(k, columns)

    def _cols(self, lon: np.ndarray, urows: np.ndarray) -> np.ndarray:
        """Raster columns (global) of every (row, lon) pair: one vector per 80 km band."""
        if self.columns is not None:
            return np.broadcast_to(uniform_columns(lon, self.columns), (urows.size, lon.size))
        step = grid.UNIT // self.k
        bands, which = np.unique(urows // grid.UNIT, return_inverse=True)
        table = np.stack([grid.unit_cols(lon, np.full(lon.size, b * grid.UNIT)) for b in bands])
        return table[which.ravel()] // step

    def window(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
        """Class+1 at every (lat row, lon column) pair; None when nothing there has data."""
        urows = grid.unit_rows(lat)
        r = urows // (grid.UNIT // self.k) - self.row0
        # Rows grow southwards as the pixel rows do: the in-range part is one slice.
        ra, rb = np.searchsorted(r, [0, self.nrows])
        if ra >= rb:
            return None
        c = self._cols(lon, urows[ra:rb]) - self.col0
        r = r[ra:rb]
        inside = (c >= 0) & (c < self.ncols)
        if not inside.any():
            return None
        out = np.zeros((lat.size, lon.size), np.uint8)
        if self.dense is not None:
            # One flat gather: 2-3x faster than dense[np.ix_(r, c)], whatever the raster's width.
            flat = np.asarray(self.dense).reshape(-1)
            found = flat.take(np.where(inside, r[:, None] * self.ncols + c, 0))
            out[ra:rb] = np.where(inside, found, 0)
        else:
            q = (r[:, None] + self.row0) * self.world_cols + (c + self.col0)
            # Keys are sorted row-major and q grows along both axes: its corners bound the slice.
            lo = int(np.searchsorted(self.keys, q[0, 0], side="left"))
            hi = int(np.searchsorted(self.keys, q[-1, -1], side="right"))
            if lo >= hi:
                return None
            sub = np.asarray(self.keys[lo:hi])
            idx = np.minimum(np.searchsorted(sub, q), sub.size - 1)
            hit = (sub[idx] == q) & inside
            out[ra:rb] = np.where(hit, np.asarray(self.classes[lo:hi])[idx], 0)
        return out if out.any() else None


def disk_offsets(radius: int) -> list[tuple[int, int]]:
    return [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if dy * dy + dx * dx <= radius * radius + radius // 3 + 1
    ]


class PointLookup:
    """Points drawn as small disks; where disks overlap, the higher class is drawn on top (atlas
    convention: anomalies stay visible).

    ``canvases`` maps a zoom to (px0, py0, array): the class+1 of the pixel holding each point
    over the data's bounds at that zoom, precomputed for low zooms, where one tile would
    otherwise gather hundreds of thousands of points (25 ms a tile at z3 for 10^6 points).
    """

    def __init__(self, u, v, classes, radius: int, canvases: dict | None = None):
        self.u, self.v, self.classes, self.radius = u, v, classes, radius
        self.canvases = canvases or {}
        self.offsets = disk_offsets(radius)

    def dots(self, z: int, px0: int, py0: int, width: int, height: int) -> np.ndarray | None:
        """Class+1 at the pixel holding each point in a window (higher class wins), else 0."""
        if z in self.canvases:
            cx0, cy0, arr = self.canvases[z]
            a0, a1 = max(px0, cx0), min(px0 + width, cx0 + arr.shape[1])
            b0, b1 = max(py0, cy0), min(py0 + height, cy0 + arr.shape[0])
            if a0 >= a1 or b0 >= b1:
                return None
            out = np.zeros((height, width), np.uint8)
            out[b0 - py0 : b1 - py0, a0 - px0 : a1 - px0] = arr[
                b0 - cy0 : b1 - cy0, a0 - cx0 : a1 - cx0
            ]
            return out
        world = TILE_SIZE * 2**z
        lo, hi = np.searchsorted(self.u, [px0 / world, (px0 + width) / world])
        if lo >= hi:
            return None
        pu = np.floor(np.asarray(self.u[lo:hi]) * world).astype(np.int64) - px0
        pv = np.floor(np.asarray(self.v[lo:hi]) * world).astype(np.int64) - py0
        keep = (pv >= 0) & (pv < height) & (pu >= 0) & (pu < width)
        if not keep.any():
            return None
        pu, pv, cls = pu[keep], pv[keep], np.asarray(self.classes[lo:hi])[keep]
        out = np.zeros((height, width), np.uint8)
        # Class by class, lowest first, so a higher class overwrites a lower one at the same pixel
        # (numpy leaves the winner among repeated indices in one assignment unspecified).
        for k in np.unique(cls):
            sel = cls == k
            out[pv[sel], pu[sel]] = k
        return out

    def window(self, z: int, px0: int, py0: int, width: int, height: int) -> np.ndarray | None:
        r = self.radius
        canvas = self.dots(z, px0 - r, py0 - r, width + 2 * r, height + 2 * r)
        if canvas is None:
            return None
        out = np.zeros((height, width), np.uint8)
        for dy, dx in self.offsets:
            np.maximum(out, canvas[r + dy : r + dy + height, r + dx : r + dx + width], out=out)
        return out if out.any() else None


class TileSource:
    """Tiles of one rendered layer. Open with :meth:`open` (cached per directory)."""

    def __init__(self, directory: Path, meta: dict):
        self.directory = Path(directory)
        self.meta = meta
        self.kind: str = meta["kind"]
        self.native_zoom: int = meta["native_zoom"]
        self.minzoom: int = meta["minzoom"]
        self.maxzoom: int = meta["maxzoom"]
        self.bounds: tuple[float, float, float, float] = tuple(meta["bounds"])
        self.palette = bytes.fromhex(meta["palette"])
        load = lambda name: np.load(self.directory / name, mmap_mode="r")  # noqa: E731
        if self.kind == "points":
            canvases = {
                int(z): (px0, py0, load(f"dots-{z}.npy"))
                for z, (px0, py0) in meta.get("dots", {}).items()
            }
            self._points = PointLookup(
                load("u.npy"), load("v.npy"), load("classes.npy"), meta["point_radius_px"], canvases
            )
        else:
            g = meta["grid"]
            dense = load("grid.npy") if g["dense"] else None
            keys = None if g["dense"] else load("keys.npy")
            classes = None if g["dense"] else load("classes.npy")
            self._grid = GridLookup(
                g["k"], g["columns"], g["row0"], g["col0"], g["nrows"], g["ncols"],
                dense, keys, classes,
            )  # fmt: skip

    @classmethod
    def open(cls, directory: Path | str) -> TileSource:
        return _open_cached(str(directory))

    def window(self, z: int, px0: int, py0: int, width: int, height: int) -> np.ndarray | None:
        """Class+1 indices of a window of the zoom-z world image (None when all empty)."""
        if self.kind == "points":
            return self._points.window(z, px0, py0, width, height)
        lon, lat = pixel_centres(z, px0, py0, width, height)
        return self._grid.window(lon, lat)

    def tile_array(self, z: int, x: int, y: int) -> np.ndarray | None:
        if not (0 <= z <= self.maxzoom):
            raise ValueError(f"zoom {z} outside 0..{self.maxzoom}")
        n = 2**z
        if not (0 <= x < n and 0 <= y < n):
            raise ValueError(f"tile {z}/{x}/{y} outside the zoom-{z} tile range 0..{n - 1}")
        return self.window(z, x * TILE_SIZE, y * TILE_SIZE, TILE_SIZE, TILE_SIZE)

    def tile_png(self, z: int, x: int, y: int) -> bytes | None:
        """The XYZ tile as a paletted PNG, or None if it holds no data (answer EMPTY_TILE)."""
        index = self.tile_array(z, x, y)
        return None if index is None else _png(index, self.palette)


@lru_cache(maxsize=32)
def _open_cached(directory: str) -> TileSource:
    # A rendered directory never changes (a layer's identity includes its data and policy
    # versions), so caching by path is safe; meta.json is written last, so its presence means the
    # arrays are complete.
    path = Path(directory)
    meta = json.loads((path / META_NAME).read_text())
    return TileSource(path, meta)


def seed(
    directory: Path,
    max_zoom: int,
    write: Callable[[int, int, int, bytes], None],
    progress: Callable[[float, str], None] | None = None,
) -> int:
    """Call ``write(z, x, y, png)`` for every non-empty tile of zooms 0..max_zoom; return the count.

    Only tiles touching the layer's bounds are cut; empty ones are skipped (serve EMPTY_TILE).
    """
    src = TileSource.open(directory)
    max_zoom = min(max_zoom, src.maxzoom)
    ranges = [tile_range(src.bounds, z) for z in range(max_zoom + 1)]
    total = sum((x1 - x0 + 1) * (y1 - y0 + 1) for x0, y0, x1, y1 in ranges) or 1
    done = count = 0
    for z, (x0, y0, x1, y1) in enumerate(ranges):
        for ty in range(y0, y1 + 1):
            for tx in range(x0, x1 + 1):
                png = src.tile_png(z, tx, ty)
                if png is not None:
                    write(z, tx, ty, png)
                    count += 1
            done += x1 - x0 + 1
        if progress:
            progress(done / total, f"seeded zoom {z}: {count} tiles so far")
    return count
