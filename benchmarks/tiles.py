#!/usr/bin/env python
"""Map tile benchmark: the portal's tile path against TiTiler and plain nginx, and render times.

    .venv/bin/python benchmarks/tiles.py --samples 100000

Needs nginx, wrk and TiTiler in var/bench-venv (``make bench-install``). One run (see
benchmarks/README.md):

1. Re-creates its own database (default ``chemearth_tiles_bench``), ingests N synthetic samples
   of one element (benchmarks/ingest.py's generator, ``--elements``) with ``manage.py ingest``'s
   code, makes USA, China and Brazil public and Australia visible to a partner organisation only.
   TILE_ROOT is var/bench/tiles, Redis database ``--redis-db`` (flushed: it is the benchmark's).
2. (c) Times ``maps.layers.render`` (rows through the gate, legend, raster, COG, legend PNG,
   seeding) for one public ``cells`` and one ``surface`` layer, with its phases.
3. Tile list: the tiles of zooms ``--zooms`` (default 3–10) inside the cells layer's bounds that
   hold data, shuffled with ``--seed``; the first ``--tiles`` of them are used everywhere below.
4. Starts gunicorn (production settings, TILE_ACCEL_REDIRECT set), TiTiler (uvicorn, same worker
   count) on the layer's ``layer.tif`` with its internal palette, nginx from deploy/nginx.conf and
   a plain static nginx, each on a free port; all stopped on exit.
5. (a) Uncached: the tile cache emptied, wrk requests each listed tile once (Lua script
   benchmarks/tiles.lua) from gunicorn directly, then from TiTiler; tiles/s = tiles / seconds.
6. (b) Cached: wrk cycles through the same (now cached) tiles for ``--duration`` seconds through
   nginx per deploy/nginx.conf (public layer: from disk) and from the plain static nginx; then a
   partner's restricted layer by capability URL (nginx checks it with njs, serves from disk) and
   by session cookie (→ Django → X-Accel-Redirect), and, for insight,
   the empty tiles inside the bounds (never cached, so Django answers each).

Prints a table, the ratios against the targets and the exact command line. No timing asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from common import (  # noqa: E402  (benchmarks/ is the script's directory)
    PROTECTED_DATABASES,
    ROOT,
    command_line,
    drop_database,
    dsn,
    git_revision,
    production_env,
    recreate_database,
)
from ingest import MEDIUM, SCALE_KM, SURVEY_NAME, Phases, checkpoint, generate_csv, step

BENCH = ROOT / "var" / "bench"
TILE_ROOT = BENCH / "tiles"
BENCH_VENV = ROOT / "var" / "bench-venv"
LUA = ROOT / "benchmarks" / "tiles.lua"
ACCEL = "/_protected_tiles/"
PUBLIC_COUNTRIES = ("USA", "CHN", "BRA")
PARTNER_COUNTRY = "AUS"
SECRET = "tiles-benchmark-secret-key-not-for-production-0123456789"
CAPABILITY_SECRET = "tiles-benchmark-capability-secret-0123456789abcdef"


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """Processes this run started, each in its own session; all stopped by ``stop_all``."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict, log: Path, ready_url: str) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("ab")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        self.procs.append((name, proc))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited ({proc.returncode}); {log}:\n{tail}")
            try:
                urllib.request.urlopen(ready_url, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"{name} did not answer on {ready_url} within 60 s; see {log}")

    def stop_all(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # our own session: the server + workers
                except ProcessLookupError:
                    continue
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop on TERM; killing its process group")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def nginx_front_conf(listen: str, upstream: str, static_root: Path, directory: Path) -> str:
    """deploy/nginx.conf with its placeholders filled for this machine."""
    from chemearth.nginx_conf import filled

    return filled(
        {
            "USER": "www-data",
            "RUN_DIR": str(directory / "run"),
            "LOG_DIR": str(directory / "log"),
            "MIME_TYPES": "/etc/nginx/mime.types",
            "LISTEN": listen,
            "SERVER_NAME": "127.0.0.1 localhost",
            "UPSTREAM": upstream,
            "STATIC_ROOT": str(static_root),
            "TILE_ROOT": str(TILE_ROOT),
            "NGINX_MODULES": "/usr/lib/nginx/modules",
            "DEPLOY_DIR": str(ROOT / "deploy"),
        }
    )


def nginx_static_conf(listen: str, root: Path, directory: Path) -> str:
    """The reference: nginx serving a directory of files, nothing else (same logging)."""
    return f"""user www-data;
worker_processes auto;
pid {directory}/run/nginx.pid;
error_log {directory}/log/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    access_log {directory}/log/nginx-access.log combined buffer=64k flush=5s;
    client_body_temp_path {directory}/run/client_body;
    proxy_temp_path {directory}/run/proxy;
    fastcgi_temp_path {directory}/run/fastcgi;
    uwsgi_temp_path {directory}/run/uwsgi;
    scgi_temp_path {directory}/run/scgi;
    server {{
        listen {listen};
        root {root};
    }}
}}
"""


def start_nginx(servers: Servers, name: str, conf: str, directory: Path, url: str) -> None:
    for sub in ("run", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    path = directory / "nginx.conf"
    path.write_text(conf)
    test = subprocess.run(
        ["nginx", "-t", "-p", str(directory), "-e", str(directory / "log" / "nginx-error.log"),
         "-c", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    if test.returncode:
        raise SystemExit(f"nginx -t failed for {path}:\n{test.stderr}")
    argv = ["nginx", "-p", str(directory), "-e", str(directory / "log" / "nginx-error.log")]
    argv += ["-c", str(path), "-g", "daemon off;"]
    servers.start(name, argv, dict(os.environ), directory / "log" / "stdout.log", url)


# --- wrk -----------------------------------------------------------------------------------------


def wrk(args, url: str, tiles: Path, mode: str, prefix: str, suffix: str, header: str = "") -> dict:
    """Run wrk with tiles.lua; its figures plus the load average around the run.

    "once": tiles/s = tiles / (last answer − first request), from the threads' own clocks (the
    files tiles.lua writes); wrk itself is then ended, as its main thread sleeps out -d whatever
    happens. "loop": wrk's own summary over -d seconds."""
    duration = f"{args.max_seconds}s" if mode == "once" else f"{args.duration}s"
    argv = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", duration]
    argv += ["--timeout", "60s", "-s", str(LUA), url, "--", str(tiles), mode, str(args.threads)]
    argv += [prefix, suffix] + ([header] if header else [])
    markers = [Path(f"{tiles}.done.{i}") for i in range(args.threads)]
    for marker in markers:
        marker.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if mode == "once":
        while proc.poll() is None and not all(m.exists() for m in markers):
            time.sleep(0.05)
        proc.terminate()
        out, err = proc.communicate()
        if not all(m.exists() for m in markers):
            raise SystemExit(f"wrk: not every tile answered within --max-seconds ({url}):\n{err}")
        threads = [json.loads(m.read_text()) for m in markers]
        for marker in markers:
            marker.unlink()
        statuses: dict[str, int] = {}
        for t in threads:
            for code, count in t["statuses"].items():
                statuses[code] = statuses.get(code, 0) + count
        seconds = (max(t["t1"] for t in threads) - min(t["t0"] for t in threads)) / 1e6
        tiles_n = sum(t["share"] for t in threads)
        return {
            "mode": mode,
            "tiles": tiles_n,
            "requests": sum(t["answered"] for t in threads),
            "seconds": seconds,
            "rate": tiles_n / seconds,
            "statuses": statuses,
            "errors": {},
            "latency_us": None,
            "load": (load, os.getloadavg()[0]),
        }
    out, err = proc.communicate()
    line = next((x for x in out.splitlines() if x.startswith("TILES-RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    result = json.loads(line.removeprefix("TILES-RESULT "))
    result["seconds"] = result["duration_us"] / 1e6
    result["rate"] = result["requests"] / result["seconds"]
    result["load"] = (load, os.getloadavg()[0])
    result["mode"] = mode
    return result


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# --- data and layers -----------------------------------------------------------------------------


def build_world(args, csv_path: Path) -> dict:
    """Ingest the survey, set the release policies and the partner; return the partner's user."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from baselines.models import Country
    from sharing.models import Agreement, Membership, Organisation, ReleasePolicy
    from sharing.services import licence_accept

    symbols = args.elements.split(",")
    with step(f"generating {args.samples:,} samples × {len(symbols)} element(s) {symbols}"):
        generate_csv(csv_path, args.samples, args.seed, symbols)
    with step("ingest (manage.py ingest's code, in this process)"):
        call_command(
            "ingest", str(csv_path), survey=SURVEY_NAME, medium=MEDIUM, scale=SCALE_KM,
            no_progress=True, stdout=io.StringIO(),
        )  # fmt: skip
    csv_path.unlink(missing_ok=True)
    for code in PUBLIC_COUNTRIES:
        ReleasePolicy.objects.create(country=Country.objects.by_code(code), in_force=True)
    partner = User.objects.create_user("bench-partner", password="bench-partner-password")
    organisation = Organisation.objects.create(name="Bench partner", slug="bench-partner")
    Membership.objects.create(organisation=organisation, user=partner)
    agreement = Agreement.objects.create(
        organisation=organisation,
        title="Bench agreement",
        valid_from=dt.date(2000, 1, 1),
        licence_text="benchmark",
    )
    agreement.countries.add(Country.objects.by_code(PARTNER_COUNTRY))
    # An agreement grants nothing until its licence is accepted (rule 5).
    licence_accept(user=partner, agreement=agreement)
    return {"partner": partner}


def render_phases() -> Phases:
    """Wrap the steps of maps.layers.render once; the returned Phases collects their times."""
    import maps.layers as layers
    import maps.legend_image as legend_image
    import maps.render as renderer
    import maps.tiling as tiling

    phases = Phases()
    phases.wrap(layers, "layer_rows", "rows")
    phases.wrap(layers, "build_legend", "legend")
    phases.wrap(layers, "cell_medians", "medians")
    phases.wrap(layers, "_set", "updates")
    phases.wrap(renderer, "render_layer", "render_layer")
    phases.wrap(renderer, "_render_cells", "raster")
    phases.wrap(renderer, "_render_surface", "raster")
    phases.wrap(renderer, "write_cog", "cog")
    phases.wrap(legend_image, "legend_png", "legend_png")
    phases.wrap(tiling, "seed", "seed")
    return phases


PHASE_LABELS = (
    ("rows", "rows through the gate (SQL → arrays)"),
    ("legend", "legend (class breaks)"),
    ("medians", "cell medians (pandas groupby)"),
    ("raster", "  class raster (cells / IDW surface)"),
    ("cog", "  COG layer.tif (+ overviews)"),
    ("render_rest", "  rest of render_layer (meta, arrays)"),
    ("legend_png", "legend PNG"),
    ("seed", "seed tiles (zoom 0..TILE_SEED_MAX_ZOOM)"),
    ("updates", "state/progress updates (SQL)"),
    ("rest", "rest (scope, versions, rename)"),
)


def timed_render(args, style: str, viewer, phases: Phases):
    """Find (create) and render one layer; (layer, seconds, phase seconds)."""
    from baselines import grid
    from baselines.models import Element, Medium
    from maps import layers
    from maps.models import MapLayer
    from sharing.access import viewer_scope

    spec = layers.LayerSpec(
        Element.objects.get(symbol=args.element),
        Medium.objects.get(code=MEDIUM),
        grid.scale_from_km(args.scale),
        style,
    )
    layer = layers.find_layer(spec, viewer_scope(viewer), viewer)
    layer = MapLayer.objects.select_related("element", "medium", "viewer").get(pk=layer.pk)
    checkpoint(args.database)
    phases.seconds.clear()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    layer = layers.render(layer)
    seconds = time.perf_counter() - started
    p = dict.fromkeys(("rows", "legend", "medians", "raster", "cog", "legend_png", "seed"), 0.0)
    p |= {"updates": 0.0, "render_layer": 0.0} | phases.seconds
    p["render_rest"] = p["render_layer"] - p["raster"] - p["cog"]
    top = ("rows", "legend", "medians", "render_layer", "legend_png", "seed", "updates")
    p["rest"] = seconds - sum(p[k] for k in top)
    if layer.state != MapLayer.State.READY:
        raise SystemExit(f"the {style} layer ended {layer.state}: {layer.error or layer.message}")
    return layer, seconds, p, (load, os.getloadavg()[0])


def tile_lists(layer, zooms: tuple[int, int], seed: int) -> tuple[list[str], list[str], int]:
    """(tiles with data, some empty tiles, count of all empty tiles) of the zooms inside the
    layer's bounds, shuffled. A tile holds data only if its parent does, so only the children of
    tiles with data are cut to find out; the empty ones among them make the empty list."""
    from maps import tiling

    source = tiling.TileSource.open(layer.directory)
    bounds = tuple(layer.bounds)
    x0, y0, x1, y1 = tiling.tile_range(bounds, 0)
    candidates = [(0, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    full, empty, n_empty = [], [], 0
    for z in range(0, zooms[1] + 1):
        x0, y0, x1, y1 = tiling.tile_range(bounds, z)
        inside = [(x, y) for _, x, y in candidates if x0 <= x <= x1 and y0 <= y <= y1]
        with_data = [(x, y) for x, y in inside if source.tile_array(z, x, y) is not None]
        if z >= zooms[0]:
            full += [f"{z}/{x}/{y}" for x, y in with_data]
            n_empty += (x1 - x0 + 1) * (y1 - y0 + 1) - len(with_data)
            empty += [f"{z}/{x}/{y}" for x, y in set(inside) - set(with_data)]
        candidates = [
            (z + 1, 2 * x + dx, 2 * y + dy) for x, y in with_data for dx in (0, 1) for dy in (0, 1)
        ]
    rng = np.random.default_rng(seed)
    full = [full[i] for i in rng.permutation(len(full))]
    return full, [empty[i] for i in rng.permutation(len(empty))], n_empty


def compare_tiles(portal_url: str, titiler_url: str, key: str, suffix: str, tiles: list[str]):
    """For insight: do the portal and TiTiler draw the same pixels? (share of equal RGBA pixels)"""
    from PIL import Image

    equal = total = 0
    for zxy in tiles:
        s1, _, a = fetch(f"{portal_url}/tiles/{key}/{zxy}.png")
        s2, _, b = fetch(f"{titiler_url}/cog/tiles/WebMercatorQuad/{zxy}{suffix}")
        if s1 != 200 or s2 != 200:
            continue
        pa = np.asarray(Image.open(io.BytesIO(a)).convert("RGBA")).astype(int)
        pb = np.asarray(Image.open(io.BytesIO(b)).convert("RGBA")).astype(int)
        # Transparent pixels are equal whatever their colour.
        same = np.where((pa[..., 3] == 0) & (pb[..., 3] == 0), True, np.all(pa == pb, axis=-1))
        equal += int(same.sum())
        total += same.size
    return equal / total if total else float("nan")


# --- the benchmark -------------------------------------------------------------------------------


def environment(args) -> dict:
    """The portal's environment (production settings) for this process and gunicorn."""
    return {
        **production_env(args.database, args.redis_db, SECRET),
        "TILE_ROOT": str(TILE_ROOT),
        "TILE_ACCEL_REDIRECT": ACCEL,
        # The portal signs restricted tiles' capabilities with it, nginx checks them with it.
        "TILE_CAPABILITY_SECRET": CAPABILITY_SECRET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--samples", type=int, default=100_000, help="samples (rows); default 100000")
    add("--elements", default="Cu", help="element columns generated (default Cu)")
    add("--element", default="Cu", help="element mapped (default Cu)")
    add("--scale", default="10", help="layer scale in km (default 10, the survey's)")
    add("--zooms", default="3-10", help="zoom range of the tile list (default 3-10)")
    add("--tiles", type=int, default=3000, help="tiles used from the list (default 3000; 0: all)")
    add("--connections", type=int, default=16, help="wrk -c (default 16)")
    add("--threads", type=int, default=2, help="wrk -t (default 2)")
    add("--workers", type=int, default=3, help="gunicorn and uvicorn worker processes (default 3)")
    add("--duration", type=int, default=10, help="seconds of each cached (loop) run (default 10)")
    add(
        "--repeat", type=int, default=3, help="interleaved runs of (a) and (b); medians (default 3)"
    )
    add("--max-seconds", type=int, default=600, help="cap on an uncached pass (default 600)")
    add("--styles", default="cells,surface", help="layers timed in (c) (default cells,surface)")
    add("--seed", type=int, default=20240601, help="random seed (data and tile order)")
    add("--database", default="chemearth_tiles_bench", help="benchmark database (re-created)")
    add("--redis-db", type=int, default=13, help="Redis database of the run (flushed)")
    add("--keep", action="store_true", help="keep the database and var/bench/tiles")
    add("--reuse", action="store_true", help="reuse a database kept with --keep (no ingest)")
    args = parser.parse_args()
    if args.database.lower() in PROTECTED_DATABASES:
        parser.error(f"--database {args.database!r} is not a benchmark database")
    if args.element not in args.elements.split(","):
        parser.error("--element must be one of --elements")
    z0, _, z1 = args.zooms.partition("-")
    args.zoom_range = (int(z0), int(z1 or z0))
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: run `make bench-install`")
    if not (BENCH_VENV / "bin" / "uvicorn").exists():
        raise SystemExit(f"TiTiler is not installed in {BENCH_VENV}: run `make bench-install`")

    cmd = command_line()
    print(f"command: {cmd}")
    os.environ.update(environment(args))
    import psycopg
    import redis

    lock = psycopg.connect(dsn("postgres"), autocommit=True)
    key = zlib.crc32(f"chemearth benchmark {args.database}".encode()) - 2**31
    if not lock.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
        lock.close()
        raise SystemExit(f"another benchmark run is using database {args.database}")
    servers = Servers()
    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    store.flushdb()
    try:
        bench(args, servers, cmd)
    finally:
        servers.stop_all()
        store.flushdb()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if args.keep:
            print(f"(kept database {args.database} and {TILE_ROOT})")
        else:
            drop_database(args.database)
            shutil.rmtree(TILE_ROOT, ignore_errors=True)
            print(f"(database {args.database} dropped, {TILE_ROOT} deleted; --keep keeps both)")
        lock.close()


def bench(args, servers: Servers, cmd: str) -> None:
    from ingest import server_facts

    sys.path.insert(0, str(ROOT))
    BENCH.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(TILE_ROOT, ignore_errors=True)
    if not args.reuse:
        with step(f"re-creating database {args.database}"):
            recreate_database(args.database)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from baselines.models import Sample
    from maps import layers
    from maps.models import MapLayer
    from sharing.services import api_token_create

    if not args.reuse:
        with step("migrate"):
            call_command("migrate", verbosity=0, interactive=False)
        build_world(args, BENCH / f"{args.database}_{args.samples}.csv")
    else:
        MapLayer.objects.all().delete()
    partner = User.objects.get(username="bench-partner")
    samples = Sample.objects.count()
    facts = server_facts(args.database)
    # Rendering is timed here, in this process; the portal's workers would queue it to Celery.
    layers.queue_render = lambda layer: None

    # (c) render times
    phases = render_phases()
    renders = {}
    for style in args.styles.split(","):
        with step(f"(c) rendering the public {style} layer (timed)"):
            renders[style] = timed_render(args, style, None, phases)
    if "cells" in renders:
        public = renders["cells"][0]
    else:
        public = timed_render(args, "cells", None, phases)[0]
    with step("rendering the partner's cells layer (untimed, for the restricted path)"):
        private = timed_render(args, "cells", partner, phases)[0]
    if public.is_public is not True or private.is_public is not False:
        raise SystemExit("expected a public and a restricted layer")

    # Tile list
    with step(f"tile list: zooms {args.zooms} inside the layer's bounds"):
        full, empty, n_empty = tile_lists(public, args.zoom_range, args.seed)
    tiles = full[: args.tiles] if args.tiles else full
    tiles_file = BENCH / "tiles.txt"
    tiles_file.write_text("\n".join(tiles) + "\n")
    empty_file = BENCH / "tiles-empty.txt"
    empty_file.write_text("\n".join(empty) + "\n")
    per_zoom = {}
    for t in tiles:
        per_zoom[int(t.split("/")[0])] = per_zoom.get(int(t.split("/")[0]), 0) + 1
    print(
        f"  {len(full):,} tiles with data, {n_empty:,} empty tiles inside the bounds; "
        f"using {len(tiles):,}: " + ", ".join(f"z{z} {n}" for z, n in sorted(per_zoom.items()))
    )
    cog = public.directory / "layer.tif"
    meta = json.loads((public.directory / "meta.json").read_text())

    # Servers
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    logs = BENCH / "log"
    g_port, t_port, f_port, s_port = (free_port() for _ in range(4))
    portal = f"http://127.0.0.1:{g_port}"
    titiler = f"http://127.0.0.1:{t_port}"
    front = f"http://127.0.0.1:{f_port}"
    static = f"http://127.0.0.1:{s_port}"
    with step(f"starting gunicorn ({args.workers} sync workers, production settings)"):
        servers.start(
            "gunicorn",
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "chemearth.wsgi:application",
             "-b", f"127.0.0.1:{g_port}", "--workers", str(args.workers),
             "--error-logfile", "-"],
            env, logs / "gunicorn.log", portal + "/",
        )  # fmt: skip
    gdal_env = {
        # TiTiler's recommended GDAL settings for COGs (local file here).
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_CACHEMAX": "200",
        "VSI_CACHE": "TRUE",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    }
    with step(f"starting TiTiler (uvicorn, {args.workers} workers)"):
        servers.start(
            "titiler",
            [str(BENCH_VENV / "bin" / "uvicorn"), "titiler.application.main:app",
             "--host", "127.0.0.1", "--port", str(t_port), "--workers", str(args.workers),
             "--no-access-log", "--log-level", "warning"],
            {k: v for k, v in env.items() if not k.startswith("DJANGO")} | gdal_env,
            logs / "titiler.log", titiler + "/healthz",
        )  # fmt: skip
    with step("starting nginx (deploy/nginx.conf) and a plain static nginx"):
        start_nginx(
            servers, "nginx-front",
            nginx_front_conf(f"127.0.0.1:{f_port}", f"127.0.0.1:{g_port}",
                             Path(settings.STATIC_ROOT), BENCH / "nginx-front"),
            BENCH / "nginx-front", front + "/",
        )  # fmt: skip
        start_nginx(
            servers, "nginx-static",
            nginx_static_conf(f"127.0.0.1:{s_port}", public.directory / "tiles",
                              BENCH / "nginx-static"),
            BENCH / "nginx-static", static + "/",
        )  # fmt: skip

    # Checks before timing: the servers answer the first tile as expected.
    suffix = f".png?url={cog}"
    first = tiles[0]
    checks = {
        "portal": fetch(f"{portal}/tiles/{public.key}/{first}.png"),
        "titiler": fetch(f"{titiler}/cog/tiles/WebMercatorQuad/{first}{suffix}"),
    }
    for name, (status, _headers, body) in checks.items():
        if status != 200 or not body.startswith(b"\x89PNG"):
            raise SystemExit(f"{name} answered {status} for tile {first}: {body[:300]!r}")
    agreement = compare_tiles(front, titiler, public.key, suffix, tiles[:30])

    # (a) uncached: empty the tile cache, then each tile once.
    shutil.rmtree(public.directory / "tiles", ignore_errors=True)
    warm = [f"{z}/{x}/{y}" for z in (0, 1, 2) for x in range(2**z) for y in range(2**z)]
    for _ in range(2):  # every worker opens its sources outside the timed part
        for zxy in warm:
            fetch(f"{portal}/tiles/{public.key}/{zxy}.png")
            fetch(f"{titiler}/cog/tiles/WebMercatorQuad/{zxy}{suffix}")
    uncached: dict[str, list[dict]] = {"portal": [], "titiler": []}
    for i in range(args.repeat):
        shutil.rmtree(public.directory / "tiles", ignore_errors=True)
        with step(f"(a) uncached {i + 1}/{args.repeat}: portal (gunicorn), {len(tiles):,} tiles"):
            uncached["portal"].append(
                wrk(args, portal, tiles_file, "once", f"/tiles/{public.key}/", ".png")
            )
        with step(f"(a) uncached {i + 1}/{args.repeat}: TiTiler, {len(tiles):,} tiles"):
            uncached["titiler"].append(
                wrk(args, titiler, tiles_file, "once", "/cog/tiles/WebMercatorQuad/", suffix)
            )
    cached_on_disk = sum((public.directory / "tiles" / f"{t}.png").exists() for t in tiles)

    # (b) cached
    status, headers, _ = fetch(f"{front}/tiles/{public.key}/{first}.png")
    if status != 200 or headers.get("X-Tile-Source") != "disk":
        raise SystemExit(f"nginx did not serve {first} from disk: {status} {headers}")
    client = Client()
    client.force_login(partner)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    # A fresh named key for this run (keys are kept only as digests, so none can be read back).
    token = api_token_create(user=partner, name=f"bench {dt.datetime.now().isoformat()}")[1]
    cached: dict[str, list[dict]] = {"front": [], "static": [], "restricted": []}
    for i in range(args.repeat):
        with step(
            f"(b) cached {i + 1}/{args.repeat}: portal via nginx (public), {args.duration} s"
        ):
            cached["front"].append(
                wrk(args, front, tiles_file, "loop", f"/tiles/{public.key}/", ".png")
            )
        with step(f"(b) cached {i + 1}/{args.repeat}: nginx static directory, {args.duration} s"):
            cached["static"].append(wrk(args, static, tiles_file, "loop", "/", ".png"))
    from portal import tile_capabilities

    expires, signature = tile_capabilities.issue(private.key)
    capability = f"/tiles/c/{private.key}/{expires}/{signature}/"
    shutil.rmtree(private.directory / "tiles", ignore_errors=True)
    with step("(b) restricted: capability URLs via nginx → Django, each tile once (uncached)"):
        cached["restricted_first"] = [wrk(args, front, tiles_file, "once", capability, ".png")]
    for i in range(args.repeat):
        with step(f"(b) restricted {i + 1}/{args.repeat}: capability URLs via nginx (njs), cached"):
            cached["restricted"].append(wrk(args, front, tiles_file, "loop", capability, ".png"))
    with step(f"(b) restricted: session cookie → Django → X-Accel-Redirect, {args.duration} s"):
        cached["restricted_session"] = [
            wrk(
                args,
                front,
                tiles_file,
                "loop",
                f"/tiles/{private.key}/",
                ".png",
                "Cookie: " + cookie,
            )
        ]
    if empty:
        with step(f"(b) insight: empty tiles inside the bounds via nginx, {args.duration} s"):
            cached["empty"] = [
                wrk(args, front, empty_file, "loop", f"/tiles/{public.key}/", ".png")
            ]
    restricted_checks = {
        "session": fetch(f"{front}/tiles/{private.key}/{first}.png", {"Cookie": cookie}),
        "token": fetch(
            f"{front}/tiles/{private.key}/{first}.png", {"Authorization": f"Token {token}"}
        ),
        "anonymous": fetch(f"{front}/tiles/{private.key}/{first}.png"),
        "capability": fetch(f"{front}{capability}{first}.png"),
        "tampered capability": fetch(
            f"{front}/tiles/c/{private.key}/{expires}/{signature[::-1]}/{first}.png"
        ),
        "expired capability": fetch(
            f"{front}/tiles/c/{private.key}/1000/"
            f"{tile_capabilities.signature(private.key, 1000)}/{first}.png"
        ),
    }

    report(args, cmd, facts, samples, renders, public, meta, cog, tiles, full, n_empty,
           uncached, cached, cached_on_disk, agreement, restricted_checks)  # fmt: skip


def report(args, cmd, facts, samples, renders, public, meta, cog, tiles, full, n_empty,
           uncached, cached, cached_on_disk, agreement, restricted_checks) -> None:  # fmt: skip
    def load(r):
        return f"{r['load'][0]:.1f}/{r['load'][1]:.1f}"

    def bad(r):
        ok = {"200"}
        return sum(n for code, n in r["statuses"].items() if code not in ok) + sum(
            r["errors"].values()
        )

    def median(runs):
        return sorted(runs, key=lambda r: r["rate"])[(len(runs) - 1) // 2]

    def spread(runs):
        return "–".join(f"{r['rate']:,.0f}" for r in (min(runs, key=rate), max(runs, key=rate)))

    def rate(r):
        return r["rate"]

    def ms(r, key):
        return "—" if r["latency_us"] is None else f"{r['latency_us'][key] / 1000:.1f}"

    print()
    print(f"Tile benchmark — {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}")
    print(
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{facts['server_version'].split()[0]}; load average now {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  data: {samples:,} samples of {args.element} ({MEDIUM}); public: "
        f"{', '.join(PUBLIC_COUNTRIES)}; partner also {PARTNER_COUNTRY}"
    )
    print(
        f"  layer {public.key}: {args.scale} km cells, native zoom {meta['native_zoom']}, maxzoom "
        f"{meta['maxzoom']}, layer.tif at zoom {meta.get('cog_zoom')} "
        f"({cog.stat().st_size / 1e6:.1f} MB), bounds {[round(b, 2) for b in public.bounds]}"
    )
    print(
        f"  tiles: zooms {args.zooms} inside the bounds: {len(full):,} with data, {n_empty:,} "
        f"empty; {len(tiles):,} used (shuffled, seed {args.seed}); wrk -t {args.threads} "
        f"-c {args.connections}; {args.workers} worker processes for gunicorn and for uvicorn"
    )
    print()
    print("(c) render one layer (maps.layers.render, in this process)      target ≤ 10 s")
    print(f"  {'style':<8} {'rows':>10} {'features':>10} {'seconds':>8} {'load':>9}")
    for style, (layer, seconds, _p, ld) in renders.items():
        print(
            f"  {style:<8} {layer.n_values:>10,} {layer.n_features:>10,} {seconds:>8.2f} "
            f"{ld[0]:>4.1f}/{ld[1]:.1f}  {'met' if seconds <= 10 else 'NOT met'}"
        )
    for style, (_layer, seconds, p, _) in renders.items():
        print(f"  phases of {style} ({seconds:.2f} s):")
        for name, label in PHASE_LABELS:
            print(f"    {label:<44} {p[name]:>7.2f} s {p[name] / seconds:>6.1%}")
    print()
    print("(a) uncached tiles, each tile requested once                    target ≥ 10×")
    print(
        f"  {'server (median of --repeat runs)':<44} {'tiles':>6} {'s':>6} {'tiles/s':>8} "
        f"{'runs tiles/s':>13} {'bad':>4} {'load':>9}"
    )
    names = {
        "portal": "portal: gunicorn, production settings",
        "titiler": "TiTiler: uvicorn, layer.tif, internal palette",
    }
    for key, label in names.items():
        r = median(uncached[key])
        print(
            f"  {label:<44} {r['tiles']:>6,} {r['seconds']:>6.1f} {r['rate']:>8,.0f} "
            f"{spread(uncached[key]):>13} {bad(r):>4} {load(r):>9}"
        )
    ratio_a = median(uncached["portal"])["rate"] / median(uncached["titiler"])["rate"]
    pairs = [
        p["rate"] / t["rate"] for p, t in zip(uncached["portal"], uncached["titiler"], strict=True)
    ]
    print(
        f"  ratio portal / TiTiler (medians): {ratio_a:.2f}×  "
        f"({'met' if ratio_a >= 10 else 'NOT met'}); per run: "
        + ", ".join(f"{x:.2f}" for x in pairs)
    )
    print(
        f"  the portal cached {cached_on_disk:,} of the {len(tiles):,} tiles it cut; "
        f"equal RGBA pixels, portal vs TiTiler, first 30 tiles: {agreement:.1%}"
    )
    print()
    print(f"(b) cached tiles, cycling through the list for {args.duration} s    target ≥ 0.5×")
    print(
        f"  {'path (median of runs)':<44} {'requests':>8} {'req/s':>8} {'runs req/s':>15} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'bad':>4} {'load':>9}"
    )
    rows = [
        ("front", "portal: nginx (deploy/nginx.conf), public"),
        ("static", "reference: nginx, plain static directory"),
        ("restricted", "restricted: capability, nginx (njs) from disk"),
        ("restricted_session", "restricted: session, nginx → Django → X-Accel"),
        ("restricted_first", "restricted, first request (Django cuts)"),
        ("empty", "insight: empty tiles (not cached) → Django"),
    ]
    for key, label in rows:
        if key not in cached:
            continue
        r = median(cached[key])
        print(
            f"  {label:<44} {r['requests']:>8,} {r['rate']:>8,.0f} {spread(cached[key]):>15} "
            f"{ms(r, 'p50'):>7} {ms(r, 'p99'):>7} {bad(r):>4} {load(r):>9}"
        )
    ratio_b = median(cached["front"])["rate"] / median(cached["static"])["rate"]
    ratio_r = median(cached["restricted"])["rate"] / median(cached["static"])["rate"]
    pairs = [f["rate"] / t["rate"] for f, t in zip(cached["front"], cached["static"], strict=True)]
    print(
        f"  ratio portal / static (medians): {ratio_b:.2f}×  "
        f"({'met' if ratio_b >= 0.5 else 'NOT met'}); per run: "
        + ", ".join(f"{x:.2f}" for x in pairs)
    )
    pairs_r = [
        r["rate"] / t["rate"] for r, t in zip(cached["restricted"], cached["static"], strict=True)
    ]
    print(
        f"  ratio restricted (capability) / static (medians): {ratio_r:.2f}×  "
        f"({'met' if ratio_r >= 0.5 else 'NOT met'}); per run: "
        + ", ".join(f"{x:.2f}" for x in pairs_r)
    )
    print(
        "  restricted tile, one request each: "
        + ", ".join(f"{k} → {v[0]}" for k, v in restricted_checks.items())
    )
    print()
    print(f"command: {cmd}")


if __name__ == "__main__":
    main()
