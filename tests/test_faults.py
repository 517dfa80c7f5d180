"""Faults (#19): with Redis unreachable — nothing listening where the cache points — every page
and API endpoint still answers, none with a 5xx: the cache is a speed-up (scopes, page cache,
figures, throttles), never a dependency of an answer."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import ReleasePolicy

CLOSED = "redis://127.0.0.1:1/0"  # nothing listens there
URLS = (
    "/", "/map/", "/surveys/", "/surveys/usa/", "/downloads/", "/docs/api/",
    "/api/v1/", "/api/v1/elements/", "/api/v1/samples/?limit=5", "/api/v1/measurements/?limit=5",
    "/api/v1/viewer/elements?medium=topsoil", "/ogcapi/", "/ogcapi/collections",
    "/ogcapi/collections/samples/items?limit=5", "/dashboards/", "/dashboards/coverage/",
    "/dashboards/volume/", "/api/v1/dashboards/volume/",
    "/api/v1/dashboards/baselines/?medium=topsoil", "/accounts/login/", "/health/",
)  # fmt: skip


@pytest.fixture
def usa(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    rows = [[f"F-{i}", -100 + i * 0.5, 40, 10 + i] for i in range(12)]
    survey_ingest(
        path=write_csv([header, *rows], "usa.csv"),
        options=IngestOptions(survey="usa", medium="topsoil", scale_km=40, country="USA"),
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)


@pytest.mark.django_db
def test_with_redis_unreachable_nothing_answers_5xx_but_health(client, usa, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": CLOSED}}
    with pytest.raises(Exception):  # noqa: B017 — the cache is really unreachable
        cache.get("anything")
    started = time.monotonic()
    statuses = {url: client.get(url).status_code for url in URLS}
    broken = {url: status for url, status in statuses.items() if status >= 500}
    # /health/ is the one that must say so: 503 naming the cache.
    assert broken == {"/health/": 503}, broken
    assert statuses["/api/v1/samples/?limit=5"] == 200
    assert time.monotonic() - started < 60  # a dead cache costs time, it does not hang
