"""The endpoints of ``/ogcapi/`` (OGC API – Features), JSON/GeoJSON and HTML.

Each is a DRF view with the API's authentication (``Authorization: Token <key>`` first, then the
session; a bad token is the 401 of ``/api/v1/``) and errors (the kit's ``{error, reason,
status}``; a 400 names its parameter; a hidden collection or feature is the 404 of a missing one).
The format is ``?f=json|html``, else the Accept header: HTML only when it prefers ``text/html``
(a browser), JSON for GDAL, QGIS, OWSLib and ``*/*``. Rows are read by ``collections.Catalogue``
and ``items.FeatureReader``, which go through the gate and record the audit. Features come in the
CRS asked for (``crs``, Part 2), named by the ``Content-Crs`` header; their order is ``sortby``'s
(``sorting``), over the properties ``/sortables`` lists.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from sharing.access import request_scope
from sharing.audit import audit_access

from ..http import BadParameter
from ..page_cache import cached_page
from . import crs as crs_module
from .collections import CRS84, Catalogue, Collection
from .cql import DATE
from .items import FeatureReader, ItemsQuery, items_query
from .openapi import GEOJSON, HTML, JSON, OPENAPI_MEDIA_TYPE, openapi_document
from .sorting import DEFAULT_SORT_ORDER, SORTABLES

SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SORTABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/sortables"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
# Exactly the classes implemented (GDAL and QGIS act on each one declared).
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    # Part 2: crs= and bbox-crs= in CRS84, EPSG:4326, EPSG:3857 and EPSG:6933; Content-Crs.
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    # Part 8 (draft 24-030, "Sorting"): /sortables, sortby= on items.
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sortables",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/features-sorting",
]


class _FirstRenderer(BaseContentNegotiation):
    """DRF's negotiation would refuse ``Accept: application/geo+json`` (406) and read ``?format``;
    here the format is chosen by ``f`` and Accept in ``wants_html``, and DRF renders only the
    errors, always as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OgcView(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FirstRenderer
    schema = None  # described by /ogcapi/api, not by /api/schema/

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # The answer depends on the format asked for and on who asks.
        patch_vary_headers(response, ("Accept", "Authorization", "Cookie"))
        return response


def wants_html(request) -> bool:
    fmt = request.GET.get("f")
    if fmt is not None:
        if fmt not in ("json", "html"):
            raise BadParameter("f", f"unknown format {fmt!r}; known: json, html")
        return fmt == "html"
    if "HTTP_ACCEPT" not in request.META:
        return False
    return request.get_preferred_type([JSON, GEOJSON, HTML]) == HTML


def json_response(data: dict, media_type: str = JSON) -> HttpResponse:
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)
    return HttpResponse(body.encode(), content_type=media_type)


def features_response(data: dict, crs: crs_module.Crs) -> HttpResponse:
    """GeoJSON whose coordinates are in ``crs``, named by Content-Crs (Part 2)."""
    response = json_response(data, GEOJSON)
    response["Content-Crs"] = crs.header
    return response


def feature_texts_response(data: dict, crs: crs_module.Crs) -> HttpResponse:
    """``features_response`` of a FeatureCollection whose features are JSON texts already."""
    rest = json.dumps({k: v for k, v in data.items() if k not in ("type", "features")},
                      cls=DjangoJSONEncoder, ensure_ascii=False)  # fmt: skip
    body = '{"type":"FeatureCollection","features":[' + ",".join(data["features"]) + "],"
    response = HttpResponse((body + rest[1:]).encode(), content_type=GEOJSON)
    response["Content-Crs"] = crs.header
    return response


def html_response(request, template: str, context: dict) -> HttpResponse:
    context = {
        "json_url": this_url(request, f="json"),
        "base_url": request.build_absolute_uri(reverse("ogcapi:landing")).rstrip("/"),
        **context,
    }
    return render(request._request, f"portal/ogcapi/{template}", context)


def absolute(request, name: str, *args, **query) -> str:
    """The absolute URL of ``ogcapi:<name>`` with a query (values of None left out)."""
    url = request.build_absolute_uri(reverse(f"ogcapi:{name}", args=args))
    pairs = {k: v for k, v in query.items() if v is not None}
    return url + ("?" + urlencode(pairs) if pairs else "")


def this_url(request, **changes) -> str:
    """The request's own absolute URL with some query parameters changed (None: removed)."""
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None:
            params[key] = value
    query = params.urlencode()
    return request.build_absolute_uri(request.path + (f"?{query}" if query else ""))


def link(href: str, rel: str, media_type: str, title: str) -> dict:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def self_links(request, media_type: str) -> list[dict]:
    """``self`` and ``alternate`` for the two formats of the requested resource."""
    html = wants_html(request)
    return [
        link(this_url(request, f=None if not html else "html"), "self",
             HTML if html else media_type, _("This document")),
        link(this_url(request, f="json" if html else "html"), "alternate",
             media_type if html else HTML, _("This document as JSON") if html
             else _("This document as HTML")),
    ]  # fmt: skip


# --- landing page, conformance, API ----------------------------------------------------------


class LandingView(OgcView):
    def get(self, request):
        html = wants_html(request)
        data = {
            "title": _("Chemical Earth OGC API – Features"),
            "description": _(
                "Geochemical samples and their element values, as each country's data-release "
                "policy and your agreements allow."
            ),
            "links": self_links(request, JSON) + [
                link(absolute(request, "api"), "service-desc", OPENAPI_MEDIA_TYPE,
                     _("The API definition (OpenAPI 3.0)")),
                link(absolute(request, "api", f="html"), "service-doc", HTML,
                     _("The API documentation")),
                link(absolute(request, "conformance"), "conformance", JSON,
                     _("Conformance classes implemented")),
                link(absolute(request, "collections"), "data", JSON, _("Collections")),
            ],
        }  # fmt: skip
        if html:
            return html_response(request, "landing.html", {"data": data})
        return json_response(data)


class ConformanceView(OgcView):
    def get(self, request):
        data = {"conformsTo": CONFORMANCE}
        if wants_html(request):
            return html_response(request, "conformance.html", {"data": data})
        return json_response(data)


class ApiView(OgcView):
    def get(self, request):
        server = request.build_absolute_uri(reverse("ogcapi:landing")).rstrip("/")
        document = openapi_document(server)
        if wants_html(request):
            operations = [
                (path, op["summary"], [p["$ref"].rsplit("/", 1)[1] for p in op["parameters"]])
                for path, op in ((path, item["get"]) for path, item in document["paths"].items())
            ]
            return html_response(
                request,
                "api.html",
                {
                    "operations": operations,
                    "server": server,
                    "json_url": absolute(request, "api"),
                    "parameters": document["components"]["parameters"],
                },
            )
        return json_response(document, OPENAPI_MEDIA_TYPE)


# --- collections ---------------------------------------------------------------------------------


def collection_json(request, collection: Collection) -> dict:
    data = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": list(crs_module.SUPPORTED),
        "storageCrs": CRS84,
        "defaultSortOrder": DEFAULT_SORT_ORDER,
        "links": [
            link(absolute(request, "collection", collection.id), "self", JSON,
                 _("This collection")),
            link(absolute(request, "collection", collection.id, f="html"), "alternate", HTML,
                 _("This collection as HTML")),
            link(absolute(request, "items", collection.id), "items", GEOJSON, _("Features")),
            link(absolute(request, "items", collection.id, f="html"), "items", HTML,
                 _("Features as HTML")),
            link(absolute(request, "queryables", collection.id), QUERYABLES_REL, SCHEMA_JSON,
                 _("Properties a filter may name")),
            link(absolute(request, "sortables", collection.id), SORTABLES_REL, SCHEMA_JSON,
                 _("Properties features may be sorted by")),
        ],
    }  # fmt: skip
    extent: dict = {}
    if collection.bbox is not None:
        extent["spatial"] = {"bbox": [list(collection.bbox)], "crs": CRS84}
    if collection.interval is not None:
        first, last = collection.interval
        extent["temporal"] = {
            "interval": [[f"{first.isoformat()}T00:00:00Z", f"{last.isoformat()}T23:59:59Z"]],
            "trs": TRS,
        }
    if extent:
        data["extent"] = extent
    return data


class CollectionsView(OgcView):
    def get(self, request):
        html = wants_html(request)
        catalogue = Catalogue(request)
        collections = list(catalogue.collections.values())
        data = {
            "links": self_links(request, JSON),
            "collections": [collection_json(request, c) for c in collections],
        }
        catalogue.record_read(collections, "ogcapi collections")
        if html:
            return html_response(
                request, "collections.html", {"data": data, "collections": collections}
            )
        return json_response(data)


class CollectionView(OgcView):
    def get(self, request, collection: str):
        html = wants_html(request)
        catalogue = Catalogue(request)
        found = catalogue.get(collection)
        data = collection_json(request, found)
        catalogue.record_read([found], f"ogcapi collection {found.id}")
        if html:
            return html_response(request, "collection.html", {"data": data, "collection": found})
        return json_response(data)


def property_schema_response(request, found, kind: str, fields: dict, template: str):
    """A collection's queryables or sortables as the JSON Schema the standards ask for (or its
    HTML page): each field's title and type, dates as ``string``/``date``."""
    properties = {}
    for name, field in fields.items():
        schema = {"title": field.title}
        if field.kind == DATE:
            schema.update(type="string", format="date")
        else:
            schema["type"] = field.kind
        properties[name] = schema
    if wants_html(request):
        return html_response(request, template, {"collection": found, "properties": properties})
    data = {
        "$schema": JSON_SCHEMA,
        "$id": absolute(request, kind, found.id),
        "type": "object",
        "title": found.title,
        "properties": properties,
        "additionalProperties": False,
    }
    return json_response(data, SCHEMA_JSON)


class QueryablesView(OgcView):
    def get(self, request, collection: str):
        found = Catalogue(request).get(collection)
        return property_schema_response(
            request, found, "queryables", found.queryables, "queryables.html"
        )


class SortablesView(OgcView):
    """The properties ``sortby`` may name (Part 8 draft), as JSON Schema like the queryables.
    The same for every collection and caller (no element values: see ``sorting``), but a hidden
    collection is the 404 of a missing one here too."""

    def get(self, request, collection: str):
        found = Catalogue(request).get(collection)
        return property_schema_response(request, found, "sortables", SORTABLES, "sortables.html")


# --- features ----------------------------------------------------------------------------------


class ItemsView(OgcView):
    def get(self, request, collection: str):
        html = wants_html(request)
        found = Catalogue(request).get(collection)
        query = items_query(request.GET, found)
        scope = request_scope(request)
        if html:  # pages carry the signed-in user's name: never shared
            response = self.items(request, found, query, html)
        else:
            response = cached_page(request, scope, lambda: self.items(request, found, query, html))
        audit_access(request, scope, f"ogcapi items {found.id}")
        return response

    def items(self, request, found: Collection, query: ItemsQuery, html: bool) -> HttpResponse:
        reader = FeatureReader(request, found)
        text = None if html else reader.page_text(query)
        page = reader.page(query) if text is None else text
        links = self_links(request, GEOJSON)
        if page.next_cursor is not None:
            links.append(
                link(this_url(request, cursor=page.next_cursor), "next",
                     HTML if html else GEOJSON, _("Next page"))
            )  # fmt: skip
        sortables = absolute(request, "sortables", found.id)
        links += [
            link(absolute(request, "collection", found.id), "collection", JSON, found.title),
            link(sortables, SORTABLES_REL, SCHEMA_JSON, _("Properties features may be sorted by")),
        ]
        data = {
            "type": "FeatureCollection",
            "features": page.features,
            "numberReturned": len(page.features),
            "timeStamp": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "links": links,
        }
        if text is not None:
            response = feature_texts_response(data, query.crs)
        elif html:
            columns = found.property_names if query.properties is None else list(query.properties)
            response = html_response(
                request,
                "items.html",
                {
                    "collection": found,
                    "rows": _rows(page.features, columns),
                    "columns": columns,
                    "crs": query.crs,
                    "points": _points(page.features, page.lonlat),
                    "sortby": query.sortby.text if "sortby" in request.GET else None,
                    "data": data,
                    "next_url": next((x["href"] for x in links if x["rel"] == "next"), None),
                },
            )
        else:
            response = features_response(data, query.crs)
        # The sortables of a sortable resource, also as a header (Part 8, /req/sortables).
        response["Link"] = f'<{sortables}>; rel="{SORTABLES_REL}"; type="{SCHEMA_JSON}"'
        return response


class ItemView(OgcView):
    def get(self, request, collection: str, feature: str):
        html = wants_html(request)
        crs = crs_module.crs_param(request.GET, "crs")
        found = Catalogue(request).get(collection)
        data, _lonlat = FeatureReader(request, found).feature(feature, crs)
        data["links"] = self_links(request, GEOJSON) + [
            link(absolute(request, "collection", found.id), "collection", JSON, found.title)
        ]
        if html:
            return html_response(
                request,
                "item.html",
                {
                    "collection": found,
                    "feature": data,
                    "crs": crs,
                    "properties": list(data["properties"].items()),
                },
            )
        return features_response(data, crs)


def _rows(features: list[dict], columns: list[str]) -> list[dict]:
    """Table rows of the HTML page: id, the two coordinates (in the requested CRS's axis order)
    and the properties in column order."""
    return [
        {
            "id": f["id"],
            "x": f["geometry"]["coordinates"][0],
            "y": f["geometry"]["coordinates"][1],
            "values": [f["properties"].get(c) for c in columns],
        }
        for f in features
    ]


def _points(features: list[dict], lonlat: list[tuple[float, float]]) -> list[dict]:
    """The page's features for its map: id, sample id and shown location in CRS84 (whatever
    CRS the table is in)."""
    return [
        {"id": f["id"], "code": f["properties"].get("code"), "lon": lon, "lat": lat}
        for f, (lon, lat) in zip(features, lonlat, strict=True)
    ]
