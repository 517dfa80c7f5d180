"""Dashboard figures checked against an independent computation on the same rows (numpy, the
standard's numbers typed from docs/architecture.md §10), and against the gate: they shrink when a
survey is embargoed for the viewer and grow for the partner who may see it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from baselines import grid
from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element, Medium, Survey
from dashboards.models import SoilStandard
from dashboards.regions import region_of
from dashboards.selectors import (
    coverage,
    data_volume,
    element_baselines,
    exceedance,
    monitoring_change,
)
from sharing.access import viewer_scope
from sharing.models import ReleasePolicy
from tests.worlds import partner_with_agreement

# GB 15618-2018 "other" land use, pH ≤5.5 / 5.5–6.5 / 6.5–7.5 / >7.5 (architecture.md §10).
CD_SCREENING = {"other": [0.3, 0.3, 0.3, 0.6], "paddy": [0.3, 0.4, 0.6, 0.8]}
CD_INTERVENTION = [1.5, 2.0, 3.0, 4.0]
PB_SCREENING = {"other": [70, 90, 120, 170], "paddy": [80, 100, 140, 240]}
PB_INTERVENTION = [400, 500, 700, 1000]

# (pH or "", land use or "", Cd, Pb): every band, unknown pH, paddy, a censored Cd whose
# detection limit is above the screening value.
HAND_MADE = [
    ("5.0", "other", "0.35", "60"),  # Cd above screening (1.17×): safe use
    ("6.0", "other", "2.5", "95"),  # Cd above intervention (8.3×): strict control; Pb 1.06×
    ("7.0", "other", "0.29", "121"),  # Pb 1.01×
    ("8.0", "other", "0.7", "800"),  # Cd 1.17×; Pb 4.7×: moderate
    ("", "other", "0.35", "71"),  # unknown pH: strictest band (Cd 0.3, Pb 70)
    ("8.0", "paddy", "0.7", "200"),  # paddy, pH > 7.5: Cd 0.8, Pb 240 — nothing above
    ("", "paddy", "0.35", "79"),  # unknown pH, paddy: strictest paddy band (0.3, 80)
    ("6.0", "", "<0.5", "10"),  # censored, DL above screening; no land use: "other"
    ("6.0", "other", "0.1", "10"),
    ("6.0", "other", "0.1", "10"),
    ("6.0", "other", "0.1", "10"),
    ("6.0", "other", "0.12", "2000"),  # Pb above intervention 500 (22×): heavy
]


def band(ph: str) -> int | None:
    if not ph:
        return None
    value = float(ph)
    return 0 if value <= 5.5 else 1 if value <= 6.5 else 2 if value <= 7.5 else 3


def expected_counts(column: int, screening: dict, intervention: list) -> dict:
    """Independent count of the hand-made rows above screening / intervention, and severity."""
    out = {"n": 0, "above_screening": 0, "above_intervention": 0, "ph_unknown": 0,
           "severity": [0, 0, 0, 0], "censored_undetermined": 0}  # fmt: skip
    for row in HAND_MADE:
        ph, land_use, raw = row[0], row[1] or "other", row[column]
        b = band(ph)
        s = min(screening[land_use]) if b is None else screening[land_use][b]
        i = min(intervention) if b is None else intervention[b]
        out["n"] += 1
        out["ph_unknown"] += b is None
        if raw.startswith("<"):
            out["censored_undetermined"] += float(raw[1:]) > s
            continue
        value = float(raw)
        if value > s:
            out["above_screening"] += 1
            ratio = value / s
            out["severity"][0 if ratio <= 2 else 1 if ratio <= 3 else 2 if ratio <= 5 else 3] += 1
        out["above_intervention"] += value > i
    return out


def ingest(write_csv, name, country, rows, header, *, scale_km=10, year=2010, round_=1):
    path = write_csv([header, *rows], f"{name}.csv")
    survey_ingest(
        path=path,
        options=IngestOptions(
            survey=name,
            medium="topsoil",
            scale_km=scale_km,
            country=country,
            year=year,
            monitoring_round=round_,
        ),  # fmt: skip
    )
    return Survey.objects.get(name=name)


@pytest.fixture
def hand_made(write_csv):
    header = ["sample_id", "longitude", "latitude", "ph", "land_use", "Cd_ppm", "Pb_ppm"]
    rows = [
        [f"H{i}", -100 + i * 0.5, 40.0, ph, land_use, cd, pb]
        for i, (ph, land_use, cd, pb) in enumerate(HAND_MADE)
    ]
    survey = ingest(write_csv, "hand made", "USA", rows, header)
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    return survey


@pytest.mark.django_db
def test_exceedance_matches_an_independent_count_in_every_ph_band(hand_made):
    figure = exceedance(
        viewer_scope(None), region_of("world"), SoilStandard.objects.get(code="gb15618-2018")
    )
    by_element = {e["element"]: e for e in figure.data["elements"]}
    for symbol, column, screening, intervention in (
        ("Cd", 2, CD_SCREENING, CD_INTERVENTION),
        ("Pb", 3, PB_SCREENING, PB_INTERVENTION),
    ):
        want = expected_counts(column, screening, intervention)
        got = by_element[symbol]
        assert got["n"] == want["n"] == len(HAND_MADE)
        assert got["above_screening"] == want["above_screening"]
        assert got["above_intervention"] == want["above_intervention"]
        assert got["ph_unknown"] == want["ph_unknown"] == 2
        assert [got[k] for k in ("slight", "mild", "moderate", "heavy")] == want["severity"]
        assert got["censored_undetermined"] == want["censored_undetermined"]
        assert got["percent_above_screening"] == pytest.approx(
            100 * want["above_screening"] / len(HAND_MADE), abs=0.01
        )
    # Hand-checked too, so the independent count is not trusted blindly.
    assert by_element["Cd"]["above_screening"] == 5  # rows 0, 1, 3, 4, 6
    assert by_element["Cd"]["above_intervention"] == 1
    assert by_element["Pb"]["above_screening"] == 5  # rows 1, 2, 3, 4 (71 > 70) and 11
    # Overall classes: the worst element of each sample.
    samples = figure.data["samples"]
    assert samples["n"] == len(HAND_MADE)
    assert samples["strict_control"] == 2  # row 1 (Cd), row 11 (Pb 2000 > 500)
    assert figure.countries == {Country.objects.by_code("USA").pk}


@pytest.mark.django_db
def test_too_few_samples_print_no_share(hand_made, settings):
    settings.DASHBOARD_MIN_SAMPLES = 50
    figure = exceedance(
        viewer_scope(None), region_of("country:USA"), SoilStandard.objects.get(code="gb15618-2018")
    )
    cd = next(e for e in figure.data["elements"] if e["element"] == "Cd")
    assert cd["n"] == len(HAND_MADE) and cd["percent_above_screening"] is None


@pytest.mark.django_db
def test_coverage_counts_a_cell_sampled_by_two_surveys_at_two_scales_once(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    ingest(write_csv, "coarse", "USA", [["A1", -100.0, 40.0, 5]], header, scale_km=40, year=2001)
    ingest(
        write_csv, "fine", "USA",
        [["B1", -100.0, 40.0, 6], ["B2", -100.001, 40.001, 7], ["B3", -90.0, 35.0, 8]],
        header, scale_km=20, year=2005,
    )  # fmt: skip
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    usa = Country.objects.by_code("USA")
    figure = coverage(viewer_scope(None), region_of("country:USA"))
    # A1's 40 km cell holds B1 and B2's 20 km cell: A1's 40 km cell + B3's 20 km cell, each with
    # its true area (measured here with pyproj on the cell's bounds; about 40² and 20² km²).
    a1 = _geodesic_km2(grid.cell_at(-100.0, 40.0, 40_000))
    b3 = _geodesic_km2(grid.cell_at(-90.0, 35.0, 20_000))
    assert a1 == pytest.approx(1600, rel=0.02) and b3 == pytest.approx(400, rel=0.02)
    assert figure.data["network"]["area_km2"] == pytest.approx(a1 + b3, rel=1e-4)
    assert figure.data["network"]["percent"] == pytest.approx(
        100 * (a1 + b3) / usa.land_area_km2, abs=0.001
    )
    by_scale = {s["scale_km"]: s for s in figure.data["scales"]}
    assert by_scale[40]["cells"] == len(
        {grid.cell_at(lon, lat, 40_000).code for lon, lat in ((-100, 40), (-90, 35))}
    )
    cells_80 = {grid.cell_at(lon, lat, 80_000) for lon, lat in ((-100, 40), (-90, 35))}
    assert by_scale[80]["cells"] == len(cells_80) == 2
    assert by_scale[80]["area_km2"] == pytest.approx(
        sum(_geodesic_km2(c) for c in cells_80), rel=1e-4
    )
    years = [y["area_km2"] for y in figure.data["years"]]
    assert years == pytest.approx([a1, a1 + b3], rel=1e-4)
    assert figure.data["countries"][0]["country"] == "USA"


def _geodesic_km2(cell) -> float:
    """A cell's area from pyproj's geodesic polygon area, its sides densified to follow the
    parallels (independent of grid.areas_km2)."""
    from pyproj import Geod

    west, south, east, north = cell.bounds
    t = np.linspace(0, 1, 64, endpoint=False)
    lons = np.concatenate([west + (east - west) * t, np.full(64, east),
                           east - (east - west) * t, np.full(64, west)])  # fmt: skip
    lats = np.concatenate([np.full(64, south), south + (north - south) * t,
                           np.full(64, north), north - (north - south) * t])  # fmt: skip
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)[0]) / 1e6


@pytest.fixture
def embargoed_world(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cd_ppm"]
    ingest(
        write_csv,
        "usa",
        "USA",
        [[f"U{i}", -100 + i, 40, f"{0.1 * (i + 1):.1f}"] for i in range(12)],
        header,
    )
    ingest(write_csv, "nor", "NOR", [[f"N{i}", 10, 60 + i * 0.1, 1.0] for i in range(12)], header)
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("NOR"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    partner, _agreement = partner_with_agreement(["NOR"])
    return partner


@pytest.mark.django_db
def test_figures_shrink_for_the_public_and_grow_for_the_partner(embargoed_world):
    public, partner = viewer_scope(None), viewer_scope(embargoed_world)
    world = region_of("world")
    standard = SoilStandard.objects.get(code="gb15618-2018")
    topsoil = Medium.objects.get(code="topsoil")

    def cd(scope):
        figure = exceedance(scope, world, standard)
        return next(e for e in figure.data["elements"] if e["element"] == "Cd")

    assert cd(public)["n"] == 12 and cd(partner)["n"] == 24
    assert cd(public)["above_screening"] == 9  # 0.4 … 1.2 (pH unknown: the strictest 0.3)
    assert data_volume(public, world).data["totals"] == {"samples": 12, "measurements": 12}
    assert data_volume(partner, world).data["totals"] == {"samples": 24, "measurements": 24}
    norway = region_of("country:NOR")
    assert element_baselines(public, norway, topsoil).data["elements"] == []
    assert element_baselines(partner, norway, topsoil).data["elements"][0]["n"] == 12
    assert coverage(public, norway).data["network"]["area_km2"] == 0
    assert coverage(partner, norway).data["network"]["area_km2"] > 0


@pytest.mark.django_db
def test_element_baselines_match_numpy(hand_made):
    figure = element_baselines(
        viewer_scope(None), region_of("world"), Medium.objects.get(code="topsoil")
    )
    pb = next(e for e in figure.data["elements"] if e["element"] == "Pb")
    x = np.array([float(r[3]) for r in HAND_MADE])
    assert pb["n"] == x.size and pb["censored"] == 0
    for p in (5, 25, 50, 75, 95, 98):
        assert pb[f"p{p}"] == pytest.approx(np.percentile(x, p))
    assert pb["mad"] == pytest.approx(np.median(np.abs(x - np.median(x))))
    assert pb["geometric_mean"] == pytest.approx(np.exp(np.log(x).mean()))
    cd = next(e for e in figure.data["elements"] if e["element"] == "Cd")
    cd_values = np.array([float(r[2].lstrip("<")) / (2 if "<" in r[2] else 1) for r in HAND_MADE])
    assert cd["censored"] == 1
    assert cd["median"] == pytest.approx(np.median(cd_values))


@pytest.mark.django_db
def test_monitoring_change_pairs_sites_across_rounds(write_csv):
    header = ["sample_id", "site_id", "longitude", "latitude", "Cd_ppm"]
    before = [0.2, 0.2, 0.4, 1.0, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    after = [0.2, 0.35, 0.1, 1.2, 0.5, 0.33, 0.3, 0.3, 0.3, 0.6, 0.3, 0.3]
    ingest(write_csv, "round 1", "USA",
           [[f"A{i}", f"S{i}", -100 + i, 40, v] for i, v in enumerate(before)],
           header, year=2010, round_=1)  # fmt: skip
    ingest(write_csv, "round 2", "USA",
           [[f"B{i}", f"S{i}", -100 + i, 40, v] for i, v in enumerate(after)]
           + [["B99", "S99", -80, 40, 9.9]],  # no first-round sample: unpaired
           header, year=2020, round_=2)  # fmt: skip
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    figure = monitoring_change(
        viewer_scope(None), region_of("world"), Element.objects.get(symbol="Cd"), (1, 2)
    )
    change = 100 * (np.array(after) - np.array(before)) / np.array(before)
    assert figure.data["sites"] == len(before)
    assert figure.data["percent_increase"] == pytest.approx(100 * (change > 50).sum() / 12, 0.01)
    assert figure.data["percent_decrease"] == pytest.approx(100 * (change < -50).sum() / 12, 0.01)
    assert figure.data["percentiles"]["median"] == pytest.approx(np.median(change))
    assert sum(figure.data["histogram"]["counts"]) == 12
    assert sorted(s["site"] for s in figure.data["changed_sites"]) == ["S1", "S2", "S9"]


@pytest.mark.django_db
def test_exceedance_cells_count_each_cells_samples_by_their_worst_element(hand_made):
    from dashboards.selectors import exceedance_cells

    standard = SoilStandard.objects.get(code="gb15618-2018")
    figure = exceedance_cells(viewer_scope(None), region_of("world"), standard, 80_000)
    got = {c["code"]: (c["n"], c["safe_use"], c["strict_control"]) for c in figure.data["cells"]}
    expected: dict[str, list[int]] = {}
    cd, pb = (
        expected_rows(CD_SCREENING, CD_INTERVENTION, 2),
        expected_rows(PB_SCREENING, PB_INTERVENTION, 3),
    )
    for i, (cd_class, pb_class) in enumerate(zip(cd, pb, strict=True)):
        code = grid.cell_at(-100 + i * 0.5, 40.0, 80_000).code
        worst = max(cd_class, pb_class)
        entry = expected.setdefault(code, [0, 0, 0])
        entry[0] += 1
        entry[worst] += worst > 0
    assert got == {code: tuple(v) for code, v in expected.items()}


def expected_rows(screening: dict, intervention: list, column: int) -> list[int]:
    """Each hand-made row's class for one element: 0 none, 1 above screening, 2 intervention."""
    classes = []
    for row in HAND_MADE:
        b = band(row[0])
        land_use = row[1] or "other"
        s = min(screening[land_use]) if b is None else screening[land_use][b]
        i = min(intervention) if b is None else intervention[b]
        raw = row[column]
        value = None if raw.startswith("<") else float(raw)
        classes.append(0 if value is None or value <= s else 2 if value > i else 1)
    return classes


@pytest.mark.django_db
def test_monitoring_change_pairs_unnamed_sites_within_a_distance(write_csv):
    """Rounds without site ids (each sample its own site code): paired by distance when asked,
    each sample once, nothing farther than the distance."""
    header = ["sample_id", "longitude", "latitude", "Cd_ppm"]
    first = [[f"A{i}", -100 + i, 40.0, 0.2] for i in range(12)]
    # ~55 m north of each first-round site, one far away, and a second candidate for A0 at ~110 m.
    second = [[f"B{i}", -100 + i, 40.0005, 0.2 * (1 + i / 10)] for i in range(12)]
    second += [["B98", -100.0, 40.001, 5.0], ["B99", -80.0, 40.0, 9.9]]
    ingest(write_csv, "round 1", "USA", first, header, year=2010, round_=1)
    ingest(write_csv, "round 2", "USA", second, header, year=2020, round_=2)
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    cd, world = Element.objects.get(symbol="Cd"), region_of("world")
    assert monitoring_change(viewer_scope(None), world, cd, (1, 2)).data["sites"] == 0
    figure = monitoring_change(viewer_scope(None), world, cd, (1, 2), within_m=100)
    assert figure.data["sites"] == 12 and figure.data["within_m"] == 100
    after = np.array([row[3] for row in second[:12]])  # B98 (110 m) and B99 stay unpaired
    expected = 100 * (after - 0.2) / 0.2
    assert figure.data["percentiles"]["median"] == pytest.approx(np.median(expected))
    assert figure.data["percent_increase"] == pytest.approx(100 * (expected > 50).sum() / 12, 0.01)
    assert all(s["site"].startswith("~5") for s in figure.data["changed_sites"])
    assert monitoring_change(viewer_scope(None), world, cd, (1, 2), within_m=10).data["sites"] == 0
