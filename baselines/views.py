"""Pages of the baselines app: home with headline figures, survey list and survey landing pages.

A survey's landing page (metadata, citation, "data available on") is public while its data is not,
so embargoed data stays findable; the figures that count samples go through the access gate.
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from chemearth.caching import cached
from sharing.access import request_scope, survey_availability, visible_measurements, visible_samples

from .models import Element, Survey


def visible_figures(scope) -> dict[str, int]:
    """Countries, samples and elements a viewer may see: full scans of the largest tables, so
    cached per set of rights (not per user) and per data version; a deletion in the admin shows
    within the timeout."""
    samples = visible_samples(scope)
    return cached(
        f"home-figures:{scope.cache_key}:{Survey.objects.data_version()}",
        lambda: {
            "countries": samples.values("country").distinct().count(),
            "samples": samples.count(),
            "elements": visible_measurements(scope).values("element").distinct().count(),
        },
        timeout=600,
    )


def home(request: HttpRequest) -> HttpResponse:
    figures = {"surveys": Survey.objects.count(), **visible_figures(request_scope(request))}
    return render(request, "baselines/home.html", {"figures": figures})


def survey_list(request: HttpRequest) -> HttpResponse:
    surveys = (
        Survey.objects.select_related("medium")
        .prefetch_related("countries")
        .annotate(sample_count=Count("samples"))
        .order_by("name")
    )
    return render(request, "baselines/survey_list.html", {"surveys": surveys})


def survey_detail(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(
        Survey.objects.select_related("medium").annotate(sample_count=Count("samples")), slug=slug
    )
    countries = {c.pk: c for c in survey.countries.all()}
    availability = [(countries[a.country_id], a) for a in survey_availability(survey)]
    elements = Element.objects.filter(analytes__survey=survey).distinct().order_by("atomic_number")
    visible = visible_samples(request_scope(request)).filter(survey=survey).count()
    pending = (
        request.user.is_authenticated
        and survey.access_requests.filter(user=request.user, status="pending").exists()
    )
    return render(
        request,
        "baselines/survey_detail.html",
        {
            "survey": survey,
            "availability": availability,
            "elements": elements,
            "visible_samples": visible,
            "pending_request": pending,
            "all_open": all(a.is_open for _, a in availability),
        },
    )


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    """404: JSON with a reason under /api/, the page elsewhere. Hidden and missing look alike."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "not_found", "reason": "Not found.", "status": 404}, status=404
        )
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": "server_error", "reason": "Internal error; it has been logged."}
        return JsonResponse({**body, "status": 500}, status=500)
    return render(request, "500.html", status=500)
