"""The read replica router (``chemearth/db_router.py``) against a real streaming replica.

The test starts a private PostgreSQL 15 primary and a replica of it (``pg_basebackup -R``) on free
ports (``tests/pg_cluster.py``; the machine's cluster is not touched), migrates the primary, and
runs ``tests/replica_probe.py`` with ``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URL``
on the replica: requests through the real middleware and router, each read reporting the server
it ran on with ``pg_is_in_recovery()``.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.pg_cluster import BIN, PrimaryAndReplica

REPO = Path(__file__).resolve().parent.parent
DATABASE = "chemearth_replica_probe"


def settings_with(monkeypatch, **env: str) -> dict:
    with monkeypatch.context() as patch:
        patch.delenv("DATABASE_REPLICA_URL", raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        return runpy.run_path(str(REPO / "chemearth" / "settings.py"))


def test_without_a_replica_everything_stays_on_default(monkeypatch):
    conf = settings_with(monkeypatch)
    assert set(conf["DATABASES"]) == {"default"}
    assert "DATABASE_ROUTERS" not in conf
    assert "chemearth.db_router.PinToPrimaryMiddleware" not in conf["MIDDLEWARE"]

    conf = settings_with(monkeypatch, DATABASE_REPLICA_URL="postgis://ro@replica:5432/chemearth")
    assert conf["DATABASES"]["replica"]["HOST"] == "replica"
    assert conf["DATABASES"]["replica"]["TEST"]["MIRROR"] == "default"
    assert conf["DATABASE_ROUTERS"] == ["chemearth.db_router.PrimaryReplicaRouter"]
    assert conf["MIDDLEWARE"][1] == "chemearth.db_router.PinToPrimaryMiddleware"


@pytest.fixture(scope="module")
def clusters():
    if not (BIN / "pg_basebackup").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    pair = PrimaryAndReplica()
    try:
        pair.start()
        with psycopg.connect(pair.primary.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        with psycopg.connect(pair.primary.dsn(DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        yield pair
    finally:
        pair.stop()


def test_reads_go_to_the_replica_and_a_writer_reads_its_writes(clusters):
    env = {
        **os.environ,
        "DATABASE_URL": clusters.primary.url(DATABASE),
        "DATABASE_REPLICA_URL": clusters.replica.url(DATABASE),
        "DEPLOYMENT_NAME": f"replica-probe-{uuid.uuid4().hex[:8]}",
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    # The schema and reference data, written on the primary and streamed to the replica.
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO, env=env, check=True,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "tests/replica_probe.py"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["aliases"] == ["default", "replica"]
    # An anonymous reader reads the replica.
    assert seen["reader_before"] == {"name_en": seen["original"], "replica": True}
    # The writer's POST pins it: its next read is on the primary and sees its change at once.
    assert seen["writer_pin_cookie"]
    assert seen["writer_after"] == {"name_en": seen["renamed"], "replica": False}
    # Others stay on the replica and see the change once it is replayed there.
    assert seen["reader_unpinned"] is True
    assert seen["reader_after_replay"] == {"name_en": seen["renamed"], "replica": True}
    # The pin ends; a forged pin beyond REPLICA_PIN_SECONDS is ignored.
    assert seen["writer_pin_expired"] is True
    assert seen["forged_pin"] is True
    # Token clients are pinned by their Authorization header, and only they.
    assert seen["token_same"] is False
    assert seen["token_other"] is True
    # A GET that writes reads back from the primary, and pins its client.
    assert seen["writes_on_get"]["before"]["replica"] is True
    assert seen["writes_on_get"]["after"]["replica"] is False
    assert seen["writes_on_get_pins"]
    assert seen["atomic"] is False
    # A real API page runs its queries on the replica.
    assert seen["api"]["status"] == 200 and seen["api"]["symbols"] > 0
    assert seen["api"]["replica_queries"] > 0 and seen["api"]["primary_queries"] == 0
    # /health/ checks the replica: a standby, streaming, caught up.
    assert seen["health_replica"]["ok"], seen["health_replica"]
    assert seen["health_replica"]["detail"].startswith("streaming"), seen["health_replica"]
    # Outside a request (tasks, commands): the primary.
    assert seen["outside_request_alias"] == "default"
    assert seen["outside_request"] is False

    # The replica stopped: /health/'s replica check is down, naming why.
    clusters.replica.stop()
    health = subprocess.run(
        [sys.executable, "manage.py", "health", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert health.returncode == 1
    replica = json.loads(health.stdout)["checks"]["replica"]
    assert replica["ok"] is False and "Connection refused" in replica["detail"], replica
