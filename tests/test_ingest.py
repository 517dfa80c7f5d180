"""Survey ingestion (``baselines.ingest.survey_ingest`` and ``manage.py ingest``).

The demo files are real surveys; everything else is written into ``tmp_path`` by the test that
needs it. Every rejected file must leave the database exactly as it was (``snapshot``).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from baselines import grid
from baselines.ingest import IngestError, IngestOptions, survey_ingest
from baselines.models import Analyte, Country, Ingestion, Measurement, Sample, Survey
from tests.conftest import KOLA_CSV, KOLA_DL, USGS_CSV

pytestmark = pytest.mark.django_db

HEADER = ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm"]
# Points well inside their country's 1:50m polygon.
KANSAS = (-98.5, 39.5)
# 1.3 km off the Oregon coast, outside every polygon (checked in the test that uses it).
OFF_OREGON = (-124.15, 44.0)
# South Atlantic, hundreds of km from any land.
MID_OCEAN = (-30.0, -30.0)
# Kola samples inside UTM zone 35N's EPSG area of use (24–30°E).
KOLA_WEST = ["KOLA-C-1", "KOLA-C-3", "KOLA-C-5", "KOLA-C-7", "KOLA-C-16"]
# Russian Kola rows, east of 31°E: the source's UTM 35 coordinates reach 35.4°E.
KOLA_EAST = ["KOLA-C-2", "KOLA-C-4", "KOLA-C-6", "KOLA-C-9", "KOLA-C-12"]
KOLA_ELEMENT_COLUMNS = 52  # 54 measured columns less LOI_pct and pH (sample attributes)


# --- helpers -------------------------------------------------------------------------------------


def options(**overrides) -> IngestOptions:
    values = {"survey": "Test survey", "medium": "topsoil", "scale_km": 20}
    values.update(overrides)
    return IngestOptions(**values)


def ingest(path, **overrides):
    return survey_ingest(path=path, options=options(**overrides))


def snapshot() -> dict[str, int]:
    """Row counts of every table an ingest writes to."""
    return {
        "surveys": Survey.objects.count(),
        "samples": Sample.objects.count(),
        "measurements": Measurement.objects.count(),
        "analytes": Analyte.objects.count(),
        "ingestions": Ingestion.objects.count(),
        "survey_countries": Survey.countries.through.objects.count(),
    }


def rejected(path, **overrides) -> IngestError:
    """Ingest a file that must fail; check nothing was written; return the error."""
    before = snapshot()
    with pytest.raises(IngestError) as info:
        ingest(path, **overrides)
    assert snapshot() == before, "a rejected file must leave the database unchanged"
    assert info.value.problems, "a rejection must say why"
    assert info.value.total >= len(info.value.problems)
    return info.value


def only_problem(error: IngestError):
    assert len(error.problems) == 1, [str(p) for p in error.problems]
    return error.problems[0]


def read_rows(path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def kola_rows(ids: list[str]) -> list[dict[str, str]]:
    header, rows = read_rows(KOLA_CSV)
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    return [by_id[i] for i in ids]


def measurement(survey: str, code: str, column: str) -> Measurement:
    return Measurement.objects.select_related("analyte").get(
        sample__survey__name=survey, sample__code=code, analyte__source_column=column
    )


def distance_to_country_m(lon: float, lat: float, code: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Distance(boundary::geography,"
            " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)"
            " FROM baselines_country WHERE adm0_a3 = %s",
            [lon, lat, code],
        )
        return cursor.fetchone()[0]


def countries_containing(lon: float, lat: float) -> list[str]:
    return list(
        Country.objects.filter(boundary__intersects=f"SRID=4326;POINT({lon} {lat})").values_list(
            "adm0_a3", flat=True
        )
    )


def assert_cells_match_points(samples) -> None:
    """Every sample holds the 8 cell codes that grid.cell_codes gives for its stored point."""
    fields = [grid.cell_field_name(size) for size in grid.SCALES_M]
    rows = list(samples.values_list("geom", *fields))
    assert rows
    lon = np.array([r[0].x for r in rows])
    lat = np.array([r[0].y for r in rows])
    expected = grid.cell_codes(lon, lat)
    for k, size in enumerate(grid.SCALES_M):
        stored = [r[k + 1] for r in rows]
        assert all(stored), f"{fields[k]} is empty for some samples"
        assert stored == list(expected[size]), f"{fields[k]} differs from grid.cell_codes"


# --- 1. the demo surveys -------------------------------------------------------------------------


def test_usgs_demo_file_loads_every_sample_and_stores_mg_per_kg_with_censored_values():
    header, rows = read_rows(USGS_CSV)
    as_col, ag_col = header.index("As_mg_kg"), header.index("Ag_mg_kg")
    censored_as = next(row[0] for row in rows if row[as_col] == "<0.6")
    n_ag_censored = sum(row[ag_col].startswith("<") for row in rows)

    report = ingest(USGS_CSV, survey="USGS DS801 top 5 cm", scale_km=80, year=2010)

    assert (report.rows, report.samples_added, report.samples_skipped) == (4841, 4841, 0)
    assert report.measurements_added == 213_004
    assert report.censored == 19_706
    assert not report.already_ingested and not report.dry_run
    assert report.warnings == []  # the file's country column is used: no point is guessed
    assert report.countries == {"United States of America": 4841}
    assert report.element_columns["Al_pct"] == "Al, reported in %"
    assert len(report.element_columns) == 44
    assert {"state", "land_cover_1", "land_cover_2", "sample_medium"} <= set(
        report.attribute_columns
    )

    survey = Survey.objects.get(name="USGS DS801 top 5 cm")
    assert (survey.scale_m, survey.year, survey.medium.code) == (80_000, 2010, "topsoil")
    assert list(survey.countries.values_list("iso_a3", flat=True)) == ["USA"]
    assert survey.samples.count() == 4841
    measurements = Measurement.objects.filter(sample__survey=survey)
    assert measurements.count() == 213_004
    assert measurements.filter(censored=True).count() == 19_706
    assert measurements.filter(censored=True, analyte__element__symbol="Ag").count() == 4828
    assert n_ag_censored == 4828
    # Censored rows never carry a value; uncensored rows always do.
    assert not measurements.filter(censored=True, value__isnull=False).exists()
    assert not measurements.filter(censored=True, detection_limit__isnull=True).exists()
    assert not measurements.filter(censored=False, value__isnull=True).exists()
    assert survey.analytes.count() == 44
    assert survey.analytes.filter(preferred=True).count() == 44

    al = measurement(survey.name, "C-328818", "Al_pct")
    assert al.value == pytest.approx(7900)
    assert al.reported_value == pytest.approx(0.79)
    assert (al.analyte.reported_unit, al.analyte.reported_species) == ("%", "")
    assert al.analyte.element.symbol == "Al" and al.element_id == al.analyte.element_id
    assert not al.censored and al.detection_limit is None

    arsenic = measurement(survey.name, censored_as, "As_mg_kg")
    assert arsenic.censored
    assert arsenic.value is None
    assert arsenic.detection_limit == pytest.approx(0.6)
    assert arsenic.reported_value == pytest.approx(0.6)

    first = survey.samples.get(code="C-328818")
    assert (first.geom.x, first.geom.y) == pytest.approx((-87.1166, 31.3146))
    assert first.site_code == "96"
    assert first.depth == "0-5"
    assert str(first.sampled_on) == "2009-02-18"
    assert first.attributes["state"] == "AL"
    # C-356927 (Texas) falls in the generalised MEX polygon; the file says USA and USA it stays.
    assert survey.samples.get(code="C-356927").country.iso_a3 == "USA"

    ingestion = Ingestion.objects.get(survey=survey)
    assert (ingestion.rows, ingestion.samples_added) == (4841, 4841)
    assert ingestion.measurements_added == 213_004
    assert len(ingestion.sha256) == 64


def test_kola_demo_file_with_detection_limit_table_keeps_both_methods_and_file_countries():
    report = ingest(
        KOLA_CSV, survey="Kola C-horizon", medium="subsoil", scale_km=10, detection_limits=KOLA_DL
    )

    assert (report.rows, report.samples_added) == (606, 606)
    assert report.measurements_added == 606 * KOLA_ELEMENT_COLUMNS
    assert report.censored == 42
    assert {"LOI_pct", "pH", "elevation_m", "lithology_code"} <= set(report.attribute_columns)
    assert "LOI_pct" not in report.element_columns and "pH" not in report.element_columns
    assert report.warnings == []

    survey = Survey.objects.get(name="Kola C-horizon")
    samples = survey.samples
    assert samples.count() == 606
    by_country = {
        code: samples.filter(country__adm0_a3=code).count() for code in ("FIN", "NOR", "RUS")
    }
    assert by_country == {"FIN": 188, "NOR": 128, "RUS": 290}
    assert sorted(survey.countries.values_list("adm0_a3", flat=True)) == ["FIN", "NOR", "RUS"]
    # Two Finnish samples lie in the generalised Norwegian polygon; the file's column wins.
    for code in ("KOLA-C-352", "KOLA-C-603"):
        sample = samples.get(code=code)
        assert "NOR" in countries_containing(sample.geom.x, sample.geom.y)
        assert sample.country.adm0_a3 == "FIN"

    measurements = Measurement.objects.filter(sample__survey=survey)
    censored = dict(
        measurements.filter(censored=True)
        .values_list("analyte__source_column")
        .annotate(n=Count("id"))
    )
    assert censored == {
        "Ag_mg_kg": 1,
        "As_mg_kg": 10,
        "Bi_mg_kg": 15,
        "Co_INAA_mg_kg": 1,
        "K_mg_kg": 3,
        "Nd_INAA_mg_kg": 8,
        "S_mg_kg": 3,
        "Sc_mg_kg": 1,
    }
    # A 0 in a column of the DL table is "below the limit": censored, at the table's limit.
    as_censored = measurements.filter(censored=True, analyte__source_column="As_mg_kg")
    assert as_censored.count() == 10
    for m in as_censored:
        assert m.value is None
        assert m.detection_limit == pytest.approx(0.1)
        assert m.reported_value == pytest.approx(0.1)
    assert not measurements.filter(censored=False, value=0).exists()

    al = survey.analytes.filter(element__symbol="Al").order_by("method")
    assert [(a.method, a.reported_unit, a.source_column, a.preferred) for a in al] == [
        ("", "mg/kg", "Al_mg_kg", False),
        ("XRF", "%", "Al_XRF_pct", True),
    ]
    assert al[1].detection_limit == pytest.approx(0.03 * 10_000)
    assert al[0].detection_limit == pytest.approx(10)
    # Exactly one preferred analyte per element; the total method wins.
    preferred = list(
        survey.analytes.filter(preferred=True).values_list("element__symbol", flat=True)
    )
    assert (
        len(preferred)
        == len(set(preferred))
        == survey.analytes.values("element").distinct().count()
    )
    assert survey.analytes.get(element__symbol="Co", preferred=True).method == "INAA"
    assert survey.analytes.get(element__symbol="Si", preferred=True).method == "XRF"
    assert survey.analytes.get(element__symbol="Cu", preferred=True).method == ""
    assert report.preferred["Al"] == "XRF"

    si = measurement(survey.name, "KOLA-C-1", "Si_XRF_pct")
    assert si.value == pytest.approx(30.85 * 10_000)
    assert si.reported_value == pytest.approx(30.85)
    assert measurement(survey.name, "KOLA-C-1", "Si_mg_kg").value == pytest.approx(140)
    assert samples.get(code="KOLA-C-1").attributes["LOI_pct"] == "1.72"
    assert_cells_match_points(samples)


# --- 2. grid cells -------------------------------------------------------------------------------


def test_every_sample_gets_all_eight_cell_codes_of_its_point(write_csv):
    points = [
        ("KS-1", *KANSAS, "USA"),
        ("AU-1", 151.2, -33.87, "AUS"),
        ("KE-1", 36.82, -1.29, "KEN"),
        ("IS-1", -21.9, 64.1, "ISL"),
        ("CL-1", -70.65, -33.45, "CHL"),
        ("CN-1", 116.4, 39.9, "CHN"),
    ]
    path = write_csv([HEADER] + [[*p, 10 + i] for i, p in enumerate(points)])

    ingest(path)

    samples = Sample.objects.filter(survey__name="Test survey").order_by("code")
    assert samples.count() == len(points)
    assert_cells_match_points(samples)
    kansas = samples.get(code="KS-1")
    for size in grid.SCALES_M:
        code = kansas.cell_code(size)
        assert code == grid.cell_at(*KANSAS, size).code
        assert code.startswith(grid.scale_label(size) + "-")
    # Distinct places, distinct cells.
    assert len(set(samples.values_list("cell_500m", flat=True))) == len(points)


# --- 3. ingesting again --------------------------------------------------------------------------


def test_same_file_again_adds_nothing_and_says_already_ingested():
    first = ingest(KOLA_CSV, scale_km=10, detection_limits=KOLA_DL)
    assert first.samples_added == 606
    before = snapshot()
    version = Survey.objects.get(name="Test survey").data_version

    again = ingest(KOLA_CSV, scale_km=10, detection_limits=KOLA_DL)

    assert again.already_ingested
    assert (again.samples_added, again.measurements_added, again.samples_skipped) == (0, 0, 606)
    assert snapshot() == before
    assert Survey.objects.get(name="Test survey").data_version == version


def test_modified_copy_of_a_file_adds_only_the_new_sample(tmp_path):
    ingest(KOLA_CSV, scale_km=10, detection_limits=KOLA_DL)
    before = snapshot()
    header, rows = read_rows(KOLA_CSV)
    extra = list(rows[0])
    extra[0] = "KOLA-C-9999"
    extra[header.index("Cu_mg_kg")] = "99.5"
    copy = tmp_path / "kola_plus_one.csv"
    shutil.copyfile(KOLA_CSV, copy)
    with copy.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(extra)

    report = ingest(copy, scale_km=10, detection_limits=KOLA_DL)

    assert not report.already_ingested
    assert (report.rows, report.samples_added, report.samples_skipped) == (607, 1, 606)
    assert report.measurements_added == KOLA_ELEMENT_COLUMNS
    after = snapshot()
    assert after["samples"] == before["samples"] + 1
    assert after["measurements"] == before["measurements"] + KOLA_ELEMENT_COLUMNS
    assert after["analytes"] == before["analytes"]  # no analyte created twice
    assert after["ingestions"] == before["ingestions"] + 1
    assert measurement("Test survey", "KOLA-C-9999", "Cu_mg_kg").value == pytest.approx(99.5)
    assert Survey.objects.filter(name="Test survey").count() == 1


def test_second_file_with_an_extra_element_adds_only_the_new_measurements(write_csv):
    rows = [
        ["S1", *KANSAS, "USA", 10],
        ["S2", -97.0, 38.0, "USA", 20],
        ["S3", -96.0, 37.5, "USA", 30],
    ]
    ingest(write_csv([HEADER] + rows, name="cu.csv"))
    before = snapshot()
    # Same samples; a new Zn column, and a Cu value that differs from the first file's.
    rows2 = [[*r, z] for r, z in zip(rows, ["55", "<2", ""], strict=True)]
    rows2[0][4] = 999
    report = ingest(write_csv([HEADER + ["Zn_ppm"]] + rows2, name="cu_zn.csv"))

    assert (report.samples_added, report.samples_skipped) == (0, 3)
    assert report.measurements_added == 2  # Zn for S1 and S2; S3's Zn is blank
    after = snapshot()
    assert after["samples"] == before["samples"]
    assert after["measurements"] == before["measurements"] + 2
    assert after["analytes"] == before["analytes"] + 1
    zn = Measurement.objects.filter(analyte__element__symbol="Zn").order_by("sample__code")
    assert [(m.sample.code, m.value, m.censored, m.detection_limit) for m in zn] == [
        ("S1", 55.0, False, None),
        ("S2", None, True, 2.0),
    ]
    # What is already stored is kept: the second file does not overwrite S1's Cu.
    assert measurement("Test survey", "S1", "Cu_ppm").value == 10.0
    assert Measurement.objects.filter(analyte__element__symbol="Cu").count() == 3


# --- 4. rejected files ---------------------------------------------------------------------------


def test_latitude_outside_range_is_rejected_naming_row_and_column(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10], ["S2", -98.0, 95, "USA", 11]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (3, "latitude")
    assert "latitude 95 is outside" in problem.reason
    assert problem.file == "survey.csv"
    assert str(problem).startswith("survey.csv, row 3, column 'latitude': ")


def test_non_numeric_longitude_is_rejected(write_csv):
    path = write_csv([HEADER, ["S1", "abc", 39.5, "USA", 10]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (2, "longitude")
    assert problem.reason == "not a number: 'abc'"


def test_zero_zero_placeholder_coordinates_are_rejected(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10], ["S2", 0, 0, "USA", 12]])
    problem = only_problem(rejected(path))
    assert problem.row == 3
    assert problem.column == "longitude/latitude"
    assert "(0, 0) is a placeholder" in problem.reason


def test_unknown_element_column_is_rejected_with_a_fix(write_csv):
    path = write_csv([HEADER + ["Xx_ppm"], ["S1", *KANSAS, "USA", 10, 3]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (1, "Xx_ppm")
    assert "'Xx' is not an element symbol or oxide" in problem.reason
    assert "--skip-columns" in problem.reason


def test_unknown_element_column_can_be_skipped(write_csv):
    path = write_csv([HEADER + ["Xx_ppm"], ["S1", *KANSAS, "USA", 10, 3]])
    report = ingest(path, skip_columns=("Xx_ppm",))
    assert report.skipped_columns == ["Xx_ppm"]
    assert list(report.element_columns) == ["Cu_ppm"]
    assert Measurement.objects.count() == 1


def test_non_numeric_values_are_rejected_naming_each_row(write_csv):
    path = write_csv(
        [
            HEADER,
            ["S1", *KANSAS, "USA", 10],
            ["S2", -98.0, 39.0, "USA", "1,5"],
            ["S3", -97.0, 39.0, "USA", 12],
            ["S4", -96.0, 39.0, "USA", "abc"],
        ]
    )
    error = rejected(path)
    assert [(p.row, p.column) for p in error.problems] == [(3, "Cu_ppm"), (5, "Cu_ppm")]
    assert error.problems[0].reason == "not a number: '1,5' (use a decimal point)"
    assert error.problems[1].reason == "not a number: 'abc'"
    assert error.total == 2


def test_duplicate_sample_id_is_rejected_mentioning_both_rows(write_csv):
    path = write_csv(
        [
            HEADER,
            ["S1", *KANSAS, "USA", 10],
            ["S2", -98.0, 39.0, "USA", 11],
            ["S1", -97.0, 39.0, "USA", 12],
        ]
    )
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (4, "sample_id")
    assert "'S1'" in problem.reason and "row 2" in problem.reason


def test_projected_numbers_in_longitude_latitude_columns_suggest_crs(write_csv):
    path = write_csv([HEADER, ["KOLA-C-1", 547960, 7693790, "FIN", 41.6]])
    error = rejected(path)
    assert [(p.row, p.column) for p in error.problems] == [(2, "longitude"), (2, "latitude")]
    assert "longitude 547960 is outside" in error.problems[0].reason
    assert "latitude 7.69379e+06 is outside" in error.problems[1].reason
    assert all("--crs" in p.reason for p in error.problems)


def test_xy_in_degrees_with_a_projected_crs_is_called_degrees(write_csv):
    path = write_csv(
        [
            ["sample_id", "x", "y", "country_iso3", "Cu_ppm"],
            ["KOLA-C-1", 28.2186, 69.34931, "FIN", 41.6],
        ]
    )
    problem = only_problem(rejected(path, crs="EPSG:32635"))
    assert (problem.row, problem.column) == (2, "x/y")
    assert "look like longitude/latitude in degrees" in problem.reason
    assert "EPSG:32635" in problem.reason


def test_xy_from_elsewhere_far_outside_the_crs_area_of_use_is_rejected(write_csv):
    # x and y swapped: a northing as easting lands nowhere near zone 35.
    path = write_csv(
        [
            ["sample_id", "x", "y", "country_iso3", "Cu_ppm"],
            ["KOLA-C-1", 547960, 7693790, "FIN", 41.6],
            ["KOLA-C-3", 7668150, 498651, "FIN", 12],
        ]
    )
    problem = only_problem(rejected(path, crs="EPSG:32635"))
    assert (problem.row, problem.column) == (3, "x/y")
    assert "outside its area of use" in problem.reason


def test_xy_columns_without_crs_ask_for_crs(write_csv):
    path = write_csv([["sample_id", "x", "y", "Cu_ppm"], ["KOLA-C-1", 547960, 7693790, 41.6]])
    problem = only_problem(rejected(path))
    assert problem.row == 1
    assert "--crs" in problem.reason


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    problem = only_problem(rejected(path))
    assert problem.reason == "the file is empty"
    assert problem.file == "empty.csv"


def test_header_only_file_is_rejected(write_csv):
    problem = only_problem(rejected(write_csv([HEADER])))
    assert problem.row == 2
    assert "no data rows" in problem.reason


def test_wrong_encoding_is_rejected_naming_the_line_then_loads_with_encoding(write_csv):
    path = write_csv(
        [HEADER, ["S1", *KANSAS, "USA", 10], ["Sé-2", -98.0, 39.0, "USA", 11]],
        encoding="latin-1",
    )
    problem = only_problem(rejected(path))
    assert problem.row == 3
    assert "not valid utf-8" in problem.reason
    assert "line 3" in problem.reason
    assert "--encoding" in problem.reason

    report = ingest(path, encoding="latin-1")
    assert report.samples_added == 2
    assert Sample.objects.filter(code="Sé-2").exists()


def test_unknown_medium_is_rejected_listing_known_media(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10]])
    problem = only_problem(rejected(path, medium="lunar-regolith"))
    assert "unknown medium 'lunar-regolith'" in problem.reason
    for code in ("topsoil", "subsoil", "stream-sediment", "catchment-sediment", "humus", "rock"):
        assert code in problem.reason
    assert problem.row is None


def test_scale_that_is_not_a_grid_scale_is_rejected(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10]])
    problem = only_problem(rejected(path, scale_km=5))
    assert "5 km is not a grid scale" in problem.reason
    assert "80, 40, 20, 10, 4, 2, 1, 0.5 km" in problem.reason


def test_row_with_too_many_fields_is_rejected(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10], ["S2", -98.0, 39.0, "USA", 11, "oops"]])
    problem = only_problem(rejected(path))
    assert problem.row == 3
    assert "expected 5 fields, found 6" in problem.reason


def test_error_limit_lists_first_problems_and_counts_all(write_csv):
    rows = [[f"S{i}", *KANSAS, "USA", "bad"] for i in range(10)]
    error = rejected(write_csv([HEADER] + rows), max_errors=3)
    assert len(error.problems) == 3
    assert error.total == 10
    assert [p.row for p in error.problems] == [2, 3, 4]


def test_existing_survey_with_other_medium_is_rejected(write_csv):
    ingest(write_csv([HEADER, ["S1", *KANSAS, "USA", 10]], name="a.csv"))
    path = write_csv([HEADER, ["S2", -98.0, 39.0, "USA", 10]], name="b.csv")
    problem = only_problem(rejected(path, medium="humus"))
    assert "exists with medium topsoil" in problem.reason


# --- 5. countries from locations -----------------------------------------------------------------


NO_COUNTRY = ["sample_id", "longitude", "latitude", "Cu_ppm"]
COUNTRY_FROM_LOCATION_BUG = (
    "bug: assign_countries writes f'POINT({parsed.lon[i]!r} {parsed.lat[i]!r})' and with "
    "numpy 2 repr(np.float64(-98.5)) is 'np.float64(-98.5)', so PostGIS fails with 'parse error "
    "- invalid geometry' whenever a country is derived from a location"
)


def test_country_is_derived_from_a_point_inside_it(write_csv):
    report = ingest(write_csv([NO_COUNTRY, ["S1", *KANSAS, 10], ["S2", 151.2, -33.87, 11]]))
    assert report.warnings == []
    stored = dict(Sample.objects.values_list("code", "country__adm0_a3"))
    assert stored == {"S1": "USA", "S2": "AUS"}


def test_point_just_offshore_goes_to_nearest_country_with_warning(write_csv):
    assert countries_containing(*OFF_OREGON) == []
    assert 500 < distance_to_country_m(*OFF_OREGON, "USA") < 3000

    report = ingest(write_csv([NO_COUNTRY, ["S1", *KANSAS, 10], ["S2", *OFF_OREGON, 11]]))

    assert Sample.objects.get(code="S2").country.adm0_a3 == "USA"
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.startswith("row 3: outside every country polygon; assigned to USA")
    assert "1.3 km away" in warning
    assert Ingestion.objects.get().summary["warnings"] == report.warnings


def test_point_in_mid_ocean_is_rejected_naming_the_row(write_csv):
    path = write_csv([NO_COUNTRY, ["S1", *KANSAS, 10], ["S2", *MID_OCEAN, 11]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (3, "longitude/latitude")
    assert "(-30, -30) is not within 10 km of any country" in problem.reason
    assert "--country" in problem.reason


def test_country_option_overrides_locations(write_csv):
    path = write_csv([NO_COUNTRY, ["S1", *KANSAS, 10], ["S2", *MID_OCEAN, 11]])
    report = ingest(path, country="CAN")
    assert report.warnings == []
    assert set(Sample.objects.values_list("country__adm0_a3", flat=True)) == {"CAN"}
    assert report.countries == {"Canada": 2}


def test_unknown_country_option_is_rejected(write_csv):
    path = write_csv([NO_COUNTRY, ["S1", *KANSAS, 10]])
    problem = only_problem(rejected(path, country="XYZ"))
    assert "--country 'XYZ' is not a known ISO 3166 code" in problem.reason


def test_unknown_code_in_country_column_is_rejected(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10], ["S2", *KANSAS, "ZZZ", 10]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (3, "country_iso3")
    assert "unknown country code 'ZZZ'" in problem.reason


# --- 6. projected coordinates --------------------------------------------------------------------


def _kola_xy_file(write_csv, ids):
    rows = kola_rows(ids)
    path = write_csv(
        [["sample_id", "x", "y", "country_iso3", "Cu_mg_kg"]]
        + [
            [
                r["sample_id"],
                r["utm35_easting_m"],
                r["utm35_northing_m"],
                r["country_iso3"],
                r["Cu_mg_kg"],
            ]
            for r in rows
        ]
    )
    return path, rows


def test_xy_with_crs_are_transformed_to_the_files_longitude_latitude(write_csv):
    path, rows = _kola_xy_file(write_csv, KOLA_WEST)

    report = ingest(path, crs="EPSG:32635")

    assert report.samples_added == 5
    stored = {s.code: s for s in Sample.objects.select_related("country")}
    for row in rows:
        sample = stored[row["sample_id"]]
        assert sample.geom.x == pytest.approx(float(row["longitude"]), abs=1e-5)
        assert sample.geom.y == pytest.approx(float(row["latitude"]), abs=1e-5)
        assert sample.country.adm0_a3 == row["country_iso3"]
    # x/y are coordinates, not sample attributes.
    assert Sample.objects.filter(attributes__has_key="x").count() == 0
    assert_cells_match_points(Sample.objects.all())


def test_xy_with_crs_accepts_kola_russian_points_east_of_the_nominal_zone(write_csv):
    path, rows = _kola_xy_file(write_csv, KOLA_EAST)
    ingest(path, crs="EPSG:32635")
    for row in rows:
        sample = Sample.objects.get(code=row["sample_id"])
        assert sample.geom.x == pytest.approx(float(row["longitude"]), abs=1e-5)


def test_xy_with_proj_string_crs_is_transformed(write_csv):
    path, rows = _kola_xy_file(write_csv, KOLA_WEST)
    ingest(path, crs="+proj=utm +zone=35 +datum=WGS84 +units=m +no_defs")
    sample = Sample.objects.get(code=rows[0]["sample_id"])
    assert sample.geom.x == pytest.approx(float(rows[0]["longitude"]), abs=1e-5)


def test_crs_that_is_not_a_crs_is_rejected(write_csv):
    path, _ = _kola_xy_file(write_csv, KOLA_WEST[:1])
    problem = only_problem(rejected(path, crs="EPSG:nonsense"))
    assert "--crs 'EPSG:nonsense' is not a coordinate reference system" in problem.reason


# --- 7. dry run ----------------------------------------------------------------------------------


def test_dry_run_validates_and_counts_but_writes_nothing():
    before = snapshot()

    report = ingest(KOLA_CSV, scale_km=10, detection_limits=KOLA_DL, dry_run=True)

    assert report.dry_run
    assert (report.rows, report.samples_added, report.samples_skipped) == (606, 606, 0)
    assert report.measurements_added == 606 * KOLA_ELEMENT_COLUMNS
    assert snapshot() == before
    assert not Survey.objects.filter(name="Test survey").exists()


def test_dry_run_still_reports_problems(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", "abc"]])
    problem = only_problem(rejected(path, dry_run=True))
    assert (problem.row, problem.column) == (2, "Cu_ppm")


def test_dry_run_against_existing_survey_counts_only_new_samples(write_csv):
    ingest(write_csv([HEADER, ["S1", *KANSAS, "USA", 10]], name="a.csv"))
    before = snapshot()
    path = write_csv(
        [HEADER, ["S1", *KANSAS, "USA", 10], ["S2", -98.0, 39.0, "USA", 11]], name="b.csv"
    )
    report = ingest(path, dry_run=True)
    assert (report.samples_added, report.samples_skipped, report.measurements_added) == (1, 1, 1)
    assert snapshot() == before


# --- 8. GeoPackage -------------------------------------------------------------------------------


def _to_geopackage(csv_path, gpkg_path, *extra):
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr is None:
        pytest.skip("ogr2ogr (gdal-bin) is not installed; cannot build a GeoPackage")
    subprocess.run(
        [
            ogr2ogr, "-f", "GPKG", str(gpkg_path), str(csv_path),
            "-oo", "X_POSSIBLE_NAMES=longitude", "-oo", "Y_POSSIBLE_NAMES=latitude",
            "-a_srs", "EPSG:4326", *extra,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return gpkg_path


GPKG_ROWS = [
    ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm", "SiO2_pct", "land_use"],
    ["G1", *KANSAS, "USA", "12.5", "60", "arable"],
    ["G2", 151.2, -33.87, "AUS", "<0.5", "55.1", "forest"],
    ["G3", -97.0, 38.0, "USA", "", "70", "pasture"],
]


def test_geopackage_is_ingested_with_points_and_values(write_csv, tmp_path):
    gpkg = _to_geopackage(
        write_csv(GPKG_ROWS), tmp_path / "survey.gpkg", "-oo", "KEEP_GEOM_COLUMNS=NO"
    )

    report = ingest(gpkg)

    assert report.samples_added == 3
    assert report.measurements_added == 5
    samples = {s.code: s for s in Sample.objects.select_related("country")}
    assert (samples["G2"].geom.x, samples["G2"].geom.y) == pytest.approx((151.2, -33.87))
    assert samples["G2"].country.adm0_a3 == "AUS"
    assert samples["G1"].attributes == {"land_use": "arable"}
    assert measurement("Test survey", "G1", "Cu_ppm").value == pytest.approx(12.5)
    cu2 = measurement("Test survey", "G2", "Cu_ppm")
    assert (cu2.censored, cu2.value, cu2.detection_limit) == (True, None, 0.5)
    assert not Measurement.objects.filter(sample__code="G3", element__symbol="Cu").exists()
    si = measurement("Test survey", "G1", "SiO2_pct")
    assert si.value == pytest.approx(60 * 10_000 * 0.4674, rel=1e-3)
    assert_cells_match_points(Sample.objects.all())


def test_geopackage_keeping_coordinate_fields_is_ingested(write_csv, tmp_path):
    gpkg = _to_geopackage(write_csv(GPKG_ROWS), tmp_path / "survey.gpkg")
    report = ingest(gpkg)
    assert report.samples_added == 3


# --- 9. below the detection limit ----------------------------------------------------------------


def test_below_detection_encodings_are_stored_censored_and_blanks_are_not_stored(write_csv):
    path = write_csv(
        [
            [
                "sample_id",
                "longitude",
                "latitude",
                "country_iso3",
                "Cu_ppm",
                "Cu_ppm_flag",
                "Pb_ppm",
            ],
            ["S1", -98.5, 39.5, "USA", "<0.5", "", "12"],
            ["S2", -98.4, 39.5, "USA", "-0.5", "", "-2"],
            ["S3", -98.3, 39.5, "USA", "0.3", "<", "NA"],
            ["S4", -98.2, 39.5, "USA", "", "", "n.a."],
            ["S5", -98.1, 39.5, "USA", "NA", "", "<1"],
            ["S6", -98.0, 39.5, "USA", "7.25", "", "3"],
        ]
    )

    report = ingest(path)

    assert report.measurements_added == 8
    assert report.censored == 5
    assert "Cu_ppm_flag" not in report.element_columns
    assert "Cu_ppm_flag" not in report.attribute_columns
    stored = {
        (m.sample.code, m.analyte.source_column): (
            m.value,
            m.censored,
            m.detection_limit,
            m.reported_value,
        )
        for m in Measurement.objects.select_related("sample", "analyte")
    }
    assert stored == {
        ("S1", "Cu_ppm"): (None, True, 0.5, 0.5),
        ("S2", "Cu_ppm"): (None, True, 0.5, 0.5),
        ("S3", "Cu_ppm"): (None, True, 0.3, 0.3),
        ("S6", "Cu_ppm"): (7.25, False, None, 7.25),
        ("S1", "Pb_ppm"): (12.0, False, None, 12.0),
        ("S2", "Pb_ppm"): (None, True, 2.0, 2.0),
        ("S5", "Pb_ppm"): (None, True, 1.0, 1.0),
        ("S6", "Pb_ppm"): (3.0, False, None, 3.0),
    }
    assert Sample.objects.count() == 6  # S4 has no values yet is a sample
    assert not Measurement.objects.filter(sample__code="S4").exists()


def test_below_detection_word_without_a_limit_is_rejected(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", "BDL"]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (2, "Cu_ppm")
    assert "below detection without a limit" in problem.reason


def test_below_detection_word_takes_the_limit_from_the_table(write_csv, tmp_path):
    limits = tmp_path / "dl.csv"
    limits.write_text("column,detection_limit\nCu_ppm,0.2\n")
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", "BDL"], ["S2", -98.0, 39.0, "USA", "0"]])
    ingest(path, detection_limits=limits)
    for code in ("S1", "S2"):
        m = measurement("Test survey", code, "Cu_ppm")
        assert (m.censored, m.value, m.detection_limit) == (True, None, pytest.approx(0.2))
    assert Analyte.objects.get().detection_limit == pytest.approx(0.2)


# --- 10. units and oxides ------------------------------------------------------------------------


def test_oxide_and_ppb_columns_are_converted_to_mg_per_kg_of_the_element(write_csv):
    path = write_csv(
        [
            [
                "sample_id",
                "longitude",
                "latitude",
                "country_iso3",
                "SiO2_pct",
                "Fe2O3 (%)",
                "Au_ppb",
            ],
            ["S1", *KANSAS, "USA", "60", "5", "5"],
        ]
    )

    report = ingest(path)

    assert report.element_columns == {
        "SiO2_pct": "Si, reported as SiO2 in %",
        "Fe2O3 (%)": "Fe, reported as Fe2O3 in %",
        "Au_ppb": "Au, reported in ppb",
    }
    si = measurement("Test survey", "S1", "SiO2_pct")
    assert si.value == pytest.approx(60 * 10_000 * 0.4674, rel=1e-3)
    assert si.reported_value == 60
    assert (si.analyte.element.symbol, si.analyte.reported_species) == ("Si", "SiO2")
    assert si.analyte.reported_unit == "%"
    fe = measurement("Test survey", "S1", "Fe2O3 (%)")
    assert fe.value == pytest.approx(5 * 10_000 * 0.6994, rel=1e-3)
    assert (fe.analyte.element.symbol, fe.analyte.reported_species) == ("Fe", "Fe2O3")
    au = measurement("Test survey", "S1", "Au_ppb")
    assert au.value == pytest.approx(0.005)
    assert (au.reported_value, au.analyte.reported_unit, au.analyte.reported_species) == (
        5,
        "ppb",
        "",
    )


def test_element_column_without_unit_is_rejected(write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu", "Zn_ppm"],
            ["S1", *KANSAS, "USA", 1, 2],
        ]
    )
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (1, "Cu")
    assert "no unit" in problem.reason


# --- 11. the management command ------------------------------------------------------------------


def test_ingest_command_prints_summary_naming_element_columns(write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm", "SiO2_pct", "pH"],
            ["S1", *KANSAS, "USA", "12", "60", "6.5"],
            ["S2", -97.0, 38.0, "USA", "<0.5", "61", "7"],
        ]
    )
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "ingest", str(path), "--survey", "Command survey", "--medium", "topsoil", "--scale", "20",
        "--year", "2024", "--no-progress", stdout=out, stderr=err,
    )  # fmt: skip

    text = out.getvalue()
    assert (
        "survey.csv → survey 'Command survey': 2 rows; added 2 samples and 4 measurements" in text
    )
    assert "(1 below detection)" in text
    assert "Cu_ppm" in text and "→ Cu, reported in ppm" in text
    assert "SiO2_pct" in text and "→ Si, reported as SiO2 in %" in text
    assert "Kept as sample attributes: pH" in text
    assert "Countries: United States of America 2" in text
    assert "dry run" not in text
    assert err.getvalue() == ""
    survey = Survey.objects.get(name="Command survey")
    assert (survey.year, survey.scale_m, survey.samples.count()) == (2024, 20_000, 2)

    again = io.StringIO()
    call_command(
        "ingest", str(path), "--survey", "Command survey", "--medium", "topsoil", "--scale", "20",
        "--no-progress", stdout=again,
    )  # fmt: skip
    assert "was already ingested" in again.getvalue()
    assert survey.samples.count() == 2


def test_ingest_command_dry_run_says_so_and_writes_nothing(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10]])
    out = io.StringIO()
    before = snapshot()
    call_command(
        "ingest", str(path), "--survey", "Dry", "--medium", "topsoil", "--scale", "20",
        "--dry-run", "--no-progress", stdout=out,
    )  # fmt: skip
    assert "would add 1 samples and 1 measurements" in out.getvalue()
    assert "[dry run: nothing written]" in out.getvalue()
    assert snapshot() == before


def test_ingest_command_failure_raises_and_lists_rows_on_stderr(write_csv):
    path = write_csv(
        [
            HEADER,
            ["S1", *KANSAS, "USA", "abc"],
            ["S2", -98.0, 39.0, "USA", 11],
            ["S3", -97.0, 39.0, "USA", "1,5"],
        ]
    )
    out, err = io.StringIO(), io.StringIO()
    before = snapshot()

    with pytest.raises(CommandError, match=r"2 problem\(s\) in survey.csv; nothing was written"):
        call_command(
            "ingest", str(path), "--survey", "Bad", "--medium", "topsoil", "--scale", "20",
            "--no-progress", stdout=out, stderr=err,
        )  # fmt: skip

    lines = err.getvalue().splitlines()
    assert lines == [
        "survey.csv, row 2, column 'Cu_ppm': not a number: 'abc'",
        "survey.csv, row 4, column 'Cu_ppm': not a number: '1,5' (use a decimal point)",
    ]
    assert out.getvalue() == ""
    assert snapshot() == before


def test_ingest_command_reports_how_many_problems_were_not_listed(write_csv):
    rows = [[f"S{i}", *KANSAS, "USA", "bad"] for i in range(5)]
    path = write_csv([HEADER] + rows)
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"5 problem\(s\)"):
        call_command(
            "ingest", str(path), "--survey", "Bad", "--medium", "topsoil", "--scale", "20",
            "--max-errors", "2", "--no-progress", stderr=err,
        )  # fmt: skip
    lines = err.getvalue().splitlines()
    assert lines[:2] == [
        "survey.csv, row 2, column 'Cu_ppm': not a number: 'bad'",
        "survey.csv, row 3, column 'Cu_ppm': not a number: 'bad'",
    ]
    assert lines[2] == "… and 3 more problems"


def test_ingest_command_prefer_method_chooses_the_preferred_analyte(write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Al_ppm", "Al_XRF_pct"],
            ["S1", *KANSAS, "USA", "9000", "7.5"],
        ]
    )
    out = io.StringIO()
    call_command(
        "ingest", str(path), "--survey", "Pref", "--medium", "topsoil", "--scale", "20",
        "--prefer-method", "Al=", "--no-progress", stdout=out,
    )  # fmt: skip
    al = Analyte.objects.filter(survey__name="Pref", element__symbol="Al")
    assert [(a.method, a.preferred) for a in al.order_by("method")] == [("", True), ("XRF", False)]
    assert "Preferred method for maps" not in out.getvalue()  # "" is shown as "(as reported)"


# --- header spelling -----------------------------------------------------------------------------


def test_utf8_file_with_byte_order_mark_loads(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffsample_id,longitude,latitude,country_iso3,Cu_ppm\r\nS1,-98.5,39.5,USA,12\r\n".encode()
    )
    report = ingest(path)
    assert report.samples_added == 1
    assert Sample.objects.get().code == "S1"


def test_header_with_spaces_around_names_is_matched(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("sample_id ,longitude,latitude, country_iso3,Cu_ppm \nS1,-98.5,39.5,USA,12\n")
    report = ingest(path)
    assert list(report.element_columns) == ["Cu_ppm"]
    assert measurement("Test survey", "S1", "Cu_ppm").value == 12


@pytest.mark.django_db
def test_utm_rows_beyond_the_zone_band_are_accepted(write_csv):
    """Kola's Russian sites lie east of UTM zone 35's 24–30°E band, as real surveys do."""
    path = write_csv(
        [
            ["sample_id", "x", "y", "country_iso3", "Cu_ppm"],
            ["KOLA-C-2", 770025, 7679170, "RUS", 8],
        ]
    )
    report = ingest(path, crs="EPSG:32635")
    assert report.samples_added == 1
    sample = Sample.objects.get(code="KOLA-C-2")
    assert sample.geom.x == pytest.approx(33.79064, abs=1e-5)
    assert sample.geom.y == pytest.approx(69.08823, abs=1e-5)


@pytest.mark.django_db
@pytest.mark.parametrize("skip_checks", [True, False])
def test_skipping_reference_checks_loads_the_same_rows(settings, write_csv, skip_checks):
    """The per-row foreign-key checks are skipped only where they cannot fail: the loaded rows
    are the same either way, and every one references a stored sample and analyte."""
    from django.db import connection

    settings.INGEST_SKIP_REFERENCE_CHECKS = skip_checks
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm", "Au_ppb"],
            ["R-1", "25.0", "62.0", "FIN", "12.5", "<1"],
            ["R-2", "25.5", "62.5", "FIN", "30", "4"],
        ]
    )
    report = ingest(path)
    assert report.measurements_added == 4
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM baselines_measurement m
               LEFT JOIN baselines_sample s ON s.id = m.sample_id
               LEFT JOIN baselines_analyte a ON a.id = m.analyte_id
               WHERE s.id IS NULL OR a.id IS NULL"""
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
