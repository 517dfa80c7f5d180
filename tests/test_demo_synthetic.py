"""The demo's synthetic second monitoring round (``baselines.demo.SYNTHETIC_DATASETS``) and the
``Survey.synthetic`` label wherever a survey is listed.

The generator is checked on the whole USGS file without a database. The ingests keep every sample
but only a few element columns (``skip_columns``): pairing sites by code needs the samples, not
all 213,004 values.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command

from baselines import demo
from baselines.ingest import IngestReport, survey_ingest
from baselines.models import Measurement, Sample, Survey
from downloads.package import _title, synthetic_notice
from sharing.access import viewer_scope, visible_samples
from sharing.demo import demo_policies_load
from tests.conftest import USGS_CSV

KEEP_ELEMENTS = ("Cd_mg_kg", "Pb_mg_kg", "Cu_mg_kg")


def read(data: bytes) -> tuple[list[str], list[list[str]]]:
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return header, rows


@pytest.fixture(scope="module")
def real():
    return read(USGS_CSV.read_bytes())


@pytest.fixture(scope="module")
def generated():
    return demo.synthetic_round_csv()


def number(text: str) -> float:
    return float(text[1:]) if text.startswith("<") else float(text)


# --- the generator -------------------------------------------------------------------------------


def test_the_generator_is_deterministic_and_its_seed_matters(generated):
    assert demo.synthetic_round_csv() == generated
    assert demo.synthetic_round_csv(seed=demo.SYNTHETIC_SEED + 1) != generated
    assert generated.endswith(b"\n") and b"\r\n" not in generated


def test_every_site_keeps_its_id_coordinates_and_attributes_with_a_new_sample_id(real, generated):
    real_header, real_rows = real
    header, rows = read(generated)
    assert header == real_header  # same columns and units: the same ingest path reads it
    assert len(rows) == len(real_rows) == 4841
    col = {name: i for i, name in enumerate(header)}
    kept = ["site_id", "longitude", "latitude", "country_iso3", "state", "sample_medium"]
    kept += ["depth_cm", "land_cover_1", "land_cover_2"]
    for old, new in zip(real_rows, rows, strict=True):
        assert [new[col[c]] for c in kept] == [old[col[c]] for c in kept]
        assert new[col["sample_id"]] == old[col["sample_id"]] + "-S2020"
        assert dt.date.fromisoformat(new[col["collection_date"]]).year == 2020
    assert len({r[col["sample_id"]] for r in rows}) == len(rows)


def test_every_element_column_has_values_and_censored_values_mostly_stay_censored(real, generated):
    real_header, real_rows = real
    header, rows = read(generated)
    elements = [c for c in header if c.endswith(("_mg_kg", "_pct"))]
    assert len(elements) == 44
    for name in elements:
        i = header.index(name)
        cells = [r[i] for r in rows]
        assert all(cells), f"{name}: an empty cell"
        values = [number(c) for c in cells]  # every cell a number or "<DL"
        assert all(math.isfinite(v) and v > 0 for v in values), name
        detected = [c for c in cells if not c.startswith("<")]
        assert detected, f"{name}: no value above the detection limit"
        assert all("e" not in c.lower() for c in detected), name  # no exponent notation
        real_limits = {r[i] for r in real_rows if r[i].startswith("<")}
        assert {c for c in cells if c.startswith("<")} <= real_limits, name
        was = [r[i].startswith("<") for r in real_rows]
        still = [a and b.startswith("<") for a, b in zip(was, cells, strict=True)]
        if sum(was) >= 100:
            assert sum(still) / sum(was) > 0.85, name


def test_values_drift_slightly_and_cd_pb_rise_strongly_in_a_few_clusters(real, generated):
    real_header, real_rows = real
    header, rows = read(generated)
    lon = np.array([float(r[header.index("longitude")]) for r in rows])
    lat = np.array([float(r[header.index("latitude")]) for r in rows])
    hot = demo.hotspot_sites(lon, lat)
    assert 0.025 < hot.mean() < 0.035  # about 3 % of the sites

    def ratios(name, mask):
        i = header.index(name)
        pairs = [
            (number(a[i]), number(b[i]))
            for a, b, m in zip(real_rows, rows, mask, strict=True)
            if m and not a[i].startswith("<") and not b[i].startswith("<")
        ]
        return np.array([new / old for old, new in pairs])

    for name in ("Cu_mg_kg", "Zn_mg_kg", "Al_pct", "As_mg_kg"):
        r = ratios(name, ~hot)
        assert 1.0 < np.median(r) < 1.1, name  # median factor ~1.05
        assert 0.2 < np.std(np.log(r)) < 0.3, name  # log sd ~0.25
    for name in ("Cd_mg_kg", "Pb_mg_kg"):
        i = header.index(name)
        hot_new = np.array([number(r[i]) for r, h in zip(rows, hot, strict=True) if h])
        hot_old = np.array([number(r[i]) for r, h in zip(real_rows, hot, strict=True) if h])
        rise = hot_new / hot_old  # censored real values rise from their limit
        assert rise.min() >= 1.6 * 0.99 and rise.max() <= 3.0 * 1.01, name
        assert not any(r[i].startswith("<") for r, h in zip(rows, hot, strict=True) if h)
    # Clustered: every hotspot site lies within 400 km of one of the chosen centres.
    centres = np.radians(np.array(list(demo.HOTSPOT_CENTRES.values())))
    for x, y in zip(np.radians(lon[hot]), np.radians(lat[hot]), strict=True):
        cos_d = np.sin(y) * np.sin(centres[:, 1]) + np.cos(y) * np.cos(centres[:, 1]) * np.cos(
            x - centres[:, 0]
        )
        assert np.arccos(np.clip(cos_d, -1, 1)).min() * 6371 < 400


def test_the_dataset_is_built_outside_the_repository_and_labelled_synthetic(tmp_path):
    (spec,) = demo.SYNTHETIC_DATASETS
    first = spec.build(tmp_path)
    data = first.file.read_bytes()
    again = spec.build(tmp_path)
    assert again.file == first.file == tmp_path / spec.file_name
    assert again.file.read_bytes() == data == demo.synthetic_round_csv()
    assert [p.name for p in tmp_path.iterdir()] == [spec.file_name]  # no temporary file left

    options = first.options
    assert options.synthetic is True
    assert (options.monitoring_round, options.year) == (2, 2020)
    assert (options.medium, options.scale_km) == ("topsoil", 40)
    assert "SYNTHETIC" in options.survey
    for text in (options.citation, options.description):
        assert "SYNTHETIC" in text
        assert f"seed {demo.SYNTHETIC_SEED}" in text
    assert "Data Series 801" in options.citation and "Data Series 801" in options.description
    usgs = demo.DEMO_DATASETS[0].options
    assert (usgs.monitoring_round, usgs.year, usgs.synthetic) == (1, 2010, False)
    assert (usgs.medium, usgs.scale_km) == (options.medium, options.scale_km)


def test_citations_and_the_readme_name_synthetic_surveys():
    real = Survey(name="Real soils", slug="real-soils")
    marked = Survey(name="Soils 2020 (SYNTHETIC)", slug="soils-2020", synthetic=True)
    unmarked = Survey(name="Soils 2030", slug="soils-2030", synthetic=True)
    assert synthetic_notice([real]) == []
    notice = "\n".join(synthetic_notice([real, marked, unmarked]))
    assert notice.startswith("SYNTHETIC DATA\n")
    assert "soils-2020: Soils 2020 (SYNTHETIC)" in notice and "soils-2030" in notice
    assert "real-soils" not in notice
    assert (_title(real), _title(marked)) == ("Real soils", "Soils 2020 (SYNTHETIC)")
    assert _title(unmarked) == "Soils 2030 [SYNTHETIC DATA]"


# --- ingested ------------------------------------------------------------------------------------


def few_columns(options):
    """The options with every element column but ``KEEP_ELEMENTS`` skipped."""
    header = USGS_CSV.open(encoding="utf-8").readline().strip().split(",")
    skip = tuple(c for c in header if c.endswith(("_mg_kg", "_pct")) and c not in KEEP_ELEMENTS)
    return dataclasses.replace(options, skip_columns=skip)


@pytest.fixture
def both_rounds(db, tmp_path):
    """The real USGS survey (round 1) and the synthetic round 2, three elements each."""
    real = demo.DEMO_DATASETS[0]
    synthetic = demo.SYNTHETIC_DATASETS[0].build(tmp_path)
    survey_ingest(path=real.file, options=few_columns(real.options))
    report = survey_ingest(path=synthetic.file, options=few_columns(synthetic.options))
    assert (report.samples_added, report.warnings) == (4841, [])
    return (
        Survey.objects.get(name=real.options.survey),
        Survey.objects.get(name=synthetic.options.survey),
        synthetic,
    )


def test_the_synthetic_round_pairs_with_the_real_sites(both_rounds):
    real, synthetic, dataset = both_rounds
    assert (real.monitoring_round, real.year, real.synthetic) == (1, 2010, False)
    assert (synthetic.monitoring_round, synthetic.year, synthetic.synthetic) == (2, 2020, True)
    assert synthetic.medium_id == real.medium_id and synthetic.scale_m == real.scale_m == 40_000
    assert "SYNTHETIC" in synthetic.description and "SYNTHETIC" in synthetic.citation
    assert list(synthetic.countries.values_list("iso_a3", flat=True)) == ["USA"]

    # Sites sampled in both rounds, paired by (country, site code, medium).
    def sites(**where):
        rows = Sample.objects.filter(**where).values_list("country", "site_code", "survey__medium")
        return set(rows)

    paired = sites(survey=synthetic) & sites(survey__monitoring_round=1)
    assert len(paired) >= 4800
    assert len(paired) == 4841
    first = synthetic.samples.get(code="C-328818-S2020")
    assert first.site_code == "96" and first.sampled_on.year == 2020
    assert (first.geom.x, first.geom.y) == pytest.approx((-87.1166, 31.3146))
    assert (
        Measurement.objects.filter(sample__survey=synthetic).values("element").distinct().count()
        == 3
    )

    # Loading again adds nothing.
    again = survey_ingest(path=dataset.file, options=few_columns(dataset.options))
    assert again.already_ingested and again.samples_added == 0
    assert synthetic.samples.count() == 4841


def test_the_demo_policies_release_the_synthetic_round_to_everyone(both_rounds):
    real, synthetic, _ = both_rounds
    demo_policies_load()
    anonymous = visible_samples(viewer_scope(AnonymousUser()))
    assert anonymous.filter(survey=synthetic).count() == 4841
    assert anonymous.filter(survey=real).count() == 4841


def test_survey_pages_and_the_api_label_the_synthetic_survey(both_rounds, client):
    real, synthetic, _ = both_rounds
    demo_policies_load()
    label = ">Synthetic data</span>"
    listing = client.get("/surveys/").content.decode()
    assert listing.count(label) == 1
    row = next(line for line in listing.splitlines() if synthetic.slug in line)
    assert label in row
    page = client.get(f"/surveys/{synthetic.slug}/").content.decode()
    assert label in page and "not measured" in page
    assert f"seed {demo.SYNTHETIC_SEED}" in page  # the description says how it was made
    assert label not in client.get(f"/surveys/{real.slug}/").content.decode()

    api = {s["slug"]: s for s in client.get("/api/v1/surveys/").json()}
    assert api[synthetic.slug]["synthetic"] is True
    assert api[synthetic.slug]["monitoring_round"] == 2
    assert api[real.slug]["synthetic"] is False


def test_load_demo_loads_the_synthetic_round_after_the_real_surveys(
    db, settings, tmp_path, monkeypatch
):
    settings.VAR_DIR = tmp_path
    calls = []

    def recorded(*, path, options):
        calls.append((path, options))
        return IngestReport(file=path.name, survey=options.survey, already_ingested=True)

    # load_demo ingests through baselines.demo.demo_dataset_load (then describes provenance).
    monkeypatch.setattr("baselines.demo.survey_ingest", recorded)
    call_command("load_demo", stdout=io.StringIO())
    names = [options.survey for _, options in calls]
    assert names == [d.options.survey for d in demo.DEMO_DATASETS] + [
        demo.SYNTHETIC_DATASETS[0].options.survey
    ]
    path, options = calls[-1]
    assert path == tmp_path / "demo" / demo.SYNTHETIC_DATASETS[0].file_name
    assert path.read_bytes() == demo.synthetic_round_csv()
    assert options.synthetic and options.monitoring_round == 2


def test_the_ingest_command_marks_a_survey_synthetic_with_its_round(db, write_csv):
    path = write_csv(
        [["sample_id", "site_id", "longitude", "latitude", "Cu_ppm"], ["S1", "7", -98.5, 39.5, 12]]
    )
    call_command(
        "ingest", str(path), "--survey", "Simulated", "--medium", "topsoil", "--scale", "10",
        "--country", "USA", "--round", "3", "--synthetic", "--description", "Generated.",
        "--no-progress", stdout=io.StringIO(),
    )  # fmt: skip
    survey = Survey.objects.get(name="Simulated")
    assert (survey.synthetic, survey.monitoring_round, survey.description) == (
        True,
        3,
        "Generated.",
    )
    call_command(
        "ingest", str(path), "--survey", "Measured", "--medium", "topsoil", "--scale", "10",
        "--country", "USA", "--no-progress", stdout=io.StringIO(),
    )  # fmt: skip
    assert Survey.objects.get(name="Measured").synthetic is False
