#!/usr/bin/env python
"""API benchmark (issue #15): bbox GeoJSON, OGC API items against tipg, CSV packages, big pages.

    .venv/bin/python benchmarks/api.py --samples 200000

Needs nginx, wrk and tipg in var/bench-venv (``make bench-install``). One run (see
benchmarks/README.md):

1. Re-creates its own database (default ``chemearth_bench_api``) and builds benchmarks/access.py's
   synthetic world in it (12 countries, 40 surveys, N samples, ~10 N measurements stored as
   ingest stores them, release policies for every rule of the gate). Redis database ``--redis-db``
   (default 7, flushed) for the cache and the Celery broker; packages under var/bench/api.
2. Picks a bbox in central France (public) holding at least 1.5 × 1,000 samples.
3. (c) In this process: a long CSV package of about ``--download-rows`` measurement rows for a
   registered user (``downloads.services.download_request`` + ``claim`` + ``download_build``, the
   Celery task's code without the queue), against ``psql -c "COPY (SELECT …) TO STDOUT"`` of
   the package's own gated SELECT (same rows) to /dev/null; for insight the same COPY read by
   psycopg in Python. Medians of ``--repeat``, interleaved.
4. Starts gunicorn (production settings, ``--workers``), tipg (uvicorn, same worker count, the
   sample table of the same database, no gate) and a plain static nginx, each on a free port.
5. (a) wrk (benchmarks/api.lua) for ``--duration`` s at ``--connections`` on
   ``/api/v1/samples/?bbox=…&limit=1000`` and on the same response body saved as a file and
   served by the static nginx: p50/p95/p99 and requests/s.
6. (b) wrk on ``/ogcapi/collections/samples/items?limit=1000&bbox=…`` and on tipg's
   ``/collections/public.baselines_sample/items?limit=1000&bbox=…``: pages/s.
   (a) and (b) run twice: the same URL repeated (the portal's page cache answers after the first
   request; tipg has no cache), and "new": every request a bbox of its own, moved by up to ±0.1°
   (api.lua), so every portal page is built from the database.
7. (d) ``/api/v1/measurements/?limit=10000`` requested ``--repeat`` times, one at a time.
8. For insight, each timed URL once in this process with its SQL captured; the slowest statement
   of each is EXPLAIN (ANALYZE, BUFFERS)ed into benchmarks/out/api-plans.txt.

Prints a table, the ratios against the targets and the exact command line. No timing asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zlib

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
from tiles import Servers, fetch, free_port, nginx_static_conf, start_nginx

BENCH = ROOT / "var" / "bench" / "api"
BENCH_VENV = ROOT / "var" / "bench-venv"
OUT = ROOT / "benchmarks" / "out"
PLANS_FILE = OUT / "api-plans.txt"
LUA = ROOT / "benchmarks" / "api.lua"
SECRET = "api-benchmark-secret-key-not-for-production-0123456789abcdef"
CENTRE = (2.5, 46.8)  # central France: public, no dense regional survey
PUBLIC = ("FRA", "BEL", "NLD", "ESP", "CZE", "ITA", "CHN", "AUT", "CHE", "DEU")  # access.py's
TIPG_COLLECTION = "public.baselines_sample"
TARGETS = {"a": 100.0, "b": 1.0, "c": 0.5, "d": 2.0}


def environment(args) -> dict:
    return {
        **production_env(args.database, args.redis_db, SECRET),
        "DOWNLOAD_ROOT": str(BENCH / "downloads"),
    }


def wrk(args, url: str, header: str = "", jitter: tuple[str, tuple] | None = None) -> dict:
    """wrk on ``url``; with ``jitter`` (a path with ``{bbox}`` and a bbox) every request asks for
    a bbox of its own near that one (api.lua), so no cache answers it."""
    argv = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s"]
    argv += ["--timeout", "60s", "-s", str(LUA), url]
    if jitter:
        path, box = jitter
        argv += ["--", header, path, *(f"{v:.7f}" for v in box)]
    elif header:
        argv += ["--", header]
    load = os.getloadavg()[0]
    proc = subprocess.run(argv, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("API-RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(line.removeprefix("API-RESULT "))
    r["seconds"] = r["duration_us"] / 1e6
    r["rate"] = r["requests"] / r["seconds"]
    r["bad"] = sum(n for code, n in r["statuses"].items() if code != "200") + sum(
        v for k, v in r["errors"].items() if k != "status"
    )
    r["load"] = (load, os.getloadavg()[0])
    return r


def pick_bbox(cursor, wanted: int) -> tuple[tuple[float, ...], int]:
    """The smallest square around CENTRE (growing by √2) holding at least ``wanted`` samples."""
    half = 0.1
    while True:
        box = (CENTRE[0] - half, CENTRE[1] - half, CENTRE[0] + half, CENTRE[1] + half)
        cursor.execute(
            "SELECT count(*) FROM baselines_sample WHERE geom && ST_MakeEnvelope(%s,%s,%s,%s,4326)",
            list(box),
        )
        n = cursor.fetchone()[0]
        if n >= wanted or half > 4:
            return tuple(round(v, 4) for v in box), n
        half *= math.sqrt(2)


def time_downloads(args) -> dict:
    """(c): package build vs COPY of the same SELECT, interleaved; medians."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from downloads import services
    from downloads.query import DownloadQuery
    from downloads.selectors import count_measurements, long_rows
    from sharing.access import viewer_scope

    services.queue_build = lambda job: None  # built below, in this process (the task's code)
    if not args.progress:
        # package.copy_table calls progress() every PROGRESS_SECONDS while its COPY is open, and
        # progress() UPDATEs the job on the same connection: psycopg's connection lock is held
        # by the COPY, so the UPDATE waits for ever (a package longer than 0.5 s never ends).
        # Progress is reported only at the end of the COPY here; --progress keeps it (and hangs).
        from downloads import package as package_module

        package_module.PROGRESS_SECONDS = float("inf")
    user, _ = get_user_model().objects.get_or_create(username="bench-downloads")  # --reuse
    scope = viewer_scope(user)
    symbols = [e[0] for e in access.ELEMENTS]
    body = {"countries": list(PUBLIC), "elements": symbols, "format": "csv"}
    everything = count_measurements(scope, DownloadQuery.parse(body))
    k = min(len(symbols), max(1, math.ceil(args.download_rows / (everything / len(symbols)))))
    body["elements"] = symbols[:k]
    query = DownloadQuery.parse(body)
    rows = count_measurements(scope, query)
    with connection.cursor() as cursor:
        statement = long_rows(scope, query).statement(cursor.cursor)
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn(args.database), "-c"]
    psql.append(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)")

    def package() -> tuple[float, dict]:
        started = time.perf_counter()
        job = services.download_request(user=user, query=query)
        assert services.claim(job.pk)
        job = services.download_build(job_id=job.pk)
        seconds = time.perf_counter() - started
        info = {"rows": job.rows_written, "bytes": job.size_bytes, "state": job.state}
        if job.state != "ready":
            raise SystemExit(f"the package ended {job.state}: {job.error}")
        job.path.unlink(missing_ok=True)
        return seconds, info

    def copy_psql() -> tuple[float, dict]:
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            subprocess.run(psql, stdout=sink, check=True)
        return time.perf_counter() - started, {}

    def copy_python() -> tuple[float, dict]:
        n = size = 0
        started = time.perf_counter()
        sql = f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for data in copy:
                n += 1
                size += len(data)
        return time.perf_counter() - started, {"rows": n, "bytes": size}

    runs: dict[str, list[float]] = {"package": [], "copy": [], "copy_python": []}
    infos = {}
    load = os.getloadavg()[0]
    copy_psql()  # warm-up: the rows in the page cache for both
    for i in range(args.repeat):
        for name, fn in (("package", package), ("copy", copy_psql), ("copy_python", copy_python)):
            with access.step(f"(c) {name} {i + 1}/{args.repeat}"):
                seconds, info = fn()
            runs[name].append(seconds)
            infos[name] = info or infos.get(name, {})
    return {
        "rows": rows,
        "elements": symbols[:k],
        "runs": runs,
        "median": {k: statistics.median(v) for k, v in runs.items()},
        "info": infos,
        "load": (load, os.getloadavg()[0]),
    }


def explain(urls: dict[str, str]) -> dict:
    """Each URL once in this process with its SQL captured; EXPLAIN ANALYZE of the slowest."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    found = {}
    OUT.mkdir(parents=True, exist_ok=True)
    with PLANS_FILE.open("w") as out:
        for key, path in urls.items():
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                seconds = time.perf_counter() - started
            queries = [(float(q["time"]), q["sql"]) for q in captured.captured_queries]
            slowest = max(queries) if queries else (0.0, "")
            found[key] = {
                "status": response.status_code,
                "seconds": seconds,
                "queries": len(queries),
                "sql_seconds": sum(t for t, _ in queries),
                "slowest": slowest[0],
            }
            out.write(f"=== ({key}) {path}: {response.status_code}, {seconds * 1000:.1f} ms, ")
            out.write(f"{len(queries)} queries, slowest {slowest[0] * 1000:.1f} ms\n")
            out.write(slowest[1] + "\n\n")
            if slowest[1].lstrip().upper().startswith("SELECT"):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1])
                    out.write("\n".join(r[0] for r in cursor.fetchall()) + "\n\n")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--samples", type=int, default=200_000, help="samples of the world (default 200000)")
    add("--seed", type=int, default=20240601, help="random seed of the world")
    add("--database", default="chemearth_bench_api", help="benchmark database (re-created)")
    add("--redis-db", type=int, default=7, help="Redis database of the run (flushed; default 7)")
    add("--workers", type=int, default=3, help="gunicorn and tipg (uvicorn) workers (default 3)")
    add("--connections", type=int, default=16, help="wrk -c (default 16)")
    add("--threads", type=int, default=2, help="wrk -t (default 2)")
    add("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    add("--repeat", type=int, default=3, help="interleaved runs of each part (default 3)")
    add("--download-rows", type=int, default=1_000_000, help="rows of the CSV package (about)")
    add("--keep", action="store_true", help="keep the database")
    add(
        "--progress",
        action="store_true",
        help="keep the package's progress updates during its COPY (they deadlock: see (c))",
    )
    add("--reuse", action="store_true", help="time a database kept with --keep (no build)")
    args = parser.parse_args()
    if args.database.lower() in PROTECTED_DATABASES | {"chemearth_bench"} or (
        args.database.lower().startswith("test_chemearth")
    ):
        parser.error(f"--database {args.database!r} is not a benchmark database")
    for tool in ("nginx", "wrk", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: run `make bench-install`")
    if not (BENCH_VENV / "bin" / "uvicorn").exists() or not list(
        (BENCH_VENV / "lib").glob("python*/site-packages/tipg")
    ):
        raise SystemExit(f"tipg is not installed in {BENCH_VENV}: run `make bench-install`")

    cmd = command_line()
    print(f"command: {cmd}")
    os.environ.update(environment(args))
    sys.path.insert(0, str(ROOT))
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
        shutil.rmtree(BENCH, ignore_errors=True)
        if args.keep:
            print(f"(kept database {args.database})")
        else:
            drop_database(args.database)
            print(f"(database {args.database} dropped; --keep keeps it)")
        lock.close()


def bench(args, servers: Servers, cmd: str) -> None:
    started = time.perf_counter()
    BENCH.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    if not args.reuse:
        with access.step(f"re-creating database {args.database}"):
            recreate_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from baselines.models import Measurement, Sample

    if not args.reuse:
        with access.step("migrate"):
            call_command("migrate", verbosity=0, interactive=False)
        t = time.perf_counter()
        access.build_world(args.samples, args.seed, timings, False)
        build_seconds = time.perf_counter() - t
    else:
        build_seconds = 0.0
    samples, measurements = Sample.objects.count(), Measurement.objects.count()
    with connection.cursor() as cursor:
        bbox, in_bbox = pick_bbox(cursor, 1500)
        cursor.execute("SELECT current_setting('server_version')")
        version = cursor.fetchone()[0]
    bbox_text = ",".join(f"{v:g}" for v in bbox)
    print(f"  bbox {bbox_text}: {in_bbox:,} samples")

    # (c) first, in this process, before any server runs.
    downloads = time_downloads(args)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    logs = BENCH / "log"
    g_port, t_port, s_port = (free_port() for _ in range(3))
    portal, tipg, static = (f"http://127.0.0.1:{p}" for p in (g_port, t_port, s_port))
    with access.step(f"starting gunicorn ({args.workers} sync workers, production settings)"):
        servers.start(
            "gunicorn",
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "chemearth.wsgi:application",
             "-b", f"127.0.0.1:{g_port}", "--workers", str(args.workers),
             "--error-logfile", "-"],
            env, logs / "gunicorn.log", portal + "/api/v1/",
        )  # fmt: skip
    tipg_env = {k: v for k, v in env.items() if not k.startswith(("DJANGO", "DATABASE"))} | {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{args.database}",
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": f'["{TIPG_COLLECTION}"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
    }
    with access.step(f"starting tipg (uvicorn, {args.workers} workers)"):
        servers.start(
            "tipg",
            [str(BENCH_VENV / "bin" / "uvicorn"), "tipg.main:app",
             "--host", "127.0.0.1", "--port", str(t_port), "--workers", str(args.workers),
             "--no-access-log", "--log-level", "warning"],
            tipg_env, logs / "tipg.log", tipg + "/healthz",
        )  # fmt: skip

    paths = {
        "a": f"/api/v1/samples/?bbox={bbox_text}&limit=1000",
        "b": f"/ogcapi/collections/samples/items?limit=1000&bbox={bbox_text}",
        "b-tipg": f"/collections/{TIPG_COLLECTION}/items?limit=1000&bbox={bbox_text}",
        "d": "/api/v1/measurements/?limit=10000",
    }
    checks = {}
    for key, base in (("a", portal), ("b", portal), ("b-tipg", tipg)):
        status, headers, body = fetch(base + paths[key])
        if status != 200:
            raise SystemExit(f"{base + paths[key]} answered {status}: {body[:500]!r}")
        doc = json.loads(body)
        features = doc.get("features", doc.get("results", {}))
        if isinstance(features, dict):
            features = features.get("features", [])
        checks[key] = {"features": len(features), "bytes": len(body)}
        if key == "a":
            static_root = BENCH / "static"
            static_root.mkdir(parents=True, exist_ok=True)
            (static_root / "samples.json").write_bytes(body)
    with access.step("starting a plain static nginx (the same body as a file)"):
        start_nginx(
            servers, "nginx-static",
            nginx_static_conf(f"127.0.0.1:{s_port}", BENCH / "static", BENCH / "nginx-static"),
            BENCH / "nginx-static", static + "/samples.json",
        )  # fmt: skip

    # warm-up: every worker answers each URL a few times
    for _ in range(2 * args.workers):
        for key, base in (("a", portal), ("b", portal), ("b-tipg", tipg)):
            fetch(base + paths[key])

    # "-new": every request a bbox of its own (the page cache never answers; tipg has none).
    def moving(key: str) -> tuple[str, tuple]:
        return paths[key].replace(f"bbox={bbox_text}", "bbox={bbox}"), bbox

    plan = (
        ("a", portal + paths["a"], None),
        ("a-static", static + "/samples.json", None),
        ("a-new", portal + paths["a"], moving("a")),
        ("b", portal + paths["b"], None),
        ("b-tipg", tipg + paths["b-tipg"], None),
        ("b-new", portal + paths["b"], moving("b")),
        ("b-tipg-new", tipg + paths["b-tipg"], moving("b-tipg")),
    )
    runs: dict[str, list[dict]] = {key: [] for key, _url, _jitter in plan}
    for i in range(args.repeat):
        for key, url, jitter in plan:
            with access.step(f"({key}) {i + 1}/{args.repeat}: wrk {args.duration} s"):
                runs[key].append(wrk(args, url, jitter=jitter))

    # (d) the largest documented page, one request at a time
    pages = []
    fetch(portal + paths["d"])  # warm-up
    for i in range(args.repeat):
        with access.step(f"(d) {i + 1}/{args.repeat}: {paths['d']}"):
            load = os.getloadavg()[0]
            t = time.perf_counter()
            status, _headers, body = fetch(portal + paths["d"])
            seconds = time.perf_counter() - t
        doc = json.loads(body) if status == 200 else {}
        n = len(doc.get("results", doc.get("features", [])))
        if isinstance(doc.get("results"), dict):
            n = len(doc["results"].get("features", []))
        pages.append({"seconds": seconds, "status": status, "rows": n, "bytes": len(body),
                      "load": load})  # fmt: skip

    with access.step(f"insight: SQL of each URL in this process → {PLANS_FILE.name}"):
        insight = explain({k: paths[k] for k in ("a", "b", "d")})

    report(args, cmd, version, samples, measurements, build_seconds, bbox_text, in_bbox,
           checks, runs, downloads, pages, insight, time.perf_counter() - started)  # fmt: skip


def report(args, cmd, version, samples, measurements, build_seconds, bbox_text, in_bbox,
           checks, runs, downloads, pages, insight, total) -> None:  # fmt: skip
    def median(key):
        return sorted(runs[key], key=lambda r: r["rate"])[(len(runs[key]) - 1) // 2]

    def spread(key):
        rates = [r["rate"] for r in runs[key]]
        return f"{min(rates):,.0f}–{max(rates):,.0f}"

    def load(r):
        return f"{r['load'][0]:.1f}/{r['load'][1]:.1f}"

    print()
    print(f"API benchmark (issue #15) — {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}")
    print(
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{version.split()[0]}; load average now {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  world: {samples:,} samples, {measurements:,} measurements (benchmarks/access.py's)"
        + (f", built in {build_seconds:.0f} s" if build_seconds else " (reused)")
    )
    print(
        f"  bbox {bbox_text} ({in_bbox:,} samples, central France, public); wrk -t "
        f"{args.threads} -c {args.connections} -d {args.duration}s; {args.workers} workers for "
        f"gunicorn and for tipg; median of {args.repeat} interleaved runs"
    )
    print()
    head = (
        f"  {'':<46} {'feat.':>6} {'KB':>6} {'req/s':>7} {'runs req/s':>13} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'bad':>4} {'load':>9}"
    )
    rows = [
        ("a", "(a) portal /api/v1/samples/?bbox&limit=1000", "a"),
        ("a-static", "    reference: same body, static nginx", "a"),
        ("a-new", "    portal, a new bbox each request", "a"),
        ("b", "(b) portal /ogcapi/…/samples/items", "b"),
        ("b-tipg", "    reference: tipg …/items (no gate)", "b-tipg"),
        ("b-new", "    portal, a new bbox each request", "b"),
        ("b-tipg-new", "    tipg, a new bbox each request", "b-tipg"),
    ]
    print(head)
    for key, label, check in rows:
        r = median(key)
        print(
            f"  {label:<46} {checks[check]['features']:>6,} {r['body_bytes'] / 1024:>6.0f} "
            f"{r['rate']:>7,.1f} {spread(key):>13} {r['p50_us'] / 1000:>7.1f} "
            f"{r['p95_us'] / 1000:>7.1f} {r['p99_us'] / 1000:>7.1f} {r['bad']:>4} {load(r):>9}"
        )
    a, static, b, t = median("a"), median("a-static"), median("b"), median("b-tipg")
    p95 = a["p95_us"] / 1000
    ratio_a = a["rate"] / static["rate"]
    ratio_b = b["rate"] / t["rate"]
    ratio_new = median("b-new")["rate"] / median("b-tipg-new")["rate"]
    print(
        f"  (a) p95 {p95:.1f} ms (target ≤ {TARGETS['a']:.0f} ms: "
        f"{'met' if p95 <= TARGETS['a'] else 'NOT met'}); req/s portal / static {ratio_a:.3f}×; "
        f"a new bbox each request: p95 {median('a-new')['p95_us'] / 1000:.1f} ms"
    )
    print(f"  (b) a new bbox each request: pages/s portal / tipg {ratio_new:.2f}×")
    print(
        f"  (b) pages/s portal / tipg {ratio_b:.2f}× (target ≥ {TARGETS['b']}×: "
        f"{'met' if ratio_b >= TARGETS['b'] else 'NOT met'}); per run: "
        + ", ".join(
            f"{x['rate'] / y['rate']:.2f}" for x, y in zip(runs["b"], runs["b-tipg"], strict=True)
        )
    )
    print()
    d = downloads
    m = d["median"]
    ratio_c = m["copy"] / m["package"]
    info = d["info"]["package"]
    print(
        f"(c) long CSV package, {d['rows']:,} measurement rows (public countries, "
        f"{len(d['elements'])} elements {','.join(d['elements'])}), registered user"
    )
    print(f"  {'':<58} {'median s':>9} {'runs s':>16} {'rows/s':>10}")
    for key, label in (
        ("package", f"package: request+build, zip {info['bytes'] / 1e6:.1f} MB"),
        ("copy", "reference: psql COPY (same SELECT) TO STDOUT > /dev/null"),
        ("copy_python", "insight: same COPY read by psycopg (no file)"),
    ):
        runs_s = "–".join(f"{x:.2f}" for x in (min(d["runs"][key]), max(d["runs"][key])))
        print(f"  {label:<58} {m[key]:>9.2f} {runs_s:>16} {d['rows'] / m[key]:>10,.0f}")
    print(
        f"  ratio package / COPY (rows/s): {ratio_c:.2f}× (target ≥ {TARGETS['c']}×: "
        f"{'met' if ratio_c >= TARGETS['c'] else 'NOT met'}); rows written {info['rows']:,}; "
        f"load {d['load'][0]:.1f}/{d['load'][1]:.1f}"
    )
    if not args.progress:
        print(
            "  (progress updates during the COPY switched off: progress() UPDATEs the job on the "
            "COPY's own connection and waits for ever on psycopg's connection lock)"
        )
    print()
    secs = [p["seconds"] for p in pages]
    med_d = statistics.median(secs)
    print(
        f"(d) /api/v1/measurements/?limit=10000 (anonymous), one at a time: median {med_d:.2f} s "
        f"(runs {', '.join(f'{s:.2f}' for s in secs)}), {pages[0]['rows']:,} rows, "
        f"{pages[0]['bytes'] / 1e6:.1f} MB, status {pages[0]['status']} (target ≤ "
        f"{TARGETS['d']:.0f} s: {'met' if med_d <= TARGETS['d'] else 'NOT met'})"
    )
    print()
    print("insight: each URL once in this process (Django test client), SQL captured")
    for key, v in insight.items():
        print(
            f"  ({key}) {v['status']}: {v['seconds'] * 1000:.1f} ms, {v['queries']} queries, SQL "
            f"{v['sql_seconds'] * 1000:.1f} ms, slowest {v['slowest'] * 1000:.1f} ms"
        )
    print(f"  plans: {os.path.relpath(PLANS_FILE, ROOT)}; total run time {total:.0f} s")
    print()
    print(f"command: {cmd}")


if __name__ == "__main__":
    main()
