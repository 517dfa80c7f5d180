"""Map viewer: time to first tile and to legend after choosing an element, in Chromium.

Builds its own database (``chemearth_viewer_bench``: migrate + the demo data with its policies),
starts gunicorn (2 workers) and one Celery worker on a private Redis database and tile directory,
then drives Debian's Chromium with Playwright over the USA at zoom 4 (40 km cells, the USGS
survey's scale). For each element it calls the page's own ``chooseElement`` and reads the times the
page records (``window.chemearthViewer.metrics``, ``performance.now()``):

- uncached: the layer has never been rendered, so the time includes queueing and rendering it;
- cached: the layer is rendered (tile cache on disk), in a new browser context (empty browser
  cache), so the time is the layer API, the tile and legend requests and drawing.

Usage: ``.venv/bin/python benchmarks/viewer.py [--elements Cu,Zn,Pb,Ni,As,Cr] [--keep]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    command_line,
    deployment_env,
    drop_database,
    git_revision,
    recreate_database,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
VIEW = "/map/?medium=topsoil&lat=39&lng=-97&z=4"
TIMEOUT_MS = 180_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def choose(page, symbol: str) -> dict:
    """Choose an element as a user would (the page's own handler) and wait for tile and legend."""
    page.evaluate("s => window.chemearthViewer.chooseElement(s)", symbol)
    page.wait_for_function(
        "() => { const m = window.chemearthViewer.metrics;"
        " return m.firstTileAt !== null && m.legendAt !== null; }",
        timeout=TIMEOUT_MS,
    )
    m = page.evaluate("window.chemearthViewer.metrics")
    return {
        "tile_ms": m["firstTileAt"] - m["chosenAt"],
        "legend_ms": m["legendAt"] - m["chosenAt"],
    }


def run(base: str, elements: list[str]) -> dict[str, list[dict]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict]] = {"uncached": [], "cached": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for kind in ("uncached", "cached"):
                for symbol in elements:
                    # A new context per element: no browser cache, no earlier layer on the page.
                    context = browser.new_context(viewport={"width": 1280, "height": 860})
                    page = context.new_page()
                    page.goto(base + VIEW)
                    page.wait_for_selector("body[data-viewer-ready='1']")
                    result = choose(page, symbol)
                    result["element"] = symbol
                    results[kind].append(result)
                    print(
                        f"  {kind:<8} {symbol:<3} first tile {result['tile_ms']:7.0f} ms, "
                        f"legend {result['legend_ms']:7.0f} ms",
                        flush=True,
                    )
                    context.close()
        finally:
            browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", default="Cu,Zn,Pb,Ni,As,Cr")
    parser.add_argument("--database", default="chemearth_viewer_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    elements = args.elements.split(",")
    out = ROOT / "benchmarks" / "out" / "viewer"
    shutil.rmtree(out, ignore_errors=True)
    (out / "tiles").mkdir(parents=True)
    env = {
        **os.environ,
        **deployment_env(args.database),  # its database, cache keys and queue
        "CELERY_BROKER_URL": args.redis,
        "CELERY_RESULT_BACKEND": args.redis,
        "CACHE_URL": args.redis,
        "TILE_ROOT": str(out / "tiles"),
        "DJANGO_SETTINGS_MODULE": "chemearth.settings",
    }
    python = sys.executable
    started = time.monotonic()
    print(f"database {args.database}: migrate and load the demo data…", flush=True)
    recreate_database(args.database)
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    for command in (["migrate", "--verbosity", "0"], ["load_demo"]):
        quiet = {"stdout": subprocess.DEVNULL}
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True, **quiet)
    print(f"  ready in {time.monotonic() - started:.0f} s", flush=True)

    port = free_port()
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [
                    str(Path(python).parent / "gunicorn"),
                    "chemearth.wsgi",
                    "--workers",
                    "2",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )  # fmt: skip
        )
        processes.append(
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "chemearth",
                    "worker",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "warning",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=env,
                stdout=(out / "worker.log").open("w"),
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/map/")
        print(f"Chromium, {len(elements)} elements ({', '.join(elements)}), view {VIEW}")
        results = run(base, elements)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            drop_database(args.database)
            shutil.rmtree(out, ignore_errors=True)

    print()
    print("| case | first tile, median (min–max) | legend, median (min–max) |")
    print("|---|---|---|")
    for kind, rows in results.items():
        tiles = [r["tile_ms"] for r in rows]
        legends = [r["legend_ms"] for r in rows]
        print(
            f"| {kind} | {statistics.median(tiles):.0f} ms ({min(tiles):.0f}–{max(tiles):.0f}) "
            f"| {statistics.median(legends):.0f} ms ({min(legends):.0f}–{max(legends):.0f}) |"
        )
    print()
    print(f"command: {command_line()}")
    print(f"git: {git_revision()}; load average: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
