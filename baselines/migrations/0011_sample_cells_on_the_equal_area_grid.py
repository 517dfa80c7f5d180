"""Every stored sample's cell codes recomputed on the equal-area grid that is square on the ground
(issue #17; ``baselines/grid.py``), replacing the codes of the EPSG:6933 squares.

In batches of ``BATCH`` samples by id, with progress printed, under the writers' lock (the one
``baselines.storage.lock_for_writing`` takes for ingest: no ingest or delete interleaves), in the
migration's transaction. Every survey's data version is bumped so every map layer, figure and
cached product keyed by it is made again on the new cells.

Reversible: the reverse writes the codes of the previous grid, whose formula is kept here only
(EPSG:6933 squares from one origin, −17,440,000 m / 7,360,000 m), and bumps the versions again.
The forward step uses ``baselines.grid`` itself: the codes it writes are by definition the grid's.
"""

from __future__ import annotations

import numpy as np
from django.db import migrations
from django.db.models import F

BATCH = 50_000
SCALES_M = (80_000, 40_000, 20_000, 10_000, 4_000, 2_000, 1_000, 500)
LABELS = {80_000: "80K", 40_000: "40K", 20_000: "20K", 10_000: "10K",
          4_000: "4K", 2_000: "2K", 1_000: "1K", 500: "500M"}  # fmt: skip
COLUMNS = [f"cell_{LABELS[s].lower()}" for s in SCALES_M]


def new_codes(lon: np.ndarray, lat: np.ndarray) -> list[list[str]]:
    from baselines import grid

    codes = grid.cell_codes(lon, lat)
    return [codes[size].tolist() for size in SCALES_M]


# The previous grid: squares of every scale in EPSG:6933 sharing one origin; a point on an edge in
# the cell east and south of it.
OLD_ORIGIN_X, OLD_ORIGIN_Y = -17_440_000, 7_360_000


def old_codes(lon: np.ndarray, lat: np.ndarray) -> list[list[str]]:
    from pyproj import Transformer

    lon = np.where(lon == 180.0, -180.0, lon)
    x, y = Transformer.from_crs(4326, 6933, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x, dtype="f8"), np.asarray(y, dtype="f8")
    size = 500
    col = np.floor((x - OLD_ORIGIN_X) / size).astype(np.int64)
    row = np.floor((OLD_ORIGIN_Y - y) / size).astype(np.int64)
    col -= (OLD_ORIGIN_X + col * size) > x
    col += (OLD_ORIGIN_X + (col + 1) * size) <= x
    row -= (OLD_ORIGIN_Y - row * size) < y
    row += (OLD_ORIGIN_Y - (row + 1) * size) >= y
    out = []
    for scale in SCALES_M:
        f = scale // size
        pairs = zip((row // f).tolist(), (col // f).tolist(), strict=True)
        out.append([f"{LABELS[scale]}-{r:05d}-{c:05d}" for r, c in pairs])
    return out


def recompute(apps, schema_editor, codes_of) -> None:
    Sample = apps.get_model("baselines", "Sample")
    Measurement = apps.get_model("baselines", "Measurement")
    Survey = apps.get_model("baselines", "Survey")
    sample_table = Sample._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"LOCK TABLE {sample_table}, {Measurement._meta.db_table} IN SHARE ROW EXCLUSIVE MODE"
        )
        cursor.execute(f"SELECT count(*) FROM {sample_table}")
        total = cursor.fetchone()[0]
        done, last = 0, -1
        assignments = ", ".join(f"{c} = u.c{i}" for i, c in enumerate(COLUMNS))
        unnest = ", ".join(["%s::bigint[]"] + ["%s::text[]"] * len(COLUMNS))
        names = ", ".join(["id"] + [f"c{i}" for i in range(len(COLUMNS))])
        while True:
            cursor.execute(
                f"SELECT id, ST_X(geom), ST_Y(geom) FROM {sample_table} "
                "WHERE id > %s ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            ids = [r[0] for r in rows]
            lon = np.array([r[1] for r in rows], dtype="f8")
            lat = np.array([r[2] for r in rows], dtype="f8")
            cursor.execute(
                f"UPDATE {sample_table} AS s SET {assignments} "
                f"FROM unnest({unnest}) AS u({names}) WHERE s.id = u.id",
                [ids, *codes_of(lon, lat)],
            )
            done += len(rows)
            last = ids[-1]
            print(f"\n  cell codes: {done:,} of {total:,} samples", end="", flush=True)
        if total:
            print(flush=True)
    # Every layer and cached figure is keyed by the surveys' data version: make them anew.
    Survey.objects.update(data_version=F("data_version") + 1)


def forward(apps, schema_editor) -> None:
    recompute(apps, schema_editor, new_codes)


def backward(apps, schema_editor) -> None:
    recompute(apps, schema_editor, old_codes)


class Migration(migrations.Migration):
    dependencies = [
        ("baselines", "0010_survey_synthetic"),
    ]

    operations = [migrations.RunPython(forward, backward)]
