"""Faults (#19): a worker process killed mid-job (the kernel's OOM killer, a SIGKILL) runs no
except block. Through the real services — Redis, a prefork Celery worker, PostGIS — each job is
killed at a known point (``tests/fault_worker.py`` pauses the pool process there) and then:

- a render leaves no half-written tile or COG served, and the layer renders again;
- an ingest leaves zero rows and its task marked failed;
- a download build leaves no partial file and its job marked failed.

The worker's main process sees its pool process lost and reports ``WorkerLostError`` (the
handlers in ``maps.tasks`` and ``downloads.tasks``)."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Ingestion, Measurement, Sample, Survey
from baselines.tasks import ingest_file, options_to_json
from chemearth.celery import app
from downloads import services
from downloads.models import DownloadJob
from downloads.tasks import cleanup_download_packages
from maps.layers import RENDER_TIME_LIMIT
from maps.models import MapLayer
from sharing.models import ReleasePolicy

from .conftest import REPO, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

LAYER = {"element": "Cu", "medium": "topsoil", "scale": 80, "style": "cells"}


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


class FaultWorker:
    """A prefork worker (one pool process) on a queue of its own, paused after ``pause_after``."""

    def __init__(
        self, tmp_path: Path, pause_after: str, extra_env: dict | None = None, queue: str = ""
    ):
        tag = uuid.uuid4().hex[:6]
        self.queue = queue or f"{settings.CELERY_TASK_DEFAULT_QUEUE}.faults-{tag}"
        self.name = f"faults-{tag}@localhost"
        self.marker = tmp_path / "paused.pid"
        self.log = tmp_path / f"worker-{tag}.log"
        env = {
            **worker_env(),
            **(extra_env or {}),
            "FAULT_QUEUE": self.queue,
            "FAULT_PAUSE_AFTER": pause_after,
            "FAULT_PAUSE_FILE": str(self.marker),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable, str(REPO / "tests" / "fault_worker.py"), "worker",
                "--pool", "prefork", "--concurrency", "1", "-Q", self.queue, "-n", self.name,
                "--loglevel", "info", "--without-gossip", "--without-mingle",
            ],
            cwd=REPO, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(
            lambda: self.proc.poll() is not None or app.control.ping([self.name], timeout=0.5),
            "the fault worker answering",
        )
        assert self.proc.poll() is None, self.log.read_text()

    def kill_paused(self) -> int:
        """SIGKILL the pool process paused mid-job; its pid."""
        pid = int(wait_for(lambda: self.marker.exists() and self.marker.read_text(), "a pause"))
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the worker and its pool
            self.proc.wait(timeout=20)


@pytest.fixture
def fault_worker(tmp_path):
    """Start one with ``fault_worker(pause_after)``; the test process's tasks go to its queue."""
    workers = []
    default_queue, routes = app.conf.task_default_queue, app.conf.task_routes

    def route(queue: str, table) -> None:
        app.conf.task_default_queue, app.conf.task_routes = queue, table
        app.amqp.flush_routes()  # Celery keeps the table and its router once built
        app.amqp.__dict__.pop("router", None)

    def start(pause_after: str, extra_env: dict | None = None) -> FaultWorker:
        worker = FaultWorker(tmp_path, pause_after, extra_env)
        workers.append(worker)
        route(worker.queue, {})  # every kind of job to its queue, not the per-kind ones
        return worker

    yield start
    route(default_queue, routes)
    for worker in workers:
        worker.stop()


@pytest.fixture
def usa(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    rows = [[f"K-{i}", -120 + i * 0.9, 35 + (i % 7), 10 + i] for i in range(60)]
    survey_ingest(
        path=write_csv([header, *rows], "usa.csv"),
        options=IngestOptions(survey="usa", medium="topsoil", scale_km=80, country="USA"),
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_render_killed_mid_write_serves_nothing_partial_and_renders_again(
    fault_worker, client, usa
):
    tiles = Path(settings.TILE_ROOT)
    # Paused with the COG written into TILE_ROOT/tmp, before the tiles and the rename.
    worker = fault_worker("maps.render:render_layer")
    body = client.get("/api/v1/layers", LAYER).json()
    layer = MapLayer.objects.get(key=body["id"])
    worker.kill_paused()
    leftovers = list((tiles / "tmp").glob(f"{layer.key}-*"))

    # The main process saw its pool process lost: the scratch directory is gone and the layer is
    # queued again (or already rendering again on the respawned pool process).
    lost = wait_for(
        lambda: MapLayer.objects.filter(pk=layer.pk, error__startswith="WorkerLostError").first(),
        "the layer marked lost",
    )
    assert lost.state in ("queued", "rendering", "ready"), lost.state
    assert leftovers, "the render was paused after writing into TILE_ROOT/tmp"
    ready = wait_for(
        lambda: MapLayer.objects.filter(pk=layer.pk, state="ready").first(), "rendered again"
    )
    assert ready.tiles_seeded > 0
    assert not list((tiles / "tmp").glob(f"{layer.key}-*"))
    response = client.get(body["tiles"].format(z=3, x=1, y=3))
    assert response.status_code == 200
    png = b"".join(response.streaming_content) if response.streaming else response.content
    assert Image.open(io.BytesIO(png)).size == (256, 256)


def test_a_whole_worker_killed_mid_render_serves_202s_and_a_redelivery_renders_it(
    fault_worker, client, usa
):
    """The worker and its pool gone at once (a host lost): nothing reports it, the layer stays
    "rendering"; its unacknowledged message comes back after the broker's visibility timeout
    (shortened here) and the redelivered task takes the layer over."""
    tiles = Path(settings.TILE_ROOT)
    worker = fault_worker("maps.render:render_layer")
    body = client.get("/api/v1/layers", LAYER).json()
    layer = MapLayer.objects.get(key=body["id"])
    wait_for(lambda: worker.marker.exists(), "a pause")
    worker.stop()  # SIGKILL to the worker's main process and its pool process at once

    assert MapLayer.objects.get(pk=layer.pk).state == "rendering"
    served = [
        *files_under(tiles / "public" / layer.key),
        *files_under(tiles / "private" / layer.key),
    ]
    assert not served, served
    response = client.get(body["tiles"].format(z=3, x=1, y=3))
    assert response.status_code in (202, 404), response.status_code
    if response.status_code == 202:
        png = b"".join(response.streaming_content) if response.streaming else response.content
        Image.open(io.BytesIO(png)).verify()  # the transparent placeholder, a whole PNG
    assert client.get("/api/v1/layers", LAYER).json()["state"] == "rendering"

    # A worker comes back on the same queue; the marker exists, so it does not pause.
    restarted = FaultWorker(
        worker.marker.parent, "", {"FAULT_VISIBILITY_TIMEOUT": "1"}, queue=worker.queue
    )
    try:
        ready = wait_for(
            lambda: MapLayer.objects.filter(pk=layer.pk, state="ready").first(), "redelivered"
        )
    finally:
        restarted.stop()
    assert ready.tiles_seeded > 0
    assert client.get(body["tiles"].format(z=3, x=1, y=3)).status_code == 200


def test_a_layer_left_rendering_past_the_time_limit_is_queued_again_and_renders(
    fault_worker, client, usa
):
    """The same loss, found without the broker: a layer "rendering" for longer than the
    render's hard time limit lost its worker; the next request (or the cleanup job) queues it."""
    worker = fault_worker("maps.render:render_layer")
    body = client.get("/api/v1/layers", LAYER).json()
    layer = MapLayer.objects.get(key=body["id"])
    wait_for(lambda: worker.marker.exists(), "a pause")
    worker.stop()
    restarted = FaultWorker(worker.marker.parent, "", queue=worker.queue)
    try:
        assert client.get("/api/v1/layers", LAYER).json()["state"] == "rendering"  # not yet
        MapLayer.objects.filter(pk=layer.pk).update(
            render_started=timezone.now() - RENDER_TIME_LIMIT - dt.timedelta(seconds=1)
        )
        assert client.get("/api/v1/layers", LAYER).json()["state"] in ("queued", "rendering")
        ready = wait_for(
            lambda: MapLayer.objects.filter(pk=layer.pk, state="ready").first(), "requeued"
        )
    finally:
        restarted.stop()
    assert ready.tiles_seeded > 0


def test_an_ingest_killed_before_commit_leaves_zero_rows_and_its_task_failed(
    fault_worker, write_csv
):
    # Paused with every row written inside the ingest's transaction, before its commit.
    worker = fault_worker("baselines.ingest.write:write_survey")
    header = ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm", "Zn_ppm"]
    rows = [[f"I-{i}", -110 + i % 40 / 2, 38 + i // 40 / 2, "USA", 5 + i, 40] for i in range(400)]
    options = IngestOptions(survey="Killed survey", medium="topsoil", scale_km=10)
    result = ingest_file.delay(str(write_csv([header, *rows])), options_to_json(options))
    worker.kill_paused()

    # The worker's main process marks the task failed; PostgreSQL rolled the transaction back
    # when the dead process's connection closed.
    wait_for(lambda: result.state == "FAILURE", "the task marked failed")
    assert "WorkerLostError" in repr(result.result), result.result
    assert not Survey.objects.filter(name="Killed survey").exists()
    assert not Sample.objects.filter(code__startswith="I-").exists()
    assert not Measurement.objects.filter(sample__code__startswith="I-").exists()
    assert not Ingestion.objects.filter(file_name="survey.csv").exists()

    # The same file queued again lands whole (the worker's new pool process does not pause).
    again = ingest_file.delay(str(write_csv([header, *rows])), options_to_json(options))
    assert again.get(timeout=120)["samples_added"] == 400
    assert Sample.objects.filter(survey__name="Killed survey").count() == 400


@pytest.fixture
def download_root(tmp_path, settings):
    settings.DOWNLOAD_ROOT = tmp_path / "downloads"
    return settings.DOWNLOAD_ROOT


def test_a_download_build_killed_mid_write_serves_no_file_and_its_job_is_failed(
    fault_worker, client, usa, download_root
):
    # Paused with the data file in the partial zip under DOWNLOAD_ROOT/tmp.
    worker = fault_worker("downloads.package:_write_data", {"DOWNLOAD_ROOT": str(download_root)})
    response = client.post("/api/v1/downloads/", {"format": "csv"}, content_type="application/json")
    assert response.status_code == 202, response.content
    job = DownloadJob.objects.get(public_id=response.json()["id"])
    worker.kill_paused()
    partial = list((download_root / "tmp" / str(job.public_id)).glob("*.zip"))

    failed = wait_for(
        lambda: DownloadJob.objects.filter(pk=job.pk, state="failed").first(), "the job failed"
    )
    assert partial, "the build was paused with its zip under DOWNLOAD_ROOT/tmp"
    assert "worker building the package stopped" in failed.error
    assert files_under(download_root) == []  # no partial zip, no package
    body = client.get(response.json()["url"]).json()
    assert body["state"] == "failed" and body.get("file") is None, body
    # Even a signed link to the failed job's file is the one 404 body, never a partial file.
    link = client.get(f"/downloads/file/{services.sign_job(failed)}")
    assert link.status_code == 404 and link.json()["reason"], link.content
    assert client.get(f"/downloads/{job.public_id}/").status_code == 200


def test_a_download_left_running_past_the_time_limit_is_failed_by_the_cleanup_job(
    fault_worker, client, usa, download_root
):
    """The whole worker gone at once: nothing reports it; the cleanup job fails a job running
    for longer than the build's hard time limit and removes its build directory."""
    worker = fault_worker("downloads.package:_write_data", {"DOWNLOAD_ROOT": str(download_root)})
    response = client.post("/api/v1/downloads/", {"format": "csv"}, content_type="application/json")
    job = DownloadJob.objects.get(public_id=response.json()["id"])
    wait_for(lambda: worker.marker.exists(), "a pause")
    worker.stop()
    assert DownloadJob.objects.get(pk=job.pk).state == "running"
    assert files_under(download_root / "tmp")  # the partial zip, never served
    assert cleanup_download_packages.apply().get()["lost"] == 0  # not past the limit yet

    DownloadJob.objects.filter(pk=job.pk).update(
        started=timezone.now() - dt.timedelta(seconds=settings.DOWNLOAD_TASK_TIME_LIMIT + 1)
    )
    assert cleanup_download_packages.apply().get()["lost"] == 1
    failed = DownloadJob.objects.get(pk=job.pk)
    assert failed.state == "failed" and "please ask for it again" in failed.error
    assert files_under(download_root) == []
    assert client.get(response.json()["url"]).json()["state"] == "failed"
