"""How ingest stores measurements: partitions, ids, element-major rows, the rules ingest keeps.

Measurement has no unique (sample, analyte) index and no primary-key index (its docstring says
why); these tests hold ingest to the rules that stand in for them, on every path a file takes:
the default partition (small files), a fresh partition (big ones), a later file adding elements
to existing samples, a failure midway, and two ingests of one file at once.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.db import connection, connections

from baselines.ingest import PARTITION_PREFIX, IngestError, IngestOptions, survey_ingest
from baselines.models import Measurement, Sample, Survey

pytestmark = pytest.mark.django_db

ELEMENTS = ["Cu_ppm", "Pb_ppm", "Zn_ppm", "As_ppm"]


def survey_rows(n: int, *, elements=ELEMENTS, prefix: str = "S", seed: int = 1) -> list[list]:
    """``n`` samples in Kansas with log-normal values, some censored."""
    rng = np.random.default_rng(seed)
    rows = [["sample_id", "longitude", "latitude", "country_iso3", *elements]]
    for i in range(n):
        values = [
            f"<{0.5:g}" if rng.random() < 0.1 else f"{rng.lognormal(2, 1):.3f}" for _ in elements
        ]
        lon, lat = -101.5 + 6 * rng.random(), 37.5 + 2.5 * rng.random()
        rows.append([f"{prefix}{i}", f"{lon:.5f}", f"{lat:.5f}", "USA", *values])
    return rows


def ingest(path, survey: str = "Storage survey"):
    return survey_ingest(
        path=path, options=IngestOptions(survey=survey, medium="topsoil", scale_km=10)
    )


def partitions() -> dict[str, tuple[str, int]]:
    """Measurement's partitions: {name: (bound, rows)}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'baselines_measurement'::regclass AND c.relkind = 'r'"
        )
        found = {}
        for name, bound in cursor.fetchall():
            cursor.execute(f"SELECT count(*) FROM {name}")
            found[name] = (bound, cursor.fetchone()[0])
    return found


def partition_tables() -> set[str]:
    """Every table named like an ingest partition, attached or not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE %s",
            [PARTITION_PREFIX.replace("_", "\\_") + "%"],
        )
        return {row[0] for row in cursor.fetchall()}


def assert_rules_hold() -> None:
    """The rules ingest keeps in place of unique indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM baselines_measurement "
            "GROUP BY sample_id, analyte_id HAVING count(*) > 1) d"
        )
        assert cursor.fetchone()[0] == 0, "a sample holds one row per analyte"
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM baselines_measurement "
            "GROUP BY id HAVING count(*) > 1) d"
        )
        assert cursor.fetchone()[0] == 0, "ids are unique"
        cursor.execute(
            "SELECT count(*) FROM baselines_measurement m "
            "LEFT JOIN baselines_sample s ON s.id = m.sample_id "
            "LEFT JOIN baselines_analyte a ON a.id = m.analyte_id "
            "WHERE s.id IS NULL OR a.id IS NULL OR a.element_id <> m.element_id"
        )
        assert cursor.fetchone()[0] == 0, "every row has its sample and its analyte's element"


def test_small_file_goes_to_the_default_partition(write_csv):
    before = partitions()
    report = ingest(write_csv(survey_rows(50)))
    assert report.measurements_added == 200
    after = partitions()
    assert set(after) == set(before), "no partition for a small file"
    assert after["baselines_measurement_default"][1] - before["baselines_measurement_default"][1]
    assert_rules_hold()


def test_big_file_gets_its_own_partition_with_the_brin_index(write_csv, settings):
    settings.INGEST_PARTITION_MIN_ROWS = 100
    report = ingest(write_csv(survey_rows(300)))
    ids = sorted(Sample.objects.filter(survey__name="Storage survey").values_list("pk", flat=True))
    assert ids == list(range(ids[0], ids[0] + 300)), "one block of sample ids"
    name = f"{PARTITION_PREFIX}{ids[0]}"
    bound, rows = partitions()[name]
    assert bound == f"FOR VALUES FROM ('{ids[0]}') TO ('{ids[-1] + 1}')"
    assert rows == report.measurements_added == 1200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'measurement_brin'::regclass AND c.relname = %s",
            [f"{name}_brin"],
        )
        assert cursor.fetchone()[0] == 1, "the partition's BRIN index is part of Measurement's"
    assert_rules_hold()


def test_rows_are_stored_element_by_element_with_consecutive_ids(write_csv, settings):
    settings.INGEST_PARTITION_MIN_ROWS = 100
    ingest(write_csv(survey_rows(200)))
    rows = list(
        Measurement.objects.filter(sample__survey__name="Storage survey")
        .order_by("id")
        .values_list("id", "element__symbol", "sample_id")
    )
    ids = [r[0] for r in rows]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    runs = [symbol for i, (_, symbol, _) in enumerate(rows) if i == 0 or rows[i - 1][1] != symbol]
    assert runs == ["Cu", "Zn", "As", "Pb"], "one run of rows per element, in element order"
    with connection.cursor() as cursor:
        # Physical order is id order: the BRIN ranges stay narrow.
        cursor.execute(
            "SELECT id FROM baselines_measurement WHERE sample_id = ANY(%s) ORDER BY ctid",
            [sorted({r[2] for r in rows})],
        )
        physical = [r[0] for r in cursor.fetchall()]
    assert physical == ids


@pytest.mark.parametrize("block", [7, 64])
def test_rows_built_in_small_blocks_are_the_same_rows(write_csv, settings, monkeypatch, block):
    """COPY rows are built per slice of samples (``BLOCK_SAMPLES``); slices change nothing stored
    but the order of rows within an element."""
    settings.INGEST_PARTITION_MIN_ROWS = 100
    rows = survey_rows(150)
    ingest(write_csv(rows, "whole.csv"), "Whole blocks")
    monkeypatch.setattr("baselines.ingest.binary.BLOCK_SAMPLES", block)
    ingest(write_csv(rows, "sliced.csv"), "Small blocks")

    def stored(survey: str) -> list[tuple]:
        return sorted(
            Measurement.objects.filter(sample__survey__name=survey).values_list(
                "sample__code", "element__symbol", "value", "censored", "detection_limit",
                "reported_value",
            )
        )  # fmt: skip

    assert stored("Small blocks") == stored("Whole blocks")
    assert len(stored("Small blocks")) == 150 * 4
    symbols = list(
        Measurement.objects.filter(sample__survey__name="Small blocks")
        .order_by("id")
        .values_list("element__symbol", flat=True)
    )
    runs = [s for i, s in enumerate(symbols) if i == 0 or symbols[i - 1] != s]
    assert runs == ["Cu", "Zn", "As", "Pb"], "still one run of rows per element"
    assert_rules_hold()


def test_failure_after_the_partition_leaves_nothing(write_csv, settings, monkeypatch):
    from baselines import storage

    settings.INGEST_PARTITION_MIN_ROWS = 100
    before, tables = Measurement.objects.count(), partition_tables()
    original = storage.load_partition

    def then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("disk full after the partition")

    monkeypatch.setattr(storage, "load_partition", then_fail)
    with pytest.raises(RuntimeError):
        ingest(write_csv(survey_rows(200)))
    assert partition_tables() == tables, "the partition's table went with the transaction"
    assert Measurement.objects.count() == before


def test_later_file_adds_only_missing_analytes(write_csv, settings):
    settings.INGEST_PARTITION_MIN_ROWS = 100
    ingest(write_csv(survey_rows(100, elements=["Cu_ppm", "Pb_ppm"])))
    report = ingest(
        write_csv(survey_rows(100, elements=["Cu_ppm", "Pb_ppm", "Ni_ppm"]), name="more.csv")
    )
    assert report.samples_added == 0
    assert report.measurements_added == 100, "only the Ni rows are new"
    assert_rules_hold()


def test_rejected_file_leaves_no_partition(write_csv, settings):
    settings.INGEST_PARTITION_MIN_ROWS = 1
    rows = survey_rows(30)
    rows[5][4] = "lots"
    before = partition_tables()
    with pytest.raises(IngestError):
        ingest(write_csv(rows))
    assert partition_tables() == before


@pytest.mark.django_db(transaction=True)
def test_two_ingests_of_one_file_at_once_store_it_once(write_csv, settings):
    settings.INGEST_PARTITION_MIN_ROWS = 100
    path = write_csv(survey_rows(150))
    errors: list[BaseException] = []

    def run():
        try:
            ingest(path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Sample.objects.filter(survey__name="Storage survey").count() == 150
    assert Measurement.objects.filter(sample__survey__name="Storage survey").count() == 600
    assert_rules_hold()


# --- deleting a survey ----------------------------------------------------------------------------


def two_surveys(write_csv) -> dict[str, list[tuple]]:
    """Surveys A and B, each a big file (its own partition) and a small one (the default
    partition); B's measurement rows as (id, sample code, element, value)."""
    for name, seed in (("A", 1), ("B", 2)):
        ingest(write_csv(survey_rows(60, prefix=f"{name}big", seed=seed), f"{name}1.csv"), name)
        ingest(write_csv(survey_rows(5, prefix=f"{name}small", seed=seed), f"{name}2.csv"), name)
    rows = Measurement.objects.filter(sample__survey__name="B").order_by("id")
    return list(rows.values_list("id", "sample__code", "element__symbol", "value"))


def test_deleting_a_survey_drops_its_partition_and_keeps_the_others(write_csv, settings):
    settings.INGEST_PARTITION_MIN_ROWS = 100
    b_rows = two_surveys(write_csv)
    a = Survey.objects.get(name="A")
    a_first = Sample.objects.filter(survey=a).order_by("pk").values_list("pk", flat=True)[0]
    assert f"{PARTITION_PREFIX}{a_first}" in partitions()

    total, per_model = a.delete()

    assert per_model["baselines.Measurement"] == 65 * 4
    assert per_model["baselines.Sample"] == 65
    assert per_model["baselines.Survey"] == 1 and a.pk is None
    assert f"{PARTITION_PREFIX}{a_first}" not in partition_tables(), "dropped, not emptied"
    assert not Sample.objects.filter(survey__name="A").exists()
    assert not Measurement.objects.filter(sample__code__startswith="A").exists()
    assert (
        list(
            Measurement.objects.order_by("id").values_list(
                "id", "sample__code", "element__symbol", "value"
            )
        )
        == b_rows
    )
    assert_rules_hold()


def test_deleting_surveys_through_a_queryset_and_the_admin(write_csv, settings, client):
    from django.contrib.auth import get_user_model

    settings.INGEST_PARTITION_MIN_ROWS = 100
    tables_before = partition_tables()
    two_surveys(write_csv)
    client.force_login(get_user_model().objects.create_superuser("deleter", "d@example.org", "x"))
    b = Survey.objects.get(name="B")
    page = client.get(f"/admin/baselines/survey/{b.pk}/delete/")
    assert page.status_code == 200
    assert "65 samples with their measurements" in page.content.decode()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert (
        "65 个样品及其测定值"
        in client.get(f"/admin/baselines/survey/{b.pk}/delete/").content.decode()
    )
    del client.cookies[django_settings.LANGUAGE_COOKIE_NAME]
    assert (
        client.post(f"/admin/baselines/survey/{b.pk}/delete/", {"post": "yes"}).status_code == 302
    )
    assert not Survey.objects.filter(name="B").exists()
    assert Measurement.objects.filter(sample__survey__name="A").count() == 65 * 4

    total, per_model = Survey.objects.filter(name="A").delete()
    assert per_model["baselines.Measurement"] == 65 * 4
    assert partition_tables() <= tables_before, "every ingest partition went with its survey"
    assert_rules_hold()


def test_survey_data_has_no_delete_receivers():
    """A pre/post_delete receiver on a model makes Django's collector read every cascaded row
    into memory and delete it by id (> 10 minutes for one 100k-sample survey); the policy
    models keep theirs."""
    from django.db.models.signals import post_delete, post_save, pre_delete

    from baselines.models import Analyte
    from sharing.models import ReleasePolicy

    for model in (Measurement, Sample, Analyte):
        assert not pre_delete.has_listeners(model) and not post_delete.has_listeners(model)
    assert post_delete.has_listeners(ReleasePolicy) and post_save.has_listeners(ReleasePolicy)
