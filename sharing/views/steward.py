"""Steward pages: their countries' release policies with a preview, access requests, audit log.

A country the user does not steward answers 404, like a country that does not exist.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from baselines.models import Country, Survey

from ..access import is_steward
from ..models import AccessRequest, AuditEvent, ReleasePolicy
from ..policy_forms import (
    AccessDecisionForm,
    AuditFilterForm,
    PolicyForm,
    public_figures,
)
from ..services import access_request_decide

AUDIT_PAGE_SIZE = 50
SNAPSHOT_LABELS = {
    "in_force": gettext_lazy("in force"),
    "available_on": gettext_lazy("data available on"),
    "confidential_elements": gettext_lazy("confidential elements"),
    "public_precision_km": gettext_lazy("public location precision (km)"),
    "prerelease_scale_km": gettext_lazy("public maps before release at (km)"),
    "prerelease_min_samples": gettext_lazy("minimum samples per cell before release"),
    "licence": gettext_lazy("licence"),
    "citation": gettext_lazy("citation"),
    "valid_to": gettext_lazy("access ends on"),
    "agreement": gettext_lazy("agreement"),
}


def _stewarded_countries(user) -> QuerySet[Country]:
    """The countries whose pages the user may open: staff see every country with surveys."""
    countries = Country.objects.defer("boundary")  # boundaries are large and not shown here
    if user.is_staff:
        return countries.filter(pk__in=Survey.countries.through.objects.values("country_id"))
    return countries.filter(stewardships__user=user)


def _km(metres: int | None) -> str | None:
    return f"{metres / 1000:g}" if metres else None


def _country_or_404(user, code: str) -> Country:
    try:
        country = Country.objects.defer("boundary").by_code(code)
    except (Country.DoesNotExist, Country.MultipleObjectsReturned):
        raise Http404 from None
    if not is_steward(user, country):
        raise Http404
    return country


@login_required
def steward_home(request: HttpRequest) -> HttpResponse:
    countries = list(_stewarded_countries(request.user))
    if not countries and not request.user.is_staff:
        raise Http404
    policies = {
        p.country_id: p
        for p in ReleasePolicy.objects.filter(country__in=countries).prefetch_related(
            "confidential_elements"
        )
    }
    now = timezone.now()
    rows = []
    for country in countries:
        policy = policies.get(country.pk)
        rows.append(
            {
                "country": country,
                "policy": policy,
                "is_open": policy is not None and policy.is_open_at(now),
                "precision_km": _km(policy.public_precision_m) if policy else None,
            }
        )
    pending = AccessRequest.objects.filter(status=AccessRequest.Status.PENDING)
    if not request.user.is_staff:
        pending = pending.filter(survey__countries__in=countries).distinct()
    pending = (
        pending.select_related("user", "survey", "organisation")
        .prefetch_related("survey__countries")
        .order_by("created")
    )
    requests = [(r, AccessDecisionForm(prefix=f"request-{r.pk}")) for r in pending]
    return render(request, "sharing/steward_home.html", {"rows": rows, "requests": requests})


@login_required
def policy_edit(request: HttpRequest, country: str) -> HttpResponse:
    target = _country_or_404(request.user, country)
    stored = ReleasePolicy.objects.filter(country=target).select_related("updated_by").first()
    # The form validates on its own copy: ``stored`` keeps showing what is in force.
    scratch = ReleasePolicy.objects.filter(pk=stored.pk).first() if stored else None
    surveys = (
        Survey.objects.filter(countries=target)
        .prefetch_related(Prefetch("countries", Country.objects.defer("boundary")))
        .order_by("name")
    )
    form = PolicyForm(
        request.POST if request.method == "POST" else None,
        instance=scratch or ReleasePolicy(country=target),
        country=target,
        surveys=surveys,
        user=request.user,
    )
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            if "preview" in request.POST:
                preview = form.preview(request.user)
            else:
                form.save(request.user, path=request.path)
                messages.success(
                    request,
                    _("The release policy of %(country)s was saved.") % {"country": target.name},
                )
                return redirect("sharing:policy-edit", country=target.code)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
    return render(
        request,
        "sharing/policy_edit.html",
        {
            "country": target,
            "policy": stored,
            "form": form,
            "preview": preview,
            "current": preview.current if preview else public_figures(target),
        },
    )


def _shown(value) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _changes(before: dict | None, after: dict | None) -> list[tuple[str, str, str]]:
    """(setting, before, after) for each key whose value differs."""
    if not before and not after:
        return []
    before, after = before or {}, after or {}
    keys = list(after) + [k for k in before if k not in after]
    return [
        (str(SNAPSHOT_LABELS.get(k, k)), _shown(before.get(k)), _shown(after.get(k)))
        for k in keys
        if before.get(k) != after.get(k)
    ]


@login_required
def audit_log(request: HttpRequest, country: str) -> HttpResponse:
    if country == "all":
        if not request.user.is_staff:
            raise Http404
        target = None
        events = AuditEvent.objects.all()
    else:
        target = _country_or_404(request.user, country)
        events = AuditEvent.objects.filter(country=target)
    filters = AuditFilterForm(request.GET)
    kind = filters.cleaned_data["kind"] if filters.is_valid() else ""
    if kind:
        events = events.filter(kind=kind)
    page = Paginator(
        events.select_related("user", "country").order_by("-created", "-pk"), AUDIT_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = [(event, _changes(event.before, event.after)) for event in page]
    return render(
        request,
        "sharing/audit_log.html",
        {"country": target, "filters": filters, "kind": kind, "page": page, "rows": rows},
    )


@login_required
@require_POST
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = get_object_or_404(
        AccessRequest.objects.select_related("user", "survey"), pk=pk
    )
    survey = access_request.survey
    if not any(is_steward(request.user, c) for c in survey.countries.defer("boundary")):
        raise Http404
    if access_request.status != AccessRequest.Status.PENDING:
        messages.info(request, _("This request was already decided."))
        return redirect("sharing:steward-home")
    form = AccessDecisionForm(request.POST, prefix=f"request-{pk}")
    if not form.is_valid():
        errors = "; ".join(str(m) for field in form.errors.values() for m in field)
        messages.error(request, _("The request was not decided: %(errors)s") % {"errors": errors})
        return redirect("sharing:steward-home")
    grant = form.cleaned_data["decision"] == "grant"
    names = {"user": access_request.user.get_username(), "survey": survey.name}
    try:
        access_request_decide(
            access_request=access_request,
            steward=request.user,
            grant=grant,
            valid_to=form.cleaned_data["valid_to"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(
            request,
            _("The request was not decided: %(errors)s") % {"errors": "; ".join(exc.messages)},
        )
        return redirect("sharing:steward-home")
    if grant:
        messages.success(
            request, _("%(user)s may see %(survey)s once they accept its licence.") % names
        )
    else:
        messages.success(request, _("The request of %(user)s for %(survey)s was declined.") % names)
    return redirect("sharing:steward-home")
