"""The downloads page (``/downloads/``): a form for a package and the viewer's packages.

The form posts here (session and CSRF, like every page) and goes through the same checks as
``POST /api/v1/downloads/`` (``portal.downloads_api.parse_request`` / ``ask_for_package``); the
list refreshes the progress of unfinished packages from ``GET /api/v1/downloads/<id>``. The page
accepts ``?element=&medium=&bbox=&survey=&country=&format=`` so the map viewer and survey pages
can link to it pre-filled with what they show, and for a map layer's GeoTIFF
``?format=geotiff&element=&medium=&layer_scale=&style=&scheme=&ramp=``.

A GeoTIFF names a layer, not rows: its fields (one element, medium, one grid cell size, style,
classification, colours) are a fieldset of their own (``layer_*``, ``style``, ``scheme``,
``ramp``), shown by CSS only while that format is chosen, and the row filters are hidden then.
Without the CSS both show and the chosen format decides which are sent.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import APIException

from baselines import grid
from baselines.models import Country, Element, Medium, Survey
from downloads.models import DownloadJob
from downloads.query import FORMATS, GEOTIFF, LAYER_STYLES
from downloads.services import job_for_viewer, jobs_of
from maps.classification import SCHEMES
from maps.models import MapLayer
from maps.ramps import RAMPS

from .downloads_api import SESSION_JOBS, ask_for_package, job_document, parse_request
from .http import BadParameter

MAX_POLYGON_BYTES = 2 * 1024 * 1024
FORMAT_LABELS = {
    "csv": gettext_lazy("CSV, one row per measurement"),
    "csv-wide": gettext_lazy("CSV, one row per sample"),
    "gpkg": gettext_lazy("GeoPackage, one point per sample (QGIS, GDAL)"),
    "parquet": gettext_lazy("GeoParquet, one point per sample"),
    GEOTIFF: gettext_lazy("GeoTIFF of a map layer (its Cloud-Optimised GeoTIFF)"),
}
SCHEME_LABELS = {
    "percentiles": gettext_lazy("Percentiles 5, 10, 25, 50, 75, 90, 95, 98 (as the map)"),
    "quantiles": gettext_lazy("Quantiles"),
    "boxplot": gettext_lazy("Boxplot classes (Tukey, log scale)"),
    "log_equal": gettext_lazy("Equal intervals of log10"),
}
RAMP_LABELS = {
    "geochem": gettext_lazy("Geochemical atlas, blue to red (as the map)"),
    "colourblind": gettext_lazy("Colour-blind safe, blue to red"),
    "viridis": gettext_lazy("Viridis"),
}


def _list(params, name: str) -> list[str]:
    """Values of a multi-valued field, also accepting one comma- or space-separated value."""
    values = []
    for value in params.getlist(name):
        values += [v for v in re.split(r"[,\s]+", value) if v]
    return values


def body_of(request: HttpRequest) -> dict:
    """The API body a form submission stands for."""
    post = request.POST
    if post.get("format") == GEOTIFF:
        return layer_body_of(post)
    body: dict = {
        "surveys": _list(post, "surveys"),
        "countries": _list(post, "countries"),
        "elements": _list(post, "elements"),
        "scales": _list(post, "scales"),
        "years": _list(post, "years"),
        "format": post.get("format", "csv"),
    }
    if post.get("medium"):
        body["medium"] = post["medium"]
    if post.get("bbox", "").strip():
        body["bbox"] = post["bbox"].split(",")
    polygon = post.get("polygon", "").strip()
    upload = request.FILES.get("polygon_file")
    if upload is not None:
        if upload.size > MAX_POLYGON_BYTES:
            raise BadParameter("polygon", "the file is larger than 2 MB")
        polygon = upload.read().decode("utf-8", errors="replace")
    if polygon:
        body["polygon"] = polygon
    return body


def layer_body_of(post) -> dict:
    """The API body of a GeoTIFF asked for by the form: the layer's fields, and the box."""
    body: dict = {
        "format": GEOTIFF,
        "elements": _list(post, "layer_element"),
        "medium": post.get("layer_medium") or None,
        "scales": _list(post, "layer_scale"),
    }
    for name in ("style", "scheme", "ramp"):
        if post.get(name):
            body[name] = post[name]
    if post.get("bbox", "").strip():
        body["bbox"] = post["bbox"].split(",")
    return body


def choices() -> dict:
    """What the form offers: survey metadata, public by design."""
    return {
        "surveys": Survey.objects.select_related("medium").order_by("name"),
        "countries": Country.objects.filter(surveys__isnull=False).distinct().order_by("name_en"),
        "elements": Element.objects.filter(analytes__isnull=False).distinct(),
        "media": Medium.objects.all(),
        "scales": [grid.scale_km(s) for s in grid.SCALES_M],
        "formats": [(f, FORMAT_LABELS[f]) for f in FORMATS],
        "styles": [(s, label) for s, label in MapLayer.Style.choices if s in LAYER_STYLES],
        "schemes": [(s, SCHEME_LABELS[s]) for s in SCHEMES],
        "ramps": [(r, RAMP_LABELS.get(r, r)) for r in RAMPS],
    }


def initial_values(params) -> dict:
    """Pre-filled values from the query string (``element`` or ``elements``, and so on)."""
    elements = _list(params, "elements") + _list(params, "element")
    layer_scale = _list(params, "layer_scale") or (
        (_list(params, "scales") + _list(params, "scale"))
        if params.get("format") == GEOTIFF
        else []
    )
    return {
        "layer_element": params.get("layer_element") or (elements[0] if elements else ""),
        "layer_medium": params.get("layer_medium") or params.get("medium", ""),
        "layer_scale": layer_scale[0] if layer_scale else "",
        "style": params.get("style", "cells"),
        "scheme": params.get("scheme", "percentiles"),
        "ramp": params.get("ramp", "geochem"),
        "surveys": _list(params, "surveys") + _list(params, "survey"),
        "countries": [c.upper() for c in _list(params, "countries") + _list(params, "country")],
        "elements": elements,
        "medium": params.get("medium", ""),
        "bbox": params.get("bbox", ""),
        "polygon": params.get("polygon", ""),
        "scales": _list(params, "scales") + _list(params, "scale"),
        "years": ", ".join(_list(params, "years") + _list(params, "year")),
        "format": params.get("format", "csv"),
    }


def downloads_page(request: HttpRequest) -> HttpResponse:
    status = 200
    values = initial_values(request.GET)
    if request.method == "POST":
        values = initial_values(request.POST)
        try:
            query = parse_request(request, body_of(request))
            job = ask_for_package(request, query)
        except BadParameter as exc:
            messages.error(request, _("%(field)s: %(reason)s") % {
                "field": exc.parameter, "reason": exc.reason,
            })  # fmt: skip
            status = 400
        except APIException as exc:
            status = exc.status_code
            messages.error(request, str(exc.detail))
        else:
            messages.success(request, _("Your package is being prepared."))
            return redirect(f"{request.path}?job={job.public_id}")
    session_ids = request.session.get(SESSION_JOBS, [])
    jobs = [job_document(request, job) for job in jobs_of(request.user, public_ids=session_ids)]
    response = render(
        request,
        "portal/downloads.html",
        {
            **choices(),
            "values": values,
            "jobs": jobs,
            "highlight": request.GET.get("job", ""),
            "link_hours": round(settings.DOWNLOAD_LINK_MAX_AGE / 3600),
            "script_labels": {
                "states": {state: str(label) for state, label in DownloadJob.State.choices},
                "download": _("Download"),
            },
        },
        status=status,
    )
    response["Cache-Control"] = "private, no-store"
    return response


def package_page(request: HttpRequest, public_id) -> HttpResponse:
    """A package's landing page: what it holds, how to cite it, its file and its DataCite
    metadata. For its owner only (an anonymous package: whoever has its id); others get the
    site's 404, as for a missing package."""
    job = job_for_viewer(public_id, request.user)
    if job is None:
        raise Http404
    by_survey = (job.row_counts or {}).get("by_survey", {})
    surveys = Survey.objects.filter(slug__in=list(by_survey)).order_by("name")
    response = render(
        request,
        "portal/downloads_package.html",
        {
            "job": job,
            "document": job_document(request, job),
            "surveys": [(survey, by_survey[survey.slug]) for survey in surveys],
            "by_country": sorted((job.row_counts or {}).get("by_country", {}).items()),
        },
    )
    response["Cache-Control"] = "private, no-store"
    return response
