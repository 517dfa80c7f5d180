"""PostgreSQL binary ``COPY`` rows of measurements, built with numpy: no Python work per row."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .. import units

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
# Samples per numpy block of COPY rows: a block (~4 MB) stays in the CPU's cache while its
# eight fields are written one after the other.
BLOCK_SAMPLES = 65_536
MEASUREMENT_COLUMNS = (
    "sample_id",
    "analyte_id",
    "element_id",
    "value",
    "censored",
    "detection_limit",
    "reported_value",
)


@dataclass(frozen=True)
class ColumnRows:
    """One element column's values for a set of samples, ready for COPY."""

    analyte_id: int
    element_id: int
    values: units.ParsedValues
    factor: float  # reported unit and species → mg/kg of the element


def measurement_copy_blocks(
    sample_ids: np.ndarray, columns: list[ColumnRows], *, first_id: int | None = None
) -> Iterator[bytes]:
    """Binary COPY rows of element columns for the same samples, element by element.

    ``sample_ids`` must ascend. One column's rows come out together, in sample order, one numpy
    block per NULL pattern (rows of one pattern share a fixed width): the table's BRIN index then
    sees each range of pages hold one element and a narrow run of samples (Measurement's
    docstring). With ``first_id`` the rows carry ids counting up from it, in the order yielded
    (the columns are then ``("id",) + MEASUREMENT_COLUMNS``).
    """
    next_id = first_id
    for column in columns:
        for start in range(0, len(sample_ids), BLOCK_SAMPLES):
            part = slice(start, start + BLOCK_SAMPLES)
            for arrays, layout in _column_blocks(column, part, sample_ids[part]):
                if next_id is not None:
                    count = len(arrays["sample_id"])
                    arrays["id"] = np.arange(next_id, next_id + count, dtype=np.int64)
                    layout.insert(0, ("id", "i8"))
                    next_id += count
                yield binary_copy_rows(arrays, layout)


def _column_blocks(column: ColumnRows, part: slice, sample_ids: np.ndarray):
    """(arrays, layout) of one column's rows for one slice of samples, per NULL pattern."""
    v = column.values
    present, value = v.present[part], v.value[part]
    censored = v.censored[part] & present
    detection_limit = v.detection_limit[part]
    has_dl = ~np.isnan(detection_limit)
    masks = {
        ("f8", "null"): present & ~censored & ~has_dl,
        ("f8", "f8"): present & ~censored & has_dl,
        ("null", "f8"): censored,
    }
    for (value_kind, dl_kind), mask in masks.items():
        count = int(mask.sum())
        if not count:
            continue
        arrays = {
            "sample_id": sample_ids[mask],
            "analyte_id": np.full(count, column.analyte_id, dtype=np.int64),
            "element_id": np.full(count, column.element_id, dtype=np.int64),
            "value": value[mask] * column.factor,
            "censored": censored[mask].astype(np.uint8),
            "detection_limit": detection_limit[mask] * column.factor,
            "reported_value": np.where(censored[mask], detection_limit[mask], value[mask]),
        }
        layout = [
            ("sample_id", "i8"),
            ("analyte_id", "i8"),
            ("element_id", "i8"),
            ("value", value_kind),
            ("censored", "bool"),
            ("detection_limit", dl_kind),
            ("reported_value", "f8"),
        ]
        yield arrays, layout


def binary_copy_rows(arrays: dict[str, np.ndarray], layout: list[tuple[str, str]]) -> bytes:
    """PostgreSQL binary COPY rows for fixed-width columns, built in one numpy pass.

    ``layout`` is [(name, kind)] with kind 'i8', 'f8', 'bool' or 'null'; every row has the same
    shape, so the rows are a numpy structured array written out as bytes.
    """
    n = len(next(iter(arrays.values())))
    fields = [("count", ">i2")]
    for name, kind in layout:
        fields.append((name + "_len", ">i4"))
        if kind == "i8":
            fields.append((name, ">i8"))
        elif kind == "f8":
            fields.append((name, ">f8"))
        elif kind == "bool":
            fields.append((name, "u1"))
    rows = np.empty(n, dtype=fields)
    rows["count"] = len(layout)
    for name, kind in layout:
        if kind == "null":
            rows[name + "_len"] = -1
            continue
        rows[name + "_len"] = {"i8": 8, "f8": 8, "bool": 1}[kind]
        rows[name] = arrays[name]
    return rows.tobytes()
