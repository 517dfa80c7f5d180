"""The OpenAPI 3.0 description of ``/ogcapi/`` (conformance class oas30), built by hand.

It describes the operations and parameters every collection shares; which collections exist
depends on the caller (``/ogcapi/collections``), so they are a path parameter here. GDAL reads
the ``limit`` parameter's bounds from it.
"""

from __future__ import annotations

from .cql import CRS84, FILTER_LANGUAGES
from .crs import SUPPORTED as SUPPORTED_CRS
from .items import DEFAULT_LIMIT, MAX_LIMIT
from .sorting import SORTABLES

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"


def _param(name: str, where: str, schema: dict, description: str, **extra) -> dict:
    return {"name": name, "in": where, "schema": schema, "description": description, **extra}


PARAMETERS = {
    "f": _param(
        "f", "query", {"type": "string", "enum": ["json", "html"]},
        "Response format; by default from the Accept header (JSON unless a browser asks for "
        "HTML).", required=False,
    ),
    "collectionId": _param(
        "collectionId", "path", {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        "`samples` (every sample you may see) or a survey's slug.", required=True,
    ),
    "featureId": _param(
        "featureId", "path", {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        "A sample's id.", required=True,
    ),
    "limit": _param(
        "limit", "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        f"Features per page, at most {MAX_LIMIT} (more is a 400 naming `limit`).",
        required=False, style="form", explode=False,
    ),
    "bbox": _param(
        "bbox", "query",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        "west,south,east,north in degrees (CRS84), or the box in `bbox-crs` in that CRS's axis "
        "order (EPSG:4326: south,west,north,east; EPSG:3857 and 6933: xmin,ymin,xmax,ymax in "
        "metres). A sample whose location you see snapped to a cell is selected when its cell "
        "touches the box.",
        required=False, style="form", explode=False,
    ),
    "bbox-crs": _param(
        "bbox-crs", "query",
        {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS), "default": CRS84},
        "CRS of `bbox` (one of the collection's `crs`); another is a 400 naming `bbox-crs`.",
        required=False,
    ),
    "crs": _param(
        "crs", "query",
        {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS), "default": CRS84},
        "CRS of the returned coordinates (one of the collection's `crs`), named again by the "
        "`Content-Crs` header; EPSG:4326 is latitude, longitude. Locations are snapped to "
        "cells first (as the policy says), then transformed. Another CRS is a 400 naming `crs`.",
        required=False,
    ),
    "sortby": _param(
        "sortby", "query",
        {"type": "array", "minItems": 1,
         "items": {"type": "string", "pattern": r"^[+-]?[^+\-\s].*$",
                   "enum": [p + name for name in SORTABLES for p in ("", "+", "-")]}},
        "Sort keys, comma-separated, `-` for descending (default ascending, `+` as %2B), from "
        f"the collection's `/sortables` ({', '.join(SORTABLES)}), e.g. `-sampled_on,code`. "
        "The next links page through the sorted features exactly once each. Element values "
        "are not sortable.",
        required=False, style="form", explode=False,
    ),
    "datetime": _param(
        "datetime", "query", {"type": "string"},
        "Sampling date: an RFC 3339 date or date-time, or an interval start/end (`..` for an "
        "open end).", required=False, style="form", explode=False,
    ),
    "properties": _param(
        "properties", "query", {"type": "array", "items": {"type": "string"}},
        "The properties to return (e.g. `code,Cu,Zn`); default all.",
        required=False, style="form", explode=False,
    ),
    "filter": _param(
        "filter", "query", {"type": "string"},
        "A CQL2 filter on the collection's queryables (`/queryables`), e.g. "
        "`Cu > 50 AND country = 'NOR'`.", required=False,
    ),
    "filter-lang": _param(
        "filter-lang", "query",
        {"type": "string", "enum": list(FILTER_LANGUAGES), "default": "cql2-text"},
        "Language of `filter`.", required=False,
    ),
    "filter-crs": _param(
        "filter-crs", "query", {"type": "string", "enum": [CRS84], "default": CRS84},
        "CRS of coordinates in `filter` (no spatial predicate is supported).", required=False,
    ),
    "cursor": _param(
        "cursor", "query", {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        "Position after which the page starts, as given in the `next` link (the last id, or "
        "with `sortby` the last feature's sort keys).", required=False,
    ),
}  # fmt: skip


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _ok(description: str, *media_types: str) -> dict:
    schemas = {
        GEOJSON: {"type": "object"},
        JSON: {"type": "object"},
        OPENAPI_MEDIA_TYPE: {"type": "object"},
        "application/schema+json": {"type": "object"},
        HTML: {"type": "string"},
    }
    return {
        "description": description,
        "content": {m: {"schema": schemas[m]} for m in media_types},
    }


CONTENT_CRS = {
    "Content-Crs": {
        "description": "The CRS of the coordinates, as `<uri>` (OGC API – Features Part 2).",
        "schema": {"type": "string"},
    }
}
ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
}
NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}


def _features(description: str) -> dict:
    return {**_ok(description, GEOJSON, HTML), "headers": CONTENT_CRS}


def _get(operation_id: str, summary: str, ok: dict, params: list[str], *, found=False) -> dict:
    responses = {"200": ok, **ERRORS, **(NOT_FOUND if found else {})}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["OGC API – Features"],
            "parameters": [_ref(p) for p in params],
            "responses": responses,
        }
    }


# Long on purpose (over 80 lines): one literal OpenAPI document, read top to bottom; splitting
# it would scatter the paths it lists.
def openapi_document(server_url: str) -> dict:
    """The document, with ``server_url`` (the absolute ``/ogcapi`` URL) as its one server."""
    error = {
        "type": "object",
        "required": ["error", "reason", "status"],
        "properties": {
            "error": {"type": "string"},
            "reason": {"description": "What is wrong; a 400 names the parameter."},
            "status": {"type": "integer"},
        },
    }

    def error_response(description: str, *, plain: bool = False) -> dict:
        content = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
        if plain:  # the NUL guard in front of every page answers those in plain text
            content["text/plain"] = {"schema": {"type": "string"}}
        return {"description": description, "content": content}

    items_params = [
        "collectionId", "bbox", "bbox-crs", "datetime", "limit", "properties", "filter",
        "filter-lang", "filter-crs", "sortby", "crs", "cursor", "f",
    ]  # fmt: skip
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Chemical Earth OGC API – Features",
            "version": "1.0",
            "description": (
                "Geochemical samples and their element values (mg/kg), each country's data "
                "released by its own policy: you see what the policy and your agreements allow, "
                "locations snapped to cells where the policy says so. Authenticate with "
                "`Authorization: Token <key>` (account page) or the session; a bad token is a "
                "401. Every error is JSON `{error, reason, status}`; a collection or feature you "
                "may not see answers exactly like one that does not exist."
            ),
            "license": {"name": "Each survey's licence; see the survey pages."},
        },
        "servers": [{"url": server_url}],
        "security": [{}, {"token": []}],
        "paths": {
            "/": _get("getLandingPage", "Landing page", _ok("Links", JSON, HTML), ["f"]),
            "/conformance": _get(
                "getConformance", "Conformance classes", _ok("Classes", JSON, HTML), ["f"]
            ),
            "/api": _get(
                "getAPI", "This document", _ok("OpenAPI", OPENAPI_MEDIA_TYPE, HTML), ["f"]
            ),
            "/collections": _get(
                "getCollections",
                "The collections you may see",
                _ok("Collections", JSON, HTML),
                ["f"],
            ),
            "/collections/{collectionId}": _get(
                "describeCollection",
                "A collection",
                _ok("Collection", JSON, HTML),
                ["collectionId", "f"],
                found=True,
            ),
            "/collections/{collectionId}/queryables": _get(
                "getQueryables",
                "Properties a filter may name",
                _ok("JSON Schema", "application/schema+json", HTML),
                ["collectionId", "f"],
                found=True,
            ),
            "/collections/{collectionId}/sortables": _get(
                "getSortables",
                "Properties features may be sorted by (sortby)",
                _ok("JSON Schema", "application/schema+json", HTML),
                ["collectionId", "f"],
                found=True,
            ),
            "/collections/{collectionId}/items": _get(
                "getFeatures",
                "Features, a page at a time (follow the next link)",
                _features("Features"),
                items_params,
                found=True,
            ),
            "/collections/{collectionId}/items/{featureId}": _get(
                "getFeature",
                "One feature",
                _features("Feature"),
                ["collectionId", "featureId", "crs", "f"],
                found=True,
            ),
        },  # fmt: skip
        "components": {
            "parameters": PARAMETERS,
            "schemas": {"Error": error},
            "responses": {
                "BadRequest": error_response(
                    "A parameter cannot be used (its name is given); a NUL byte in the "
                    "request is refused in plain text.",
                    plain=True,
                ),
                "Unauthorized": error_response("The token is not valid."),
                "NotFound": error_response("No such collection or feature (or not yours)."),
            },
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Token <key>`, from your account page.",
                }
            },
        },
    }
