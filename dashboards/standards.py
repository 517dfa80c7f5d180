"""Loading a soil standard from its data file (``dashboards/data/*.json``): one row per element,
land use and pH band. Used by the data migration that installs GB 15618-2018 and by tests."""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_STANDARD = "gb15618-2018"


def standard_rows(path: Path) -> tuple[dict, list[dict]]:
    """The standard's fields and its limit rows (element symbol, land use, band, values)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for item in data["limits"]:
        interventions = item["intervention"] or [None] * len(data["bands"])
        for (above, up_to), screening, intervention in zip(
            data["bands"], item["screening"], interventions, strict=True
        ):
            rows.append(
                {
                    "element": item["element"],
                    "land_use": item["land_use"],
                    "ph_above": above,
                    "ph_up_to": up_to,
                    "screening": screening,
                    "intervention": intervention,
                }
            )
    fields = {k: data[k] for k in ("code", "name_en", "name_zh", "source")}
    return fields, rows


def install_standard(path: Path, standard_model, limit_model, element_model) -> None:
    """Create (or replace the rows of) the standard in ``path``; models passed in so a
    migration can use its historical ones."""
    fields, rows = standard_rows(path)
    standard, _ = standard_model.objects.update_or_create(code=fields["code"], defaults=fields)
    standard.limits.all().delete()
    elements = {e.symbol: e for e in element_model.objects.all()}
    limit_model.objects.bulk_create(
        limit_model(
            standard=standard,
            element=elements[row["element"]],
            **{k: v for k, v in row.items() if k != "element"},
        )
        for row in rows
    )
