"""The element registry file (``baselines/data/elements.csv``), read once.

The Element table is seeded from this file by a migration, and the unit module takes atomic weights
from it, so the registry has one source: the file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ELEMENTS_CSV = Path(__file__).resolve().parent / "data" / "elements.csv"


@dataclass(frozen=True, slots=True)
class ElementRecord:
    atomic_number: int
    symbol: str
    name_en: str
    name_zh: str
    atomic_weight: float
    groups: tuple[str, ...]
    ggb76: bool
    display_unit: str
    display_species: str


@lru_cache(maxsize=1)
def element_records() -> dict[str, ElementRecord]:
    """All registered elements by symbol, in atomic-number order."""
    with ELEMENTS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = [
        ElementRecord(
            atomic_number=int(row["atomic_number"]),
            symbol=row["symbol"],
            name_en=row["name_en"],
            name_zh=row["name_zh"],
            atomic_weight=float(row["atomic_weight"]),
            groups=tuple(g for g in row["groups"].split(";") if g),
            ggb76=row["ggb76"] == "1",
            display_unit=row["display_unit"],
            display_species=row["display_species"],
        )
        for row in rows
    ]
    return {r.symbol: r for r in sorted(records, key=lambda r: r.atomic_number)}


@lru_cache(maxsize=1)
def symbols_by_upper() -> dict[str, str]:
    """Symbol lookup for headers written in capitals (``CU_PPM``)."""
    return {symbol.upper(): symbol for symbol in element_records()}


def atomic_weight(symbol: str) -> float:
    return element_records()[symbol].atomic_weight
