"""Shared fixtures: PostGIS test database (pytest-django), demo files, a real Celery worker."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo_data"
USGS_CSV = DEMO / "usgs_ds801_top5cm_soil" / "usgs_ds801_top5cm_soil.csv"
KOLA_CSV = DEMO / "kola_c_horizon_soil" / "kola_c_horizon_soil.csv"
KOLA_DL = DEMO / "kola_c_horizon_soil" / "kola_c_horizon_detection_limits.csv"
# Tests use their own Redis database so they never see a running demo's queue.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Set at import, before pytest-django configures Django: the tests' tasks, results and cache
# must never reach the Redis database of a running demo.
os.environ["CELERY_BROKER_URL"] = TEST_REDIS_URL
os.environ["CELERY_RESULT_BACKEND"] = TEST_REDIS_URL
os.environ["CACHE_URL"] = TEST_REDIS_URL
# No dashboards warm-up after the tests' ingests: the worker would race their flushes
# (tests/test_dashboards_warm.py runs it directly).
os.environ["DASHBOARD_WARM_AFTER_CHANGES"] = "false"
# Nor a featured map rendered after every refresh (tests/test_featured_map.py turns it on): the
# tests count the layers they render.
os.environ["MAP_SEED_FEATURED"] = "false"
# Nor the tile path's memos: most tests change policies inside a transaction whose change notices
# never commit (tests/test_tile_memos.py turns them on around committed changes).
os.environ["CHANGE_FEED_MEMOS"] = "false"
# API throttles far above any test's pace (the leak walk asks 1,200 pages a viewer); the throttle
# test lowers its rate itself.
os.environ["API_THROTTLE_ANON"] = os.environ["API_THROTTLE_USER"] = os.environ[
    "API_THROTTLE_MAP_IMAGE"
] = "1000000/minute"
# Rendered map layers go to a directory of this run, shared with the test worker (which inherits
# the environment), never to a running demo's var/tiles.
os.environ["TILE_ROOT"] = tempfile.mkdtemp(prefix="chemearth-tiles-")
atexit.register(shutil.rmtree, os.environ["TILE_ROOT"], ignore_errors=True)
# The run's deployment, named after its test database: its own cache prefix, Celery queue and
# control exchange, so runs on other test databases sharing this Redis never take its tasks,
# answer its pings or read its cache (nor does a running demo).
os.environ["DEPLOYMENT_NAME"] = re.sub(
    r"[^a-z0-9_.-]+", "-", os.environ.get("DATABASE_TEST_NAME", "test_chemearth").lower()
)[:63]
# What keeps the run apart, read again from the environment above (see below).
ISOLATING_SETTINGS = (
    "DEPLOYMENT_NAME", "CACHES", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
    "CELERY_TASK_DEFAULT_QUEUE", "CELERY_CONTROL_EXCHANGE", "CELERY_EVENT_EXCHANGE",
    "JOB_QUEUES", "CELERY_TASK_QUEUES", "CELERY_TASK_ROUTES",
    "DASHBOARD_WARM_AFTER_CHANGES", "REST_FRAMEWORK", "MAP_SEED_FEATURED", "CHANGE_FEED_MEMOS",
)  # fmt: skip


def _isolate_loaded_settings() -> None:
    """pytest-django configures Django before this file is imported, so the variables above
    reach the worker subprocesses but not this process's settings (its cache was the demo's
    Redis database, which ``cache.clear()`` flushed). Read the settings module again under this
    environment and copy what keeps the run apart."""
    import runpy

    from django.conf import settings

    if not settings.configured:
        return  # Django is configured later, from the environment set above
    from django.test.signals import setting_changed

    fresh = runpy.run_path(str(REPO / "chemearth" / "settings.py"))
    for name in ISOLATING_SETTINGS:
        setattr(settings, name, fresh[name])
        setting_changed.send(sender=None, setting=name, value=fresh[name], enter=True)


_isolate_loaded_settings()


@pytest.fixture
def write_csv(tmp_path):
    """Write rows (lists) to a CSV file and return its path."""

    def write(rows: list[list[object]], name: str = "survey.csv", encoding: str = "utf-8") -> Path:
        import csv

        path = tmp_path / name
        with path.open("w", encoding=encoding, newline="") as handle:
            csv.writer(handle).writerows(rows)
        return path

    return write


def worker_env() -> dict[str, str]:
    """The environment of a test worker process: the test database, the tests' Redis database."""
    from django.conf import settings
    from django.db import connection

    test_db = connection.settings_dict["NAME"]
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": (
            f"postgis://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{test_db}"
        ),
        "CELERY_BROKER_URL": TEST_REDIS_URL,
        "CELERY_RESULT_BACKEND": TEST_REDIS_URL,
        "CACHE_URL": TEST_REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process, on the test database and the tests' Redis database.

    Tests using it need committed data: mark them ``django_db(transaction=True)``.
    """
    from django.db import connection

    from chemearth.queues import worker_queues

    test_db = connection.settings_dict["NAME"]
    env = worker_env()
    import redis

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    (REPO / "var").mkdir(exist_ok=True)
    # One log per test database: runs on other test databases have their own workers.
    log_path = REPO / "var" / f"test-worker-{test_db}.log"
    log = log_path.open("w")  # noqa: SIM115 (open for the worker's life)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "chemearth", "worker",
            "--pool", "solo", "--loglevel", "info", "--without-gossip", "--without-mingle",
            "-Q", worker_queues(),  # every job kind's queue, as the demo's worker
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    from chemearth.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited at start-up; see {log_path}")
        replies = app.control.ping(timeout=1.0)
        if replies:
            break
    else:
        proc.terminate()
        raise RuntimeError("the Celery worker did not answer within 60 s")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def ensure_reference_data() -> None:
    """Elements, media, countries and the default soil standard, as the data migrations load
    them (idempotent, committed)."""
    from baselines import reference
    from baselines.models import Country, CountryPart, Element, Medium
    from dashboards.models import SoilStandard, StandardLimit
    from dashboards.standards import DATA_DIR, install_standard

    if not Element.objects.exists():
        reference.load_elements(Element)
    if not Medium.objects.exists():
        reference.load_media(Medium)
    if not Country.objects.exists():
        reference.load_countries(Country, CountryPart)
    if not SoilStandard.objects.exists():
        install_standard(DATA_DIR / "gb15618_2018.json", SoilStandard, StandardLimit, Element)


@pytest.fixture(scope="session", autouse=True)
def tile_root():
    """Django's settings may be loaded before this module sets TILE_ROOT; point them at it."""
    from django.conf import settings

    settings.TILE_ROOT = Path(os.environ["TILE_ROOT"])
    return settings.TILE_ROOT


DB_FIXTURES = {
    "db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
    "live_server",
}  # fmt: skip


def _uses_database(item: pytest.Item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(
        DB_FIXTURES & set(getattr(item, "fixturenames", ()))
    )


@pytest.fixture(scope="session", autouse=True)
def reference_data(request, django_db_setup, django_db_blocker):
    """A reused test database may have been left flushed by an interrupted run."""
    if not any(_uses_database(item) for item in request.session.items):
        return  # pytest-django set up no test database (e.g. tests/test_grid.py alone)
    with django_db_blocker.unblock():
        ensure_reference_data()


def wait_for_idle_worker(timeout: float = 60) -> None:
    """Until the worker has nothing queued or running: tasks a test's work queued after commit
    (a layer refresh after an ingest) would otherwise race the flush that ends the test (a
    deadlock of its TRUNCATE with the worker's reads was seen)."""
    import redis
    from django.conf import settings

    from chemearth.celery import app

    store = redis.Redis.from_url(TEST_REDIS_URL)
    deadline = time.monotonic() + timeout

    def waiting() -> int:
        return sum(store.llen(queue) for queue in settings.JOB_QUEUES.values())

    while time.monotonic() < deadline:
        if not waiting():
            busy = app.control.inspect(timeout=1.0).active() or {}
            if not any(busy.values()) and not waiting():
                return
        time.sleep(0.1)


def settle_worker() -> None:
    """If a test worker is running (an earlier test started it), let it finish what the test's
    setup queued (a layer refresh after an ingest or a policy change) before the test renders a
    layer of its own in this process: the refresh would race it."""
    from chemearth.celery import app

    if app.control.ping(timeout=0.5):
        wait_for_idle_worker(timeout=30)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test ends with a flush of every table; put the reference data back."""
    if "celery_worker_process" in getattr(item, "fixturenames", ()):
        wait_for_idle_worker()
    yield
    marker = item.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            ensure_reference_data()


@pytest.fixture
def wsgi_requests_keep_the_test_connection():
    """The WSGI handler closes old connections around each request, which would close the test's
    transaction under it; Django's test client disconnects the same receivers."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
