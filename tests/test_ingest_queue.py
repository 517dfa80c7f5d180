"""Ingestion through the real queue: Redis broker and a Celery worker process."""

from __future__ import annotations

import pytest

from baselines.ingest import IngestOptions
from baselines.models import Measurement, Sample, Survey
from baselines.tasks import ingest_file, options_to_json

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def test_a_file_queued_for_ingest_is_loaded_by_the_worker(celery_worker_process, write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm", "Au_ppb"],
            ["Q-1", "-100.5", "40.1", "USA", "12.5", "<1"],
            ["Q-2", "-99.5", "41.1", "USA", "30", "4"],
        ]
    )
    options = IngestOptions(survey="Queued survey", medium="topsoil", scale_km=10)

    result = ingest_file.delay(str(path), options_to_json(options)).get(timeout=120)

    assert result["ok"] is True
    assert result["samples_added"] == 2
    survey = Survey.objects.get(name="Queued survey")
    assert Sample.objects.filter(survey=survey).count() == 2
    au = Measurement.objects.get(sample__code="Q-1", element__symbol="Au")
    assert au.censored and au.value is None and au.detection_limit == pytest.approx(0.001)


def test_a_bad_file_queued_for_ingest_reports_problems_and_writes_nothing(
    celery_worker_process, write_csv
):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm"],
            ["B-1", "-100.5", "40.1", "USA", "12.5"],
            ["B-2", "-99.5", "141.1", "USA", "abc"],
        ]
    )
    options = IngestOptions(survey="Broken survey", medium="topsoil", scale_km=10)

    result = ingest_file.delay(str(path), options_to_json(options)).get(timeout=120)

    assert result["ok"] is False
    assert any("row 3" in p and "latitude" in p for p in result["problems"])
    assert any("row 3" in p and "'abc'" in p for p in result["problems"])
    assert not Survey.objects.filter(name="Broken survey").exists()
    assert not Sample.objects.filter(code__startswith="B-").exists()
