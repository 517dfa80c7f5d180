"""Ingest refuses what cannot be true (issue 17 §2), and says what it loads (§3, ingest's part).

A stated country that disagrees with the location, impossible numbers, fields the database cannot
hold and files mixing size fractions are row/column errors; every refused file leaves the
database as it was (``rejected``). A dry run says what a real run says.
"""

from __future__ import annotations

import io
import tracemalloc

import pytest
from django.core.management import CommandError, call_command

from baselines.models import Analyte, Sample, Survey
from tests.test_ingest import (
    HEADER,
    KANSAS,
    countries_containing,
    distance_to_country_m,
    ingest,
    only_problem,
    rejected,
    snapshot,
)

pytestmark = pytest.mark.django_db

# Inside Austria's 1:50m polygon, about 47° N 14° E.
AUSTRIA = [(14.0, 47.3), (13.5, 47.5), (15.2, 47.8)]
# The Ionian Sea, 5–6° south-west of Serbia and more than 10 km from any coast.
IONIAN_SEA = (18.5, 38.0)
# Freilassing: German, but inside Austria's generalised polygon, 2 km from Germany's.
FREILASSING = (12.98, 47.84)


def austrian_file(write_csv, code="AUS", name="austria.csv"):
    return write_csv(
        [HEADER] + [[f"A{i}", lon, lat, code, 10 + i] for i, (lon, lat) in enumerate(AUSTRIA)],
        name=name,
    )


def command(*args, **kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *map(str, args), "--no-progress", stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


# --- 1. the stated country agrees with the location ----------------------------------------------


def test_austrian_samples_written_as_aus_are_refused_naming_both_countries(write_csv):
    assert all(countries_containing(*p) == ["AUT"] for p in AUSTRIA)

    error = rejected(austrian_file(write_csv))

    assert [(p.row, p.column) for p in error.problems] == [(r, "country_iso3") for r in (2, 3, 4)]
    reason = error.problems[0].reason
    assert "the row says AUS (Australia, AUS) but (14, 47.3) lies in Austria (AUT)" in reason
    assert "give --country-codes AUS=AUT" in reason


def test_country_codes_map_the_surveys_own_codes_to_iso(write_csv):
    report = ingest(austrian_file(write_csv), country_codes={"AUS": "AUT"})

    assert report.countries == {"Austria": 3}
    assert set(Sample.objects.values_list("country__adm0_a3", flat=True)) == {"AUT"}


def test_country_codes_from_the_command_line_and_from_a_file(write_csv, tmp_path):
    out, _ = command(
        austrian_file(write_csv), "--survey", "Alps", "--medium", "topsoil", "--scale", "20",
        "--country-codes", "AUS=AUT", "--dry-run",
    )  # fmt: skip
    assert "Countries: Austria 3" in out

    mapping = write_csv([["code", "iso"], ["AUS", "AUT"], ["GER", "DEU"]], name="codes.csv")
    out, _ = command(
        austrian_file(write_csv), "--survey", "Alps", "--medium", "topsoil", "--scale", "20",
        "--country-codes", mapping,
    )  # fmt: skip
    assert "Countries: Austria 3" in out
    assert Survey.objects.get(name="Alps").samples.count() == 3


def test_a_mapping_to_an_unknown_code_is_refused(write_csv):
    problem = only_problem(rejected(austrian_file(write_csv), country_codes={"AUS": "XXX"}))
    assert "--country-codes maps 'AUS' to 'XXX', not a known ISO 3166 code" in problem.reason


def test_a_point_in_the_sea_stated_as_serbia_is_refused(write_csv):
    assert countries_containing(*IONIAN_SEA) == []
    assert distance_to_country_m(*IONIAN_SEA, "SRB") > 500_000
    path = write_csv([HEADER, ["S1", 20.5, 44.0, "SRB", 10], ["S2", *IONIAN_SEA, "SRB", 11]])

    problem = only_problem(rejected(path))

    assert (problem.row, problem.column) == (3, "country_iso3")
    assert problem.reason == (
        "the row says SRB (Serbia, SRB) but (18.5, 38) is more than 10 km from Serbia and from "
        "every country"
    )


def test_a_point_within_10_km_of_its_stated_countrys_generalised_border_is_accepted(write_csv):
    assert countries_containing(*FREILASSING) == ["AUT"]
    assert distance_to_country_m(*FREILASSING, "DEU") < 10_000
    path = write_csv([HEADER, ["D1", *FREILASSING, "DEU", 10], ["A1", *FREILASSING, "AUT", 11]])

    report = ingest(path)

    assert report.countries == {"Austria": 1, "Germany": 1}
    assert dict(Sample.objects.values_list("code", "country__adm0_a3")) == {
        "D1": "DEU",
        "A1": "AUT",
    }


# --- 2. impossible numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("inf", "'inf' is not a finite number"),
        ("-inf", "'-inf' is not a finite number"),
        ("Infinity", "'Infinity' is not a finite number"),
        ("1e400", "'1e400' is not a finite number"),
        ("NaN", "not a number: 'NaN' (leave a missing value empty)"),
        ("<-5", "detection limit '<-5' is not above 0"),
        ("<0", "detection limit '<0' is not above 0"),
        ("2000000", "'2000000' ppm is 2e+06 mg/kg of Cu, more than 100 %"),
        ("<1500000", "'<1500000' ppm is 1.5e+06 mg/kg of Cu, more than 100 %"),
    ],
)
def test_impossible_numbers_are_refused_naming_row_and_column(write_csv, cell, reason):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10], ["S2", -98.0, 39.0, "USA", cell]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (3, "Cu_ppm")
    assert reason in problem.reason


def test_a_30_mb_digit_string_is_refused_without_allocating_hundreds_of_mb(write_csv):
    digits = "9" * 30_000_000
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10], ["S2", -98.0, 39.0, "USA", digits]])
    before = snapshot()

    tracemalloc.start()
    try:
        with pytest.raises(Exception) as info:
            ingest(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert snapshot() == before
    problem = only_problem(info.value)
    assert (problem.row, problem.column) == (3, "Cu_ppm")
    assert problem.reason == (
        "'9999999999999999999999999999999999999999'… (30,000,000 characters) is too long to "
        "be a number (at most 64 characters)"
    )
    # Nothing is parsed from the long cell: the peak is a few copies of it (the file's bytes,
    # its cell, its column joined for the C reader and that column's bytes), where parsing it
    # took 816 MB (issue 17).
    assert peak < 200_000_000, f"peak {peak / 1e6:.0f} MB"


def test_a_long_coordinate_is_refused_before_it_is_parsed(write_csv):
    path = write_csv([HEADER, ["S1", "1" * 100_000, 39.0, "USA", 10]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (2, "longitude")
    assert "is longer than 64 characters" in problem.reason


def test_an_oxide_above_100_percent_is_refused(write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "SiO2_pct"],
            ["S1", *KANSAS, "USA", "99.5"],
            ["S2", -98.0, 39.0, "USA", "101"],
        ]
    )
    problem = only_problem(rejected(path))
    assert (problem.row, problem.column) == (3, "SiO2_pct")
    assert "'101' % SiO2 is 472,111 mg/kg of Si, more than 100 % SiO2" in problem.reason


def test_a_plausibility_bound_per_element_comes_from_the_configured_file(
    write_csv, tmp_path, settings
):
    bounds = tmp_path / "plausible.csv"
    bounds.write_text("# tighter bounds for soils\nsymbol,max_mg_kg\nCu,10000\n")
    settings.INGEST_PLAUSIBLE_MAX_FILE = bounds
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 9000], ["S2", -98.0, 39.0, "USA", 20000]])

    problem = only_problem(rejected(path))

    assert (problem.row, problem.column) == (3, "Cu_ppm")
    assert "more than the plausible maximum of 10,000 mg/kg for Cu" in problem.reason


def test_a_detection_limit_table_with_a_zero_limit_is_refused(write_csv, tmp_path):
    limits = write_csv([["column", "detection_limit"], ["Cu_ppm", "0"]], name="dl.csv")
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", "BDL"]])
    problem = only_problem(rejected(path, detection_limits=limits))
    assert (problem.row, problem.column) == (2, "detection_limit")
    assert "detection limit '0' is not a number above 0" in problem.reason


# --- 3. what the database cannot hold ------------------------------------------------------------


def test_ids_and_depth_longer_than_their_columns_are_refused_naming_each(write_csv):
    header = ["sample_id", "site_id", "longitude", "latitude", "country_iso3", "depth", "Cu_ppm"]
    path = write_csv(
        [
            header,
            ["S" * 81, "site", *KANSAS, "USA", "0-5", 10],
            ["S2", "T" * 81, *KANSAS, "USA", "0-5", 10],
            ["S3", "site", *KANSAS, "USA", "d" * 41, 10],
            ["S" * 80, "T" * 80, *KANSAS, "USA", "d" * 40, 10],  # the most each column holds
        ]
    )
    error = rejected(path)
    assert [(p.row, p.column) for p in error.problems] == [
        (2, "sample_id"),
        (3, "site_id"),
        (4, "depth"),
    ]
    assert error.problems[0].reason.endswith("is longer than 80 characters")
    assert error.problems[2].reason.endswith("is longer than 40 characters")


@pytest.mark.parametrize(
    ("column", "cell", "code"),
    [
        ("sample_id", "S\x002", "U+0000"),
        ("country_iso3", "US\x00A", "U+0000"),
        ("note", "ok\x1bnot", "U+001B"),
        ("Cu_ppm", "1\x000", "U+0000"),
        ("note", "\x93quoted\x94", "U+0093"),
    ],
)
def test_control_characters_in_any_field_are_refused(write_csv, column, cell, code):
    header = [*HEADER, "note"]
    row = {"sample_id": "S2", "country_iso3": "USA", "note": "fine", "Cu_ppm": "11"}
    row[column] = cell
    path = write_csv(
        [
            header,
            ["S1", *KANSAS, "USA", 10, "fine"],
            [row["sample_id"], -98.0, 39.0, row["country_iso3"], row["Cu_ppm"], row["note"]],
        ]
    )
    error = rejected(path)
    assert (error.problems[0].row, error.problems[0].column) == (3, column)
    assert f"control character {code}" in error.problems[0].reason


def test_a_control_character_in_a_column_name_is_refused(write_csv):
    path = write_csv([[*HEADER, "no\x00te"], ["S1", *KANSAS, "USA", 10, "x"]])
    problem = only_problem(rejected(path))
    assert (problem.row, problem.reason) == (1, "the name of column 6 holds a control character")


def test_a_method_longer_than_the_analyte_table_holds_is_refused(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10]])
    problem = only_problem(rejected(path, column_methods={"Cu_ppm": "M" * 41}))
    assert (problem.row, problem.column) == (1, "Cu_ppm")
    assert "is longer than 40 characters" in problem.reason


# --- 4. what a dry run shows ---------------------------------------------------------------------


def test_a_dry_run_prints_the_summary_of_a_real_run(write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "country_iso3", "Cu_ppm", "Al_XRF_pct", "pH"],
            ["S1", *KANSAS, "USA", "12", "7.5", "6.5"],
            ["S2", -97.0, 38.0, "USA", "<0.5", "7.1", "7"],
            ["S3", *AUSTRIA[0], "AUT", "9", "<0.1", "6"],
        ]
    )
    args = (path, "--survey", "Summary", "--medium", "topsoil", "--scale", "20")
    before = snapshot()

    dry, _ = command(*args, "--dry-run")

    assert snapshot() == before
    real, _ = command(*args)
    first_dry, *rest_dry = dry.splitlines()
    first_real, *rest_real = real.splitlines()
    assert rest_dry == rest_real
    assert first_dry.replace("would add", "added").replace("  [dry run: nothing written]", "") == (
        first_real
    )
    assert "(2 below detection)" in first_dry
    assert "  Cu_ppm               → Cu, reported in ppm" in rest_dry
    assert "  Al_XRF_pct           → Al by XRF, reported in %" in rest_dry
    assert "No method known for: Cu_ppm (give --method, or --column-methods)" in rest_dry
    assert "Countries: Austria 1, United States of America 2" in rest_dry
    assert "Sites: 3 (samples per site: 1 at 3 sites)" in rest_dry


# --- 5. method and laboratory --------------------------------------------------------------------


def test_method_and_laboratory_defaults_and_a_column_method_map(write_csv, tmp_path):
    path = write_csv(
        [
            [*HEADER, "Ni_ppm", "Al_XRF_pct"],
            ["S1", *KANSAS, "USA", "12", "20", "7.5"],
        ]
    )
    methods = write_csv([["column", "method"], ["Ni_ppm", "ICP-AES"]], name="methods.csv")

    out, _ = command(
        path, "--survey", "Methods", "--medium", "topsoil", "--scale", "20",
        "--method", "ICP-MS after aqua regia", "--laboratory", "USGS Denver",
        "--column-methods", methods,
    )  # fmt: skip

    survey = Survey.objects.get(name="Methods")
    assert (survey.method, survey.laboratory) == ("ICP-MS after aqua regia", "USGS Denver")
    assert dict(Analyte.objects.filter(survey=survey).values_list("source_column", "method")) == {
        "Cu_ppm": "",  # the survey's method
        "Ni_ppm": "ICP-AES",
        "Al_XRF_pct": "XRF",
    }
    assert "Cu_ppm               → Cu by ICP-MS after aqua regia (the survey's method)" in out
    assert "Ni_ppm               → Ni by ICP-AES, reported in ppm" in out
    assert "No method known" not in out


def test_a_column_method_map_naming_no_element_column_is_refused(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10]])
    error = rejected(path, column_methods={"Zn_ppm": "XRF", "country_iso3": "XRF"})
    assert [(p.column, p.reason) for p in error.problems] == [
        ("Zn_ppm", "--column-methods names a column that is not in the file"),
        ("country_iso3", "--column-methods names a column that is not an element column"),
    ]


def test_the_summary_names_the_columns_left_without_a_method(write_csv):
    path = write_csv(
        [
            [*HEADER, "Zn_ppm", "Al_XRF_pct"],
            ["S1", *KANSAS, "USA", "12", "20", "7.5"],
        ]
    )
    report = ingest(path, column_methods={"Zn_ppm": "ICP-MS"})
    assert report.without_method == ["Cu_ppm"]


# --- 6. several samples at one site --------------------------------------------------------------

FRACTIONS = ["sample_id", "site_id", "fraction", "longitude", "latitude", "country_iso3", "Cu_ppm"]


def fractions_file(write_csv, bad_row=None):
    rows = [FRACTIONS]
    for site, (lon, lat) in enumerate([KANSAS, (-97.0, 38.0)]):
        for fraction, cu in (("<2mm", 10), ("<75um", 30)):
            rows.append([f"R{site}-{fraction}", f"R{site}", fraction, lon, lat, "USA", cu])
    if bad_row is not None:
        rows[bad_row][-1] = "abc"
    return write_csv(rows, name="regolith.csv")


def test_a_file_mixing_size_fractions_is_refused_naming_them(write_csv):
    problem = only_problem(rejected(fractions_file(write_csv)))
    assert problem.column == "fraction"
    assert "the file holds 2 fractions: '<2mm' (2 rows), '<75um' (2 rows)" in problem.reason
    assert "--fraction VALUE" in problem.reason


def test_each_fraction_goes_into_its_own_survey_and_medium(write_csv):
    path = fractions_file(write_csv)
    fine = ingest(path, survey="Regolith <75um", medium="subsoil", fraction="<75um")
    coarse = ingest(path, survey="Regolith <2mm", medium="topsoil", fraction="<2mm")

    assert (fine.rows, fine.samples_added, fine.sites) == (4, 2, 2)
    assert fine.samples_per_site == {1: 2} and fine.warnings == []
    assert coarse.samples_added == 2
    fine_samples = Sample.objects.filter(survey__name="Regolith <75um")
    assert sorted(fine_samples.values_list("code", flat=True)) == ["R0-<75um", "R1-<75um"]
    assert {s.attributes["fraction"] for s in fine_samples} == {"<75um"}
    assert Survey.objects.get(name="Regolith <75um").medium.code == "subsoil"


def test_errors_in_a_fraction_name_the_files_rows(write_csv):
    path = fractions_file(write_csv, bad_row=3)  # R1-<2mm, file row 4
    problem = only_problem(rejected(path, fraction="<2mm"))
    assert (problem.row, problem.column) == (4, "Cu_ppm")
    # Another fraction's bad row is that fraction's ingest's business.
    assert ingest(path, fraction="<75um").samples_added == 2


def test_a_fraction_that_no_row_holds_is_refused(write_csv):
    problem = only_problem(rejected(fractions_file(write_csv), fraction="<63um"))
    assert "no row of fraction '<63um'" in problem.reason


def test_several_samples_at_one_site_are_counted_and_warned_about(write_csv):
    path = write_csv(
        [HEADER]
        + [[f"S{i}", *KANSAS, "USA", 10 + i] for i in range(4)]
        + [["T1", -97.0, 38.0, "USA", 5]]
    )
    out, _ = command(path, "--survey", "Sites", "--medium", "topsoil", "--scale", "20")
    assert "Sites: 2 (samples per site: 1 at 1 site, 4 at 1 site)" in out
    assert "1 sites (the same coordinates) have more than one sample, up to 4" in out


def test_the_command_refuses_a_malformed_mapping(write_csv):
    path = write_csv([HEADER, ["S1", *KANSAS, "USA", 10]])
    before = snapshot()
    with pytest.raises(CommandError, match="--country-codes takes CODE=ISO"):
        command(path, "--survey", "X", "--medium", "topsoil", "--scale", "20",
                "--country-codes", "no-such-file.csv")  # fmt: skip
    assert snapshot() == before
