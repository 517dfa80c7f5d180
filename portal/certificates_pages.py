"""``/certificates/…``: green-land ratings and their certificates.

The map of rated units (coloured by grade, with the count of issued labels), the units stewards
upload, a unit's rating (through the gate, with the viewer's rows) where stewards and partners
issue a certificate, the public verification page each QR code opens, the printable page and its
PDF (WeasyPrint) in English and Chinese, and revocation. The verification page shows the verdict
always and an element's values only while the public may see every row they came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import segno
from django import forms
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from baselines.models import Medium, Survey
from certificates.models import AdminUnit, Certificate, Level
from certificates.selectors import (
    CLASS_LABELS,
    GRADE_LABELS,
    RULE,
    TOO_FEW,
    certificate_status,
    payload_of,
    shown_values,
    unit_rating,
)
from certificates.services import (
    CertificateError,
    UnitUploadError,
    certificate_issue,
    certificate_revoke,
    may_issue,
    plot_draw,
    units_upload,
)
from certificates.signing import SigningUnavailable
from dashboards.models import SoilStandard
from sharing.access import is_any_steward, request_scope, viewer_scope
from sharing.audit import audit_access

from . import certificates_api as api
from .dashboards_api import optional_medium, standard_param
from .http import BadParameter
from .uploads import stored_upload

LANGUAGES = ("en", "zh-hans")
STATE_LABELS = {
    "current": gettext_lazy("Genuine and current"),
    "superseded": gettext_lazy("Genuine, but superseded by newer data"),
    "revoked": gettext_lazy("Genuine, but revoked"),
    "not_genuine": gettext_lazy("Not genuine: this certificate fails verification"),
}


# --- the map of rated units ----------------------------------------------------------------------


def certificates_map(request: HttpRequest) -> HttpResponse:
    """Rated units coloured by grade, each with its count of issued (unrevoked) labels."""
    rows = api.rated_units(request)
    return render(
        request,
        "portal/certificates/map.html",
        {"units": rows, "grade_labels": GRADE_LABELS,
         "issued_total": sum(r["issued"] for r in rows)},
    )  # fmt: skip


# --- units ---------------------------------------------------------------------------------------


class UnitUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("GeoJSON or GeoPackage file"),
        help_text=gettext_lazy("Polygons in any coordinate system GDAL knows; one unit each."),
    )
    level = forms.ChoiceField(label=gettext_lazy("Level"), choices=Level.choices)
    source = forms.CharField(label=gettext_lazy("Source"), required=False)


def units(request: HttpRequest) -> HttpResponse:
    """The administrative units; stewards upload more (all or nothing)."""
    form = UnitUploadForm()
    allowed = is_any_steward(request.user)
    if request.method == "POST":
        if not allowed:
            return HttpResponseForbidden(_("Only data stewards upload units."))
        form = UnitUploadForm(request.POST, request.FILES)
        if form.is_valid():
            created = _upload(form, request.user)
            if created is not None:
                messages.success(request, _("%(n)d units stored.") % {"n": len(created)})
                return redirect("portal:certificate-units")
    return render(
        request,
        "portal/certificates/units.html",
        {"units": AdminUnit.objects.select_related("parent"), "form": form,
         "may_upload": allowed},
        status=400 if form.errors else 200,
    )  # fmt: skip


def _upload(form: UnitUploadForm, user) -> list[AdminUnit] | None:
    def store(path: Path) -> list[AdminUnit]:
        return units_upload(
            path=path, level=form.cleaned_data["level"], user=user,
            source=form.cleaned_data["source"],
        )  # fmt: skip

    return stored_upload(form, store, UnitUploadError)


class PlotDrawForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Code"), max_length=60)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    name_zh = forms.CharField(label=gettext_lazy("Chinese name"), max_length=200, required=False)
    polygon = forms.CharField(
        label=gettext_lazy("Polygon (GeoJSON, WGS84)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Click the map to add corners, or paste a GeoJSON polygon."),
    )


def unit_detail(request: HttpRequest, code: str) -> HttpResponse:
    """A unit rated with the viewer's rows; stewards and partners issue a certificate here."""
    unit = get_object_or_404(AdminUnit, code=code)
    scope = request_scope(request)
    may_draw = unit.level == Level.TOWNSHIP and is_any_steward(request.user)
    context = {
        "unit": unit,
        "standards": SoilStandard.objects.all(),
        "media": Medium.objects.all(),
        "params": request.GET,
        "grade_labels": GRADE_LABELS,
        "class_labels": CLASS_LABELS,
        "certificates": unit.certificates.select_related("standard")[:20],
        "may_draw": may_draw,
        "draw_form": PlotDrawForm(),
        "outline": json.loads(unit.geom.geojson) if may_draw else None,
    }
    try:
        standard = standard_param(request.GET)
        medium = optional_medium(request.GET)
    except BadParameter as error:
        context["error"] = f"{error.parameter}: {error.reason}"
        return render(request, "portal/certificates/unit.html", context, status=400)
    rating = unit_rating(scope, unit, standard, medium)
    api.served(request, scope, rating.countries, f"rating of {unit.code}")
    context.update(
        {"standard": standard, "medium": medium, "rating": rating.data,
         "rule": RULE % {"n": rating.data["min_samples"]},
         "may_issue": may_issue(request.user, rating) and rating.grade != TOO_FEW}
    )  # fmt: skip
    return render(request, "portal/certificates/unit.html", context)


@require_POST
def draw_plot(request: HttpRequest, code: str) -> HttpResponse:
    """A steward draws a plot inside a township (every check of an uploaded plot applies)."""
    parent = get_object_or_404(AdminUnit, code=code, level=Level.TOWNSHIP)
    if not is_any_steward(request.user):
        return HttpResponseForbidden(_("Only data stewards draw plots."))
    form = PlotDrawForm(request.POST)
    if form.is_valid():
        try:
            plot = plot_draw(
                parent=parent, code=form.cleaned_data["code"], name_en=form.cleaned_data["name"],
                name_zh=form.cleaned_data["name_zh"], polygon=form.cleaned_data["polygon"],
                user=request.user,
            )  # fmt: skip
        except UnitUploadError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Plot stored."))
            return redirect("portal:certificate-unit", code=plot.code)
    else:
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {' '.join(errors)}")
    return redirect("portal:certificate-unit", code=code)


@require_POST
def issue(request: HttpRequest, code: str) -> HttpResponse:
    unit = get_object_or_404(AdminUnit, code=code)
    if not request.user.is_authenticated:
        back = reverse("portal:certificate-unit", args=[code])
        return redirect(f"{reverse('login')}?next={back}")
    try:
        standard = standard_param(request.POST)
        medium = optional_medium(request.POST)
        certificate = certificate_issue(unit=unit, standard=standard, user=request.user,
                                        medium=medium)  # fmt: skip
    except BadParameter as error:
        messages.error(request, f"{error.parameter}: {error.reason}")
    except (CertificateError, SigningUnavailable) as error:
        messages.error(request, str(error))
    else:
        scope = request_scope(request)
        api.served(request, scope, _countries(certificate), f"certificate {certificate.public_id}")
        messages.success(request, _("Certificate issued."))
        return redirect("portal:certificate-print", public_id=certificate.public_id)
    return redirect("portal:certificate-unit", code=code)


def _countries(certificate: Certificate) -> set[int]:
    ids = [s["id"] for s in payload_of(certificate).get("surveys", [])]
    return set(
        Survey.objects.filter(pk__in=ids)
        .values_list("countries", flat=True)
        .exclude(countries=None)
    )


# --- one certificate -----------------------------------------------------------------------------


def _certificate_context(request: HttpRequest, certificate: Certificate, scope) -> dict:
    """What every view of a certificate shows: its status, the verdict, and per element the
    values ``scope`` may see now (else "withheld until …")."""
    status = certificate_status(certificate)
    payload = payload_of(certificate) if status.genuine else {}
    shown = shown_values(certificate, scope) if status.genuine else {}
    elements = []
    for element in payload.get("elements", []):
        hold = shown.get(element["element"], {"shown": False, "withheld_until": None})
        elements.append({**element, **hold, "class_label": CLASS_LABELS[element["class"]]})
    url = request.build_absolute_uri(
        reverse("portal:certificate-verify", args=[certificate.public_id])
    )
    standard = payload.get("standard", {})
    unit = payload.get("unit", {})
    zh = translation.get_language().startswith("zh")
    return {
        "certificate": certificate,
        "status": status,
        "state_label": STATE_LABELS[status.state],
        "payload": payload,
        "grade_label": GRADE_LABELS.get(payload.get("grade"), ""),
        "elements": elements,
        "any_withheld": any(not e["shown"] for e in elements),
        "unit_name": (unit.get("name_zh") if zh else "") or unit.get("name_en", ""),
        "parents": [(p.get("name_zh") if zh else "") or p["name_en"]
                    for p in unit.get("parents", [])],
        "standard_name": (standard.get("name_zh") if zh else "") or standard.get("name_en", ""),
        "rule": RULE % {"n": payload.get("min_samples", 0)},
        "verify_url": url,
        "qr": segno.make(url, error="m").png_data_uri(scale=6, border=4),
        "languages": LANGUAGES,
    }  # fmt: skip


def _certificate(public_id: str) -> Certificate:
    return get_object_or_404(Certificate.objects.select_related("unit", "standard"),
                             public_id=public_id)  # fmt: skip


def verify(request: HttpRequest, public_id: str) -> HttpResponse:
    """The public page a QR code opens: genuine, current, superseded or revoked; the verdict;
    the values public now (whoever looks: a label on a field is read by the public)."""
    certificate = _certificate(public_id)
    public = viewer_scope(None)
    context = _certificate_context(request, certificate, public)
    audit_access(request, public, f"certificate {public_id}")  # public rows only: never logged
    context["may_revoke"] = is_any_steward(request.user) and certificate.revoked_at is None
    return render(request, "portal/certificates/verify.html", context)


def _language(request: HttpRequest) -> str:
    wanted = request.GET.get("lang") or translation.get_language()
    return "zh-hans" if wanted.lower().startswith("zh") else "en"


def printable(request: HttpRequest, public_id: str) -> HttpResponse:
    """The certificate as a printable page (``?lang=en|zh-hans``), with the values the viewer
    may see now."""
    certificate = _certificate(public_id)
    scope = request_scope(request)
    with translation.override(_language(request)):
        context = _certificate_context(request, certificate, scope)
        api.served(request, scope, _countries(certificate), f"certificate {public_id}")
        return render(request, "portal/certificates/print.html", context)


def pdf(request: HttpRequest, public_id: str) -> HttpResponse:
    """The printable page as a PDF (WeasyPrint; Noto CJK from the system's fonts)."""
    from weasyprint import CSS, HTML

    certificate = _certificate(public_id)
    scope = request_scope(request)
    language = _language(request)
    with translation.override(language):
        context = _certificate_context(request, certificate, scope) | {"for_pdf": True}
        api.served(request, scope, _countries(certificate), f"certificate {public_id} pdf")
        html = render_to_string("portal/certificates/print.html", context, request=request)
    stylesheet = CSS(filename=finders.find("certificates/print.css"))
    document = HTML(string=html, base_url=request.build_absolute_uri("/"))
    body = document.write_pdf(stylesheets=[stylesheet])
    response = HttpResponse(body, content_type="application/pdf")
    filename = f"certificate-{public_id}-{language}.pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_POST
def revoke(request: HttpRequest, public_id: str) -> HttpResponse:
    certificate = _certificate(public_id)
    if not is_any_steward(request.user):
        raise Http404
    try:
        certificate_revoke(certificate=certificate, user=request.user,
                           reason=request.POST.get("reason", ""))  # fmt: skip
    except CertificateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Certificate revoked."))
    return redirect("portal:certificate-verify", public_id=public_id)
