"""The survey a file goes into and the analytes (element by method) its columns become."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.text import slugify

from .. import units
from ..models import Analyte, Element, Medium, Survey
from .options import IngestOptions
from .problems import Problems


@dataclass(frozen=True)
class Target:
    """The survey named by the options, with its medium and scale looked up."""

    options: IngestOptions
    medium: Medium
    scale_m: int


def survey_for(target: Target, problems: Problems) -> Survey | None:
    """The existing survey of that name (problems if its medium or scale differ), else None."""
    survey = Survey.objects.filter(name=target.options.survey).first()
    if survey is None:
        return None
    if survey.medium_id != target.medium.pk:
        problems.add(f"survey {survey.name!r} exists with medium {survey.medium.code}")
    if survey.scale_m != target.scale_m:
        problems.add(f"survey {survey.name!r} exists with scale {survey.scale_km:g} km")
    return survey


def create_or_update(target: Target, survey: Survey | None) -> Survey:
    """A new survey from the options, or ``survey`` with the method, laboratory, citation,
    licence, description and year the options give (when given); ``synthetic`` only ever turns
    the label on."""
    options = target.options
    if survey is None:
        return Survey.objects.create(
            name=options.survey,
            slug=_unique_slug(options.survey),
            medium=target.medium,
            scale_m=target.scale_m,
            year=options.year,
            monitoring_round=options.monitoring_round,
            citation=options.citation,
            licence=options.licence,
            description=options.description,
            synthetic=options.synthetic,
            method=options.method,
            laboratory=options.laboratory,
        )
    changed = False
    for attr, value in (
        ("method", options.method),
        ("laboratory", options.laboratory),
        ("citation", options.citation),
        ("licence", options.licence),
        ("description", options.description),
        ("year", options.year),
        ("synthetic", options.synthetic),
    ):
        if value and getattr(survey, attr) != value:
            setattr(survey, attr, value)
            changed = True
    if changed:
        survey.save()
    return survey


def _unique_slug(name: str) -> str:
    base = slugify(name)[:180] or "survey"
    slug, n = base, 2
    while Survey.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def analyte_for(
    survey: Survey, column: units.ElementColumn, preferred: dict[str, str], limits
) -> Analyte:
    """The survey's analyte for this column (created if new); preferred if its method is the
    element's preferred one and the survey has no preferred analyte of the element yet."""
    element = Element.objects.get(symbol=column.symbol)
    limit = limits.get(column.header)
    analyte, created = Analyte.objects.get_or_create(
        survey=survey,
        element=element,
        method=column.method,
        defaults={
            "reported_unit": column.unit,
            "reported_species": column.species,
            "source_column": column.header,
            "detection_limit": None if limit is None else limit * column.factor,
            "preferred": False,
        },
    )
    if (
        preferred[column.symbol] == column.method
        and not analyte.preferred
        and not Analyte.objects.filter(survey=survey, element=element, preferred=True).exists()
    ):
        analyte.preferred = True
        analyte.save(update_fields=["preferred"])
    return analyte
