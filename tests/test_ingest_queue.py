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


def test_a_queued_file_gets_the_same_row_and_column_refusals_as_the_command(
    celery_worker_process, write_csv
):
    """The queue's caller reads the problems the command prints: a country that disagrees with
    the location and an impossible number, each naming row and column; nothing is written."""
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm"],
            ["A-1", "14.0", "47.3", "AUS", "12.5"],
            ["A-2", "13.5", "47.5", "AUT", "inf"],
        ]
    )
    options = IngestOptions(survey="Queued Alps", medium="topsoil", scale_km=10)

    def queued() -> dict:
        return ingest_file.delay(str(path), options_to_json(options)).get(timeout=120)

    # Rows are checked first, their countries once every row is readable.
    result = queued()
    assert result["ok"] is False
    assert result["problems"] == [
        "survey.csv, row 3, column 'Cu_ppm': 'inf' is not a finite number"
    ]
    path.write_text(path.read_text().replace("inf", "7"))
    result = queued()
    assert result["ok"] is False
    assert result["problems"] == [
        "survey.csv, row 2, column 'country_iso3': the row says AUS (Australia, AUS) but "
        "(14, 47.3) lies in Austria (AUT); if the survey writes AUT as AUS, give "
        "--country-codes AUS=AUT",
    ]
    assert not Survey.objects.filter(name="Queued Alps").exists()

    options.country_codes = {"AUS": "AUT"}
    result = queued()
    assert result["ok"] is True and result["countries"] == {"Austria": 2}
