"""Grid benchmark (issue #17): how square and how equal-area the cells are, and how fast points
get their 8 codes, against the grid this one replaced.

Shape: for every scale, the cells holding a dense global sample of points (a regular sweep of
latitudes every 0.001° from pole to pole at a random longitude each, plus N random points uniform
on the sphere); per cell the aspect on the ground (east–west length of the parallel through its
centre against north–south length of the meridian through it, both measured with pyproj's
geodesic code on the WGS84 ellipsoid, the larger over the smaller) and the error of its true area
(pyproj's geodesic area of the lon/lat rectangle, its sides densified) against the nominal size
squared. Worst values are printed for |latitude of centre| ≤ 70°, ≤ 85° and beyond.

Speed: point → 8 codes (``grid.cell_codes``) against a copy of the previous implementation
(EPSG:6933 squares, pyproj projection, kept here only as the reference) on the same points in the
same run, interleaved, best of 5.

Run: ``.venv/bin/python benchmarks/grid.py [--points 200000] [--seed 17]``. No database.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from pyproj import Geod, Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baselines import grid  # noqa: E402
from benchmarks.common import command_line, git_revision  # noqa: E402

WGS84 = Geod(ellps="WGS84")


# --- the previous grid's point → codes, verbatim in substance (reference only) --------------------

OLD_ORIGIN_X, OLD_ORIGIN_Y = -17_440_000, 7_360_000
_OLD = Transformer.from_crs(4326, 6933, always_xy=True)


def old_cell_codes(lon: np.ndarray, lat: np.ndarray) -> dict[int, np.ndarray]:
    """EPSG:6933 squares sharing one origin: project, 500 m row/column with the ulp correction,
    floor-divide per scale, format (grid.format_codes is unchanged)."""
    lon, lat = grid.checked_lonlat(lon, lat)
    x, y = _OLD.transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    size = 500
    col = np.floor((x - OLD_ORIGIN_X) / size).astype(np.int64)
    row = np.floor((OLD_ORIGIN_Y - y) / size).astype(np.int64)
    col -= (OLD_ORIGIN_X + col * size) > x
    col += (OLD_ORIGIN_X + (col + 1) * size) <= x
    row -= (OLD_ORIGIN_Y - row * size) < y
    row += (OLD_ORIGIN_Y - (row + 1) * size) >= y
    return {s: grid.format_codes(s, row // (s // 500), col // (s // 500)) for s in grid.SCALES_M}


# --- shape ---------------------------------------------------------------------------------------


def sample_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    sweep_lat = np.linspace(-90.0, 90.0, 180_001)
    sweep_lon = rng.uniform(-180, 180, sweep_lat.size)
    lon = rng.uniform(-180, 180, n)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return np.concatenate([sweep_lon, lon]), np.concatenate([sweep_lat, lat])


def shape_of_cells(size_m: int, rows: np.ndarray, cols: np.ndarray):
    """(centre latitude, aspect, area error) of cells, measured with pyproj.Geod."""
    west, south, east, north = grid.bounds_lonlat(rows, cols, size_m)
    lon_c, lat_c = (west + east) / 2, (south + north) / 2
    _, _, ns = WGS84.inv(lon_c, south, lon_c, north)
    # The parallel through the centre, in 32 steps (a geodesic chord per step).
    t = np.linspace(0, 1, 33)
    lons = west[:, None] + (east - west)[:, None] * t[None, :]
    _, _, steps = WGS84.inv(lons[:, :-1], np.repeat(lat_c[:, None], 32, 1), lons[:, 1:],
                            np.repeat(lat_c[:, None], 32, 1))  # fmt: skip
    ew = steps.sum(axis=1)
    aspect = np.maximum(ew / ns, ns / ew)
    # True area: the closed form of grid.areas_km2 for every cell, checked against pyproj's
    # geodesic polygon area of the densified rectangle on a subset (printed as "vs Geod").
    areas = grid.areas_km2(rows, size_m) * 1e6
    pick = np.linspace(0, rows.size - 1, min(rows.size, 400)).astype(int)
    geod = np.array([
        abs(WGS84.polygon_area_perimeter(*_ring(west[i], south[i], east[i], north[i]))[0])
        for i in pick
    ])  # fmt: skip
    check = float(np.max(np.abs(geod / areas[pick] - 1)))
    return lat_c, aspect, np.abs(areas / size_m**2 - 1), check


def _ring(w, s, e, n, k: int = 16):
    t = np.linspace(0, 1, k, endpoint=False)
    lons = np.concatenate([w + (e - w) * t, np.full(k, e), e - (e - w) * t, np.full(k, w)])
    lats = np.concatenate([np.full(k, s), s + (n - s) * t, np.full(k, n), n - (n - s) * t])
    return lons, lats


def report_shapes(lon: np.ndarray, lat: np.ndarray) -> None:
    print(f"shape: {lon.size:,} points, cells measured with pyproj.Geod (WGS84)")
    print(f"{'scale':>6} {'cells':>8}  {'≤70° aspect':>11} {'area err':>8}  "
          f"{'≤85° aspect':>11} {'area err':>8}  {'>85° aspect':>11} {'area err':>8}")  # fmt: skip
    for size in grid.SCALES_M:
        rows, cols = grid.indices(lon, lat, size)
        keys = np.unique(rows * 1_000_000 + cols)
        lat_c, aspect, err, check = shape_of_cells(size, keys // 1_000_000, keys % 1_000_000)
        parts = []
        for lo, hi in ((0, 70), (0, 85), (85, 90)):
            m = (np.abs(lat_c) <= hi) & (np.abs(lat_c) > lo if lo else True)
            parts.append(f"{aspect[m].max():>11.4f} {100 * err[m].max():>7.2f}%" if m.any() else
                         f"{'-':>11} {'-':>8}")  # fmt: skip
        print(f"{grid.scale_label(size):>6} {keys.size:>8}  " + "  ".join(parts)
              + f"  (area vs Geod {check:.1e})")  # fmt: skip


def report_speed(n: int, rng: np.random.Generator) -> None:
    lon = rng.uniform(-180, 180, n)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    runs = {"previous (EPSG:6933)": old_cell_codes, "this grid": grid.cell_codes}
    best = dict.fromkeys(runs, math.inf)
    for _ in range(5):  # interleaved, best of 5: both see the same machine
        for name, fn in runs.items():
            best[name] = min(best[name], _timed(fn, lon, lat))
    for name, seconds in best.items():
        print(f"point → 8 codes, {name:>21}: {n / seconds:>12,.0f} points/s ({seconds:.3f} s)")
    print(f"ratio this / previous: {best['previous (EPSG:6933)'] / best['this grid']:.2f}")


def _timed(fn, lon, lat) -> float:
    start = time.perf_counter()
    fn(lon, lat)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    print(f"$ {command_line()}\nrevision {git_revision()}")
    rng = np.random.default_rng(args.seed)
    report_shapes(*sample_points(args.points // 10, rng))
    report_speed(args.points, rng)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
