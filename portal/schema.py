"""OpenAPI descriptions shared by the /api/v1/ views (drf-spectacular): the kit's parameters and
its one error body, named once so every endpoint documents them alike."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR = inline_serializer(
    name="Error",
    fields={
        "error": serializers.CharField(help_text="machine-readable code, e.g. invalid"),
        "reason": serializers.JSONField(help_text="what was wrong; for a bad parameter, by name"),
        "status": serializers.IntegerField(),
    },
)
ERRORS = {
    400: OpenApiResponse(ERROR, description="a parameter that cannot be used, named in reason"),
    401: OpenApiResponse(ERROR, description="a bad API token"),
    404: OpenApiResponse(ERROR, description="missing or hidden (the same answer)"),
}


def query(name: str, description: str, *, required: bool = True, type=OpenApiTypes.STR):
    return OpenApiParameter(name, type, OpenApiParameter.QUERY, required, description)


ELEMENT = query("element", "element symbol, e.g. Cu")
MEDIUM = query("medium", "medium code, e.g. topsoil")
SCALE = query("scale", "grid scale in km: 80, 40, 20, 10, 4, 2, 1 or 0.5")
BBOX = query("bbox", "west,south,east,north in degrees (clamped to the world)")
STYLE = query(
    "style",
    "cells (default) | surface | points: count the rows the map of that style shows "
    "(points: exact locations only)",
    required=False,
)
CELL = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, True,
                        "grid cell code, e.g. 80K-00005-00257")  # fmt: skip
JSON_OBJECT = OpenApiResponse(OpenApiTypes.OBJECT)


def add_error_responses(result: dict, generator, request, public) -> dict:
    """Every operation may answer the one error body: 400, 401 and 404 where not described."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    texts = {"400": "a parameter that cannot be used", "401": "a bad API token",
             "404": "missing or hidden (the same answer)"}  # fmt: skip
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, text in texts.items():
                responses.setdefault(status, {"description": text, "content": error})
    return result
