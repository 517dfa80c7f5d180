"""Backups that restore: the database (``pg_dump`` custom format) and the file roots (tiles,
packages, media) in one directory with a manifest — per table its row count, and for the sample
and measurement tables an order-independent checksum of their rows — and ``SHA256SUMS`` of every
file. ``restore`` loads one into an empty database and empty roots, then reads the same figures
back from what it restored and says what differs.

The checksum of a table is ``sum(hashtextextended(row::text, 0))`` over its rows: one pass, any
order, and a changed, missing or extra row changes it (short of a 64-bit collision).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql
from psycopg.conninfo import make_conninfo

from chemearth.files import file_sha256

MANIFEST = "manifest.json"
DUMP = "database.dump"
CHECKSUM_TABLES = ("baselines_sample", "baselines_measurement")


class BackupError(RuntimeError):
    """A backup or restore that cannot go on: the reason, for the operator."""


@dataclass(frozen=True)
class Database:
    """Where a database is: libpq's connection string (no password: it would show in the
    process list of pg_dump and pg_restore) and the password, passed as ``PGPASSWORD``."""

    name: str
    dsn: str
    password: str = ""

    @classmethod
    def from_settings(cls, name: str | None = None) -> Database:
        db = connection.settings_dict
        name = name or db["NAME"]
        parts = {"user": db.get("USER"), "host": db.get("HOST"), "port": db.get("PORT")}
        dsn = make_conninfo(dbname=name, **{k: str(v) for k, v in parts.items() if v})
        return cls(name, dsn, db.get("PASSWORD") or "")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, password=self.password or None)

    def env(self) -> dict[str, str]:
        return {**os.environ, **({"PGPASSWORD": self.password} if self.password else {})}


def file_roots() -> dict[str, Path]:
    return {
        "tiles": Path(settings.TILE_ROOT),
        "downloads": Path(settings.DOWNLOAD_ROOT),
        "media": Path(settings.MEDIA_ROOT),
    }


def database_figures(database: Database) -> dict:
    """Row counts of every table of the public schema, and checksums of the two data tables."""
    with database.connect() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        counts = {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in tables
        }
        checksums = {
            table: str(
                conn.execute(
                    sql.SQL(
                        "SELECT coalesce(sum(hashtextextended(t::text, 0)), 0) FROM {} t"
                    ).format(sql.Identifier(table))
                ).fetchone()[0]
            )
            for table in CHECKSUM_TABLES
            if table in counts
        }
    return {"row_counts": counts, "checksums": checksums}


def backup(target: Path, step: Callable[[str], None] = lambda _: None) -> Path:
    """Write a backup into a new directory under ``target``; returns it."""
    database = Database.from_settings()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(target) / f"chemearth-backup-{stamp}"
    folder.mkdir(parents=True)
    step("database: pg_dump")
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={folder / DUMP}", database.dsn],
         database)  # fmt: skip
    step("database: row counts and checksums")
    figures = database_figures(database)
    archives = {}
    for name, root in file_roots().items():
        step(f"files: {name}")
        if root.exists() and any(root.iterdir()):
            archive = folder / f"{name}.tar"
            with tarfile.open(archive, "w") as tar:
                tar.add(root, arcname=".")
            archives[name] = archive.name
    step("manifest and checksums")
    manifest = {
        "created": stamp,
        "database": database.name,
        "archives": archives,
        **figures,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    sums = [f"{file_sha256(p)}  {p.name}" for p in sorted(folder.iterdir()) if p.is_file()]
    (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return folder


def restore(
    folder: Path, database: Database, roots: dict[str, Path],
    step: Callable[[str], None] = lambda _: None,
) -> list[str]:  # fmt: skip
    """Restore ``folder`` into an empty ``database`` and empty ``roots``; returns the differences
    between the manifest and what was restored (none: a faithful restore)."""
    folder = Path(folder)
    step("checking the backup's files")
    _verify_sums(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    with database.connect() as conn:
        used = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'spatial_ref_sys'"
        ).fetchone()[0]
    if used:
        raise BackupError(
            f"database {database.name} is not empty ({used} tables): restore needs an empty one"
        )
    for name in manifest["archives"]:
        root = roots[name]
        if root.exists() and any(root.iterdir()):
            raise BackupError(f"{root} is not empty: restore needs empty file roots")
    step("database: pg_restore")
    _run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={database.dsn}",
          str(folder / DUMP)], database)  # fmt: skip
    for name, archive in manifest["archives"].items():
        step(f"files: {name}")
        roots[name].mkdir(parents=True, exist_ok=True)
        with tarfile.open(folder / archive) as tar:
            tar.extractall(roots[name], filter="data")
    step("comparing with the manifest")
    restored = database_figures(database)
    return differences(manifest, restored)


def differences(manifest: dict, restored: dict) -> list[str]:
    found = []
    for kind in ("row_counts", "checksums"):
        expected, got = manifest[kind], restored[kind]
        for table in sorted(set(expected) | set(got)):
            if expected.get(table) != got.get(table):
                found.append(
                    f"{kind} of {table}: backup {expected.get(table)}, restored {got.get(table)}"
                )
    return found


def _verify_sums(folder: Path) -> None:
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        raise BackupError(f"{folder} holds no SHA256SUMS: not a backup of this portal")
    for line in sums.read_text().splitlines():
        digest, name = line.split("  ", 1)
        if not (folder / name).exists() or file_sha256(folder / name) != digest:
            raise BackupError(f"{name} is missing or damaged (its SHA-256 differs)")


def _run(argv: list[str], database: Database) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed (Debian: postgresql-client)")
    result = subprocess.run(argv, capture_output=True, text=True, env=database.env())
    if result.returncode:
        raise BackupError(f"{argv[0]} failed: {result.stderr.strip()[-2000:]}")
