"""Queues per job kind (``settings.JOB_QUEUES``): a render goes to the deployment's render queue,
an ingest to its ingest queue, the rest to the default queue; a worker started with one queue
(as a render host's is) takes that kind alone and leaves the others waiting for their workers.

Real Redis and a real ``celery worker`` process, under a deployment of the test's own
(the settings module run again under its environment, as in ``tests/test_isolation.py``).
"""

from __future__ import annotations

import uuid

import pytest
import redis

from chemearth.queues import worker_queues
from tests.test_isolation import celery_app, settings_for, start_worker, stop, wait_for_ping


def test_the_worker_queue_list_comes_from_settings(settings):
    assert worker_queues() == ",".join(settings.JOB_QUEUES.values())
    assert worker_queues(["render"]) == settings.JOB_QUEUES["render"]
    with pytest.raises(SystemExit, match="unknown job kind tiles"):
        worker_queues(["tiles"])


@pytest.mark.celery_worker
@pytest.mark.django_db
def test_each_kind_lands_on_its_queue_and_a_one_queue_worker_takes_that_kind_alone(
    monkeypatch, django_db_setup, tmp_path
):
    from django.db import connection

    name = f"queues-{uuid.uuid4().hex[:8]}"
    conf = settings_for(monkeypatch, DEPLOYMENT_NAME=name)
    queues = conf["JOB_QUEUES"]
    app = celery_app(conf)
    store = redis.Redis.from_url(app.conf.broker_url)
    log = tmp_path / "render-worker.log"
    worker = None
    try:
        # Sent before any worker runs: each waits in its kind's queue.
        render = app.send_task("maps.tasks.render_map_layer", args=[0])  # no layer 0: "missing"
        ingest = app.send_task("baselines.tasks.ingest_file", args=["/nonexistent.csv", {}])
        heartbeat = app.send_task("health.tasks.beat_heartbeat")
        waiting = {kind: store.llen(queue) for kind, queue in queues.items()}
        assert waiting == {"default": 1, "render": 1, "ingest": 1, "downloads": 0}

        # A render host's worker: the render queue only.
        worker = start_worker(name, connection.settings_dict["NAME"], log, queues=queues["render"])
        wait_for_ping(app, worker, name, log)
        assert render.get(timeout=120) == "missing"
        assert store.llen(queues["render"]) == 0
        # The ingest and the heartbeat are untouched, waiting for the workers of their kinds.
        assert store.llen(queues["ingest"]) == 1 and store.llen(queues["default"]) == 1
        assert ingest.state == heartbeat.state == "PENDING"
        assert ingest.id not in log.read_text() and heartbeat.id not in log.read_text()
        assert render.id in log.read_text()
        render.forget()
    finally:
        if worker is not None:
            stop(worker)
        for key in store.scan_iter(match=f"*{name}*"):
            store.delete(key)
        app.close()
