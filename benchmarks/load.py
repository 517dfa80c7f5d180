#!/usr/bin/env python
"""Load benchmark (issue #19): the portal's real mix under 16 and 64 concurrent users.

    .venv/bin/python benchmarks/load.py --samples 100000 --duration 300

Needs nginx, locust and the bench venv (``make bench-install``). One run:

1. Re-creates its own database (default ``chemearth_bench_load``) and builds benchmarks/access.py's
   synthetic world (12 countries, 40 surveys, N samples, release policies for every rule of the
   gate, a partner organisation), gives the partner an API token and accepts its licences.
2. Renders the Cu/topsoil 80 km cells layer for the public and for the partner in this process
   (so tiles are there from the first request, as after ``make demo``).
3. Starts gunicorn (production settings, ``--workers``), one Celery worker (downloads, renders)
   and nginx per deploy/nginx.conf in front of gunicorn.
4. For each ``--users`` count, locust (benchmarks/locustfile.py: map page, layers, tiles, cell
   statistics, API and OGC API pages, dashboards pages and API, partner downloads and capability
   tiles) runs headless for ``--duration`` seconds against nginx; its CSV statistics give one line
   per endpoint: requests, failures, 5xx, median, p95, p99, requests/s.

Prints the table per user count, the 5xx total (target: zero at 64 users) and the command line.
No timing asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import access
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
from tiles import Servers, free_port, start_nginx

BENCH = ROOT / "var" / "bench" / "load"
BENCH_VENV = ROOT / "var" / "bench-venv"
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
SECRET = "load-benchmark-secret-key-not-for-production-0123456789abcdef"
CAPABILITY_SECRET = "load-benchmark-capability-secret-0123456789"
LAYER_QUERY = "element=Cu&medium=topsoil&scale=80&style=cells"


def environment(args) -> dict:
    return {
        **production_env(args.database, args.redis_db, SECRET),
        "TILE_ROOT": str(BENCH / "tiles"),
        "TILE_ACCEL_REDIRECT": "/_protected_tiles/",
        "TILE_CAPABILITY_SECRET": CAPABILITY_SECRET,
        "DOWNLOAD_ROOT": str(BENCH / "downloads"),
        "STATIC_ROOT": str(BENCH / "static"),  # collected with the manifest, as deployed
    }


def prepare(args) -> dict:
    """The world, the partner's token, the two rendered layers; what locust needs to know."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from baselines import grid
    from baselines.models import Element, Medium, Sample
    from maps import layers
    from sharing.access import viewer_scope
    from sharing.models import Agreement
    from sharing.services import api_token_create, licence_accept

    if not args.reuse:
        with access.step("migrate"):
            call_command("migrate", verbosity=0, interactive=False)
        access.build_world(args.samples, args.seed, {}, False)
    if not (args.reuse and (BENCH / "static" / "staticfiles.json").exists()):
        with access.step("collectstatic (production storage, with its manifest)"):
            call_command("collectstatic", interactive=False, verbosity=0)
    partner = get_user_model().objects.get(username=access.PARTNER_USER)
    for agreement in Agreement.objects.filter(organisation__members=partner).distinct():
        licence_accept(user=partner, agreement=agreement)
    token = api_token_create(user=partner, name=f"load {time.time():.0f}")[1]
    layers.queue_render = lambda layer: None  # rendered here, before the servers start
    spec = layers.LayerSpec(
        Element.objects.get(symbol="Cu"), Medium.objects.get(code="topsoil"), 80_000, "cells"
    )
    for viewer in (None, partner):
        with access.step(f"rendering the Cu topsoil 80 km layer for {viewer or 'the public'}"):
            layers.render(layers.find_layer(spec, viewer_scope(viewer), viewer))
    field = grid.cell_field_name(80_000)
    cells = list(Sample.objects.values_list(field, flat=True).distinct()[:300])
    countries = list(Sample.objects.values_list("country__iso_a3", flat=True).distinct())
    return {
        "token": token,
        "world": {
            "bbox": [2.0, 46.3, 3.0, 47.3],
            "cells": cells,
            "countries": countries,
            "layer_query": LAYER_QUERY,
        },  # fmt: skip
    }


def locust(args, front: str, users: int, world: dict, token: str) -> Path:
    prefix = BENCH / f"locust-{users}"
    world_file = BENCH / "world.json"
    world_file.write_text(json.dumps(world))
    env = dict(os.environ, LOAD_WORLD=str(world_file), LOAD_TOKEN=token)
    argv = [str(BENCH_VENV / "bin" / "locust"), "-f", str(LOCUSTFILE), "--headless",
            "-u", str(users), "-r", str(max(1, users // 8)), "-t", f"{args.duration}s",
            "--host", front, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
            "--stop-timeout", "10"]  # fmt: skip
    with access.step(f"locust: {users} users for {args.duration} s"):
        subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL,
                       stderr=(BENCH / f"locust-{users}.log").open("w"))  # fmt: skip
    return prefix


def read_stats(prefix: Path) -> tuple[list[dict], int, list[tuple[str, str, int]]]:
    """(per-endpoint rows, 5xx count, failures (endpoint, error, count))."""
    rows = list(csv.DictReader(Path(f"{prefix}_stats.csv").read_text().splitlines()))
    failures = [
        (f["Name"], f["Error"], int(f["Occurrences"]))
        for f in csv.DictReader(Path(f"{prefix}_failures.csv").read_text().splitlines())
    ]
    # locust names an HTTP error "HTTPError('503 Server Error: …')".
    server_errors = sum(n for _, error, n in failures if re.search(r"\b5[0-9][0-9] Server", error))
    return rows, server_errors, failures


def report(args, cmd: str, results: dict, loads: dict) -> None:
    print()
    print(f"Load mix (benchmarks/locustfile.py), {args.samples:,} samples, {args.workers} gunicorn "
          f"workers behind nginx, {args.duration} s per run, git {git_revision()}")  # fmt: skip
    for users, (rows, server_errors, failures) in results.items():
        load = loads[users]
        print()
        print(f"{users} users   load {load[0]:.1f} → {load[1]:.1f}   5xx: {server_errors}")
        print(f"  {'endpoint':<42} {'requests':>8} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'p99 ms':>7} {'req/s':>7}")  # fmt: skip
        for r in rows:
            print(f"  {(r['Name'] if r['Name'] != 'Aggregated' else 'all'):<42} "
                  f"{int(r['Request Count']):>8,} {int(r['Failure Count']):>5} "
                  f"{r['50%']:>7} {r['95%']:>7} {r['99%']:>7} "
                  f"{float(r['Requests/s']):>7.1f}")  # fmt: skip
        for name, error, count in failures[:10]:
            print(f"  failure: {name}: {error[:90]} × {count}")
    print()
    print(f"command: {cmd}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--samples", type=int, default=100_000, help="samples of the world (default 100000)")
    add("--seed", type=int, default=20240601, help="random seed of the world")
    add("--users", default="16,64", help="concurrent users, one run each (default 16,64)")
    add("--duration", type=int, default=300, help="seconds of each run (default 300)")
    add("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    add("--database", default="chemearth_bench_load", help="benchmark database (re-created)")
    add("--redis-db", type=int, default=14, help="Redis database of the run (flushed)")
    add("--keep", action="store_true", help="keep the database")
    add("--reuse", action="store_true", help="reuse a database kept with --keep")
    args = parser.parse_args()
    if args.database.lower() in PROTECTED_DATABASES or args.database.startswith("test_"):
        parser.error(f"--database {args.database!r} is not a benchmark database")
    if shutil.which("nginx") is None or not (BENCH_VENV / "bin" / "locust").exists():
        raise SystemExit("nginx or locust is missing: run `make bench-install`")
    cmd = command_line()
    print(f"command: {cmd}")
    os.environ.update(environment(args))
    sys.path.insert(0, str(ROOT))
    import psycopg
    import redis

    lock = psycopg.connect(dsn("postgres"), autocommit=True)
    key = zlib.crc32(f"chemearth benchmark {args.database}".encode()) - 2**31
    if not lock.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
        raise SystemExit(f"another benchmark run is using database {args.database}")
    servers = Servers()
    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    store.flushdb()
    for part in ("tiles", "downloads", "log", "nginx"):
        shutil.rmtree(BENCH / part, ignore_errors=True)
    BENCH.mkdir(parents=True, exist_ok=True)
    try:
        if not args.reuse:
            with access.step(f"re-creating database {args.database}"):
                recreate_database(args.database)
        ready = prepare(args)
        results, loads = run(args, servers, ready)
        report(args, cmd, results, loads)
    finally:
        servers.stop_all()
        store.flushdb()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if args.keep:
            print(f"(kept database {args.database}; logs and locust CSVs in {BENCH})")
        else:
            drop_database(args.database)
            shutil.rmtree(BENCH / "tiles", ignore_errors=True)
            shutil.rmtree(BENCH / "downloads", ignore_errors=True)
            print(f"(database {args.database} dropped; locust CSVs and logs kept in {BENCH})")
        lock.close()


def run(args, servers: Servers, ready: dict) -> tuple[dict, dict]:
    from chemearth.nginx_conf import filled

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    logs = BENCH / "log"
    g_port, f_port = free_port(), free_port()
    portal, front = f"http://127.0.0.1:{g_port}", f"http://127.0.0.1:{f_port}"
    with access.step(f"starting gunicorn ({args.workers} workers), a Celery worker and nginx"):
        servers.start(
            "gunicorn",
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "chemearth.wsgi:application",
             "-b", f"127.0.0.1:{g_port}", "--workers", str(args.workers),
             "--error-logfile", "-"],
            env, logs / "gunicorn.log", portal + "/health/",
        )  # fmt: skip
        servers.start(
            "celery",
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "chemearth", "worker",
             "--concurrency", "1", "--loglevel", "WARNING", "--without-gossip",
             "--without-mingle"],
            env, logs / "celery.log", portal + "/health/",
        )  # fmt: skip
        conf = filled(
            {
                "USER": "www-data", "RUN_DIR": str(BENCH / "nginx" / "run"),
                "LOG_DIR": str(BENCH / "nginx" / "log"), "MIME_TYPES": "/etc/nginx/mime.types",
                "LISTEN": f"127.0.0.1:{f_port}", "SERVER_NAME": "127.0.0.1 localhost",
                "UPSTREAM": f"127.0.0.1:{g_port}", "STATIC_ROOT": str(BENCH / "static"),
                "TILE_ROOT": str(BENCH / "tiles"), "NGINX_MODULES": "/usr/lib/nginx/modules",
                "DEPLOY_DIR": str(ROOT / "deploy"),
            }
        )  # fmt: skip
        start_nginx(servers, "nginx-front", conf, BENCH / "nginx", front + "/health/")
    results, loads = {}, {}
    for users in (int(u) for u in args.users.split(",")):
        before = os.getloadavg()[0]
        prefix = locust(args, front, users, ready["world"], ready["token"])
        loads[users] = (before, os.getloadavg()[0])
        results[users] = read_stats(prefix)
    return results, loads


if __name__ == "__main__":
    main()
