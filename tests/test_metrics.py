"""``/metrics`` (``portal/metrics.py``, ``chemearth.metrics``): not public, and its counters move
with what the portal does — requests by route and status, rows ingested, packages built, tiles
served — and the queue length is read at scrape time."""

from __future__ import annotations

import re

import pytest
from django.urls import resolve
from prometheus_client.parser import text_string_to_metric_families

from baselines.ingest import IngestOptions, survey_ingest

TOKEN = "metrics-scraper-token-for-the-tests"


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_metrics_are_not_public(client, settings, django_user_model):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    settings.METRICS_TOKEN = ""  # no token configured: no token works, not even an empty one
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_counters_follow_requests_ingests_and_the_queue(
    client, settings, write_csv, django_capture_on_commit_callbacks
):
    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    before = scrape(client, **auth)
    client.get("/api/v1/elements/")
    client.get("/api/v1/samples/99999999/")
    header = ["sample_id", "longitude", "latitude", "Cu_ppm", "Zn_ppm"]
    with django_capture_on_commit_callbacks(execute=True):  # ingests count once committed
        survey_ingest(
            path=write_csv(
                [header, *[[f"M-{i}", -100 + i, 40, i + 1, 5] for i in range(4)]], "m.csv"
            ),
            options=IngestOptions(survey="metered", medium="topsoil", scale_km=10, country="USA"),
        )
    after = scrape(client, **auth)

    def grew(name: str, by: float, **labels) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) == by, (name, labels)

    # Counted by route pattern, not by URL: a label per sample id would grow without end.
    elements, sample = resolve("/api/v1/elements/").route, resolve("/api/v1/samples/1/").route
    grew("chemearth_http_requests_total", 1, method="GET", route=elements, status="2xx")
    grew("chemearth_http_requests_total", 1, method="GET", route=sample, status="4xx")
    grew("chemearth_ingest_rows_total", 4, kind="samples")
    grew("chemearth_ingest_rows_total", 8, kind="measurements")
    for kind in ("default", "render", "ingest", "downloads"):
        assert ("chemearth_celery_queue_length", (("queue", kind),)) in after, kind
    assert any(name == "chemearth_http_request_duration_seconds_bucket" for name, _ in after)


def test_the_grafana_dashboard_reads_metrics_the_portal_exports():
    import json
    from pathlib import Path

    dashboard = json.loads(
        (Path(__file__).resolve().parent.parent / "deploy" / "grafana-dashboard.json").read_text()
    )
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    from chemearth import metrics

    exported = {m._name for m in vars(metrics).values() if hasattr(m, "_name")}
    used = set(re.findall(r"chemearth_[a-z_]+", exprs))
    base = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    known = exported | {"chemearth_celery_queue_length"}
    assert base <= {re.sub(r"_total$", "", n) for n in known} | known, base - known
