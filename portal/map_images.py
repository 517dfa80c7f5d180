"""``/api/v1/layers/<key>/image.png|.pdf``: a map layer's view as a sheet to take away.

Same access as the layer's tiles (``portal.tiles.visible_layer``: another audience's layer, a
missing and a superseded one are the same 404) and the same audit as the layer API. The surveys
cited are those with rows of the layer's element and medium in the view that the layer's audience
may see, asked through the gate at the layer's scale. ``maps.images`` draws the sheet.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import throttle_classes
from rest_framework.settings import api_settings

from baselines.models import Survey
from maps import images
from maps.classification import Legend
from maps.models import MapLayer
from sharing.access import (
    aggregate_rows,
    request_scope,
    viewer_scope,
    visible_exact_measurements,
    within_bbox,
)
from sharing.audit import audit_access, note_country_served

from .http import NOT_FOUND_REASON, BadParameter, bbox_param, choice_param, error_response
from .schema import ERRORS, query
from .throttles import MapImageThrottle
from .tiles import visible_layer
from .viewer_api import api_get

LANGUAGES = ("en", "zh-hans")
CONTENT_TYPES = {"png": "image/png", "pdf": "application/pdf"}


def dpi_param(params, name: str = "dpi", default: int = 150) -> int:
    text = params.get(name)
    if text in (None, ""):
        return default
    low, high = images.DPI_RANGE
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadParameter(name, f"expected a whole number of dots per inch from {low} to {high}")
    return value


def sheet_frame(params) -> images.Frame:
    """``bbox``, ``paper``, ``orientation`` and ``dpi``; a sheet over the pixel limit is a 400
    naming ``dpi`` before anything is drawn."""
    bbox = bbox_param(params)
    paper = choice_param(params, "paper", images.PAPERS, "screen")
    orientation = choice_param(params, "orientation", images.ORIENTATIONS, "landscape")
    dpi = dpi_param(params)
    try:
        return images.frame(bbox, paper, orientation, dpi)
    except images.SheetTooLarge as exc:
        raise BadParameter("dpi", str(exc)) from None


def surveys_in_view(
    request: HttpRequest, layer: MapLayer, bounds: tuple[float, float, float, float]
) -> list[Survey]:
    """Surveys whose rows the layer's audience sees in the view (released rows only: a
    pre-release row may colour its cell, never name its survey); records the read as the
    layer API does (its countries' rows beyond the public release go out in the image)."""
    scope = viewer_scope(None) if layer.is_public else request_scope(request)
    if layer.style == MapLayer.Style.POINTS:
        rows = visible_exact_measurements(scope).preferred()
        rows = rows.filter(element_id=layer.element_id, sample__survey__medium_id=layer.medium_id)
    else:
        rows = aggregate_rows(
            scope, scale_m=layer.scale_m, element=layer.element_id, medium=layer.medium_id
        ).released
    ids = within_bbox(scope, rows, bounds, prefix="sample__").values("sample__survey_id")
    for country_id in layer.countries:
        note_country_served(request, country_id)
    audit_access(
        request,
        request_scope(request),
        f"map image {layer.element.symbol} {layer.medium.code} {layer.scale_m / 1000:g} km "
        f"{layer.style} bbox " + ",".join(f"{v:.3f}" for v in bounds),
    )
    return list(Survey.objects.filter(pk__in=ids).order_by("year", "name"))


def citation_of(survey: Survey) -> str:
    if survey.citation.strip():
        return survey.citation.strip()
    return f"{survey.name} ({survey.year})" if survey.year else survey.name


@extend_schema(
    parameters=[query("bbox", "west,south,east,north of the view, degrees"),
                query("paper", "screen | a4 | a3 (default screen)", required=False),
                query("orientation", "landscape | portrait (default landscape)", required=False),
                query("dpi", "72..600 (default 150)", required=False),
                query("lang", "en | zh-hans (default: the request's language)", required=False)],
    responses={(200, "image/png"): bytes, (200, "application/pdf"): bytes, **ERRORS},
    tags=["maps"],
)  # fmt: skip
@api_get
@throttle_classes([*api_settings.DEFAULT_THROTTLE_CLASSES, MapImageThrottle])
def image_view(request: HttpRequest, key: str, fmt: str) -> HttpResponse:
    """The current view of a layer as a PNG or PDF sheet with legend, scale bar, projection,
    attribution, the citations of the surveys shown and the layer's versions."""
    layer = visible_layer(request, key)
    if layer is None:
        return error_response(404, NOT_FOUND_REASON)
    fr = sheet_frame(request.query_params)
    current = translation.get_language()
    lang = choice_param(
        request.query_params, "lang", LANGUAGES, current if current in LANGUAGES else "en"
    )
    if layer.is_pending or layer.state == MapLayer.State.FAILED or layer.legend is None:
        return error_response(
            409, "The layer is not rendered yet; ask again when its state is ready.",
            "not_ready", state=layer.state,
        )  # fmt: skip
    bounds = fr.lonlat_bounds
    surveys = surveys_in_view(request, layer, bounds)
    with translation.override(lang):
        caption = images.Caption(
            element_name=layer.element.name,
            symbol=layer.element.symbol,
            medium_name=layer.medium.name,
            scale_km=layer.scale_m / 1000,
            style_label=str(MapLayer.Style(layer.style).label),
            scheme=layer.scheme,
            data_version=layer.data_version,
            policy_version=layer.policy_version,
            layer_key=layer.key,
            citations=[citation_of(s) for s in surveys],
        )
        ready = layer.state == MapLayer.State.READY
        sheet = images.compose(
            fr,
            Legend.from_json(layer.legend),
            caption,
            layer.directory if ready else None,
            images.boundary_polygons(fr),
        )
    body = sheet.png() if fmt == "png" else sheet.pdf()
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    name = f"chemearth-{layer.element.symbol}-{layer.medium.code}-{layer.scale_m / 1000:g}km"
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{fr.paper}-{fr.orientation}.{fmt}"'
    )
    response["Cache-Control"] = "private, no-store"
    return response
