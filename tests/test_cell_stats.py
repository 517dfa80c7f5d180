"""Cell statistics: numbers match numpy on the visible values (censored at DL/2), precision and
pre-release rules hold, and a cell with hidden data answers like an empty cell."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from baselines import grid
from baselines.models import Country, Sample
from baselines.statistics import summarise
from sharing.models import ReleasePolicy
from tests.worlds import ingest_survey

# Five samples within 0.1° of the centre of one 80 km cell of Finland, and one far away.
_LON, _LAT = grid.cell_at(25.0, 62.0, 80_000).centroid_lonlat
FIN_ROWS = [
    ["F-1", _LON - 0.10, _LAT - 0.05, "12.5", "3.1"],
    ["F-2", _LON - 0.05, _LAT - 0.02, "<0.5", "2.9"],
    ["F-3", _LON, _LAT, "30", "3.5"],
    ["F-4", _LON + 0.05, _LAT + 0.02, "7.25", "3.3"],
    ["F-5", _LON + 0.10, _LAT + 0.05, "-1", "3.0"],
    ["F-9", 28.00, 65.00, "99", "4.0"],
]


def load(write_csv, country: str, rows=FIN_ROWS):
    header = ("sample_id", "longitude", "latitude", "Cu_ppm", "Fe2O3_pct")
    ingest_survey(write_csv, rows, country=country, header=header)


def stats(client, code: str, element: str = "Cu", medium: str = "topsoil"):
    response = client.get(f"/api/v1/cells/{code}/stats", {"element": element, "medium": medium})
    assert response.status_code == 200, response.content
    return response.json()


def cell_of(code: str, size_m: int) -> str:
    return Sample.objects.get(code=code).cell_code(size_m)


@pytest.mark.django_db
def test_cell_statistics_match_numpy_with_censored_values_at_half_the_limit(client, write_csv):
    load(write_csv, "FIN")
    ReleasePolicy.objects.create(country=Country.objects.by_code("FIN"), in_force=True)
    code = cell_of("F-1", 80_000)
    assert all(cell_of(f"F-{i}", 80_000) == code for i in range(1, 6))
    assert cell_of("F-9", 80_000) != code

    body = stats(client, code)

    x = np.array([12.5, 0.25, 30.0, 7.25, 0.5])  # <0.5 → 0.25, −1 (DL 1) → 0.5
    s = body["statistics"]
    assert (s["n"], s["censored"]) == (5, 2)
    assert s["min"] == 0.25 and s["max"] == 30.0
    for key, q in (("p5", 5), ("p25", 25), ("median", 50), ("p75", 75), ("p95", 95)):
        assert s[key] == pytest.approx(np.percentile(x, q))
    assert s["mean"] == pytest.approx(x.mean())
    assert s["geometric_mean"] == pytest.approx(np.exp(np.log(x).mean()))
    assert s["mad"] == pytest.approx(np.median(np.abs(x - np.median(x))))
    assert 99.0 not in s.values()  # the sample of another cell is not counted


@pytest.mark.django_db
def test_statistics_are_also_given_in_the_display_unit(client, write_csv):
    load(write_csv, "FIN")
    ReleasePolicy.objects.create(country=Country.objects.by_code("FIN"), in_force=True)
    body = stats(client, cell_of("F-1", 80_000), element="Fe")
    assert body["display"]["unit"] == "%" and body["display"]["species"] == "Fe2O3"
    assert body["display"]["statistics"]["max"] == pytest.approx(3.5)  # back to Fe2O3 %
    assert body["statistics"]["max"] == pytest.approx(3.5 * 10_000 * 0.6994, rel=1e-4)


@pytest.mark.django_db
def test_no_statistics_finer_than_the_public_precision(client, write_csv):
    load(write_csv, "FIN")
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, public_precision_m=20_000
    )
    assert stats(client, cell_of("F-1", 20_000))["statistics"]["n"] >= 1
    fine = stats(client, cell_of("F-1", 10_000))
    assert fine["statistics"]["n"] == 0
    # ... and exactly like a cell where nothing was ever sampled.
    empty = stats(client, grid.cell_at(-30.0, -30.0, 10_000).code)
    assert fine["statistics"] == empty["statistics"]


@pytest.mark.django_db
def test_embargoed_values_count_only_at_the_prerelease_scale_in_dense_cells(client, write_csv):
    load(write_csv, "FIN")
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"),
        in_force=True,
        available_on=dt.date(2099, 1, 1),
        prerelease_scale_m=80_000,
        prerelease_min_samples=3,
    )
    dense = stats(client, cell_of("F-1", 80_000))
    # Counted, never summarised: no statistic of pre-release values, only how many there are.
    assert dense["before_release"] == {"samples": 5}
    assert dense["statistics"]["n"] == 0 and dense["statistics"]["median"] is None
    # Finer than the stated scale: nothing.
    fine = stats(client, cell_of("F-1", 40_000))
    assert fine["statistics"]["n"] == 0 and fine["before_release"] is None
    # A cell holding fewer than k samples: nothing.
    sparse = stats(client, cell_of("F-9", 80_000))
    assert sparse["statistics"]["n"] == 0 and sparse["before_release"] is None
    # Never as points or lists.
    assert client.get("/api/v1/measurements/?element=Cu").json()["results"] == []


@pytest.mark.django_db
def test_a_country_without_policy_gives_empty_statistics(client, write_csv):
    load(write_csv, "FIN")
    assert stats(client, cell_of("F-1", 80_000))["statistics"]["n"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, field",
    [({"element": "Xx", "medium": "topsoil"}, "element"), ({"element": "Cu"}, "medium")],
)
def test_bad_parameters_are_json_errors_with_a_reason(client, query, field):
    response = client.get(f"/api/v1/cells/{grid.cell_at(25, 62, 80_000).code}/stats", query)
    assert response.status_code == 400
    assert field in response.json()["reason"]


@pytest.mark.django_db
def test_a_malformed_cell_code_is_a_json_error(client):
    response = client.get("/api/v1/cells/30K-1-2/stats", {"element": "Cu", "medium": "topsoil"})
    assert response.status_code == 400 and "cell code" in str(response.json()["reason"])


def test_summary_of_nothing_is_empty():
    empty = summarise(np.array([]), np.array([], dtype=bool), np.array([]))
    assert empty.n == 0 and empty.median is None


@pytest.mark.django_db
def test_a_pre_release_cell_counts_its_samples_in_the_products_medium_only(client, write_csv):
    """One topsoil and three stream-sediment samples in one 80 km cell, k = 2: the subsoil map
    may show the cell's class, the topsoil one must not (one value would be its class)."""
    lon, lat = 25.0, 62.0
    ingest_survey(write_csv, [["T-1", lon, lat, 41.3]], country="FIN", name="FIN topsoil")
    sediments = [[f"S-{i}", lon + 0.01 * i, lat, 20.0 + i] for i in range(3)]
    ingest_survey(write_csv, sediments, country="FIN", name="FIN subsoil", medium="subsoil")
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"),
        in_force=True,
        available_on=dt.date(2099, 1, 1),
        prerelease_scale_m=80_000,
        prerelease_min_samples=2,
    )
    cell = cell_of("T-1", 80_000)
    assert stats(client, cell, medium="topsoil")["before_release"] is None
    assert stats(client, cell, medium="subsoil")["before_release"] == {"samples": 3}
