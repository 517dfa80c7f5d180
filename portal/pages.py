"""Pages: home with headline figures, survey list and survey landing pages.

A survey's landing page (metadata, citation, "data available on") is public while its data is not,
so embargoed data stays findable; the figures that count samples go through the access gate.
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from baselines.models import Element, Survey
from maps.featured import featured_scale_km, featured_view
from sharing.access import request_scope, survey_availability, visible_samples
from sharing.selectors import (
    covers_survey,
    elements_of_survey,
    has_pending_request,
    pending_licence_for_survey,
    survey_analytes,
    visible_figures,
)


def home(request: HttpRequest) -> HttpResponse:
    figures = {"surveys": Survey.objects.count(), **visible_figures(request_scope(request))}
    featured = featured_view()
    scale_km = featured_scale_km(featured, request_scope(request))
    preview = scale_km and {
        **featured.as_json(),
        "scale": scale_km,
        "layers": reverse("api:layers"),
        "map_url": reverse("portal:map"),
    }
    element = Element.objects.filter(symbol=featured.element).first()
    return render(
        request,
        "portal/home.html",
        {"figures": figures, "preview": preview, "featured_element": element},
    )


def survey_list(request: HttpRequest) -> HttpResponse:
    surveys = (
        Survey.objects.select_related("medium")
        .prefetch_related("countries")
        .annotate(sample_count=Count("samples"))
        .order_by("name")
    )
    return render(request, "portal/survey_list.html", {"surveys": surveys})


def survey_detail(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(
        Survey.objects.select_related("medium").annotate(sample_count=Count("samples")), slug=slug
    )
    countries = {c.pk: c for c in survey.countries.all()}
    availability = [(countries[a.country_id], a) for a in survey_availability(survey)]
    elements = elements_of_survey(survey)
    scope = request_scope(request)
    visible = visible_samples(scope).filter(survey=survey).count()
    pending = has_pending_request(request.user, survey)
    licence = pending_licence_for_survey(scope, survey)
    return render(
        request,
        "portal/survey_detail.html",
        {
            "survey": survey,
            "availability": availability,
            "survey_countries": ", ".join(str(c.name) for c in countries.values()),
            "elements": elements,
            "analytes": survey_analytes(scope, survey),
            "visible_samples": visible,
            "pending_request": pending,
            # An agreement already grants it (nothing to ask), or would once its licence is
            # accepted (the page says so instead of offering a request).
            "covered": covers_survey(scope, survey),
            "licence_url": licence
            and reverse("sharing:licence-accept", args=[licence.agreement_id]),
            "all_open": all(a.is_open for _, a in availability),
        },
    )
