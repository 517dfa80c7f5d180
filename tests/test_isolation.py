"""Two deployments on one Redis database never share work or cache (DEPLOYMENT_NAME, settings).

Each deployment's settings are the real settings module run under that deployment's environment
(``runpy``), and its workers are real ``celery worker`` processes: a task sent with deployment
B's settings waits in B's queue while A's worker runs A's tasks, and B's worker runs it once it
starts; A's worker does not answer B's pings; A's cache keys are not B's.
"""

from __future__ import annotations

import ast
import os
import re
import runpy
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from celery import Celery
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured

from chemearth.settings import deployment_name

REPO = Path(__file__).resolve().parent.parent
SETTINGS = REPO / "chemearth" / "settings.py"
UNSET = None


def settings_for(monkeypatch, **env: str | None) -> dict:
    """The settings module's names, as a process with these environment variables gets them."""
    with monkeypatch.context() as patch:
        for name, value in env.items():
            if value is UNSET:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        return runpy.run_path(str(SETTINGS))


def celery_app(conf: dict) -> Celery:
    app = Celery("isolation-test", set_as_current=False, fixups=[])
    app.config_from_object(SimpleNamespace(**conf), namespace="CELERY")
    return app


def cache(conf: dict) -> RedisCache:
    default = conf["CACHES"]["default"]
    return RedisCache(default["LOCATION"], default)


def test_names_derive_from_the_database_unless_set(monkeypatch):
    conf = settings_for(
        monkeypatch, DEPLOYMENT_NAME=UNSET, DATABASE_URL="postgis://u:p@db:5432/Portal_East"
    )
    assert conf["DEPLOYMENT_NAME"] == "portal_east"
    assert conf["CACHES"]["default"]["KEY_PREFIX"] == "portal_east"
    assert conf["CELERY_TASK_DEFAULT_QUEUE"] == "portal_east"
    assert conf["CELERY_CONTROL_EXCHANGE"] == "portal_east"
    assert conf["CELERY_EVENT_EXCHANGE"] == "portal_east.events"

    conf = settings_for(monkeypatch, DEPLOYMENT_NAME="asia-1")
    assert conf["CACHES"]["default"]["KEY_PREFIX"] == conf["CELERY_TASK_DEFAULT_QUEUE"] == "asia-1"

    assert deployment_name(None, "My Portal (test)") == "my-portal-test"
    with pytest.raises(ImproperlyConfigured):
        deployment_name("Two Words", "chemearth")


def test_cache_keys_of_one_deployment_are_not_visible_to_another(monkeypatch):
    tag = uuid.uuid4().hex[:8]
    a_conf = settings_for(monkeypatch, DEPLOYMENT_NAME=f"iso-a-{tag}")
    b_conf = settings_for(monkeypatch, DEPLOYMENT_NAME=f"iso-b-{tag}")
    # The same Redis database.
    assert a_conf["CACHES"]["default"]["LOCATION"] == b_conf["CACHES"]["default"]["LOCATION"]
    a, b = cache(a_conf), cache(b_conf)
    try:
        a.set("health:beat", 1.0)
        a.set("figure", "A's figure")
        assert b.get("health:beat") is None
        assert b.get("figure") is None
        b.set("figure", "B's figure")
        assert a.get("figure") == "A's figure"
        assert b.get("figure") == "B's figure"
    finally:
        a.delete_many(["health:beat", "figure"])
        b.delete("figure")


def start_worker(
    name: str, database: str, log: Path, queues: str | None = None
) -> subprocess.Popen:
    """A worker of deployment ``name``; ``queues``: its -Q (default: every declared queue)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {
        **os.environ,
        "DEPLOYMENT_NAME": name,
        "DATABASE_URL": f"postgis://{db['USER']}@{host}/{database}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    with log.open("w") as handle:
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "chemearth", "worker", "--pool", "solo",
                "--loglevel", "info", "--without-gossip", "--without-mingle",
                "--hostname", f"{name}@%h", *(["-Q", queues] if queues else []),
            ],
            cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for_ping(app: Celery, worker: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker {name} exited; see {log}")
        replies = app.control.ping(timeout=1.0)
        if any(host.startswith(f"{name}@") for reply in replies for host in reply):
            return
    raise RuntimeError(f"the worker {name} did not answer within 120 s; see {log}")


def stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.mark.celery_worker
@pytest.mark.django_db
def test_a_worker_never_takes_another_deployments_tasks(monkeypatch, django_db_setup, tmp_path):
    from django.db import connection

    database = connection.settings_dict["NAME"]
    tag = uuid.uuid4().hex[:8]
    a_name, b_name = f"iso-a-{tag}", f"iso-b-{tag}"
    a = celery_app(settings_for(monkeypatch, DEPLOYMENT_NAME=a_name))
    b = celery_app(settings_for(monkeypatch, DEPLOYMENT_NAME=b_name))
    assert a.conf.broker_url == b.conf.broker_url  # one Redis database
    store = redis.Redis.from_url(a.conf.broker_url)
    a_log, b_log = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    worker_a = start_worker(a_name, database, a_log)
    try:
        wait_for_ping(a, worker_a, a_name, a_log)
        assert b.control.ping(timeout=1.0) == []  # A's worker does not answer B's pings

        sent_b = b.send_task("health.tasks.beat_heartbeat")
        sent_a = a.send_task("health.tasks.beat_heartbeat")
        # A's worker is alive and took A's task, sent after B's ...
        assert sent_a.get(timeout=120)["deployment"] == a_name
        # ... while B's waits in B's queue, untouched.
        assert store.llen(b_name) == 1
        assert sent_b.state == "PENDING"
        assert sent_b.id not in a_log.read_text()

        worker_b = start_worker(b_name, database, b_log)
        try:
            assert sent_b.get(timeout=120)["deployment"] == b_name
        finally:
            stop(worker_b)
        assert store.llen(b_name) == 0
        assert sent_b.id not in a_log.read_text()
        assert sent_b.id in b_log.read_text()
        sent_a.forget()
        sent_b.forget()
    finally:
        stop(worker_a)
        for key in store.scan_iter(match=f"*{tag}*"):
            store.delete(key)
        a.close()
        b.close()


QUEUE_SETTINGS = re.compile(r"task_routes|task_queues|TASK_ROUTES|TASK_QUEUES")
WORKER_QUEUES = re.compile(r"\bworker\b.*\s(-Q|--queues)[\s=]")
SENDS = {"apply_async", "send_task", "signature", "s", "si", "set", "delay"}


def queue_names(source: str) -> list[int]:
    """Lines of calls that name a queue: ``x.apply_async(queue=...)`` and the like."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SENDS
        and any(keyword.arg in {"queue", "routing_key", "exchange"} for keyword in node.keywords)
    ]


QUEUE_LIST = "chemearth.queues"  # the -Q value printed from settings.JOB_QUEUES


def test_no_task_or_worker_names_a_queue_of_its_own():
    """Queues are named in settings alone (the default and the per-kind ones, each carrying the
    deployment's name): no task names a queue, routes and queues are declared nowhere else, and a
    worker started with -Q takes its list from ``python -m chemearth.queues``."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    offenders = []
    for relative in files:
        path = REPO / relative
        if relative.startswith("tests/") or not path.is_file():
            continue
        if path.suffix == ".py":
            source = path.read_text(encoding="utf-8")
            offenders += [f"{relative}:{line}: names a queue" for line in queue_names(source)]
            if relative != "chemearth/settings.py":
                offenders += [f"{relative}: {m}" for m in QUEUE_SETTINGS.findall(source)]
        elif path.suffix in {".sh", ".yml", ".yaml", ".service", ".conf"} or path.name in {
            "Makefile",
            "Dockerfile",
        }:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if WORKER_QUEUES.search(line) and QUEUE_LIST not in line:
                    offenders.append(f"{relative}:{number}: worker with -Q not from settings")
    assert not offenders, offenders


def test_the_queue_rule_flags_a_named_queue():
    """Positive control."""
    assert queue_names("render.apply_async((1,), queue='tiles')\nrender.delay(1)\n") == [1]
    line = "celery -A chemearth worker -l info -Q tiles,downloads"
    assert WORKER_QUEUES.search(line) and QUEUE_LIST not in line
    assert not WORKER_QUEUES.search("celery -A chemearth worker -l info --concurrency 2")


def test_every_queue_carries_the_deployments_name(monkeypatch):
    """The per-kind queues and the routes to them are the deployment's own: two deployments'
    queue sets do not meet, and every routed task goes to a declared queue."""
    queues = {}
    for name in ("portal-east", "portal-west"):
        conf = settings_for(monkeypatch, DEPLOYMENT_NAME=name)
        declared = set(conf["CELERY_TASK_QUEUES"])
        assert set(conf["JOB_QUEUES"]) == {"default", "render", "ingest", "downloads"}
        assert set(conf["JOB_QUEUES"].values()) == declared
        assert conf["JOB_QUEUES"]["default"] == conf["CELERY_TASK_DEFAULT_QUEUE"] == name
        assert all(queue.startswith(f"{name}.") for queue in declared - {name})
        for route in conf["CELERY_TASK_ROUTES"].values():
            assert route["queue"] in declared and route["routing_key"] == route["queue"]
        queues[name] = declared
    assert not queues["portal-east"] & queues["portal-west"]
