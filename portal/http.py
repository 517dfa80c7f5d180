"""The HTTP kit of every public surface: one meaning per request parameter, one error body.

Parameters (each read in one place, with one wording for its error):

- ``element``: a registered element symbol (``Cu``);
- ``medium``: a registered medium code (``topsoil``);
- ``scale``: one of the 8 grid scales in km (``80`` … ``0.5``); required where a product has no
  natural default, else the caller passes ``default=``;
- ``bbox``: ``west,south,east,north`` in degrees, finite, west < east and south < north; a box
  reaching past the world (a map view wider than 360°) is clamped to it;
- a cell code (``80K-00005-00257``) and bounded floats (``lon``, ``lat``).

Errors: every API error is ``{"error", "reason", "status"}`` (plus named extras such as
``licence_url``), built by ``error_body`` — DRF's exception handler, the 404/500 handlers and the
tile views all use it. Missing and hidden objects answer the same 404 body.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware
from django import db
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.views import exception_handler

from baselines import grid
from baselines.areas import InvalidArea
from baselines.models import Country, Element, Medium, Survey
from dashboards.regions import Region, RegionNotFound, region_of
from sharing.access import pending_licence, request_scope

logger = logging.getLogger(__name__)
NOT_FOUND_REASON = "Not found."
STATUS_CODES = {400: "invalid", 401: "authentication_failed", 403: "forbidden", 404: "not_found"}


def error_body(status: int, reason, error: str | None = None, **extra) -> dict:
    """The one error body of the API."""
    return {
        "error": error or STATUS_CODES.get(status, "error"),
        "reason": reason,
        "status": status,
        **extra,
    }


def error_response(status: int, reason, error: str | None = None, **extra) -> JsonResponse:
    return JsonResponse(error_body(status, reason, error, **extra), status=status)


def api_exception_handler(exc, context):
    """DRF's handler, answering with ``error_body``; 404s say only "Not found." whatever the
    cause, so a response never reveals that a hidden object exists."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == 404:
        reason = NOT_FOUND_REASON
    else:
        detail = response.data
        reason = detail.get("detail") if isinstance(detail, dict) and "detail" in detail else detail
    code = getattr(exc, "default_code", None)
    response.data = error_body(
        response.status_code, reason, code if response.status_code != 404 else None,
        **getattr(exc, "extra", {}),
    )  # fmt: skip
    return response


class BadParameter(ValidationError):
    """A request parameter that cannot be used: a 400 naming it."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__({parameter: reason})
        self.parameter = parameter
        self.reason = reason


class LicenceNotAccepted(APIException):
    """A request for data an agreement would grant once its licence is accepted (rule 5)."""

    status_code = 403
    default_code = "licence_not_accepted"

    def __init__(self, request, licence) -> None:
        url = request.build_absolute_uri(
            reverse("sharing:licence-accept", args=[licence.agreement_id])
        )
        super().__init__(
            f"Your agreement “{licence.title}” grants this data once you accept its licence at "
            f"{url}; until then you see only public data."
        )
        self.extra = {"licence_url": url, "agreement": licence.title}


def refuse_unaccepted_licence(request, *, country: str | None, survey: str | None) -> None:
    """403 naming the licence when the request's country or survey filter names data that one of
    the viewer's agreements would grant once its licence is accepted."""
    scope = request_scope(request)
    if not scope.pending_licences or not (country or survey):
        return
    country_id = (
        Country.objects.filter(iso_a3=country.upper()).values_list("pk", flat=True).first()
        if country
        else None
    )
    survey_row = Survey.objects.filter(slug=survey).first() if survey else None
    if (country and country_id is None) or (survey and survey_row is None):
        return
    licence = pending_licence(scope, country_id=country_id, survey=survey_row)
    if licence is not None:
        raise LicenceNotAccepted(request, licence)


# --- parameters ----------------------------------------------------------------------------------


def element_param(params: Mapping, name: str = "element") -> Element:
    symbol = params.get(name, "")
    element = Element.objects.filter(symbol=symbol).first()
    if element is None:
        raise BadParameter(name, f"unknown element {symbol!r} (e.g. element=Cu)")
    return element


def medium_param(params: Mapping, name: str = "medium") -> Medium:
    code = params.get(name, "")
    medium = Medium.objects.filter(code=code).first()
    if medium is None:
        known = ", ".join(Medium.objects.order_by("code").values_list("code", flat=True))
        raise BadParameter(name, f"unknown medium {code!r}; known: {known}")
    return medium


def scale_param(params: Mapping, name: str = "scale", *, default: int | None = None) -> int:
    """A grid scale in metres from a size in km."""
    text = params.get(name)
    if text in (None, "") and default is not None:
        return default
    try:
        return grid.scale_from_km(text if text is not None else "")
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None


def choice_param(params: Mapping, name: str, choices, default: str) -> str:
    value = params.get(name, default)
    if value not in choices:
        raise BadParameter(name, f"unknown {name} {value!r}; known: {', '.join(choices)}")
    return value


def float_param(params: Mapping, name: str, low: float, high: float) -> float:
    try:
        value = float(params.get(name, ""))
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # NaN fails every comparison
        raise BadParameter(name, f"expected a number between {low} and {high}")
    return value


def bbox_param(params: Mapping, name: str = "bbox") -> tuple[float, float, float, float]:
    """west,south,east,north in degrees; a box reaching past the world is clamped to it."""
    return parse_bbox(params.get(name, ""), name)


def parse_bbox(text: str, name: str = "bbox") -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise BadParameter(name, "expected west,south,east,north in degrees") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise BadParameter(name, "expected finite numbers")
    if not (west < east and south < north):
        raise BadParameter(name, "expected west < east and south < north")
    if east - west >= 360:
        west, east = -180.0, 180.0
    west, east = max(west, -180.0), min(east, 180.0)
    south, north = max(south, -90.0), min(north, 90.0)
    if not (west < east and south < north):
        raise BadParameter(name, "the box lies outside the world (±180, ±90)")
    return west, south, east, north


def region_param(params: Mapping, name: str = "region", polygon: str = "polygon") -> Region:
    """The region a dashboard is cut by (``dashboards.regions``): ``world``, ``country:ISO3``,
    ``continent:Name``, ``zone:ID``, or a drawn GeoJSON polygon in ``polygon``."""
    try:
        return region_of(params.get(name), params.get(polygon))
    except InvalidArea as error:
        raise BadParameter(polygon, str(error)) from None
    except RegionNotFound:
        raise BadParameter(
            name, f"unknown region {params.get(name)!r}; use world, country:ISO3, "
            "continent:Name or zone:ID"
        ) from None  # fmt: skip


def cell_param(code: str, name: str = "code") -> grid.Cell:
    try:
        return grid.parse_code(code)
    except grid.InvalidCellCode as exc:
        raise BadParameter(name, str(exc)) from None


# --- page and API fallbacks ----------------------------------------------------------------------


# Machine interfaces: their errors are the JSON body, not a page.
JSON_PATHS = ("/api/", "/tiles/", "/ogcapi/")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATHS)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    """404: the API's body under /api/ and /tiles/, the page elsewhere. Hidden = missing."""
    if _wants_json(request):
        return error_response(404, NOT_FOUND_REASON)
    return render(request, "404.html", status=404)


DATABASE_UNAVAILABLE = "The database is unavailable; try again in a moment."
# Seconds a client is asked to wait while the database is away (a restart, a fail-over).
DATABASE_RETRY_AFTER = 10


def server_error(request: HttpRequest) -> HttpResponse:
    """500, or 503 with Retry-After when the database is unreachable (a restart, a fail-over:
    Django reconnects at the next request, the server needs no restart). Called inside the
    handler's ``except``, so the exception is the one being handled. The page is rendered
    without the database; should it fail, a plain text answer, never an empty 500."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (db.OperationalError, db.InterfaceError)):
        status, reason, error, template = 503, DATABASE_UNAVAILABLE, "unavailable", "503.html"
    else:
        status, reason, error = 500, "Internal error; it has been logged.", "server_error"
        template = "500.html"
    if _wants_json(request):
        response = error_response(status, reason, error)
    else:
        try:
            response = HttpResponse(render_to_string(template), status=status)
        except Exception:  # noqa: BLE001 — the last answer must not fail in turn
            logger.exception("the %s page could not be rendered", status)
            response = HttpResponse(reason, status=status, content_type="text/plain")
    if status == 503:
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


class RejectNulMiddleware:
    """A NUL byte in the path or the query cannot reach PostgreSQL (it refuses them in text):
    answer it as a bad request up front, with the API's body under /api/ and /tiles/, instead of
    a 500 from deep inside whichever view received it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            "\x00" in request.path
            or "%00" in request.META.get("QUERY_STRING", "")
            or any("\x00" in value for values in request.GET.lists() for value in values[1])
        ):
            reason = "NUL characters are not allowed in the path or parameters."
            if _wants_json(request):
                return error_response(400, reason)
            return HttpResponse(reason, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (settings.CONTENT_SECURITY_POLICY: scripts and style sheets from the
    portal only) on every response, but for the admin, whose map widgets (GeoDjango's and
    django-leaflet's) write inline scripts: staff only, and its script-src adds 'unsafe-inline'."""

    def get_policy_parts(self, request, response, report_only: bool = False):
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith("/admin/") and not report_only:
            parts.replace = {**(parts.replace or {}), "script-src": [SELF, UNSAFE_INLINE]}
        return parts
