"""Faults (#19): PostgreSQL restarted under load. Requests during the outage are answered at
once and cleanly — 503 with Retry-After, the API's one error body with its ``reason``, a page
elsewhere; never an empty 500, never a hang — and the same gunicorn answers 200 again once the
database is back, without a restart.

The shared PostgreSQL of this machine may not be restarted (other runs use it), so the test
starts a private cluster of its own (Debian's initdb and pg_ctl, PostGIS installed system-wide,
run as the ``postgres`` user when the tests run as root), migrates it once (the module's cost:
about 20 s, most of it ``migrate``; later runs copy that cluster, kept under var/ by the
migrations' digest: about 2 s) and runs gunicorn against it."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, TEST_REDIS_URL

PG_BIN = Path("/usr/lib/postgresql/15/bin")
URLS = (
    "/", "/surveys/", "/api/v1/elements/", "/api/v1/samples/?limit=5", "/api/v1/surveys/",
    "/ogcapi/collections/samples/items?limit=5", "/dashboards/volume/",
    "/api/v1/viewer/elements?medium=topsoil",
)  # fmt: skip
# Answered 404 while the database is up (no such layer, no such job): the tile fast path and the
# downloads API must fail as cleanly as the rest.
MISSING = (
    "/tiles/no-such-layer/0/0/0.png",
    "/api/v1/downloads/00000000-0000-0000-0000-000000000000",
)
# /health/ answers 503 throughout (no worker runs here); what matters is its database check.
HEALTH = "/health/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, dict, bytes]:
    """Status, headers and body; a hang is a failure (the timeout raises)."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def template_dir() -> Path:
    """Where a cluster migrated at the current migrations is kept between runs."""
    digest = hashlib.sha256()
    for path in sorted(REPO.glob("*/migrations/*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return REPO / "var" / f"test-pg-cluster-{digest.hexdigest()[:16]}"


class Cluster:
    """A private PostgreSQL cluster in a temporary directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chemearth-pg-"))
        self.data, self.port = self.dir / "data", free_port()
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.user:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def create(self, migrate) -> str:
        """A migrated cluster: a copy of the one migrated at these migrations (kept under var/,
        named by their digest) or a new one, migrated by ``migrate()`` and kept. Says which."""
        template = template_dir()
        if template.is_dir():
            subprocess.run(["cp", "-a", str(template), str(self.data)], check=True)
            self.start()
            return "copied"
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        self.start()
        subprocess.run(
            [PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "chemearth"],
            check=True, capture_output=True,
        )  # fmt: skip
        migrate()
        self.stop()
        partial = template.with_name(f"{template.name}-{os.getpid()}")
        subprocess.run(["cp", "-a", str(self.data), str(partial)], check=True)
        try:
            os.rename(partial, template)  # whole or not at all; another run may have won
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
        self.start()
        return "migrated"

    def _run(self, *args) -> None:
        subprocess.run([*self.user, *map(str, args)], check=True, capture_output=True, cwd="/")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-o", options,
                  "start")  # fmt: skip

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgis://postgres@127.0.0.1:{self.port}/chemearth"

    def remove(self) -> None:
        subprocess.run([*self.user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True, cwd="/")  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """Gunicorn (two workers) on a private, migrated cluster: (base URL, cluster, server)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("Debian's PostgreSQL 15 server binaries are not installed")
    tmp = tmp_path_factory.mktemp("pgfault")
    cluster = Cluster()
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "DATABASE_CONNECT_TIMEOUT": "3",
        "REDIS_URL": TEST_REDIS_URL, "CACHE_URL": TEST_REDIS_URL,
        "CELERY_BROKER_URL": TEST_REDIS_URL, "CELERY_RESULT_BACKEND": TEST_REDIS_URL,
        "DEPLOYMENT_NAME": f"faults-pg-{cluster.port}",
        "CHEMEARTH_VAR_DIR": str(tmp / "var"),
    }  # fmt: skip
    env.pop("DATABASE_TEST_NAME", None)

    def migrate() -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=REPO, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

    try:
        started = time.monotonic()
        how = cluster.create(migrate)
        print(f"private cluster {how} in {time.monotonic() - started:.1f} s")
        port = free_port()
        log_path = tmp / "gunicorn.log"
        server = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "gunicorn"), "chemearth.wsgi:application",
             "-b", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "30"],
            cwd=REPO, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                fetch(base + "/api/v1/")
                break
            except OSError:
                time.sleep(0.3)
        yield base, cluster, server
        server.terminate()
        server.wait(timeout=20)
    finally:
        cluster.remove()


def check_answer(url: str, status: int, headers: dict, body: bytes) -> str | None:
    """What is wrong with one answer, or None: 2xx, or a 503 that says why."""
    if status < 300 or (status == 404 and url in MISSING):
        return None
    if status != 503:
        return f"{status} for {url}: {body[:200]!r}"
    if url == HEALTH:
        return None if json.loads(body)["status"] == "down" else f"503 not down for {url}"
    if "Retry-After" not in headers:
        return f"503 without Retry-After for {url}"
    if url.startswith(("/api/", "/ogcapi/")):
        document = json.loads(body)
        if not document.get("reason") or document.get("status") != 503:
            return f"503 without the error body for {url}: {body[:200]!r}"
    elif b"database is unavailable" not in body:
        return f"an unclear 503 page for {url}: {body[:200]!r}"
    return None


def test_a_postgres_restart_under_load_fails_cleanly_and_recovers_without_a_restart(portal):
    base, cluster, server = portal
    for url in URLS:  # all up
        status, _headers, body = fetch(base + url)
        assert status == 200, (url, status, body[:300])
    for url in MISSING:
        status, _headers, body = fetch(base + url)
        assert status == 404 and json.loads(body)["reason"], (url, status, body[:300])

    answers: list[tuple[str, int, dict, bytes]] = []
    errors: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            for url in (*URLS, *MISSING, HEALTH):
                try:
                    answers.append((url, *fetch(base + url)))
                except Exception as exc:  # noqa: BLE001 — a hang or a dropped connection
                    errors.append(f"{url}: {exc!r}")

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        cluster.stop()
        outage_started = len(answers)
        time.sleep(2)  # the load goes on against a stopped database
        cluster.start()
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    during = [a for a in answers[outage_started:] if a[1] == 503 and a[0] != HEALTH]
    assert during, "some requests met the stopped database"
    problems = [p for p in (check_answer(*a) for a in answers) if p]
    assert problems == [], problems[:10]

    # Back without restarting gunicorn: every URL answers 200 again (each worker reconnects at
    # its next request; an answer or two may still meet a connection the restart closed).
    assert server.poll() is None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = {url: fetch(base + url)[0] for url in URLS for _ in range(2)}
        if set(statuses.values()) == {200}:
            break
        time.sleep(0.5)
    assert set(statuses.values()) == {200}, statuses
    assert json.loads(fetch(base + HEALTH)[2])["checks"]["database"]["ok"]
