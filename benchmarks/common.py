"""What the benchmark scripts share: their own databases and how a run records its provenance."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
# Databases a benchmark must never drop, whatever --database says.
PROTECTED_DATABASES = {"chemearth", "postgres", "template0", "template1", "test_chemearth"}


def dsn(database: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={database}"


def database_url(database: str) -> str:
    return f"postgis://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def deployment_env(database: str) -> dict[str, str]:
    """The environment of a benchmark's portal: its database, and a deployment named after it
    (``bench-<database>``), so its cache keys, Celery queue and control exchange are its own even
    on a Redis database the demo or another benchmark uses (docs/architecture.md §12)."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", f"bench-{database}".lower())[:63]
    # No API throttle: the load generators are one client asking thousands of pages a second;
    # no line per request either (the static reference servers log none).
    return {
        "DATABASE_URL": database_url(database),
        "DEPLOYMENT_NAME": name,
        "API_THROTTLE_ANON": "",
        "API_THROTTLE_USER": "",
        "REQUEST_LOG_LEVEL": "WARNING",
    }


def production_env(database: str, redis_db: int, secret: str) -> dict[str, str]:
    """A benchmark's portal as deployed (production settings) on its own database and Redis
    database; nginx in front listens on plain HTTP (production terminates TLS before it)."""
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    return {
        **deployment_env(database),  # its database, cache keys and queue
        "DJANGO_SETTINGS_MODULE": "chemearth.settings",
        "CHEMEARTH_ENV": "production",
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "REDIS_URL": redis_url,
        "CACHE_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "LOG_LEVEL": "WARNING",
    }


def _drop(conn, name: str) -> None:
    from psycopg import sql

    if name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop {name!r}: choose a benchmark database")
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def recreate_database(name: str) -> None:
    """Drop and create a benchmark database with PostGIS."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        _drop(conn, name)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        _drop(conn, name)


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def setup_django_on_kept(name: str) -> None:
    """Point Django at a database an earlier run kept (``ingest.py --keep``) and set it up."""
    if not database_exists(name):
        sys.exit(f"no database {name}: run benchmarks/ingest.py --keep first")
    os.environ.update(deployment_env(name))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def command_line() -> str:
    """The command that produced the figures, as one would type it in the repository."""
    exe = sys.executable
    if exe.startswith(str(ROOT)):
        exe = os.path.relpath(exe, ROOT)
    script = os.path.relpath(Path(sys.argv[0]).resolve(), ROOT)
    return shlex.join([exe, script, *sys.argv[1:]])


def git_revision() -> str:
    """Short commit id, marked when tracked files have uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + (" (uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
