"""Each sample's country: ``--country``, else the file's country column, else its location
(``Country.objects.locate``: inside a boundary, else the nearest country within a tolerance).

A country the file states must agree with the row's location: the point lies inside that
country's generalised (Natural Earth 1:50m) boundary, or within ``INGEST_COUNTRY_TOLERANCE_M``
(10 km) of it, as real sites near a coast or border do; otherwise the row is refused, naming both
countries. A survey's own codes are mapped to ISO 3166 first (``--country-codes AUS=AUT``).
``--country`` is the operator's decision for every row and is not checked: the 1:50m boundaries
leave out small islands, and it is the way to load their samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from django.conf import settings
from django.db import connection

from ..models import Country, CountryPart
from .classify import Columns
from .options import IngestOptions, IngestReport
from .problems import Problems
from .validate import Parsed, shown


def _country_lookup() -> dict[str, int]:
    lookup: dict[str, int] = {}
    for pk, a3, iso3, iso2 in Country.objects.values_list("pk", "adm0_a3", "iso_a3", "iso_a2"):
        for code in (a3, iso3, iso2):
            if code:
                lookup[code.upper()] = pk
    return lookup


def _code_map(options: IngestOptions, lookup: dict[str, int], problems: Problems) -> dict[str, int]:
    """``--country-codes`` as survey code → country id; problems for unknown targets."""
    mapped = {}
    for code, iso in options.country_codes.items():
        pk = lookup.get(iso.strip().upper())
        if pk is None:
            problems.add(f"--country-codes maps {code!r} to {iso!r}, not a known ISO 3166 code")
        else:
            mapped[code.strip().upper()] = pk
    return mapped


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
        mapped = _code_map(options, lookup, problems)
        problems.raise_if_any()  # a wrong map would misname every row's country
        given = parsed.country_text
        # Looked up once per distinct code, not once per row.
        codes, distinct = pd.factorize(given)
        ids = np.array([mapped.get(c) or lookup.get(c, 0) for c in distinct], dtype=np.int64)
        known = ids[codes] if n else np.zeros(0, dtype=np.int64)
        unknown = (given != "") & (known == 0)
        problems.add_rows(
            unknown,
            parsed.rows,
            cols.country,
            lambda i: (
                f"unknown country code {shown(given[i])}; map the survey's own codes to "
                "ISO 3166 with --country-codes, e.g. --country-codes AUS=AUT"
            ),
        )
        _check_stated(parsed, known, cols, problems)
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
        parsed.rows,
        f"{cols.x}/{cols.y}",
        lambda i: (
            f"({parsed.lon[i]:g}, {parsed.lat[i]:g}) is not within "
            f"{tolerance / 1000:g} km of any country; give --country or a country column"
        ),
    )
    for idx, pk, distance in near[:20]:
        report.warnings.append(
            f"row {parsed.rows[idx]}: outside every country polygon; assigned to "
            f"{codes_by_pk.get(pk, pk)}, {distance / 1000:.1f} km away"
        )
    if len(near) > 20:
        report.warnings.append(f"… and {len(near) - 20} more rows assigned to the nearest country")
    return country


def _check_stated(parsed: Parsed, stated: np.ndarray, cols: Columns, problems: Problems) -> None:
    """A problem for every row whose stated country (id in ``stated``, 0 for none) neither
    contains its point nor lies within the tolerance of it (module doc).

    The points inside are found in memory, one prepared boundary per stated country (a whole
    file's points in milliseconds, where a database join takes a second per 100,000); only the
    few left outside are measured in the database, geodesically."""
    lon, lat = parsed.lon, parsed.lat
    outside = np.zeros(len(stated), dtype=bool)
    pks = [int(pk) for pk in np.unique(stated) if pk]
    for pk, boundary in Country.objects.filter(pk__in=pks).values_list("pk", "boundary"):
        geometry = shapely.from_wkb(bytes(boundary.wkb))
        shapely.prepare(geometry)
        rows = np.flatnonzero(stated == pk)
        outside[rows] = ~shapely.contains_xy(geometry, lon[rows], lat[rows])
    if not outside.any():
        return
    tolerance = settings.INGEST_COUNTRY_TOLERANCE_M
    idx = np.flatnonzero(outside)
    near = _within(idx, stated[idx], lon[idx], lat[idx], tolerance)
    far = [int(i) for i in idx if int(i) not in near]
    if not far:
        return
    located = {
        i: (pk, distance)
        for i, pk, distance in Country.objects.locate(
            ((i, float(lon[i]), float(lat[i])) for i in far), tolerance_m=tolerance
        )
    }
    ids = set(stated[far].tolist()) | {pk for pk, _ in located.values()}
    names = {
        pk: (name, code)
        for pk, name, code in Country.objects.filter(pk__in=ids).values_list(
            "pk", "name_en", Country.code_sql()
        )
    }
    given = parsed.country_text
    for i in far:
        name, code = names[int(stated[i])]
        where = f"({lon[i]:g}, {lat[i]:g})"
        if i in located:
            pk, distance = located[i]
            other, other_code = names[pk]
            lies = f"lies in {other} ({other_code})" + (
                f", {distance / 1000:.1f} km outside its border" if distance > 0 else ""
            )
            hint = (
                f"; if the survey writes {other_code} as {given[i]}, give --country-codes "
                f"{given[i]}={other_code}"
                if given[i] != other_code
                else ""
            )
        else:
            lies = f"is more than {tolerance / 1000:g} km from {name} and from every country"
            hint = ""
        problems.add(
            f"the row says {given[i]} ({name}, {code}) but {where} {lies}{hint}",
            row=int(parsed.rows[i]),
            column=cols.country,
        )


def _within(
    idx: np.ndarray, country: np.ndarray, lon: np.ndarray, lat: np.ndarray, tolerance_m: float
) -> set[int]:
    """Which of the points ``idx`` lie within ``tolerance_m`` (geodesic) of their country.

    The box test in degrees (the tolerance over 111 km, widened by 1/cos(latitude)) lets the
    subdivided boundaries' index narrow the search, as in ``Country.objects.locate``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT p.idx FROM unnest(%s::int[], %s::bigint[], %s::float8[], %s::float8[])
                AS p(idx, country_id, lon, lat)
            WHERE EXISTS (
              SELECT FROM {CountryPart._meta.db_table} cp
              WHERE cp.country_id = p.country_id
                AND ST_DWithin(cp.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326),
                               %s / 111000.0 / greatest(cos(radians(p.lat)), 0.05))
                AND ST_DWithin(cp.geom::geography,
                               ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, %s))
            """,
            [idx.tolist(), country.tolist(), lon.tolist(), lat.tolist(), tolerance_m, tolerance_m],
        )
        return {row[0] for row in cursor.fetchall()}
