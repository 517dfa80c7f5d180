"""What a validated file holds, as the report says it before anything is written: which column
became which element, method and unit, the columns left without a method, the countries and their
samples, and the sites and samples per site. A dry run and a real run say the same."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..models import Country, Survey
from . import classify
from .options import IngestOptions, IngestReport
from .validate import Parsed


def describe(
    *,
    survey: Survey | None,
    cols: classify.Columns,
    parsed: Parsed,
    countries: np.ndarray,
    options: IngestOptions,
    report: IngestReport,
) -> None:
    """Fill the report's description of a validated file going into ``survey`` (None: a new
    one) with these country ids."""
    default_method = options.method or (survey.method if survey is not None else "")
    report.element_columns = {
        c.header: classify.describe_column(c, default_method) for c in cols.elements
    }
    report.without_method = (
        [] if default_method else [c.header for c in cols.elements if not c.method]
    )
    preferred = classify.choose_preferred(cols.elements, options.prefer_methods)
    report.preferred = {s: m or "(as reported)" for s, m in preferred.items()}
    _countries(countries, report)
    _sites(parsed, cols, report)


def _countries(countries: np.ndarray, report: IngestReport) -> None:
    ids, counts = np.unique(countries, return_counts=True)
    names = dict(Country.objects.filter(pk__in=ids.tolist()).values_list("pk", "name_en"))
    report.countries = {
        names[int(pk)]: int(n)
        for pk, n in sorted(zip(ids, counts, strict=True), key=lambda p: names.get(int(p[0]), ""))
        if int(pk) in names
    }


def _sites(parsed: Parsed, cols: classify.Columns, report: IngestReport) -> None:
    """Sites (the site column's codes, else the distinct locations) and samples per site; a
    warning when some site has several samples of one survey (fractions, depths, duplicates)."""
    if not len(parsed.codes):
        return
    if cols.site:
        key, _ = pd.factorize(parsed.sites)
    else:
        lon, _ = pd.factorize(parsed.lon)
        lat, _ = pd.factorize(parsed.lat)
        key = lon.astype(np.int64) * (int(lat.max()) + 1) + lat
    per_site = np.bincount(np.unique(key, return_counts=True)[1])
    report.sites = int(per_site.sum())
    report.samples_per_site = {k: int(n) for k, n in enumerate(per_site) if n}
    shared = report.sites - report.samples_per_site.get(1, 0)
    if shared:
        where = f"site column {cols.site!r}" if cols.site else "the same coordinates"
        fraction = f" (fraction {report.fraction!r} only)" if report.fraction else ""
        report.warnings.append(
            f"{shared} sites ({where}) have more than one sample{fraction}, up to "
            f"{len(per_site) - 1}: maps and statistics take them together, one median per cell. "
            "If they are size fractions or depths, keep them apart: a fraction column with "
            "--fraction VALUE, and a survey and --medium per fraction"
        )
