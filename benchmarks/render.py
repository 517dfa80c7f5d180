#!/usr/bin/env python
"""Map rendering benchmark: render time per style and scale, and tile cutting rate per zoom.

    .venv/bin/python benchmarks/render.py --samples 1000000
    .venv/bin/python benchmarks/render.py --samples 1000000 --style surface --scale 10

No database: the input is what the layer task hands maps.render.render_layer, generated here.

1. N synthetic samples, clustered (400 Gaussian clusters of 10–150 km plus 15 % spread evenly)
   inside a 4000 × 2500 km box in EPSG:6933 over the conterminous USA, log-normal values with a
   smooth regional trend (seeded).
2. ``points``: the samples themselves. ``cells`` and ``surface``: the median of the samples in each
   grid cell of the scale, at the cell's centre (as the layer task computes them). Breaks at the
   atlas percentiles (5…98), the ``geochem`` ramp.
3. ``render_layer`` into benchmarks/out/render-*/ (deleted afterwards unless ``--keep``): wall time
   and the time between its progress steps. Input preparation is not timed.
4. Tiles: ``--tiles`` random tiles per zoom 3..10 inside the layer's bounds, each cut once (no tile
   is asked twice; the layer's arrays stay open, as in a server process): median and 95th
   percentile milliseconds, tiles/s, the share of empty tiles, and the mean PNG size.

Prints a table and the exact command line; record figures in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, command_line, git_revision  # noqa: E402  (benchmarks/ is the script's dir)

sys.path.insert(0, str(ROOT))

from baselines import grid  # noqa: E402
from maps.ramps import ramp_colours  # noqa: E402
from maps.render import STYLES, RenderInput, render_layer  # noqa: E402
from maps.tiling import TileSource, tile_range  # noqa: E402

PERCENTILES = (5, 10, 25, 50, 75, 90, 95, 98)
# A 4000 × 2500 km box over the conterminous USA (EPSG:6933 metres).
BOX = (-11_700_000.0, 3_200_000.0, -7_700_000.0, 5_700_000.0)


def synthetic_samples(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = BOX
    n_even = n * 15 // 100
    n_clustered = n - n_even
    centres = rng.uniform([xmin, ymin], [xmax, ymax], size=(400, 2))
    spread = rng.uniform(10_000, 150_000, size=400)
    which = rng.integers(0, 400, n_clustered)
    xy = centres[which] + rng.normal(size=(n_clustered, 2)) * spread[which, None]
    xy = np.vstack([xy, rng.uniform([xmin, ymin], [xmax, ymax], size=(n_even, 2))])
    x = np.clip(xy[:, 0], xmin, xmax)
    y = np.clip(xy[:, 1], ymin, ymax)
    trend = 0.3 * np.sin((x - xmin) / 600_000) + 0.2 * np.cos((y - ymin) / 400_000)
    values = 10 ** (1.3 + trend + rng.normal(0, 0.35, n))
    # The box is drawn in an equal-area CRS so points are uniform on the ground; the renderer
    # takes WGS84.
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(6933, 4326, always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat), values


def cell_medians(lon, lat, values, scale_m: int):
    rows, cols = grid.indices(lon, lat, scale_m)
    key = rows * grid.max_columns(grid.subdivisions(scale_m)) + cols
    order = np.lexsort((values, key))
    key, v = key[order], values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, key.size])
    lo = starts + (counts - 1) // 2
    hi = starts + counts // 2
    med = (v[lo] + v[hi]) / 2
    r, c = rows[order][starts], cols[order][starts]
    clon, clat = grid.centres_lonlat(r, c, scale_m)
    return clon, clat, med


def bench_tiles(directory: Path, per_zoom: int, rng) -> list[tuple]:
    src = TileSource.open(directory)
    rows = []
    for z in range(3, 11):
        if z > src.maxzoom:
            break
        x0, y0, x1, y1 = tile_range(src.bounds, z)
        candidates = (x1 - x0 + 1) * (y1 - y0 + 1)
        pick = rng.choice(candidates, size=min(per_zoom, candidates), replace=False)
        times, sizes, empty = [], [], 0
        for i in pick:
            tx, ty = x0 + int(i) % (x1 - x0 + 1), y0 + int(i) // (x1 - x0 + 1)
            t = time.perf_counter()
            png = src.tile_png(z, tx, ty)
            times.append(time.perf_counter() - t)
            if png is None:
                empty += 1
            else:
                sizes.append(len(png))
        ms = np.array(times) * 1000
        rows.append(
            (
                z,
                len(pick),
                float(np.median(ms)),
                float(np.percentile(ms, 95)),
                len(pick) / max(sum(times), 1e-9),
                empty / len(pick),
                float(np.mean(sizes)) if sizes else 0.0,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--style", choices=[*STYLES, "all"], default="all")
    parser.add_argument(
        "--scale",
        default="80,10,1",
        help="grid scales in km, comma-separated (cells and surface; points use the first)",
    )
    parser.add_argument("--tiles", type=int, default=300, help="random tiles timed per zoom")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--keep", action="store_true", help="keep the rendered layers")
    args = parser.parse_args()

    scales = [grid.scale_from_km(s) for s in args.scale.split(",")]
    styles = list(STYLES) if args.style == "all" else [args.style]
    x, y, values = synthetic_samples(args.samples, args.seed)
    rng = np.random.default_rng(args.seed)
    runs = [(s, sc) for s in styles for sc in (scales[:1] if s == "points" else scales)]
    summary, tile_rows = [], []
    for style, scale in runs:
        if style == "points":
            ix, iy, iv = x, y, values
        else:
            ix, iy, iv = cell_medians(x, y, values, scale)
        breaks = np.unique(np.percentile(iv, PERCENTILES))
        colours = ramp_colours("geochem", breaks.size + 1)
        inp = RenderInput(style, scale, ix, iy, iv, breaks, colours)
        directory = args.out / f"render-{style}-{grid.scale_label(scale)}-{os.getpid()}"
        shutil.rmtree(directory, ignore_errors=True)
        steps: list[tuple[float, str]] = []
        t0 = time.perf_counter()
        result = render_layer(
            inp,
            directory,
            lambda f, m, steps=steps, t0=t0: steps.append((time.perf_counter() - t0, m)),
        )
        seconds = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
        print(f"\n{style} {grid.scale_label(scale)}: {len(iv):,} inputs, {seconds:.2f} s")
        previous = 0.0
        for at, message in steps:
            print(f"  {at:7.2f} s (+{at - previous:5.2f})  {message}")
            previous = at
        summary.append(
            (style, grid.scale_label(scale), len(iv), result.n_features, seconds,
             result.native_zoom, result.cog_zoom, size_mb)
        )  # fmt: skip
        for row in bench_tiles(directory, args.tiles, rng):
            tile_rows.append((style, grid.scale_label(scale), *row))
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)

    print("\nrender_layer")
    print(f"{'style':8} {'scale':>5} {'inputs':>10} {'features':>10} {'seconds':>8} "
          f"{'native z':>8} {'cog z':>5} {'MB':>7}")  # fmt: skip
    for style, label, n_in, n_feat, sec, nz, cz, mb in summary:
        print(f"{style:8} {label:>5} {n_in:>10,} {n_feat:>10,} {sec:>8.2f} {nz:>8} {cz:>5} "
              f"{mb:>7.1f}")  # fmt: skip
    print("\ntiles (each cut once, arrays open)")
    print(f"{'style':8} {'scale':>5} {'z':>3} {'tiles':>6} {'median ms':>9} {'p95 ms':>7} "
          f"{'tiles/s':>8} {'empty':>6} {'PNG B':>7}")  # fmt: skip
    for style, label, z, n, med, p95, rate, empty, size in tile_rows:
        print(f"{style:8} {label:>5} {z:>3} {n:>6} {med:>9.3f} {p95:>7.3f} {rate:>8.0f} "
              f"{empty:>6.0%} {size:>7.0f}")  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, load {load:.2f}; "
          f"python {platform.python_version()}; revision {git_revision()}")  # fmt: skip
    print(f"command: {command_line()}")


if __name__ == "__main__":
    main()
