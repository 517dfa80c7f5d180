"""Backup and restore (``health.backup``, ``manage.py backup`` / ``restore``): a backup restored
into an empty database and empty file roots gives the same row count for every table, the same
checksums of the sample and measurement rows and the same files; a damaged backup and a
non-empty target are refused with the reason."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from psycopg import sql

from baselines.ingest import IngestOptions, survey_ingest
from health import backup as backups
from sharing.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def roots(tmp_path, settings):
    for name in ("TILE_ROOT", "DOWNLOAD_ROOT", "MEDIA_ROOT"):
        path = tmp_path / "live" / name.lower()
        path.mkdir(parents=True)
        setattr(settings, name, path)
    (settings.TILE_ROOT / "public" / "layer-1").mkdir(parents=True)
    (settings.TILE_ROOT / "public" / "layer-1" / "layer.tif").write_bytes(b"COG" * 1000)
    (settings.DOWNLOAD_ROOT / "packages").mkdir()
    (settings.DOWNLOAD_ROOT / "packages" / "p.zip").write_bytes(b"PK" + bytes(range(256)))
    return settings


@pytest.fixture
def empty_database():
    base = backups.Database.from_settings()
    name = f"test_restore_{uuid.uuid4().hex[:8]}"
    admin_dsn = base.dsn.replace(f"dbname={base.name}", "dbname=postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield backups.Database(name, base.dsn.replace(f"dbname={base.name}", f"dbname={name}"))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_a_backup_restores_to_the_same_rows_and_files(write_csv, tmp_path, roots, empty_database):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm", "Zn_ppm"]
    rows = [[f"B-{i}", -100 + i * 0.1, 40, 10 + i, "<1"] for i in range(50)]
    survey_ingest(
        path=write_csv([header, *rows], "b.csv"),
        options=IngestOptions(survey="backed up", medium="topsoil", scale_km=10, country="USA"),
    )
    AuditEvent.objects.create(kind=AuditEvent.Kind.ACCESS, summary="before the backup")
    call_command("backup", str(tmp_path / "backups"), "--no-progress")
    (folder,) = (tmp_path / "backups").iterdir()
    manifest = (folder / backups.MANIFEST).read_text()
    assert '"baselines_measurement": 100' in manifest and '"baselines_sample": 50' in manifest

    restored_roots = {name: tmp_path / "restored" / name for name in backups.file_roots()}
    found = backups.restore(folder, empty_database, restored_roots)
    assert found == []
    figures = backups.database_figures(empty_database)
    assert figures["row_counts"]["sharing_auditevent"] >= 1
    for name, live in backups.file_roots().items():
        live_files = sorted(p.relative_to(live) for p in live.rglob("*") if p.is_file())
        back = restored_roots[name]
        assert sorted(p.relative_to(back) for p in back.rglob("*") if p.is_file()) == live_files
        for rel in live_files:
            assert (back / rel).read_bytes() == (live / rel).read_bytes()

    # The restored database is not empty any more: a second restore is refused, nothing done.
    with pytest.raises(backups.BackupError, match="not empty"):
        backups.restore(folder, empty_database, {n: tmp_path / "again" / n for n in restored_roots})


def test_a_damaged_backup_is_refused(tmp_path, roots, empty_database):
    folder = backups.backup(tmp_path)
    dump = Path(folder) / backups.DUMP
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(backups.BackupError, match="database.dump is missing or damaged"):
        backups.restore(
            folder, empty_database, {n: tmp_path / "r" / n for n in backups.file_roots()}
        )


def test_differences_are_named():
    manifest = {"row_counts": {"a": 1, "b": 2}, "checksums": {"a": "7"}}
    restored = {"row_counts": {"a": 1, "b": 3}, "checksums": {"a": "8"}}
    assert backups.differences(manifest, restored) == [
        "row_counts of b: backup 2, restored 3", "checksums of a: backup 7, restored 8",
    ]  # fmt: skip
