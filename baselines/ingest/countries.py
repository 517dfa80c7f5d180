"""Each sample's country: ``--country``, else the file's country column, else its location
(``Country.objects.locate``: inside a boundary, else the nearest country within a tolerance)."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from ..models import Country
from .classify import Columns
from .options import IngestOptions, IngestReport
from .problems import Problems
from .validate import Parsed


def _country_lookup() -> dict[str, int]:
    lookup: dict[str, int] = {}
    for pk, a3, iso3, iso2 in Country.objects.values_list("pk", "adm0_a3", "iso_a3", "iso_a2"):
        for code in (a3, iso3, iso2):
            if code:
                lookup[code.upper()] = pk
    return lookup


def assign_countries(
    parsed: Parsed,
    cols: Columns,
    options: IngestOptions,
    problems: Problems,
    report: IngestReport,
) -> np.ndarray:
    """Country id per row: --country, else the file's column, else the location (module doc).

    Rows placed by the nearest country (outside every boundary) are named in the warnings."""
    lookup = _country_lookup()
    n = len(parsed.codes)
    country = np.zeros(n, dtype=np.int64)
    if options.country:
        pk = lookup.get(options.country.strip().upper())
        if pk is None:
            problems.add(f"--country {options.country!r} is not a known ISO 3166 code")
            return country
        country[:] = pk
        return country
    need = np.ones(n, dtype=bool)
    if cols.country:
        given = parsed.country_text
        known = np.array([lookup.get(code, 0) for code in given], dtype=np.int64)
        unknown = (given != "") & (known == 0)
        problems.add_rows(unknown, 2, cols.country, lambda i: f"unknown country code {given[i]!r}")
        country = known
        need = given == ""
    if not need.any():
        return country
    tolerance = settings.INGEST_COUNTRY_TOLERANCE_M
    found = Country.objects.locate(
        ((int(i), float(parsed.lon[i]), float(parsed.lat[i])) for i in np.flatnonzero(need)),
        tolerance_m=tolerance,
    )
    codes_by_pk = {pk: code for code, pk in lookup.items() if len(code) == 3}
    matched = np.zeros(n, dtype=bool)
    near = []
    for idx, pk, distance in found:
        country[idx] = pk
        matched[idx] = True
        if distance > 0:
            near.append((idx, pk, distance))
    problems.add_rows(
        need & ~matched,
        2,
        f"{cols.x}/{cols.y}",
        lambda i: (
            f"({parsed.lon[i]:g}, {parsed.lat[i]:g}) is not within "
            f"{tolerance / 1000:g} km of any country; give --country or a country column"
        ),
    )
    for idx, pk, distance in near[:20]:
        report.warnings.append(
            f"row {idx + 2}: outside every country polygon; assigned to "
            f"{codes_by_pk.get(pk, pk)}, {distance / 1000:.1f} km away"
        )
    if len(near) > 20:
        report.warnings.append(f"… and {len(near) - 20} more rows assigned to the nearest country")
    return country
