"""The geochemical baseline data model: elements, media, countries, surveys, samples, measurements.

Measurements are the large table (the real programme holds ~150 million records). It is read as
"one element, one medium, all samples in a bbox", so each row carries its element and the sample's
survey, and an index on (element, sample) serves that read. Which rows a viewer may see is not
decided here: every read of samples or measurements starts from the access module in ``sharing``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from . import grid, units


def localised(en: str, zh: str) -> str:
    """The Chinese name under a Chinese locale, else the English one."""
    return zh if zh and (get_language() or "").startswith("zh") else en


class Element(models.Model):
    """A chemical element, registered from ``baselines/data/elements.csv``."""

    symbol = models.CharField(max_length=3, unique=True)
    atomic_number = models.PositiveSmallIntegerField(unique=True)
    name_en = models.CharField(_("name (English)"), max_length=40)
    name_zh = models.CharField(_("name (Chinese)"), max_length=10)
    atomic_weight = models.FloatField()
    groups = ArrayField(models.CharField(max_length=16), default=list, blank=True)
    ggb76 = models.BooleanField(
        _("in the GGB 76-element profile"),
        default=False,
        help_text=_("One of the 76 elements of the Global Geochemical Baselines profile."),
    )

    class Meta:
        ordering = ["atomic_number"]

    def __str__(self) -> str:
        return self.symbol

    @property
    def name(self) -> str:
        return localised(self.name_en, self.name_zh)

    # The display unit has one source, baselines/data/elements.csv through ``units.display_unit``
    # (legends, API, pages): an admin-editable copy once made a page label and its legend
    # disagree.
    @property
    def display_unit(self) -> str:
        return units.display_unit(self.symbol)[0]

    @property
    def display_species(self) -> str:
        return units.display_unit(self.symbol)[1]

    @property
    def display_label(self) -> str:
        """e.g. "Fe2O3 (%)" or "Cu (mg/kg)"."""
        return f"{self.display_species or self.symbol} ({self.display_unit})"


class Medium(models.Model):
    """A sampled material: topsoil, subsoil, stream sediment, catchment sediment..."""

    code = models.SlugField(max_length=40, unique=True)
    name_en = models.CharField(max_length=80)
    name_zh = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "media"

    def __str__(self) -> str:
        return self.code

    @property
    def name(self) -> str:
        return localised(self.name_en, self.name_zh)


class CountryQuerySet(models.QuerySet):
    def by_code(self, code: str) -> Country:
        """A country by ISO 3166 alpha-3 or alpha-2 code, or Natural Earth's adm0_a3."""
        code = code.strip().upper()
        return self.get(models.Q(iso_a3=code) | models.Q(iso_a2=code) | models.Q(adm0_a3=code))


class CountryManager(models.Manager.from_queryset(CountryQuerySet)):
    def get_queryset(self) -> CountryQuerySet:
        return super().get_queryset().defer("boundary")

    def locate(
        self, points: Iterable[tuple[int, float, float]], *, tolerance_m: float
    ) -> list[tuple[int, int, float]]:
        """(key, country id, distance in metres) of the country each (key, longitude, latitude)
        point lies in, else of the nearest country within ``tolerance_m``: generalised 1:50m
        coasts and borders leave real sites just outside. Points farther from every country are
        left out; inside overlapping boundaries the lowest country id wins.

        On the manager, not the queryset: it searches every country's boundary, so a filtered
        queryset would silently not narrow it.
        """
        # Raw SQL, because the ORM cannot say it in one round trip for a whole file: the points
        # go in by COPY to a temporary table with its own GiST index, are joined to the
        # subdivided boundaries (CountryPart: pieces of at most 256 vertices, so the index does
        # nearly all the work), and only the points left outside take the LATERAL
        # nearest-neighbour search. ST_DWithin's box is in degrees (the tolerance over 111 km,
        # widened by 1/cos(latitude), capped near the poles) so it can use the index; the
        # distance that decides is geodesic.
        with connections[self.db].cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE located_points (idx int, geom geometry(Point, 4326))")
            with cursor.copy("COPY located_points (idx, geom) FROM STDIN") as copy:
                for key, lon, lat in points:
                    copy.write_row((key, f"SRID=4326;POINT({lon!r} {lat!r})"))
            cursor.execute(
                "CREATE INDEX ON located_points USING gist (geom); ANALYZE located_points"
            )
            cursor.execute(
                """
                WITH inside AS (
                  SELECT DISTINCT ON (p.idx) p.idx, cp.country_id, 0.0::float AS distance
                  FROM located_points p JOIN {CountryPartTable} cp ON ST_Intersects(cp.geom, p.geom)
                  ORDER BY p.idx, cp.country_id
                ), nearest AS (
                  SELECT p.idx, n.country_id, n.distance FROM located_points p
                  CROSS JOIN LATERAL (
                    SELECT cp.country_id,
                           ST_Distance(cp.geom::geography, p.geom::geography) AS distance
                    FROM {CountryPartTable} cp
                    WHERE ST_DWithin(cp.geom, p.geom,
                                     %s / 111000.0 / greatest(cos(radians(ST_Y(p.geom))), 0.05))
                    ORDER BY distance LIMIT 1
                  ) n
                  WHERE p.idx NOT IN (SELECT idx FROM inside)
                )
                SELECT idx, country_id, distance FROM inside
                UNION ALL SELECT idx, country_id, distance FROM nearest WHERE distance <= %s
                """.replace("{CountryPartTable}", CountryPart._meta.db_table),
                [tolerance_m, tolerance_m],
            )
            found = cursor.fetchall()
            cursor.execute("DROP TABLE located_points")
        return found


class Country(models.Model):
    """A country (or territory) with its boundary, from Natural Earth 1:50m admin-0."""

    adm0_a3 = models.CharField(
        max_length=3, unique=True, help_text=_("Natural Earth's code; unique for every feature.")
    )
    iso_a3 = models.CharField(max_length=3, unique=True, null=True, blank=True)
    iso_a2 = models.CharField(max_length=2, unique=True, null=True, blank=True)
    iso_n3 = models.CharField(max_length=3, blank=True)
    name_en = models.CharField(max_length=80)
    name_zh = models.CharField(max_length=40, blank=True)
    continent = models.CharField(max_length=40, blank=True)
    boundary = models.MultiPolygonField(srid=4326)
    land_area_km2 = models.FloatField(
        help_text=_("Geodesic area of the 1:50m polygon, inland water included.")
    )

    # The boundary (Russia's is megabytes) is loaded only when asked for.
    objects = CountryManager()

    class Meta:
        ordering = ["name_en"]
        base_manager_name = "objects"
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return f"{self.name_en} ({self.code})"

    @property
    def code(self) -> str:
        return self.iso_a3 or self.adm0_a3

    @staticmethod
    def code_sql(prefix: str = "") -> Coalesce:
        """``code`` in SQL, for a queryset reaching the country through ``prefix``
        (``"country__"`` from a sample, ``"sample__country__"`` from a measurement)."""
        return Coalesce(F(f"{prefix}iso_a3"), F(f"{prefix}adm0_a3"))

    @property
    def name(self) -> str:
        return localised(self.name_en, self.name_zh)


class CountryPart(models.Model):
    """A piece of a country boundary cut by ST_Subdivide.

    Point-in-polygon against whole country polygons (Russia has thousands of vertices) is slow;
    against subdivided pieces of at most 256 vertices the GiST index does nearly all the work.
    """

    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="parts")
    geom = models.PolygonField(srid=4326)


class SurveyQuerySet(models.QuerySet):
    def data_version(self) -> str:
        """Names the stored data of these surveys: changes with every ingest into one of them
        (``Survey.data_version``), a survey added or a survey deleted. Cached products (map
        layers, home figures, viewer lists) put it in their keys."""
        agg = self.aggregate(
            n=models.Count("pk"), total=models.Sum("data_version"), last=models.Max("pk")
        )
        return f"{agg['n']}.{agg['total'] or 0}.{agg['last'] or 0}"

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete these surveys with all their data. Samples and measurements go first, by SQL
        and by dropping whole partitions (``baselines.storage``): Django's collector would read
        every one of them into memory to delete them."""
        from .storage import delete_survey_rows

        with transaction.atomic(using=self.db, savepoint=False):
            rows = delete_survey_rows(list(self.values_list("pk", flat=True)))
            total, per_model = super().delete()
        for label, count in rows.items():
            if count:
                per_model[label] = per_model.get(label, 0) + count
        return total + sum(rows.values()), per_model


class Survey(models.Model):
    """A dataset as delivered by a survey: one medium, one sampling scale, one campaign."""

    SCALE_CHOICES = [(size, f"{size / 1000:g} km") for size in grid.SCALES_M]

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    countries = models.ManyToManyField(Country, related_name="surveys", blank=True)
    medium = models.ForeignKey(Medium, on_delete=models.PROTECT, related_name="surveys")
    scale_m = models.PositiveIntegerField(_("sampling scale"), choices=SCALE_CHOICES)
    year = models.PositiveSmallIntegerField(_("campaign year"), null=True, blank=True)
    monitoring_round = models.PositiveSmallIntegerField(
        _("monitoring round"), default=1, validators=[MinValueValidator(1)]
    )
    laboratory = models.CharField(max_length=200, blank=True)
    method = models.CharField(_("analytical methods"), max_length=200, blank=True)
    citation = models.TextField(blank=True)
    licence = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    synthetic = models.BooleanField(
        _("synthetic"),
        default=False,
        help_text=_(
            "Generated data, not measured samples (e.g. the demo's simulated monitoring round); "
            "every page, API answer and download that lists the survey labels it."
        ),
    )
    data_version = models.PositiveIntegerField(
        default=0, help_text=_("Bumped by every ingest; map layers are keyed by it.")
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = SurveyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def delete(self, using=None, keep_parents=False) -> tuple[int, dict[str, int]]:
        # The queryset's delete knows how to remove millions of rows; keep one path.
        deleted = type(self).objects.using(using or self._state.db).filter(pk=self.pk).delete()
        self.pk = None
        return deleted

    @property
    def scale_km(self) -> float:
        return grid.scale_km(self.scale_m)


class Analyte(models.Model):
    """An element as one survey measured it: by one method, reported in one unit and species.

    One survey may measure an element by two methods (Kola: Al by aqua regia and by XRF); both are
    kept, and ``preferred`` names the one maps and statistics use.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="analytes")
    element = models.ForeignKey(Element, on_delete=models.PROTECT, related_name="analytes")
    method = models.CharField(max_length=40, blank=True)
    reported_unit = models.CharField(max_length=8)
    reported_species = models.CharField(max_length=12, blank=True)
    source_column = models.CharField(max_length=120)
    detection_limit = models.FloatField(
        null=True, blank=True, help_text=_("Typical detection limit in mg/kg, where one is known.")
    )
    preferred = models.BooleanField(default=True)

    class Meta:
        ordering = ["survey", "element__atomic_number", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "element", "method"], name="analyte_unique_method"
            ),
            models.UniqueConstraint(
                fields=["survey", "element"],
                condition=models.Q(preferred=True),
                name="analyte_one_preferred",
            ),
        ]

    def __str__(self) -> str:
        method = f" {self.method}" if self.method else ""
        return f"{self.element.symbol}{method} ({self.survey.name})"


class Ingestion(models.Model):
    """One file loaded into a survey: what it held, what it became, and its checksum."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="ingestions")
    file_name = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    samples_added = models.PositiveIntegerField()
    measurements_added = models.PositiveBigIntegerField()
    summary = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.file_name} → {self.survey}"


class SampleQuerySet(models.QuerySet):
    """Samples; which of them a viewer may see is ``sharing.access.visible_samples``."""


class Sample(models.Model):
    """One sample at one site, with its cell code at each of the 8 grid scales."""

    # Foreign keys without their own indexes: survey heads the unique (survey, code) index and
    # country the (country, survey) index.
    survey = models.ForeignKey(
        Survey, on_delete=models.CASCADE, related_name="samples", db_index=False
    )
    code = models.CharField(_("sample id"), max_length=80)
    site_code = models.CharField(
        max_length=80, help_text=_("The site's code; the same site in later rounds keeps it.")
    )
    geom = models.PointField(srid=4326)
    country = models.ForeignKey(
        Country, on_delete=models.PROTECT, related_name="samples", db_index=False
    )
    depth = models.CharField(max_length=40, blank=True)
    sampled_on = models.DateField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Cell codes compare byte by byte ("C" collation): ASCII codes sort the same, and the eight
    # code indexes cost ingest half as much as under the database's locale.
    cell_80k = models.CharField(max_length=16, db_collation="C")
    cell_40k = models.CharField(max_length=16, db_collation="C")
    cell_20k = models.CharField(max_length=16, db_collation="C")
    cell_10k = models.CharField(max_length=16, db_collation="C")
    cell_4k = models.CharField(max_length=16, db_collation="C")
    cell_2k = models.CharField(max_length=16, db_collation="C")
    cell_1k = models.CharField(max_length=16, db_collation="C")
    cell_500m = models.CharField(max_length=16, db_collation="C")

    objects = SampleQuerySet.as_manager()

    class Meta:
        ordering = ["survey", "code"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "code"], name="sample_unique_in_survey")
        ]
        # Plain btree indexes on the cell codes: db_index=True on a CharField would add a second
        # varchar_pattern_ops index each, unused (codes are matched whole) and doubling the
        # sample table's write cost at ingest.
        indexes = [models.Index(fields=["country", "survey"])] + [
            models.Index(
                fields=[grid.cell_field_name(size)], name=f"sample_{grid.cell_field_name(size)}"
            )
            for size in grid.SCALES_M
        ]

    def __str__(self) -> str:
        return self.code

    def cell_code(self, size_m: int) -> str:
        return getattr(self, grid.cell_field_name(size_m))

    def set_cells(self) -> None:
        """Derived data: the sample's cell code at every scale, from its point."""
        codes = grid.cell_codes([self.geom.x], [self.geom.y])
        for size, values in codes.items():
            setattr(self, grid.cell_field_name(size), values[0])

    def save(self, *args, **kwargs) -> None:
        self.set_cells()
        super().save(*args, **kwargs)


# 16 heap pages (128 KiB, ~1,400 rows) per BRIN range: a sample's rows of one survey sit in one
# range per element column, so reading one sample touches ~76 small ranges, not 76 MiB.
MEASUREMENT_PAGES_PER_RANGE = 16


def applied_method() -> Coalesce:
    """A measurement's method: its analyte's as reported, else the survey's default method."""
    return Coalesce(NullIf(F("analyte__method"), Value("")), F("sample__survey__method"))


def applied_detection_limit() -> Coalesce:
    """The limit that applied to a measurement (mg/kg): a censored value's own, else its
    analyte's (null when the survey gives none)."""
    return Coalesce(F("detection_limit"), F("analyte__detection_limit"))


class MeasurementQuerySet(models.QuerySet):
    """Measurements; which of them a viewer may see is ``sharing.access.visible_measurements``."""

    def preferred(self) -> MeasurementQuerySet:
        """Only each survey's preferred method per element, as maps and statistics use."""
        return self.filter(analyte__preferred=True)

    def with_provenance(self) -> MeasurementQuerySet:
        """Each row with the method and detection limit that applied to it
        (``applied_method``, ``applied_detection_limit``, mg/kg): the analyte's method, else the
        survey's default method; a censored value's own limit, else the analyte's limit, so an
        uncensored value shows the limit it was measured above (null when the survey gives none;
        ``baselines.provenance``)."""
        return self.annotate(
            applied_method=applied_method(), applied_detection_limit=applied_detection_limit()
        )

    def id_ceiling(self) -> int:
        """The last id the table's sequence gave out (0 before the first): no row's id is above
        it. Read from the sequence, as ``max(id)`` would read the whole table (it has no btree)."""
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(pg_sequence_last_value("
                "pg_get_serial_sequence(%s, 'id')::regclass), 0)",
                [self.model._meta.db_table],
            )
            return int(cursor.fetchone()[0])


class Measurement(models.Model):
    """One element in one sample: the value in mg/kg of the element, and the value as reported.

    Censored values (below detection) have no ``value``; ``detection_limit`` holds the limit and
    statistics substitute half of it. ``element`` repeats ``analyte.element`` so that the
    element index needs no join.

    The largest table, written by ingest's ``COPY`` and read element by element, is stored as a
    bulk-loaded fact table (docs/architecture.md, "Measurement storage"):

    - it is partitioned by ranges of ``sample_id``: each ingest numbers its new samples in one
      block, and a big file's rows go into a fresh partition, filled, indexed and attached in
      the ingest's transaction (``baselines.ingest``); rows of small files and rows written any
      other way go to the default partition;
    - each ingest writes its rows element by element, samples in id order, so one BRIN index
      over (element, analyte, sample, id) finds any element's, sample's or row's pages at a
      fraction of a btree's cost; there is no btree: no primary-key index (ids come from the
      identity sequence, reserved in blocks by ingest) and no unique (sample, analyte) index, a
      rule ingest keeps (one analyte per column, sample ids new to the survey, one writer at a
      time, ``baselines.storage.lock_for_writing``) and ``tests/test_ingest_storage.py`` checks;
    - the foreign keys are Django's only (``db_constraint=False``): a database constraint would
      be re-checked row by row when a partition is attached. Deleting a sample or an analyte
      cascades through Django's collector (one DELETE per batch); deleting a survey drops its
      partitions (``Survey.objects.delete``).
    """

    sample = models.ForeignKey(
        Sample,
        on_delete=models.CASCADE,
        related_name="measurements",
        db_index=False,
        db_constraint=False,
    )
    analyte = models.ForeignKey(
        Analyte,
        on_delete=models.CASCADE,
        related_name="measurements",
        db_index=False,
        db_constraint=False,
    )
    element = models.ForeignKey(
        Element, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    value = models.FloatField(_("value (mg/kg)"), null=True, blank=True)
    censored = models.BooleanField(_("below detection limit"), default=False)
    detection_limit = models.FloatField(_("detection limit (mg/kg)"), null=True, blank=True)
    reported_value = models.FloatField(
        help_text=_("The number as reported, in the analyte's unit (the limit when censored).")
    )

    objects = MeasurementQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(censored=True, value__isnull=True, detection_limit__isnull=False)
                | models.Q(censored=False, value__isnull=False),
                name="measurement_value_or_censored",
            ),
        ]
        indexes = [
            BrinIndex(
                fields=["element", "analyte", "sample", "id"],
                name="measurement_brin",
                pages_per_range=MEASUREMENT_PAGES_PER_RANGE,
                autosummarize=True,
            )
        ]

    def __str__(self) -> str:
        shown = f"<{self.detection_limit:g}" if self.censored else f"{self.value:g}"
        return f"{self.element_id}: {shown} mg/kg"

    def clean(self) -> None:
        if self.analyte_id and self.element_id and self.analyte.element_id != self.element_id:
            raise ValidationError({"element": "must be the analyte's element"})
