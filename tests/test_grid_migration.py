"""The data migration that moves stored cell codes to the equal-area grid of issue #17
(baselines/migrations/0011_sample_cells_on_the_equal_area_grid.py), run backwards and forwards
by Django's migration executor on a database holding samples."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from baselines import grid
from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Sample, Survey

BEFORE = ("baselines", "0010_survey_synthetic")
AFTER = ("baselines", "0011_sample_cells_on_the_equal_area_grid")
# Near null island, the old grid's cells are easy to compute by hand: x ≈ 0 and y ≈ 0 in EPSG:6933
# are 17,440,000 m east and 7,360,000 m south of its origin, so the 500 m cell is row 14,720,
# column 34,880 and the 80 km cell row 92, column 218.
POINTS = [("A", 0.001, -0.001), ("B", 25.0, 62.0), ("C", -100.0, 40.0), ("D", 179.99, -45.0)]


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def _codes() -> dict[str, dict[int, str]]:
    return {
        s.code: {size: s.cell_code(size) for size in grid.SCALES_M} for s in Sample.objects.all()
    }


@pytest.mark.django_db(transaction=True)
def test_the_migration_recomputes_every_samples_codes_both_ways(write_csv, capsys):
    path = write_csv(
        [["sample_id", "longitude", "latitude", "Cu_ppm"], *[[*p, 10] for p in POINTS]]
    )
    survey_ingest(
        path=path,
        options=IngestOptions(
            survey="grid",
            medium="topsoil",
            scale_km=20,
            country="FIN",
            year=2020,
            monitoring_round=1,
        ),  # fmt: skip
    )
    version = Survey.objects.get(name="grid").data_version
    new = {code: {s: str(c) for s, c in grid.cell_codes(lon, lat).items()}
           for code, lon, lat in POINTS}  # fmt: skip
    assert _codes() == new  # ingest writes the new grid's codes

    try:
        _migrate(BEFORE)
        old = _codes()
        assert old["A"][500] == "500M-14720-34880" and old["A"][80_000] == "80K-00092-00218"
        assert all(old[c][s] != new[c][s] for c in old for s in grid.SCALES_M)
        assert Survey.objects.get(name="grid").data_version == version + 1
    finally:
        _migrate(AFTER)
    assert _codes() == new
    assert Survey.objects.get(name="grid").data_version == version + 2
    printed = capsys.readouterr().out
    assert "cell codes: 4 of 4 samples" in printed
