"""A private PostgreSQL 15 primary and a streaming replica of it, on free ports in a temporary
directory, from Debian's binaries (``/usr/lib/postgresql/15/bin``). The machine's shared cluster
(5432) is never touched. Used by ``tests/test_replica.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
# Throw-away clusters: no fsync, small memory, TCP on the loopback only.
SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(*args: str | os.PathLike) -> list[str]:
    """PostgreSQL refuses to run as root; the tests may run as root."""
    command = [str(arg) for arg in args]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Cluster:
    data: Path
    port: int
    log: Path

    def url(self, database: str) -> str:
        return f"postgis://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def start(self, socket_dir: Path) -> None:
        options = f"-p {self.port} -k {socket_dir} {SERVER_OPTIONS}"
        run(BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "start")

    def stop(self) -> None:
        subprocess.run(
            as_postgres(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"),
            capture_output=True,
        )


def run(*args: str | os.PathLike) -> None:
    done = subprocess.run(as_postgres(*args), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}")


class PrimaryAndReplica:
    """``start()`` makes the primary (initdb) and a replica of it (``pg_basebackup -R``, which
    writes ``standby.signal`` and ``primary_conninfo``); ``stop()`` ends both and removes all."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="chemearth-replica-"))
        self.primary = Cluster(self.root / "primary", free_port(), self.root / "primary.log")
        self.replica = Cluster(self.root / "replica", free_port(), self.root / "replica.log")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        run(BIN / "initdb", "-D", self.primary.data, "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        self.primary.start(self.root)
        run(BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port),
            "-U", "postgres", "-D", self.replica.data, "-R", "-X", "stream", "-c", "fast",
            "--no-sync")  # fmt: skip
        self.replica.start(self.root)

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)
