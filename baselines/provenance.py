"""Where a survey's values came from: the method of each analyte, the laboratory and the survey's
default method, and the detection limit of each analyte — set after an ingest from a survey's
documentation (the demo loader does so from the files in ``demo_data/``).

A measurement shows the method and limit that applied to it (``MeasurementQuerySet
.with_provenance``): its analyte's method, else the survey's default; a censored value's own limit,
else its analyte's. So an analyte whose limit is unknown leaves uncensored values without one —
never a guessed limit.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.db import transaction
from django.db.models import F, Max, Min, Q

from . import units
from .models import Analyte, Survey


def read_column_methods(path: Path) -> dict[str, str]:
    """A table of methods by column: columns ``column`` and ``method`` (others, e.g. the
    ``source`` each came from, are for readers)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return {row["column"].strip(): row["method"].strip() for row in csv.DictReader(handle)}


@transaction.atomic
def survey_provenance_update(
    *,
    survey: Survey,
    laboratory: str = "",
    method: str = "",
    column_methods: dict[str, str] | None = None,
    limits_from_censored: bool = True,
) -> list[str]:
    """Describe where a survey's values came from; returns what changed (empty: nothing).

    - ``laboratory`` and ``method`` (the survey's default method) are set when given;
    - ``column_methods`` (source column → method) names the method of each analyte read from a
      column that carried none (a suffix such as ``_XRF`` already names it; a different method
      for such a column is refused, as it would contradict the file);
    - with ``limits_from_censored``, an analyte without a detection limit takes the one limit its
      censored values share (none when they name several: the limit changed between batches).

    Anything changed bumps the survey's data version, so cached pages and map layers re-key."""
    changes: list[str] = []
    fields = {"laboratory": laboratory, "method": method}
    for name, value in fields.items():
        if value and getattr(survey, name) != value:
            setattr(survey, name, value)
            changes.append(f"survey {name}: {value}")
    for analyte in survey.analytes.select_related("element"):
        wanted = (column_methods or {}).get(analyte.source_column)
        if not wanted or analyte.method == wanted:
            continue
        if analyte.method:
            raise ValueError(
                f"column {analyte.source_column!r} is {analyte.method} in the file, not {wanted}"
            )
        analyte.method = wanted
        analyte.save(update_fields=["method"])
        changes.append(f"{analyte.source_column}: method {wanted}")
    if limits_from_censored:
        changes += _limits_from_censored(survey)
    if changes:
        survey.data_version = F("data_version") + 1
        survey.save()
        survey.refresh_from_db()
    return changes


def _limits_from_censored(survey: Survey) -> list[str]:
    """Analytes without a limit whose censored values all share one limit take it."""
    censored = Q(measurements__censored=True)
    unknown = survey.analytes.filter(detection_limit__isnull=True).annotate(
        low=Min("measurements__detection_limit", filter=censored),
        high=Max("measurements__detection_limit", filter=censored),
    )
    changes = []
    for analyte in unknown:
        if analyte.low is not None and analyte.low == analyte.high:
            analyte.detection_limit = analyte.low
            analyte.save(update_fields=["detection_limit"])
            changes.append(f"{analyte.source_column}: detection limit {analyte.low:g} mg/kg")
    return changes


def reported_limit(analyte: Analyte) -> float | None:
    """The analyte's detection limit in its reported unit and species (stored in mg/kg)."""
    if analyte.detection_limit is None:
        return None
    try:
        return analyte.detection_limit / units.factor_to_canonical(
            analyte.reported_unit, analyte.reported_species
        )
    except (units.UnitError, KeyError):
        return None
