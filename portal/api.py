"""REST API (``/api/v1/``): reference data, survey metadata, and samples and measurements through
the access gate. Sample and measurement viewsets start from ``visible_samples`` /
``visible_measurements``; their detail views inherit it, so a hidden object answers exactly like
a missing one."""

from __future__ import annotations

import json

from django.db.models import Count, F, FloatField, Func, TextField, Value
from django.db.models.functions import Cast
from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from baselines import grid, units
from baselines.models import Country, Element, Measurement, Medium, Sample, Survey
from maps.layers import released_rows
from maps.styles import STYLES
from sharing.access import (
    aggregate_rows,
    prime_centroids,
    request_scope,
    shown_point,
    snapped_precisions,
    survey_availability,
    visible_measurements,
    visible_samples,
    within_bbox,
)
from sharing.audit import audit_access, note_country_served
from sharing.locations import shown_cell, shown_precision_km
from sharing.locations import shown_point as shown_point_sql
from sharing.selectors import VisibleValues, survey_analytes

from .http import (
    cell_param,
    choice_param,
    element_param,
    medium_param,
    parse_bbox,
    refuse_unaccepted_licence,
)
from .page_cache import cached_page
from .pagination import FeatureCollectionPagination, IdWindowPagination
from .schema import CELL, ELEMENT, ERRORS, JSON_OBJECT, MEDIUM, STYLE
from .sql import JSONBuild

# --- reference data ------------------------------------------------------------------------------


class ElementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Element
        fields = [
            "symbol", "atomic_number", "name_en", "name_zh", "display_unit", "display_species",
            "groups", "ggb76",
        ]  # fmt: skip


class ElementViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Element.objects.all()
    serializer_class = ElementSerializer
    lookup_field = "symbol"
    pagination_class = None
    filterset_fields = ["ggb76"]


class MediumSerializer(serializers.ModelSerializer):
    class Meta:
        model = Medium
        fields = ["code", "name_en", "name_zh", "description"]


class MediumViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Medium.objects.all()
    serializer_class = MediumSerializer
    lookup_field = "code"
    pagination_class = None


class CountrySerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True)

    class Meta:
        model = Country
        fields = ["code", "iso_a3", "iso_a2", "name_en", "name_zh", "continent", "land_area_km2"]


class CountryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Country.objects.all()
    serializer_class = CountrySerializer
    lookup_field = "adm0_a3"
    pagination_class = None


# --- surveys: public metadata, findable while their data is embargoed -----------------------------


class SurveySerializer(serializers.ModelSerializer):
    medium = serializers.SlugRelatedField(slug_field="code", read_only=True)
    scale_km = serializers.FloatField(read_only=True)
    countries = serializers.SerializerMethodField()
    elements = serializers.SerializerMethodField()
    sample_count = serializers.IntegerField(read_only=True)
    availability = serializers.SerializerMethodField()

    class Meta:
        model = Survey
        fields = [
            "slug", "name", "medium", "scale_km", "year", "monitoring_round", "synthetic",
            "countries", "elements", "sample_count", "laboratory", "method", "citation",
            "licence", "availability",
        ]  # fmt: skip

    def get_countries(self, survey: Survey) -> list[str]:
        return [c.code for c in survey.countries.all()]

    def get_elements(self, survey: Survey) -> list[str]:
        return sorted({a.element.symbol for a in survey.analytes.all()})

    def get_availability(self, survey: Survey) -> list[dict]:
        codes = {c.pk: c.code for c in survey.countries.all()}
        return [
            {
                "country": codes[a.country_id],
                "available_on": a.available_on,
                "open": a.is_open,
                "scheduled": a.scheduled,
            }
            for a in survey_availability(survey)
        ]


class SurveyDetailSerializer(SurveySerializer):
    """A survey with its table of methods and detection limits (``survey_analytes``: the same
    rows as the survey's page; counts of the values the requester may see)."""

    analytes = serializers.SerializerMethodField()

    class Meta(SurveySerializer.Meta):
        fields = [*SurveySerializer.Meta.fields, "analytes"]

    def get_analytes(self, survey: Survey) -> list[dict]:
        return survey_analytes(request_scope(self.context["request"]), survey)


class SurveyViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SurveySerializer

    def get_serializer_class(self):
        return SurveyDetailSerializer if self.action == "retrieve" else SurveySerializer

    lookup_field = "slug"
    filterset_fields = {"medium__code": ["exact"], "scale_m": ["exact"], "year": ["exact"]}
    pagination_class = None

    def get_queryset(self):
        return (
            Survey.objects.select_related("medium")
            .prefetch_related("countries", "analytes__element")
            .annotate(sample_count=Count("samples"))
            .order_by("name")
        )


# --- samples and measurements: through the gate ----------------------------------------------


class RowPointsMixin:
    """List pages read as values: the snapped locations of a page are computed in one go before
    its rows are serialised (``sample_prefix`` leads from a row to its sample's fields)."""

    sample_prefix = ""

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        precisions = snapped_precisions(request_scope(self.request))
        if page and precisions:
            prime_centroids(
                row[f"{self.sample_prefix}{grid.cell_field_name(size)}"]
                for row in page
                for size in precisions
            )
        return page


class AuditedReadMixin:
    """Reads by viewers whose rights go beyond the public are written to the audit log."""

    audit_label = "data"

    def list(self, request, *args, **kwargs):
        params = request.query_params
        refuse_unaccepted_licence(
            request, country=params.get("country"), survey=params.get("survey")
        )
        response = super().list(request, *args, **kwargs)
        audit_access(request, request_scope(request), f"{self.audit_label} list")
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        audit_access(request, request_scope(request), f"{self.audit_label} {kwargs.get('pk')}")
        return response


class SampleRowFilter(filters.FilterSet):
    """Filters on the sample of a row, with one meaning each (``portal.http``): ``survey`` slug,
    ``country`` ISO3 (any case), ``medium`` code and ``bbox`` — an unknown medium or a bad box is
    the same 400 as everywhere else. ``sample_prefix`` is the path from the row to its sample."""

    sample_prefix = ""
    survey = filters.CharFilter(method="filter_survey")
    country = filters.CharFilter(method="filter_country")
    medium = filters.CharFilter(method="filter_medium")
    bbox = filters.CharFilter(method="filter_bbox", help_text="west,south,east,north")

    def filter_survey(self, queryset, name, value):
        return queryset.filter(**{f"{self.sample_prefix}survey__slug": value})

    def filter_country(self, queryset, name, value):
        return queryset.filter(**{f"{self.sample_prefix}country__iso_a3": value.upper()})

    def filter_medium(self, queryset, name, value):
        medium = medium_param({"medium": value})
        return queryset.filter(**{f"{self.sample_prefix}survey__medium": medium})

    def filter_bbox(self, queryset, name, value):
        return within_bbox(
            request_scope(self.request), queryset, parse_bbox(value), prefix=self.sample_prefix
        )


class SampleFilter(SampleRowFilter):
    class Meta:
        model = Sample
        fields = ["survey", "country", "medium", "bbox"]


CELL_FIELDS = tuple(grid.cell_field_name(size) for size in grid.SCALES_M)
# What a sample row is read as: plain values (lists of thousands of rows need not build a model
# instance, and its survey's and country's, per row), the point as two floats.
SAMPLE_FIELDS = (
    "id", "code", "site_code", "country_id", "survey_id", "survey__slug", "country__iso_a3",
    "country__adm0_a3", "sampled_on", "depth", *CELL_FIELDS,
)  # fmt: skip


def with_lonlat(queryset, geom: str = "geom"):
    """The rows' points as lon/lat floats from PostGIS (no GEOS object per row)."""
    return queryset.annotate(
        lon=Func(geom, function="ST_X", output_field=FloatField()),
        lat=Func(geom, function="ST_Y", output_field=FloatField()),
    )


def shown_row_point(request, row: dict, prefix: str = "") -> tuple[float, float, int]:
    """Where the viewer may see a row's sample (``prefix`` leads from the row to the sample's
    fields), noting whose data went out for the audit."""
    note_country_served(request, row[f"{prefix}country_id"])
    return shown_point(
        request_scope(request),
        country_id=row[f"{prefix}country_id"],
        survey_id=row[f"{prefix}survey_id"],
        lon=row["lon"],
        lat=row["lat"],
        cell_code=lambda size: row[f"{prefix}{grid.cell_field_name(size)}"],
    )


def point_json(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


class SampleSerializer(serializers.Serializer):
    """A sample row (``SAMPLE_FIELDS`` plus ``lon``/``lat``) as GeoJSON; its location is what
    the viewer may see, never the stored point."""

    def to_representation(self, row: dict) -> dict:
        lon, lat, precision = shown_row_point(self.context["request"], row)
        return {
            "type": "Feature",
            "id": row["id"],
            "geometry": point_json(lon, lat),
            "properties": {
                "code": row["code"],
                "site_code": row["site_code"],
                "survey": row["survey__slug"],
                "country": row["country__iso_a3"] or row["country__adm0_a3"],
                "sampled_on": row["sampled_on"],
                "depth": row["depth"],
                "location_precision_km": precision / 1000 if precision else None,
                "cell": row[grid.cell_field_name(precision)] if precision else None,
            },
        }

    class Meta:
        model = Sample  # what the rows are (the leak walk finds detail routes by it)


FEATURE = inline_serializer(
    name="SampleFeature",
    fields={
        "type": serializers.CharField(default="Feature"),
        "id": serializers.IntegerField(),
        "geometry": serializers.DictField(help_text="exact, or the cell centroid shown"),
        "properties": serializers.DictField(),
    },
)


def sample_feature_sql(scope):
    """A sample as ``SampleSerializer`` writes it, built by PostgreSQL as JSON text: the shown
    location (``sharing.locations.shown_point``: exact, or the centre of the cell the viewer's
    grant snaps it to) to 6 decimals, its precision and cell. A 1,000-feature page cost ~25 ms
    of Python a request in serialisers and ``json``; this costs ~4 ms of SQL."""
    point = Func(
        shown_point_sql(scope, prefix=""), template="ST_AsGeoJSON(%(expressions)s, 6)::json"
    )
    feature = JSONBuild(
        type=Value("Feature"),
        id=F("id"),
        geometry=point,
        properties=JSONBuild(
            code=F("code"),
            site_code=F("site_code"),
            survey=F("survey__slug"),
            country=Country.code_sql("country__"),
            sampled_on=F("sampled_on"),
            depth=F("depth"),
            location_precision_km=shown_precision_km(scope, prefix=""),
            cell=shown_cell(scope, prefix=""),
        ),
    )
    return Cast(feature, TextField())


class SqlFeaturePagesMixin:
    """JSON list pages written from features PostgreSQL builds (``sample_feature_sql``) and kept
    per viewer's rights and data version (``page_cache``); other renderers (the browsable API)
    take the serializer's path. Placed after ``AuditedReadMixin``,
    which refuses an unaccepted licence before and records the audit after."""

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != "json":
            return super().list(request, *args, **kwargs)
        scope = request_scope(request)
        return cached_page(request, scope, lambda: self.sql_feature_page(request, scope))

    def sql_feature_page(self, request, scope) -> HttpResponse:
        rows = self.filter_queryset(self.get_queryset()).annotate(feature=sample_feature_sql(scope))
        page = self.paginator.paginate_queryset(
            rows.values("id", "country_id", "feature"), request, view=self
        )
        for country_id in {row["country_id"] for row in page}:
            note_country_served(request, country_id)
        return feature_page_response(self.paginator, [row["feature"] for row in page])


@extend_schema_view(
    list=extend_schema(responses={200: FEATURE}), retrieve=extend_schema(responses={200: FEATURE})
)
class SampleViewSet(
    RowPointsMixin, AuditedReadMixin, SqlFeaturePagesMixin, viewsets.ReadOnlyModelViewSet
):
    audit_label = "sample"
    serializer_class = SampleSerializer
    filterset_class = SampleFilter
    pagination_class = FeatureCollectionPagination

    def get_queryset(self):
        scope = request_scope(self.request)
        # Named columns only: a joined country brought its boundary (the USA's is 70 KB a row: a
        # 1,000-feature page was 306–385 ms of SQL instead of 19 ms).
        return with_lonlat(visible_samples(scope)).values(*SAMPLE_FIELDS, "lon", "lat")


def feature_page_response(paginator, features: list[str]) -> HttpResponse:
    """A FeatureCollection page from features already written as JSON text."""
    links = {"next": paginator.get_next_link(), "previous": paginator.get_previous_link()}
    body = (
        '{"type":"FeatureCollection","features":['
        + ",".join(features)
        + '],"links":'
        + json.dumps(links)
        + "}"
    )
    return HttpResponse(body, content_type="application/json")


class MeasurementFilter(SampleRowFilter):
    sample_prefix = "sample__"
    element = filters.CharFilter(method="filter_element")
    censored = filters.BooleanFilter()
    all_methods = filters.BooleanFilter(
        method="filter_all_methods",
        help_text="true: every method's values; default: each survey's preferred method only",
    )

    class Meta:
        model = Measurement
        fields = ["element", "medium", "survey", "country", "censored"]

    def filter_element(self, queryset, name, value):
        return queryset.filter(element=element_param({"element": value}))

    def filter_all_methods(self, queryset, name, value):
        return queryset

    def filter_queryset(self, queryset):
        if self.form.cleaned_data.get("all_methods") is not True:
            queryset = queryset.preferred()
        return super().filter_queryset(queryset)


# What a measurement row is read as: plain values (a 10,000-row page built 60,000 model
# instances, 2.2 of its 2.7 s), the sample's point as two floats and its cell codes.
MEASUREMENT_FIELDS = (
    "id", "value", "censored", "applied_detection_limit", "reported_value",
    "sample__code", "sample__country_id", "sample__survey_id", "sample__survey__slug",
    "sample__country__iso_a3", "sample__country__adm0_a3", "element__symbol",
    "applied_method", "analyte__reported_unit", "analyte__reported_species",
    *(f"sample__{field}" for field in CELL_FIELDS),
)  # fmt: skip


class MeasurementSerializer(serializers.Serializer):
    """A measurement row (``MEASUREMENT_FIELDS`` plus ``lon``/``lat``) as the API shows it; the
    location is what the viewer may see, never the stored point."""

    def to_representation(self, m: dict) -> dict:
        lon, lat, precision = shown_row_point(self.context["request"], m, prefix="sample__")
        symbol = m["element__symbol"]
        return {
            "id": m["id"],
            "sample": m["sample__code"],
            "survey": m["sample__survey__slug"],
            "country": m["sample__country__iso_a3"] or m["sample__country__adm0_a3"],
            "element": symbol,
            # The method and detection limit that applied to the value, censored or not
            # (``MeasurementQuerySet.with_provenance``).
            "method": m["applied_method"],
            "value_mg_kg": m["value"],
            "censored": m["censored"],
            "detection_limit_mg_kg": m["applied_detection_limit"],
            "reported": {
                "value": m["reported_value"],
                "unit": m["analyte__reported_unit"],
                "species": m["analyte__reported_species"] or symbol,
            },
            "location": {
                **point_json(lon, lat),
                "precision_km": precision / 1000 if precision else None,
            },
        }

    class Meta:
        model = Measurement  # what the rows are (the leak walk finds detail routes by it)


class MeasurementViewSet(RowPointsMixin, AuditedReadMixin, viewsets.ReadOnlyModelViewSet):
    audit_label = "measurement"
    sample_prefix = "sample__"
    serializer_class = MeasurementSerializer
    filterset_class = MeasurementFilter
    pagination_class = IdWindowPagination

    def get_queryset(self):
        scope = request_scope(self.request)
        return with_lonlat(visible_measurements(scope).with_provenance(), "sample__geom").values(
            *MEASUREMENT_FIELDS, "lon", "lat"
        )


# --- cell statistics: aggregates through the gate ------------------------------------------------


@extend_schema(
    parameters=[CELL, ELEMENT, MEDIUM, STYLE],
    responses={200: JSON_OBJECT, **ERRORS},
    tags=["cells"],
)
class CellStatsView(APIView):
    """``/api/v1/cells/<code>/stats?element=Cu&medium=topsoil[&style=]``: statistics of one
    grid cell — of the rows the map of that style shows there (``maps.layers.released_rows``;
    points: exact locations only), so the popup counts what the legend counts.

    Statistics come from the rows the viewer may see at the cell's own scale, so a viewer limited
    to 20 km cells gets nothing from a 0.5 km cell. Embargoed rows a policy lets into maps before
    release (rule 4) are only counted (``before_release.samples``): the map shows such a cell as
    a colour class, and no statistic of them is ever given. A cell with hidden data answers like
    an empty one (n = 0).
    """

    def get(self, request, code: str):
        cell = cell_param(code)
        element = element_param(request.query_params)
        symbol = element.symbol
        medium = medium_param(request.query_params)
        style = choice_param(request.query_params, "style", STYLES, "cells")
        scope = request_scope(request)
        # The rows the map of this style shows in the cell (points: exact locations only).
        released = released_rows(
            scope, style=style, scale_m=cell.size_m, element=element, medium=medium, cell=cell.code
        )
        values = VisibleValues.of(released, symbol)
        for country_id in values.countries:
            note_country_served(request, country_id)
        summary = values.summary
        # Preferred method only: one row per sample and element, so rows count samples. Points
        # never show pre-release rows.
        prerelease = (
            0
            if style == "points"
            else aggregate_rows(
                scope, scale_m=cell.size_m, element=element, medium=medium, cell=cell.code
            ).prerelease.count()
        )
        audit_access(request, scope, f"cell statistics {cell.code} {symbol}")
        unit, species = units.display_unit(symbol)
        return Response(
            {
                "cell": cell.code,
                "scale_km": cell.size_m / 1000,
                "element": symbol,
                "medium": medium.code,
                "unit": units.CANONICAL_UNIT,
                "statistics": summary.as_dict(),
                "display": {
                    "unit": unit,
                    "species": species or symbol,
                    "statistics": values.display_statistics(summary),
                },
                "before_release": {"samples": prerelease} if prerelease else None,
            }
        )
