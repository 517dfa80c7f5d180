"""Admin pages for the baseline data: reference tables, surveys with citations, samples, values."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import CASCADE, Count
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletGeoAdmin

from . import grid
from .models import (
    Analyte,
    Country,
    Element,
    Ingestion,
    Measurement,
    Medium,
    Sample,
    Survey,
)
from .paging import rows_before


class EstimatedCountPaginator(Paginator):
    """Counting 150 million measurement rows takes minutes; an unfiltered list uses the
    planner's estimate (pg_class.reltuples) instead of COUNT(*)."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if not query.where:
            with connection.cursor() as cursor:
                # A partitioned table's own reltuples is only set by a manual ANALYZE: add up
                # its partitions'.
                cursor.execute(
                    "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT sum(greatest(l.reltuples, 0)) "
                    "FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid "
                    "WHERE t.isleaf) ELSE c.reltuples END::bigint "
                    "FROM pg_class c WHERE c.oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate and estimate > 100_000:
                return estimate
        return super().count


class NewestMeasurementsPaginator(EstimatedCountPaginator):
    """Pages of measurements, newest first, read by windows of ids: the table has no btree to
    sort by, and ``ORDER BY id DESC LIMIT 100`` would sort every row (baselines/pagination.py)."""

    def page(self, number) -> Page:
        number = self.validate_number(number)
        rows = rows_before(
            self.object_list,
            Measurement.objects.id_ceiling() + 1,
            self.per_page,
            skip=(number - 1) * self.per_page,
        )
        return self._get_page(rows, number, self)


@admin.register(Element)
class ElementAdmin(admin.ModelAdmin):
    list_display = [
        "atomic_number", "symbol", "name_en", "name_zh", "display_label", "ggb76", "group_list",
    ]  # fmt: skip
    list_filter = ["ggb76"]
    search_fields = ["symbol", "name_en", "name_zh"]
    ordering = ["atomic_number"]

    @admin.display(description=_("groups"))
    def group_list(self, obj: Element) -> str:
        return ", ".join(obj.groups)


@admin.register(Medium)
class MediumAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh"]


@admin.register(Country)
class CountryAdmin(LeafletGeoAdmin):
    list_display = ["name_en", "name_zh", "iso_a3", "iso_a2", "continent", "land_area_km2"]
    list_filter = ["continent"]
    search_fields = ["name_en", "name_zh", "iso_a3", "iso_a2", "adm0_a3"]
    readonly_fields = ["land_area_km2"]


class AnalyteInline(admin.TabularInline):
    model = Analyte
    extra = 0
    fields = [
        "element", "method", "source_column", "reported_unit", "reported_species",
        "detection_limit", "preferred",
    ]  # fmt: skip
    readonly_fields = [
        "element", "method", "source_column", "reported_unit", "reported_species",
        "detection_limit",
    ]  # fmt: skip
    can_delete = False


class IngestionInline(admin.TabularInline):
    model = Ingestion
    extra = 0
    fields = ["created", "file_name", "rows", "samples_added", "measurements_added", "sha256"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = [
        "name", "medium", "scale_label", "year", "monitoring_round", "synthetic", "country_list",
        "sample_count", "short_citation",
    ]  # fmt: skip
    list_filter = ["medium", "scale_m", "synthetic", "countries__continent"]
    search_fields = ["name", "citation"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["countries"]
    readonly_fields = ["data_version", "created", "updated"]
    inlines = [AnalyteInline, IngestionInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "medium", "scale_m", "countries"]}),
        (
            _("Campaign"),
            {"fields": ["year", "monitoring_round", "synthetic", "laboratory", "method"]},
        ),
        (_("Citation and licence"), {"fields": ["citation", "licence", "description"]}),
        (_("Versions"), {"fields": ["data_version", "created", "updated"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_samples=Count("samples", distinct=True))

    def get_deleted_objects(self, objs, request):
        """The delete confirmation lists each survey with the number of its samples: Django's
        list of every related object would read millions of rows. As Django's does, it names
        the kinds of rows going with the surveys that the user may not delete."""
        surveys = list(objs)
        # Samples are counted by index; counting the measurements would read them all.
        per_survey = dict(
            Sample.objects.filter(survey__in=surveys)
            .values("survey")
            .annotate(n=Count("pk"))
            .values_list("survey", "n")
        )
        to_delete = [
            format_html(
                "{}: {} — {}",
                capfirst(Survey._meta.verbose_name),
                survey,
                _("%(samples)s samples with their measurements")
                % {"samples": f"{per_survey.get(survey.pk, 0):,}"},
            )
            for survey in surveys
        ]
        model_count = {
            Survey._meta.verbose_name_plural: len(surveys),
            Sample._meta.verbose_name_plural: sum(per_survey.values()),
        }
        cascaded = [Survey, Measurement] + [
            rel.related_model
            for rel in Survey._meta.related_objects
            if (rel.one_to_many or rel.one_to_one) and rel.on_delete is CASCADE
        ]
        perms_needed = {
            model._meta.verbose_name
            for model in cascaded
            if not request.user.has_perm(
                f"{model._meta.app_label}.{get_permission_codename('delete', model._meta)}"
            )
        }
        return to_delete, model_count, perms_needed, []

    @admin.display(description=_("scale"), ordering="scale_m")
    def scale_label(self, obj: Survey) -> str:
        return f"{obj.scale_km:g} km"

    @admin.display(description=_("samples"), ordering="n_samples")
    def sample_count(self, obj: Survey) -> int:
        return obj.n_samples

    @admin.display(description=_("countries"))
    def country_list(self, obj: Survey) -> str:
        return ", ".join(c.code for c in obj.countries.all())

    @admin.display(description=_("citation"))
    def short_citation(self, obj: Survey) -> str:
        return obj.citation if len(obj.citation) < 90 else obj.citation[:87] + "…"


@admin.register(Sample)
class SampleAdmin(LeafletGeoAdmin):
    list_display = ["code", "site_code", "survey", "country", "sampled_on", "cell_20k"]
    list_filter = ["survey", "country"]
    list_select_related = ["survey", "country"]
    search_fields = ["code", "site_code", "cell_80k", "cell_20k", "cell_1k"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f"cell_{grid.SCALE_LABELS[s].lower()}" for s in grid.SCALES_M] + [
        "survey_citation",
        "measurement_table",
    ]
    raw_id_fields = ["survey", "country"]

    @admin.display(description=_("citation"))
    def survey_citation(self, obj: Sample) -> str:
        return obj.survey.citation

    @admin.display(description=_("measurements"))
    def measurement_table(self, obj: Sample) -> str:
        rows = (
            obj.measurements.select_related("analyte", "element")
            .order_by("element__atomic_number", "analyte__method")
            .values_list(
                "element__symbol", "analyte__method", "value", "censored", "detection_limit",
                "reported_value", "analyte__reported_unit", "analyte__reported_species",
                "analyte__preferred",
            )
        )  # fmt: skip
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("element"),
            _("method"),
            _("mg/kg"),
            _("as reported"),
            _("preferred"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
                (
                    (
                        symbol,
                        method,
                        f"<{dl:g}" if censored else f"{value:g}",
                        (f"<{reported:g}" if censored else f"{reported:g}"),
                        f"{species} {unit}".strip(),
                        "✓" if preferred else "",
                    )
                    for (
                        symbol,
                        method,
                        value,
                        censored,
                        dl,
                        reported,
                        unit,
                        species,
                        preferred,
                    ) in rows
                ),
            ),
        )


@admin.register(Measurement)
class MeasurementAdmin(admin.ModelAdmin):
    list_display = ["sample", "element", "analyte", "value", "censored", "detection_limit"]
    list_filter = ["censored", "element"]
    list_select_related = ["sample", "element", "analyte__element", "analyte__survey"]
    raw_id_fields = ["sample", "analyte", "element"]
    show_full_result_count = False
    # Newest first only: sorting 100 million rows by a column has no index to use.
    sortable_by = ()
    paginator = NewestMeasurementsPaginator


@admin.register(Ingestion)
class IngestionAdmin(admin.ModelAdmin):
    list_display = ["created", "survey", "file_name", "rows", "samples_added", "measurements_added"]
    list_filter = ["survey"]
    readonly_fields = [f.name for f in Ingestion._meta.fields]
