"""Faults (#19): the file system under TILE_ROOT full. A render fails with a clear message on
the layer and leaves no partial file; /health/ names the disk; tiles and the layer API still
answer (the tile cache's writes give way, never a 500). TILE_ROOT is a tiny tmpfs, filled."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from maps.layers import DISK_FULL
from maps.models import MapLayer
from maps.tasks import render_map_layer
from sharing.models import ReleasePolicy
from tests.conftest import settle_worker

pytestmark = pytest.mark.django_db(transaction=True)
LAYER = {"element": "Cu", "medium": "topsoil", "scale": 80, "style": "cells"}


@pytest.fixture
def full_tile_root(tmp_path, settings):
    root = tmp_path / "tiles"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(root)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with (root / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError:
        pass  # full
    settings.TILE_ROOT = root
    yield root
    subprocess.run(["umount", "-l", str(root)], check=True)


@pytest.fixture
def usa(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    rows = [[f"D-{i}", -120 + i * 0.9, 35 + (i % 7), 10 + i] for i in range(60)]
    survey_ingest(
        path=write_csv([header, *rows], "usa.csv"),
        options=IngestOptions(survey="usa", medium="topsoil", scale_km=80, country="USA"),
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    settle_worker()


def test_a_full_tile_disk_fails_the_render_clearly_and_leaves_nothing_partial(
    client, usa, full_tile_root, settings
):
    body = client.get("/api/v1/layers", LAYER).json()  # queued (no worker in this test)
    layer = MapLayer.objects.get(key=body["id"])
    render_map_layer.apply(args=[layer.pk])  # the task's own code, in this process

    layer.refresh_from_db()
    assert layer.state == "failed"
    assert layer.message == DISK_FULL
    assert "No space left on device" in layer.error, layer.error
    left = [p for p in Path(full_tile_root).rglob("*") if p.is_file() and p.name != "filler"]
    assert left == []

    answer = client.get("/api/v1/layers", LAYER)
    assert answer.status_code == 200 and answer.json()["message"] == DISK_FULL
    tile = client.get(body["tiles"].format(z=3, x=1, y=3))
    assert tile.status_code == 202  # a failed layer draws nothing: the transparent tile
    Image.open(io.BytesIO(b"".join(tile.streaming_content) if tile.streaming else tile.content))

    settings.HEALTH_TOKEN = token = "health-token-for-the-disk-test-0123456789"
    settings.HEALTH_DISK_MIN_FREE_MB = 1
    health = client.get("/health/", HTTP_X_HEALTH_TOKEN=token)
    assert health.status_code == 503
    disk = health.json()["checks"]["disk_tiles"]
    assert not disk["ok"] and disk["detail"].startswith("TILE_ROOT: 0 B free"), disk


def test_a_write_limit_fails_the_command_s_render_cleanly_without_privileges(usa, tmp_path):
    """Where no tmpfs may be mounted: ``manage.py render_layers`` under a file size limit
    (RLIMIT_FSIZE, writes past it fail). The layer is failed with its reason (not left
    "rendering"), the command says so and goes on, and nothing partial is left. (Which words the
    error has depends on which library met the limit; a full disk's are tested above.)"""
    import resource
    import signal
    import sys

    from .conftest import REPO, worker_env

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error to handle, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    root = tmp_path / "tiles"
    done = subprocess.run(
        [sys.executable, "manage.py", "render_layers", "--element", "Cu", "--medium", "topsoil",
         "--no-progress"],
        cwd=REPO, env={**worker_env(), "TILE_ROOT": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, preexec_fn=limit, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 failed" in done.stdout, done.stdout
    assert "Cu topsoil 80 km cells: failed" in done.stderr, done.stderr[-2000:]
    layer = MapLayer.objects.get(element__symbol="Cu", is_public=True)
    assert layer.state == "failed" and layer.error, (layer.state, layer.error)
    assert [p for p in root.rglob("*") if p.is_file()] == []
