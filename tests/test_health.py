"""/health/ and `manage.py health` (health/checks.py, portal/health.py).

On the real services: PostgreSQL/PostGIS, the tests' Redis database and a real Celery worker
(conftest's fixture, on this run's deployment). Failures are made without touching the shared
servers: the cache and broker pointed at a closed port, a deployment name no worker listens to,
an old heartbeat. Every scenario ends with the 200 back.
"""

from __future__ import annotations

import json
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command

from health import checks
from health.checks import CHECKS, scrub
from health.tasks import HEARTBEAT_KEY, beat_heartbeat, record_heartbeat

pytestmark = pytest.mark.django_db
TOKEN = "health-token-for-the-tests-0123456789"
CLOSED = "redis://:hunter2-redis-password@127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def health(settings, client):
    """GET /health/ with the token (details); ``public=True`` without it."""
    settings.HEALTH_TOKEN = TOKEN
    # A loaded 2-core machine must not turn "slow" into "down"; the bound itself is tested with
    # a probe that never answers (test_a_probe_that_hangs_is_down_and_the_answer_comes_anyway).
    settings.HEALTH_TIMEOUT = 30
    settings.HEALTH_WORKER_TIMEOUT = 10  # a ping returns at the first answer

    def get(public: bool = False):
        headers = {} if public else {"HTTP_X_HEALTH_TOKEN": TOKEN}
        response = client.get("/health/", **headers)
        assert response["Content-Type"] == "application/json"
        return response, response.json()

    return get


@pytest.fixture
def all_up(celery_worker_process, health):
    """The worker is up; beat's heartbeat is fresh (beat does not run in the tests)."""
    record_heartbeat()
    response, body = health()
    assert response.status_code == 200, body
    return health


def failed(body: dict) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


@pytest.mark.celery_worker
def test_everything_up_is_200_with_every_check(celery_worker_process, health, settings):
    # The heartbeat as beat's task writes it: run by the real worker, into this deployment's cache.
    ran = beat_heartbeat.delay().get(timeout=120)
    assert ran["deployment"] == settings.DEPLOYMENT_NAME
    response, body = health()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["deployment"] == settings.DEPLOYMENT_NAME
    assert list(body["checks"]) == list(CHECKS)
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)
        assert isinstance(check["ms"], int) and check["detail"], (name, check)
    assert body["checks"]["postgis"]["detail"].startswith("PostGIS ")
    assert body["checks"]["migrations"]["detail"] == "all applied"
    assert "answered" in body["checks"]["workers"]["detail"]
    assert "no-store" in response["Cache-Control"]


@pytest.mark.celery_worker
def test_the_public_answer_is_short(all_up, client, django_user_model):
    response, body = all_up(public=True)
    assert response.status_code == 200
    assert set(body) == {"status", "checks"}
    assert all(check == {"ok": True} for check in body["checks"].values())
    # A wrong token is the public answer too.
    wrong = client.get("/health/", HTTP_X_HEALTH_TOKEN="nope").json()
    assert "detail" not in wrong["checks"]["database"]
    # Staff see the details without a token.
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert "detail" in client.get("/health/").json()["checks"]["database"]
    assert client.post("/health/").status_code == 405


@pytest.mark.celery_worker
def test_redis_unreachable_is_503_naming_cache_broker_workers_and_beat(
    all_up, settings, monkeypatch
):
    saved = settings.CACHES, settings.CELERY_BROKER_URL
    with monkeypatch.context() as patch:
        settings.CACHES = {"default": {**saved[0]["default"], "LOCATION": CLOSED}}
        settings.CELERY_BROKER_URL = CLOSED
        patch.setenv("CELERY_BROKER_URL", CLOSED)  # Celery reads it before its settings
        response, body = all_up()
        assert response.status_code == 503, body
        assert body["status"] == "down"
        assert failed(body) == {"cache", "beat", "broker", "workers"}
        assert "Connection refused" in body["checks"]["cache"]["detail"]
        assert "hunter2-redis-password" not in response.content.decode()
        public = all_up(public=True)[1]
        assert public["status"] == "down" and failed(public) == failed(body)

    settings.CACHES, settings.CELERY_BROKER_URL = saved
    response, body = all_up()
    assert response.status_code == 200, body


@pytest.mark.celery_worker
def test_no_worker_of_this_deployment_is_503_naming_workers(all_up, settings):
    saved = settings.DEPLOYMENT_NAME, settings.CELERY_CONTROL_EXCHANGE
    # The same broker, a deployment no worker listens to.
    settings.DEPLOYMENT_NAME = settings.CELERY_CONTROL_EXCHANGE = "nobody-listens-here"
    settings.HEALTH_WORKER_TIMEOUT = 1
    response, body = all_up()
    assert response.status_code == 503, body
    assert failed(body) == {"workers"}
    assert "nobody-listens-here" in body["checks"]["workers"]["detail"]

    settings.DEPLOYMENT_NAME, settings.CELERY_CONTROL_EXCHANGE = saved
    settings.HEALTH_WORKER_TIMEOUT = 10
    assert all_up()[0].status_code == 200


@pytest.mark.celery_worker
def test_a_stale_or_missing_heartbeat_is_503_naming_beat(all_up, settings):
    from django.core.cache import cache

    record_heartbeat(time.time() - settings.HEALTH_BEAT_MAX_AGE - 60)
    response, body = all_up()
    assert response.status_code == 503, body
    assert failed(body) == {"beat"}
    assert "stale after" in body["checks"]["beat"]["detail"]

    cache.delete(HEARTBEAT_KEY)
    response, body = all_up()
    assert response.status_code == 503 and failed(body) == {"beat"}
    assert "no heartbeat" in body["checks"]["beat"]["detail"]

    record_heartbeat()
    assert all_up()[0].status_code == 200


@pytest.mark.celery_worker
def test_unapplied_migrations_and_a_full_disk_are_503(all_up, settings, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.migration import Migration

    pending = [(Migration("0099_pending", "baselines"), False)]
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: pending)
    minimum = settings.HEALTH_DISK_MIN_FREE_MB
    settings.HEALTH_DISK_MIN_FREE_MB = 1 << 40  # an exabyte
    response, body = all_up()
    assert response.status_code == 503
    assert failed(body) == {"migrations", "disk_tiles", "disk_downloads"}
    assert body["checks"]["migrations"]["detail"] == "1 unapplied: baselines.0099_pending"
    assert body["checks"]["disk_tiles"]["detail"].startswith("TILE_ROOT: ")

    monkeypatch.undo()
    settings.HEALTH_DISK_MIN_FREE_MB = minimum
    assert all_up()[0].status_code == 200


@pytest.mark.celery_worker
def test_a_probe_that_hangs_is_down_and_the_answer_comes_anyway(all_up, settings, monkeypatch):
    release, calls = threading.Event(), []

    def hangs():
        calls.append(1)
        release.wait(60)
        return {}

    monkeypatch.setitem(checks.PROBES, "disk", (hangs, ("disk_tiles", "disk_downloads")))
    settings.HEALTH_TIMEOUT = 0.5
    try:
        for _ in range(2):
            response, body = all_up()
            assert response.status_code == 503
            assert failed(body) == {"disk_tiles", "disk_downloads"}
            assert body["checks"]["disk_tiles"]["detail"] == "no answer within 0.5 s"
        assert len(calls) == 1  # the second answer waited for the same probe, no second thread
    finally:
        release.set()
        checks._running["disk"].result(timeout=60)
    monkeypatch.undo()
    settings.HEALTH_TIMEOUT = 30
    assert all_up()[0].status_code == 200


@pytest.mark.celery_worker
def test_never_a_500(all_up, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(checks.PROBES, "cache", (broken, ("cache", "beat")))
    response, body = all_up()
    assert response.status_code == 503
    assert failed(body) == {"cache", "beat"}
    assert body["checks"]["cache"]["detail"] == "the check failed: RuntimeError: boom"

    monkeypatch.setattr("portal.health.run_checks", broken)
    response, body = all_up()
    assert response.status_code == 503 and body == {"status": "down", "checks": {}}
    monkeypatch.undo()
    assert all_up()[0].status_code == 200


@pytest.mark.celery_worker
def test_no_secret_or_path_in_any_answer(all_up, settings, monkeypatch):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": CLOSED}}
    bodies = [all_up()[0].content.decode(), all_up(public=True)[0].content.decode()]
    secrets = [settings.SECRET_KEY, TOKEN, "hunter2-redis-password"]
    secrets += [db["PASSWORD"] for db in settings.DATABASES.values() if db.get("PASSWORD")]
    paths = [str(settings.TILE_ROOT), str(settings.DOWNLOAD_ROOT), str(settings.BASE_DIR)]
    for body in bodies:
        for value in secrets + paths:
            assert value not in body, value


def test_scrub_hides_credentials_secrets_and_paths(settings):
    settings.HEALTH_TOKEN = TOKEN
    text = scrub(
        f"amqp://user:pa55word@mq:5672// {settings.SECRET_KEY} {TOKEN} "
        f"{settings.DOWNLOAD_ROOT}/jobs/1.zip"
    )
    assert text == "amqp://user:***@mq:5672// *** *** <DOWNLOAD_ROOT>/jobs/1.zip"


@pytest.mark.celery_worker
def test_the_command_prints_every_check(all_up):
    out = StringIO()
    call_command("health", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("health: ok")
    assert [line.split()[0] for line in lines[1:]] == list(CHECKS)
    out = StringIO()
    call_command("health", "--json", stdout=out)
    assert json.loads(out.getvalue())["status"] == "ok"
