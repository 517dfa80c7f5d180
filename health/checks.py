"""The health checks behind /health/ and `manage.py health`.

Each check says ok or not, why (``detail``) and how long it took (``ms``):

- ``database`` (a query answers), ``postgis`` (``postgis_version()``), ``migrations`` (none
  unapplied);
- ``cache`` (a value written to the cache is read back), ``beat`` (beat's heartbeat, written by
  ``health.tasks``, is younger than HEALTH_BEAT_MAX_AGE);
- ``broker`` (Celery's broker accepts a connection), ``workers`` (a worker of this deployment
  answers a ping within HEALTH_WORKER_TIMEOUT);
- ``disk_tiles``, ``disk_downloads`` (the file systems under TILE_ROOT and DOWNLOAD_ROOT have at
  least HEALTH_DISK_MIN_FREE_MB free);
- ``replica``, only when DATABASE_REPLICA_URL is set (chemearth/db_router.py sends reads there):
  it answers, is a standby receiving WAL, and has replayed what it received or is less than
  HEALTH_REPLICA_MAX_LAG behind.

Time-bounded: the checks run in four probes (database, cache, Celery, disk) on threads of their
own, and ``run_checks`` waits at most HEALTH_TIMEOUT for them; a probe that has not answered by
then is down ("no answer within …"). A probe still running from an earlier call is waited for
again rather than started twice, so a hung server never piles up threads. Every exception is
caught and becomes a failed check; details are scrubbed of passwords, the secret key and paths.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import caches
from django.db import connections

from .tasks import HEARTBEAT_KEY

MAX_DETAIL = 300


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    ms: int

    def as_dict(self, details: bool) -> dict:
        return {"ok": self.ok, "detail": self.detail, "ms": self.ms} if details else {"ok": self.ok}


@dataclass(frozen=True)
class Report:
    checks: dict[str, Check]
    ms: int

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self, details: bool = False) -> dict:
        """The JSON body: status and each check's ``ok``; with ``details``, also each check's
        detail and time, the deployment's name and the total time."""
        body: dict = {"status": "ok" if self.ok else "down"}
        if details:
            body["deployment"] = settings.DEPLOYMENT_NAME
            body["ms"] = self.ms
        body["checks"] = {name: check.as_dict(details) for name, check in self.checks.items()}
        return body


# --------------------------------------------------------------------------- scrubbing details

_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)


def _secrets() -> list[str]:
    """Values no detail may contain: the secret key, the health token, database passwords and
    the passwords in the cache, broker and result URLs."""
    values = [settings.SECRET_KEY, getattr(settings, "HEALTH_TOKEN", "")]
    values += [db.get("PASSWORD") or "" for db in settings.DATABASES.values()]
    urls = [conf.get("LOCATION") for conf in settings.CACHES.values()]
    for name in (
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "DATABASE_URL",
        "DATABASE_REPLICA_URL",
    ):
        urls += [getattr(settings, name, None), os.environ.get(name)]
    for url in urls:
        for one in url if isinstance(url, list | tuple) else [url]:
            try:
                password = urlsplit(one).password if isinstance(one, str) else None
            except ValueError:
                password = None
            values.append(password or "")
    return sorted({v for v in values if isinstance(v, str) and v}, key=len, reverse=True)


def _paths() -> list[tuple[str, str]]:
    """Directories shown by the name of their setting rather than their path."""
    named = [
        (getattr(settings, "TILE_ROOT", None), "<TILE_ROOT>"),
        (getattr(settings, "DOWNLOAD_ROOT", None), "<DOWNLOAD_ROOT>"),
        (getattr(settings, "MEDIA_ROOT", None), "<MEDIA_ROOT>"),
        (settings.BASE_DIR, "<BASE_DIR>"),
    ]
    found = [(str(path), name) for path, name in named if path and len(str(path)) > 1]
    return sorted(found, key=lambda item: len(item[0]), reverse=True)


def scrub(text: str) -> str:
    """A detail fit to show an operator: no credentials, no secret key, no paths."""
    text = _URL_CREDENTIALS.sub(r"\1***@", str(text))
    for secret in _secrets():
        text = text.replace(secret, "***")
    for path, name in _paths():
        text = text.replace(path, name)
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _describe(exc: BaseException) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _timed(check: Callable[[], tuple[bool, str]]) -> Check:
    start = time.monotonic()
    try:
        ok, detail = check()
    except Exception as exc:
        ok, detail = False, _describe(exc)
    return Check(bool(ok), scrub(detail), round((time.monotonic() - start) * 1000))


def _skipped(reason: str) -> Check:
    return Check(False, reason, 0)


# ------------------------------------------------------------------------------------- probes


def probe_database() -> dict[str, Check]:
    connection = connections["default"]

    def database() -> tuple[bool, str]:
        with connection.cursor() as cursor:
            # A lock or an overloaded server must not hold the answer (the connection is closed
            # after the probe, so the setting ends with it).
            cursor.execute(f"SET statement_timeout = {max(int(_timeout() * 1000), 100)}")
            cursor.execute("SHOW server_version")
            return True, f"PostgreSQL {cursor.fetchone()[0].split()[0]}"

    def postgis() -> tuple[bool, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT postgis_version()")
            return True, f"PostGIS {cursor.fetchone()[0].split()[0]}"

    def migrations() -> tuple[bool, str]:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            return True, "all applied"
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _backwards in plan[:5])
        more = f" and {len(plan) - 5} more" if len(plan) > 5 else ""
        return False, f"{len(plan)} unapplied: {names}{more}"

    try:
        checks = {"database": _timed(database)}
        if checks["database"].ok:
            checks["postgis"] = _timed(postgis)
            checks["migrations"] = _timed(migrations)
        else:
            checks["postgis"] = checks["migrations"] = _skipped("the database does not answer")
        return checks
    finally:
        connection.close()


def probe_cache() -> dict[str, Check]:
    cache = caches["default"]

    def write_and_read() -> tuple[bool, str]:
        key, value = f"health:probe:{uuid.uuid4().hex}", uuid.uuid4().hex
        cache.set(key, value, timeout=30)
        read = cache.get(key)
        cache.delete(key)
        return (
            (True, "a value written was read back")
            if read == value
            else (
                False,
                "a value written was not read back",
            )
        )

    def beat() -> tuple[bool, str]:
        at = cache.get(HEARTBEAT_KEY)
        if not isinstance(at, int | float):
            return False, "no heartbeat recorded: is celery beat running?"
        age, limit = time.time() - at, settings.HEALTH_BEAT_MAX_AGE
        if age > limit:
            return False, f"last heartbeat {_duration(age)} ago (stale after {_duration(limit)})"
        return True, f"last heartbeat {_duration(age)} ago"

    checks = {"cache": _timed(write_and_read)}
    checks["beat"] = (
        _timed(beat) if checks["cache"].ok else _skipped("cannot read the heartbeat: cache down")
    )
    return checks


def probe_celery() -> dict[str, Check]:
    """A Celery app of its own, configured from the settings as they are now: the broker URL
    (Celery reads CELERY_BROKER_URL from the environment first, as every app of this process
    does) and this deployment's control exchange, so only its own workers answer."""
    from celery import Celery

    app = Celery("chemearth-health", set_as_current=False, fixups=[])
    app.config_from_object("django.conf:settings", namespace="CELERY")
    try:
        with app.connection_for_write() as connection:

            def broker() -> tuple[bool, str]:
                connection.ensure_connection(
                    max_retries=1, interval_start=0, interval_step=0.2, timeout=_timeout()
                )
                return True, f"connected ({connection.transport_cls})"

            def workers() -> tuple[bool, str]:
                wait_for = settings.HEALTH_WORKER_TIMEOUT
                replies = app.control.ping(timeout=wait_for, limit=1, connection=connection)
                names = sorted(name for reply in replies for name in reply)
                if not names:
                    return False, (
                        f"no worker of deployment {settings.DEPLOYMENT_NAME} answered a ping "
                        f"within {wait_for:g} s"
                    )
                return True, f"{', '.join(names)} answered"

            checks = {"broker": _timed(broker)}
            checks["workers"] = (
                _timed(workers) if checks["broker"].ok else _skipped("cannot ping: broker down")
            )
            return checks
    finally:
        app.close()


def probe_disk() -> dict[str, Check]:
    def free_under(setting: str) -> Callable[[], tuple[bool, str]]:
        def check() -> tuple[bool, str]:
            path = Path(getattr(settings, setting))
            while not path.exists() and path != path.parent:
                path = path.parent  # not created yet: where it will be
            usage = shutil.disk_usage(path)
            minimum = settings.HEALTH_DISK_MIN_FREE_MB * 1024 * 1024
            text = (
                f"{setting}: {_size(usage.free)} free of {_size(usage.total)} "
                f"({usage.free * 100 // max(usage.total, 1)}%)"
            )
            if usage.free < minimum:
                return False, f"{text}, below {_size(minimum)}"
            return True, text

        return check

    return {
        "disk_tiles": _timed(free_under("TILE_ROOT")),
        "disk_downloads": _timed(free_under("DOWNLOAD_ROOT")),
    }


def probe_replica() -> dict[str, Check]:
    connection = connections["replica"]

    def replica() -> tuple[bool, str]:
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {max(int(_timeout() * 1000), 100)}")
            # An idle primary sends nothing to replay, so the age of the last replayed commit
            # alone would read as lag: a standby that replayed all it received is not behind.
            cursor.execute(
                "SELECT pg_is_in_recovery(),"
                " EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),"
                " pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),"
                " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float"
            )
            standby, streaming, caught_up, age = cursor.fetchone()
        if not standby:
            return False, "not in recovery: a primary (promoted?), not a replica"
        if not streaming:
            return False, "not streaming from the primary"
        if caught_up or age is None:
            return True, "streaming, replayed all it received"
        limit = settings.HEALTH_REPLICA_MAX_LAG
        if age > limit:
            return False, f"streaming, replay {_duration(age)} behind (limit {_duration(limit)})"
        return True, f"streaming, replay {_duration(age)} behind"

    try:
        return {"replica": _timed(replica)}
    finally:
        connection.close()


# probe -> (function, the checks it reports, in the order of the answer)
PROBES: dict[str, tuple[Callable[[], dict[str, Check]], tuple[str, ...]]] = {
    "database": (probe_database, ("database", "postgis", "migrations")),
    "cache": (probe_cache, ("cache", "beat")),
    "celery": (probe_celery, ("broker", "workers")),
    "disk": (probe_disk, ("disk_tiles", "disk_downloads")),
}
if "replica" in settings.DATABASES:
    PROBES["replica"] = (probe_replica, ("replica",))
CHECKS = tuple(name for _probe, names in PROBES.values() for name in names)


# ------------------------------------------------------------------------------------- runner

_lock = threading.Lock()
_running: dict[str, Future] = {}


def _forget_running() -> None:
    """A forked child (a gunicorn worker) has none of its parent's threads."""
    global _lock
    _lock = threading.Lock()
    _running.clear()


os.register_at_fork(after_in_child=_forget_running)


def _start(name: str, probe: Callable[[], dict[str, Check]]) -> Future:
    """The probe's future: the one still running from an earlier call, else a new one on a
    daemon thread (a hung probe never keeps a process from exiting)."""
    with _lock:
        running = _running.get(name)
        if running is not None and not running.done():
            return running
        future: Future = Future()
        _running[name] = future

    def run() -> None:
        try:
            future.set_result(probe())
        except BaseException as exc:  # reported as the probe's failure
            future.set_exception(exc)
        finally:
            connections.close_all()  # this thread's connections only

    threading.Thread(target=run, name=f"health-{name}", daemon=True).start()
    return future


def _timeout() -> float:
    return float(getattr(settings, "HEALTH_TIMEOUT", 3.0))


def run_checks(timeout: float | None = None) -> Report:
    """Run every check, waiting at most ``timeout`` seconds (default HEALTH_TIMEOUT)."""
    timeout = _timeout() if timeout is None else timeout
    start = time.monotonic()
    futures = {name: _start(name, probe) for name, (probe, _names) in PROBES.items()}
    wait(futures.values(), timeout=timeout)
    elapsed = round((time.monotonic() - start) * 1000)
    checks: dict[str, Check] = {}
    for name, (_probe, names) in PROBES.items():
        future = futures[name]
        if not future.done():
            found = {n: Check(False, f"no answer within {timeout:g} s", elapsed) for n in names}
        elif future.exception() is not None:
            failure = scrub(f"the check failed: {_describe(future.exception())}")
            found = {n: Check(False, failure, elapsed) for n in names}
        else:
            found = future.result()
        for n in names:
            checks[n] = found.get(n) or Check(False, "not checked", 0)
    return Report(checks, round((time.monotonic() - start) * 1000))


# ------------------------------------------------------------------------------------ wording


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
