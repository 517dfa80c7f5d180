"""The map viewer page: element maps, cell statistics, charts of the view and comparison.

The page is one template and one script (static/maps/viewer.js). Everything the script shows in
words comes from here, translated by Django (``strings``), so the catalogue in locale/ is the one
place for both languages; reference data (elements, media, scales) is embedded so the first paint
needs no API round trip. No sample data is embedded: the script asks the gated endpoints.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from baselines import grid
from baselines.models import Element, Medium
from maps.classification import SCHEMES
from maps.featured import ZOOM_SCALES_KM, featured_view
from maps.ramps import DEFAULT_RAMP, RAMPS
from maps.styles import STYLES

# Periodic table rows of the f-block (lanthanides and actinides), shown below the main table.
_LANTHANIDES = range(57, 72)
_ACTINIDES = range(89, 104)
_PERIOD_STARTS = (1, 3, 11, 19, 37, 55, 87, 119)


def table_position(z: int) -> tuple[int, int]:
    """(row, column) of an element in an 18-column periodic table; rows 9 and 10 hold the
    lanthanides and actinides (columns 3–17)."""
    if z in _LANTHANIDES:
        return 9, 3 + z - 57
    if z in _ACTINIDES:
        return 10, 3 + z - 89
    period = max(i for i, start in enumerate(_PERIOD_STARTS, 1) if z >= start)
    index = z - _PERIOD_STARTS[period - 1]
    if period == 1:
        return 1, 1 if z == 1 else 18
    if period in (2, 3):
        return period, index + 1 if index < 2 else index + 11
    if period <= 5:
        return period, index + 1
    # Periods 6 and 7: s-block, then (after the f-block gap) d and p blocks.
    if index < 2:
        return period, index + 1
    return period, index - 14 + 1 if index >= 17 else 3


def viewer_strings() -> dict[str, str]:
    """Words of the script, translated into the request's language."""
    return {
        "element": _("Element"),
        "medium": _("Medium"),
        "scale": _("Cell size"),
        "scale_auto": _("follows the zoom"),
        "pin_scale": _("Pin the cell size"),
        "style": _("Style"),
        "style_cells": _("Grid cells (median)"),
        "style_surface": _("Interpolated surface"),
        "style_points": _("Sample points"),
        "scheme": _("Classes"),
        "scheme_percentiles": _("Percentiles (atlas: P5, P10, P25 … P98)"),
        "scheme_quantiles": _("Quantiles (equal counts)"),
        "scheme_boxplot": _("Boxplot (Tukey, log scale)"),
        "scheme_log_equal": _("Equal intervals (log scale)"),
        "ramp": _("Colours"),
        "ramp_geochem": _("Geochemical (blue to red)"),
        "ramp_colourblind": _("Colour-blind safe"),
        "ramp_viridis": _("Viridis"),
        "opacity": _("Opacity"),
        "choose_element": _("Choose an element"),
        "search_elements": _("Search by symbol or name"),
        "no_data": _("no data in this medium"),
        "samples": _("samples"),
        "rendering": _("Rendering…"),
        "queued": _("Waiting to render…"),
        "ready": _("Ready"),
        "failed": _("The layer could not be rendered."),
        "empty": _("No visible data for this element, medium and cell size."),
        "legend": _("Legend"),
        "legend_n": _("%(n)s values, %(censored)s (%(share)s) below detection limit"),
        "legend_prerelease": _(
            "%(cells)s cells hold data not yet released: they show their colour class only, "
            "and no value of theirs enters the classes above."
        ),
        "cell_prerelease": _(
            "%(n)s samples not yet released: before its release date this cell shows only its "
            "colour class on the map and its sample count."
        ),
        "cell": _("Cell"),
        "n_samples": _("Samples"),
        "censored": _("Below detection limit"),
        "min": _("Minimum"),
        "p5": _("5th percentile"),
        "p25": _("25th percentile"),
        "median": _("Median"),
        "p75": _("75th percentile"),
        "p95": _("95th percentile"),
        "max": _("Maximum"),
        "mean": _("Mean"),
        "geometric_mean": _("Geometric mean"),
        "mad": _("Median absolute deviation"),
        "cell_empty": _("No visible samples of this element in this cell."),
        "samples_in_cell": _("Samples in the cell"),
        "sample": _("Sample"),
        "survey": _("Survey"),
        "value": _("Value"),
        "method": _("Method"),
        "dl": _("DL"),
        "below_dl_title": _("Below the detection limit of %(dl)s"),
        "location": _("Location"),
        "exact": _("exact"),
        "snapped": _("cell centre, %(km)s km"),
        "more_samples": _("%(n)s more not listed"),
        "charts": _("Charts of the view"),
        "histogram": _("Histogram (log scale)"),
        "probability": _("Cumulative probability"),
        "count": _("Count"),
        "bin_lower": _("Lower bound"),
        "bin_upper": _("Upper bound"),
        "probability_axis": _("Cumulative probability (%)"),
        "no_values": _("No visible values in this view."),
        "view_values": _("%(n)s values in the view"),
        "compare": _("Compare"),
        "compare_with": _("Compare with"),
        "compare_off": _("Single map"),
        "permalink": _("Permalink"),
        "copied": _("Link copied"),
        "close": _("Close"),
        "panel": _("Map settings"),
        "loading": _("Loading…"),
        "error": _("Something went wrong: %(reason)s"),
        "points_forbidden": _(
            "Sample points are shown only to viewers allowed exact locations; showing cells."
        ),
        "km": _("km"),
        "open_table": _("Periodic table"),
        "zoom_in": _("Zoom in"),
        "zoom_out": _("Zoom out"),
        "map_keys": _(
            "Map. Arrow keys move it, plus and minus zoom; Enter shows the statistics of the cell "
            "at its centre."
        ),
    }


def viewer(request: HttpRequest) -> HttpResponse:
    """``/map/``: the state (element, medium, scale, style, classes, colours, centre, zoom,
    compare) lives in the
    query string, read and written by the script, so a link restores the view."""
    elements = [
        {
            "symbol": e.symbol,
            "z": e.atomic_number,
            "name_en": e.name_en,
            "name_zh": e.name_zh,
            "unit": e.display_unit,
            "species": e.display_species,
            "groups": e.groups,
            "pos": table_position(e.atomic_number),
        }
        for e in Element.objects.order_by("atomic_number")
        if e.atomic_number <= 103
    ]
    media = [{"code": m.code, "name": m.name} for m in Medium.objects.order_by("code")]
    config = {
        "elements": elements,
        "media": media,
        "scales_km": [s / 1000 for s in grid.SCALES_M],
        "zoom_scales_km": ZOOM_SCALES_KM,
        "styles": STYLES,
        # The layer API's classification schemes and colour ramps (``/api/v1/layers``).
        "schemes": list(SCHEMES),
        "ramps": list(RAMPS),
        "strings": viewer_strings(),
        "language": request.LANGUAGE_CODE,
        "urls": {
            "layers": "/api/v1/layers",
            "elements": reverse("api:viewer-elements"),
            "values": reverse("api:viewer-values"),
            "cell_at": reverse("api:cell-at"),
            "cell_stats": "/api/v1/cells/CODE/stats",
            "cell_samples": reverse("api:cell-samples", kwargs={"code": "CODE"}),
            "boundaries": reverse("api:boundaries"),
            "downloads": reverse("downloads:page"),
        },
        "default": {
            "medium": "topsoil",
            "style": "cells",
            "scheme": SCHEMES[0],
            "ramp": DEFAULT_RAMP,
            "lat": 40.0,
            "lng": -30.0,
            "z": 2,
        },  # fmt: skip
        # A bare /map/ (no query at all) opens on this; any address naming a view opens it.
        "featured": featured_view().as_json(),
    }
    return render(request, "portal/map.html", {"config": config})
