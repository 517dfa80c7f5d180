"""Where samples and measurements are stored, beyond what the models say: the one-writer lock,
the measurement table's partitions from creation to drop, and deleting a survey's rows without
reading them.

docs/architecture.md §12, "Measurement storage", describes the layout; ``baselines.ingest``
fills a new partition through ``load_partition``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.db import connection

from .models import Measurement, Sample

PARTITION_PREFIX = f"{Measurement._meta.db_table}_s"


def lock_for_writing(cursor) -> None:
    """Take the lock every writer of samples and measurements holds to the end of its
    transaction: one writer at a time (reads go on), so id blocks, partitions and the rules
    that stand in for unique indexes stay consistent."""
    cursor.execute(
        f"LOCK TABLE {Sample._meta.db_table}, {Measurement._meta.db_table} "
        "IN SHARE ROW EXCLUSIVE MODE"
    )


def brin_definition() -> str:
    """The USING/WITH clause of Measurement's BRIN index, as each new partition must repeat it
    to be attached without a rebuild."""
    (index,) = Measurement._meta.indexes
    columns = ", ".join(Measurement._meta.get_field(f).column for f in index.fields)
    return (
        f"USING brin ({columns}) WITH (pages_per_range = {index.pages_per_range}, "
        f"autosummarize = {'on' if index.autosummarize else 'off'})"
    )


def load_partition(cursor, *, low: int, high: int, fill: Callable[[str], int]) -> int:
    """A fresh partition for the measurements of samples ``low`` … ``high - 1``, filled by
    ``fill(table)`` (which returns how many rows it wrote); return that number.

    The table is created bare, with a CHECK of its sample-id range, filled (by ``COPY``), given
    its BRIN index (built in one pass, every range summarised) and statistics, then attached:
    the CHECK spares the attach a scan of the table, and the index is adopted as this
    partition's part of Measurement's. All of it in the caller's transaction (the ingest's,
    under ``lock_for_writing``), so a failed ingest leaves no table behind.
    """
    table, name = Measurement._meta.db_table, f"{PARTITION_PREFIX}{low:d}"
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_ids "
        f"CHECK (sample_id >= {low:d} AND sample_id < {high:d})"
    )
    rows = fill(name)
    cursor.execute(f"CREATE INDEX {name}_brin ON {name} {brin_definition()}")
    cursor.execute(f"ANALYZE {name}")
    cursor.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({low:d}) TO ({high:d})"
    )
    return rows


def measurement_partitions(cursor) -> list[tuple[str, int, int]]:
    """(table, first sample id, end sample id) of each ranged partition of Measurement; the
    default partition is left out."""
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [Measurement._meta.db_table],
    )
    found = []
    for name, bound in cursor.fetchall():
        match = re.fullmatch(r"FOR VALUES FROM \('?(\d+)'?\) TO \('?(\d+)'?\)", bound)
        if match:
            found.append((name, int(match[1]), int(match[2])))
    return found


def delete_survey_rows(survey_ids: list[int]) -> dict[str, int]:
    """Delete the measurements and samples of these surveys; the rows deleted per model label.

    A partition whose samples all belong to these surveys is dropped whole (a file's worth of
    rows in a moment, and no dead rows left behind); the rest are deleted by sample id, which
    the partition bounds narrow to the default partition and a few others. Runs in the
    caller's transaction, under the writers' lock.
    """
    counts = {Measurement._meta.label: 0, Sample._meta.label: 0}
    if not survey_ids:
        return counts
    sample_table = Sample._meta.db_table
    with connection.cursor() as cursor:
        lock_for_writing(cursor)
        dropped: list[tuple[int, int]] = []
        for name, low, high in measurement_partitions(cursor):
            cursor.execute(
                f"SELECT bool_and(survey_id = ANY(%s)) FROM {sample_table} "
                "WHERE id >= %s AND id < %s",
                [survey_ids, low, high],
            )
            (only_these,) = cursor.fetchone()
            if only_these is False:
                continue
            cursor.execute(f"SELECT count(*) FROM {name}")
            (rows,) = cursor.fetchone()
            # No samples left in the range (None): an orphan of an older delete, dropped if empty.
            if only_these or rows == 0:
                counts[Measurement._meta.label] += rows
                cursor.execute(f"DROP TABLE {name}")
                dropped.append((low, high))
        cursor.execute(
            f"SELECT id FROM {sample_table} WHERE survey_id = ANY(%s) ORDER BY id", [survey_ids]
        )
        rest = [
            sample_id
            for (sample_id,) in cursor.fetchall()
            if not any(low <= sample_id < high for low, high in dropped)
        ]
        if rest:
            # A constant array lets the planner skip the partitions none of these ids fall in.
            cursor.execute(
                f"DELETE FROM {Measurement._meta.db_table} WHERE sample_id = ANY(%s::bigint[])",
                [rest],
            )
            counts[Measurement._meta.label] += cursor.rowcount
        cursor.execute(f"DELETE FROM {sample_table} WHERE survey_id = ANY(%s)", [survey_ids])
        counts[Sample._meta.label] += cursor.rowcount
    return counts
