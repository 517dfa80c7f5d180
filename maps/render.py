"""Rendering a map layer once, from classified values to files tiles are cut from (issue #4).

Pure numpy/scipy/rasterio: no database, no Django models. :func:`render_layer` takes the values of
one layer (cell medians or samples, already limited to what the viewer may see) with the legend's
breaks and colours, and writes into a fresh directory:

``grid.npy`` (or ``keys.npy`` + ``classes.npy``), or ``u.npy``/``v.npy``/``classes.npy``
    What :class:`maps.tiling.TileSource` cuts tiles from (see that module for why tiles are cut
    from a raster of grid rows and columns rather than from a Web Mercator array: it is exact at
    every zoom).
``layer.tif``
    A Cloud-Optimised GeoTIFF (EPSG:3857, uint8 class index + 1, 0 = no data, colour palette,
    256 px internal tiles, nearest-neighbour overviews) for download, GIS clients and arbitrary
    reads with rio-tiler. Its pixels are cut by the same code as the tiles, at the layer's native
    zoom or, for large extents, the highest zoom whose image stays under :data:`COG_MAX_PIXELS`.
``meta.json``
    Written last: its presence means the layer is complete.

Every file is written under a temporary name in the same directory and renamed, so a reader never
sees half a file. Styles:

``cells``
    Each grid cell a solid lon/lat rectangle in the colour of its value's class: the raster's
    pixels are the cells themselves (row, column within the row's band).
``surface``
    Inverse-distance weighting (power 2, the k = 8 nearest points within the mask distance) of
    log10(values) onto lon/lat pixels a quarter of the scale tall (grid rows of 4k subdivisions)
    and as wide on the ground at the data's middle latitude (equal longitude steps), masked beyond
    ``surface_mask_m`` true metres from the nearest input point, classified against log10(breaks).
    Distances are chords on a sphere of the Earth's mean radius (3-D coordinates in a k-d tree):
    true at every latitude and across the antimeridian.
``points``
    A small disk per sample (7 px across at every zoom), drawn per tile from the stored positions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from baselines import grid

from .classification import classify
from .styles import STYLES
from .tiling import (
    MERCATOR_MAX_LAT,
    META_NAME,
    POINT_RADIUS_PX,
    TILE_SIZE,
    PointLookup,
    TileSource,
    lonlat_to_world,
    palette_bytes,
    uniform_columns,
    world_columns,
)

MAX_ZOOM = 18  # OSM-style basemaps end here
MIN_CELL_PX = 8  # a cell is at least this wide at the native zoom
OVERZOOM = 3  # zooms past native worth requesting for cells and surfaces
# A dense class raster of up to 256 MiB is memory-mapped; larger ones (fine scales over a large
# area: 500 m cells over the whole world are 2 G cells) keep only occupied cells, sorted.
DENSE_MAX_CELLS = 256 << 20
# Surface rasters: past this many pixels the pixel doubles (a 1 km surface over a continent would
# otherwise be 10^8 IDW estimates, minutes of work); a quarter of the scale wherever it fits.
SURFACE_MAX_PIXELS = 24 << 20
SURFACE_PIXELS_PER_CELL = 4
IDW_K = 8
IDW_POWER = 2.0
EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
# Width and height of the COG image: about 5 s of DEFLATE on one core at the cap.
COG_MAX_PIXELS = 32 << 20
WEB_MERCATOR_HALF = math.pi * 6_378_137.0
COG_NAME = "layer.tif"
# Points: per-zoom canvases of point pixels up to this size (zooms past it gather per tile).
POINT_CANVAS_MAX_PIXELS = 16 << 20


@dataclass(frozen=True)
class RenderInput:
    style: str  # "cells" | "surface" | "points"
    scale_m: int  # grid scale of the layer; for points it sets the native zoom
    lon: np.ndarray  # WGS84: cell centroids (cells/surface) or sample positions (points)
    lat: np.ndarray
    values: np.ndarray  # mg/kg, finite (cell medians or sample values)
    breaks: np.ndarray  # ascending inner class breaks (mg/kg); len(breaks) + 1 classes
    colours: list[str]  # "#rrggbb", one per class
    surface_mask_m: float | None = None  # true metres; default 1.5 × scale_m
    idw_k: int = IDW_K
    idw_power: float = IDW_POWER


@dataclass(frozen=True)
class RenderResult:
    directory: Path
    native_zoom: int  # zoom at which a cell is ≥ MIN_CELL_PX wide
    minzoom: int
    maxzoom: int  # highest zoom worth requesting (tiles are exact at any zoom up to it)
    bounds: tuple[float, float, float, float]  # lon/lat of the data (W, S, E, N)
    n_features: int  # cells, surface pixels with a colour, or points drawn
    cog_path: Path
    cog_zoom: int = 0  # zoom of layer.tif's full resolution (≤ native_zoom)


Progress = Callable[[float, str], None]


def native_zoom(scale_m: int) -> int:
    """Lowest zoom at which every cell of this scale is at least MIN_CELL_PX pixels wide.

    A cell's width in mercator pixels is its width in degrees of longitude; the narrowest cells
    in degrees are those of the rows with the most columns (at the equator). Cells are about as
    tall as wide on the ground, and mercator stretches north-south as much as east-west, so
    their height in pixels is about their width.
    """
    width_deg = 360.0 / grid.max_columns(grid.subdivisions(scale_m))
    z = math.ceil(math.log2(MIN_CELL_PX * 360.0 / (TILE_SIZE * width_deg)))
    return min(max(z, 0), MAX_ZOOM)


def _check(inp: RenderInput) -> None:
    if inp.style not in STYLES:
        raise ValueError(f"style {inp.style!r} is not one of {STYLES}")
    if inp.scale_m not in grid.SCALES_M:
        raise ValueError(f"{inp.scale_m} m is not a grid scale")
    n = len(inp.values)
    if n == 0:
        raise ValueError("nothing to render: no values")
    if len(inp.lon) != n or len(inp.lat) != n:
        raise ValueError("lon, lat and values must have the same length")
    if not np.all(np.isfinite(inp.values)):
        raise ValueError("values must be finite")
    if len(inp.colours) != len(inp.breaks) + 1:
        raise ValueError("one colour per class: len(colours) must be len(breaks) + 1")
    if len(inp.colours) > 255:
        raise ValueError("at most 255 classes fit a uint8 palette")


def _prepare(directory: Path) -> Path:
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_json(path: Path, data: dict) -> None:
    tmp = _tmp(path)
    try:
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- grid rasters (cells, surface) ---------------------------------------------------------------
#
# A grid raster's pixels are rows of the grid at ``k`` subdivisions of an 80 km cell (latitude
# steps of 0.72°/k) and, per row, either the grid's own columns at k (``columns`` None: the
# cells layout, columns differ per 80 km band) or ``columns`` equal longitude steps (surfaces).


def _column_edges(rows: np.ndarray, cols: np.ndarray, k: int, columns: int | None):
    """(west, east) longitudes of raster pixels (row, col)."""
    if columns is None:
        return grid.lon_edges(rows, cols, k)
    cols = np.asarray(cols, dtype="f8")
    return -180.0 + (cols * 360.0) / columns, -180.0 + ((cols + 1) * 360.0) / columns


def _grid_meta(k: int, columns: int | None, rows, cols, dense: bool) -> tuple[dict, tuple]:
    row0, col0 = int(rows.min()), int(cols.min())
    meta = {
        "k": int(k),
        "columns": columns,
        "row0": row0,
        "col0": col0,
        "nrows": int(rows.max()) - row0 + 1,
        "ncols": int(cols.max()) - col0 + 1,
        "dense": dense,
    }
    north, _ = grid.lat_edges(np.array([row0]), k)
    _, south = grid.lat_edges(np.array([rows.max()]), k)
    west, east = _column_edges(rows, cols, k, columns)
    bounds = (
        float(west.min()),
        max(float(south[0]), -MERCATOR_MAX_LAT),
        float(east.max()),
        min(float(north[0]), MERCATOR_MAX_LAT),
    )
    return meta, bounds


def _store_grid(directory: Path, k: int, columns: int | None, rows, cols, classes):
    """Save class+1 values at raster pixels (rows, cols): dense raster when small enough."""
    nrows = int(rows.max() - rows.min()) + 1
    ncols = int(cols.max() - cols.min()) + 1
    dense = nrows * ncols <= DENSE_MAX_CELLS
    meta, bounds = _grid_meta(k, columns, rows, cols, dense)
    if dense:
        arr = np.zeros((nrows, ncols), np.uint8)
        arr[rows - meta["row0"], cols - meta["col0"]] = classes
        _save_npy(directory / "grid.npy", arr)
    else:
        keys = rows.astype(np.int64) * world_columns(k, columns) + cols
        order = np.argsort(keys, kind="stable")
        keys, cls = keys[order], classes[order]
        # A cell given twice keeps its last value, as the dense raster does.
        last = np.append(keys[1:] != keys[:-1], True)
        _save_npy(directory / "keys.npy", keys[last])
        _save_npy(directory / "classes.npy", cls[last])
    return meta, bounds


def _render_cells(inp: RenderInput, directory: Path, progress: Progress):
    k = grid.subdivisions(inp.scale_m)
    rows, cols = grid.indices_k(inp.lon, inp.lat, k)
    classes = (classify(inp.values, inp.breaks) + 1).astype(np.uint8)
    progress(0.1, f"classified {classes.size} cells")
    meta, bounds = _store_grid(directory, k, None, rows, cols, classes)
    n_cells = int(np.unique(rows * grid.max_columns(k) + cols).size)
    return {"kind": "grid", "grid": meta}, bounds, n_cells


def _sphere(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """3-D points on a sphere of the Earth's mean radius: chord distances ≈ great-circle ones."""
    lam, phi = np.radians(lon), np.radians(lat)
    c = np.cos(phi)
    return EARTH_RADIUS_M * np.column_stack([c * np.cos(lam), c * np.sin(lam), np.sin(phi)])


def _render_surface(inp: RenderInput, directory: Path, progress: Progress):
    from scipy import ndimage
    from scipy.spatial import cKDTree

    if np.any(inp.values <= 0) or np.any(np.asarray(inp.breaks) <= 0):
        raise ValueError("a surface interpolates log10(values): values and breaks must be > 0")
    mask_m = float(inp.surface_mask_m or 1.5 * inp.scale_m)
    lon, lat = grid.checked_lonlat(inp.lon, inp.lat)
    # Degrees a true distance spans: north-south at most 1/110.57 km (a degree of meridian is
    # shortest at the equator); east-west 1/(111.32 km · cos φ) at the data's highest latitude
    # (plus the mask, ~1°/111 km).
    top = min(float(np.max(np.abs(lat))) + mask_m / 110_000 + 0.5, 89.0)
    mask_lat_deg = mask_m / 110_570
    mask_lon_deg = mask_m / (111_320 * math.cos(math.radians(top)))
    # Pixels as wide as tall on the ground at the data's middle latitude.
    middle = math.cos(math.radians(min(abs(float(lat.min() + lat.max()) / 2), 89.0)))

    k = SURFACE_PIXELS_PER_CELL * grid.subdivisions(inp.scale_m)
    while True:
        columns = max(1, round(360.0 * middle / (grid.BAND_DEG / k)))
        pad_r = math.ceil(mask_lat_deg / (grid.BAND_DEG / k)) + 1
        pad_c = math.ceil(mask_lon_deg / (360.0 / columns)) + 1
        rows = grid.rows_at(lat, k)
        cols = uniform_columns(lon, columns)
        row0 = max(int(rows.min()) - pad_r, 0)
        col0 = max(int(cols.min()) - pad_c, 0)
        nrows = min(int(rows.max()) + pad_r, grid.rows_in_world(k) - 1) - row0 + 1
        ncols = min(int(cols.max()) + pad_c, columns - 1) - col0 + 1
        if nrows * ncols <= SURFACE_MAX_PIXELS or k == 1:
            break
        k = max(k // 2, 1)
    progress(0.1, f"surface raster {ncols}×{nrows} pixels of 1/{k} of an 80 km cell")

    # Candidates: pixels within the mask's (over-large) rectangle of a point; a separable maximum
    # filter is cheap. The k-d tree then decides exactly.
    occupied = np.zeros((nrows, ncols), np.uint8)
    occupied[rows - row0, cols - col0] = 1
    near = ndimage.maximum_filter(occupied, size=(2 * pad_r + 1, 2 * pad_c + 1), mode="constant")
    del occupied
    ri, ci = np.nonzero(near)
    del near
    progress(0.2, f"{ri.size} candidate pixels")

    # Pixel centres: longitude depends on the column only, latitude on the row only.
    north, south = grid.lat_edges(np.arange(row0, row0 + nrows), k)
    west, east = _column_edges(None, np.arange(col0, col0 + ncols), k, columns)
    phi, lam = np.radians((north + south) / 2), np.radians((west + east) / 2)
    cphi, sphi, clam, slam = np.cos(phi), np.sin(phi), np.cos(lam), np.sin(lam)
    targets = EARTH_RADIUS_M * np.column_stack([cphi[ri] * clam[ci], cphi[ri] * slam[ci], sphi[ri]])

    tree = cKDTree(_sphere(lon, lat))
    n_near = min(inp.idw_k, len(lon))
    chord = 2 * EARTH_RADIUS_M * math.sin(mask_m / (2 * EARTH_RADIUS_M))
    # The k nearest points *within the mask distance* (IDW with a search radius): a pixel with
    # none is masked anyway, and the bound lets the tree stop early (4-6x faster, measured).
    dist, idx = tree.query(targets, k=n_near, distance_upper_bound=chord * (1 + 1e-9), workers=-1)
    del targets
    dist, idx = dist.reshape(len(ri), n_near), idx.reshape(len(ri), n_near)
    progress(0.5, f"nearest {n_near} points of {ri.size} pixels")
    keep = np.isfinite(dist[:, 0])
    dist, idx, ri, ci = dist[keep], idx[keep], ri[keep], ci[keep]
    found = np.isfinite(dist)
    logv = np.log10(np.asarray(inp.values, "f8"))
    # A pixel centre on a point (d = 0) takes its value: the 1 mm floor makes its weight dominate.
    w = np.where(found, np.maximum(np.where(found, dist, 1.0), 1e-3) ** -inp.idw_power, 0.0)
    v = logv[np.minimum(idx, len(logv) - 1)]
    estimate = np.einsum("ij,ij->i", w, v) / w.sum(axis=1)
    classes = (classify(estimate, np.log10(np.asarray(inp.breaks, "f8"))) + 1).astype(np.uint8)
    progress(0.6, f"interpolated {classes.size} pixels")
    if classes.size == 0:  # cannot happen: a point's own pixel is within any mask > 0
        raise ValueError("surface mask leaves no pixel")
    meta, bounds = _store_grid(directory, k, columns, ri + row0, ci + col0, classes)
    meta["mask_m"] = mask_m
    return {"kind": "grid", "grid": meta}, bounds, int(classes.size)


def _render_points(inp: RenderInput, directory: Path, progress: Progress):
    lon, lat = grid.checked_lonlat(inp.lon, inp.lat)
    u, v = lonlat_to_world(lon, lat)
    classes = (classify(inp.values, inp.breaks) + 1).astype(np.uint8)
    progress(0.1, f"classified {classes.size} points")
    order = np.argsort(u, kind="stable")
    _save_npy(directory / "u.npy", u[order])
    _save_npy(directory / "v.npy", v[order])
    _save_npy(directory / "classes.npy", classes[order])
    lat_c = np.clip(lat, -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT)
    bounds = (float(lon.min()), float(lat_c.min()), float(lon.max()), float(lat_c.max()))
    # Low zooms: the pixel of every point, precomputed (see tiling.PointLookup).
    lookup = PointLookup(u[order], v[order], classes[order], POINT_RADIUS_PX)
    dots = {}
    for z in range(MAX_ZOOM + 1):
        px0, py0, w, h = _cog_window(bounds, z)
        if w * h > POINT_CANVAS_MAX_PIXELS:
            break
        canvas = lookup.dots(z, px0, py0, w, h)
        _save_npy(directory / f"dots-{z}.npy", canvas)
        dots[str(z)] = [px0, py0]
    progress(0.3, f"point canvases for zooms 0..{len(dots) - 1}")
    meta = {"kind": "points", "point_radius_px": POINT_RADIUS_PX, "dots": dots}
    return meta, bounds, int(classes.size)


# --- the COG -------------------------------------------------------------------------------------


def _cog_window(bounds, z: int) -> tuple[int, int, int, int]:
    """(px0, py0, width, height) of the zoom-z world image covering a lon/lat box."""
    west, south, east, north = bounds
    world = TILE_SIZE * 2**z
    u, v = lonlat_to_world(np.array([west, east]), np.array([north, south]))
    px0, py0 = math.floor(u[0] * world), math.floor(v[0] * world)
    px1, py1 = math.ceil(u[1] * world), math.ceil(v[1] * world)
    return px0, py0, max(px1 - px0, 1), max(py1 - py0, 1)


def write_cog(
    path: Path, source: TileSource, bounds, zoom: int, palette: bytes, progress: Progress
) -> int:
    """Write the layer as a COG at ``zoom`` (lowered until under COG_MAX_PIXELS); return the zoom.

    Written to a temporary name and renamed: a reader never sees a half-written layer.tif.
    """
    while zoom > 0:
        _, _, w, h = _cog_window(bounds, zoom)
        if w * h <= COG_MAX_PIXELS:
            break
        zoom -= 1
    px0, py0, w, h = _cog_window(bounds, zoom)
    data = source.window(zoom, px0, py0, w, h)
    if data is None:
        data = np.zeros((h, w), np.uint8)
    progress(0.7, f"COG image {w}×{h} at zoom {zoom}")
    res = 2 * WEB_MERCATOR_HALF / (TILE_SIZE * 2**zoom)
    west, north = -WEB_MERCATOR_HALF + px0 * res, WEB_MERCATOR_HALF - py0 * res
    transform = Affine(res, 0, west, 0, -res, north)
    colormap = {0: (0, 0, 0, 0)}
    for i in range(1, len(palette) // 3):
        colormap[i] = (*palette[3 * i : 3 * i + 3], 255)
    tmp = _tmp(path)
    try:
        with rasterio.open(
            tmp,
            "w",
            driver="COG",
            width=w,
            height=h,
            count=1,
            dtype="uint8",
            crs="EPSG:3857",
            transform=transform,
            nodata=0,
            BLOCKSIZE=TILE_SIZE,
            COMPRESS="DEFLATE",
            LEVEL=6,
            # Classes are categories: never average them.
            OVERVIEW_RESAMPLING="NEAREST",
            NUM_THREADS="ALL_CPUS",
        ) as dst:
            dst.write(data, 1)
            dst.write_colormap(1, colormap)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        for extra in tmp.parent.glob(tmp.name + ".*"):  # e.g. a stray .aux.xml
            extra.unlink(missing_ok=True)
    return zoom


def render_layer(
    inp: RenderInput, directory: Path, progress: Progress | None = None
) -> RenderResult:
    """Render a layer into ``directory`` (created; must not exist or be empty). See module doc."""
    _check(inp)
    report: Progress = progress or (lambda fraction, message: None)
    directory = _prepare(directory)
    report(0.0, f"rendering {len(inp.values)} {inp.style} features")
    render = {"cells": _render_cells, "surface": _render_surface, "points": _render_points}
    meta, bounds, n_features = render[inp.style](inp, directory, report)
    zoom = native_zoom(inp.scale_m)
    maxzoom = MAX_ZOOM if inp.style == "points" else min(zoom + OVERZOOM, MAX_ZOOM)
    palette = palette_bytes(list(inp.colours))
    meta.update(
        style=inp.style,
        scale_m=inp.scale_m,
        native_zoom=zoom,
        minzoom=0,
        maxzoom=maxzoom,
        bounds=list(bounds),
        n_features=n_features,
        palette=palette.hex(),
        colours=list(inp.colours),
        breaks=[float(b) for b in inp.breaks],
    )
    report(0.6, "class arrays written")
    cog_path = directory / COG_NAME
    cog_zoom = write_cog(cog_path, TileSource(directory, meta), bounds, zoom, palette, report)
    meta["cog_zoom"] = cog_zoom
    report(0.95, "COG written")
    _save_json(directory / META_NAME, meta)
    report(1.0, "done")
    return RenderResult(
        directory=directory,
        native_zoom=zoom,
        minzoom=0,
        maxzoom=maxzoom,
        bounds=bounds,
        n_features=n_features,
        cog_path=cog_path,
        cog_zoom=cog_zoom,
    )
