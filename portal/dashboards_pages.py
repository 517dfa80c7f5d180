"""``/dashboards/…``: the policymakers' pages. Each reads the same figure as its API twin
(``portal.dashboards_api``), draws it as tables and charts (``static/charts/charts.js``) and keeps
its cut in the query string, so the address is the permalink. A bad parameter shows the page with
the reason instead of the figure."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baselines import grid
from baselines.models import Country, Element, Medium
from dashboards import selectors
from dashboards.models import SoilStandard, Zone, ZoneKind
from dashboards.regions import CONTINENT_NAMES, continents
from dashboards.services import ZoneUploadError, zones_upload
from dashboards.warm import (
    DEFAULT_BASELINE_MEDIUM,
    DEFAULT_CHANGE_ELEMENT,
    DEFAULT_COMPARE,
    DEFAULT_MAP_SCALE_M,
)
from sharing.access import is_any_steward, request_scope

from . import dashboards_api as api
from .http import BadParameter, element_param, medium_param, region_param, scale_param
from .uploads import stored_upload

TITLES = {
    "coverage": gettext_lazy("Sampling coverage"),
    "exceedance": gettext_lazy("Samples above soil risk limits"),
    "change": gettext_lazy("Change between monitoring rounds"),
    "volume": gettext_lazy("Data volume"),
    "baselines": gettext_lazy("Element baselines"),
    "compare": gettext_lazy("Two regions side by side"),
}
SUMMARIES = {
    "coverage": gettext_lazy("Share of land in grid cells holding at least one sample."),
    "exceedance": gettext_lazy(
        "Share of samples above a soil standard's screening and intervention values."
    ),
    "change": gettext_lazy("How concentrations changed at sites sampled in two rounds."),
    "volume": gettext_lazy("Samples and measurements per country and survey."),
    "baselines": gettext_lazy("Percentiles of each element: the numbers an atlas prints."),
    "compare": gettext_lazy("Baselines and exceedance of two regions next to each other."),
}
SEVERITY_LABELS = {
    "slight": gettext_lazy("slight (1–2×)"),
    "mild": gettext_lazy("mild (2–3×)"),
    "moderate": gettext_lazy("moderate (3–5×)"),
    "heavy": gettext_lazy("heavy (> 5×)"),
}
CLASS_LABELS = {
    "priority_protection": gettext_lazy("priority protection"),
    "safe_use": gettext_lazy("safe use"),
    "strict_control": gettext_lazy("strict control"),
}


def _region_choices() -> dict:
    """What the cut form offers: continents, countries with samples, zones."""
    with_data = Country.objects.filter(surveys__isnull=False).distinct().order_by("name_en")
    return {
        "continents": [(c, CONTINENT_NAMES.get(c, c)) for c in continents()],
        "countries": [(c.code, c.name) for c in with_data],
        "zones": list(Zone.objects.all()),
    }


def _page(request: HttpRequest, name: str, build) -> HttpResponse:
    """Render one dashboard: ``build(scope)`` returns the template's figure context; a bad
    parameter is shown as the page's error, with the form to correct it."""
    context = {
        "name": name,
        "title": TITLES[name],
        "summary": SUMMARIES[name],
        "titles": TITLES,
        "choices": _region_choices(),
        "params": request.GET,
        "media": Medium.objects.order_by("code"),
        "standards": SoilStandard.objects.all(),
        "api_url": reverse(f"api:dashboard-{name}")
        + (f"?{request.GET.urlencode()}" if request.GET else ""),
        "permalink": request.build_absolute_uri(),
    }
    status = 200
    try:
        context.update(build(request_scope(request)))
    except BadParameter as error:
        context["error"] = f"{error.parameter}: {error.reason}"
        status = 400
    return render(request, f"portal/dashboards/{name}.html", context, status=status)


def index(request: HttpRequest) -> HttpResponse:
    scope = request_scope(request)
    world = region_param({})
    network = selectors.coverage(scope, world)
    api.served(request, network, "index")
    cards = [
        {"name": n, "title": TITLES[n], "summary": SUMMARIES[n],
         "url": reverse(f"portal:dashboard-{n}")}
        for n, _title in api.DASHBOARDS
    ]  # fmt: skip
    return render(
        request,
        "portal/dashboards/index.html",
        {"cards": cards, "network": network.data["network"], "titles": TITLES},
    )


def coverage(request: HttpRequest) -> HttpResponse:
    def build(scope) -> dict:
        region = region_param(request.GET)
        figure = selectors.coverage(scope, region)
        data = api.served(request, figure, "coverage")
        scales = data["scales"]
        chart = {
            "title": _("Share of land covered, by grid scale"),
            "showTitle": False,
            "type": "bar",
            "categories": [f"{s['scale_km']:g} km" for s in scales],
            "series": [
                {"name": _("share of land (per cent)"), "data": [s["percent"] or 0 for s in scales]}
            ],
            "yLabel": _("share of land (per cent)"),
            "csv": {"columns": ["scale_km", "cells", "area_km2", "percent"],
                    "rows": [[s["scale_km"], s["cells"], s["area_km2"], s["percent"]]
                             for s in scales]},
            "filename": f"coverage-scales-{region.param}",
        }  # fmt: skip
        years = {
            "title": _("Land covered by the network, by campaign year"),
            "showTitle": False,
            "type": "line",
            "categories": [str(y["year"]) for y in data["years"]],
            "series": [{"name": _("km²"), "data": [y["area_km2"] for y in data["years"]]}],
            "yLabel": _("km² covered"),
            "csv": {"columns": ["year", "area_km2", "percent"],
                    "rows": [[y["year"], y["area_km2"], y["percent"]] for y in data["years"]]},
            "filename": f"coverage-years-{region.param}",
        }  # fmt: skip
        return {"region": region, "figure": data, "chart": chart, "years_chart": years,
                **_cell_map(request, "api:dashboard-coverage-cells")}  # fmt: skip

    return _page(request, "coverage", build)


def _cell_map(request: HttpRequest, route: str) -> dict:
    """The page's cell map: its scale (``map_scale`` in km, parsed by the kit: a bad one is the
    page's 400), the scales offered, and the API address the map reads its cells from."""
    size_m = scale_param(request.GET, "map_scale", default=DEFAULT_MAP_SCALE_M)
    return {
        "map_scale": grid.scale_km(size_m),
        "scales_km": [grid.scale_km(s) for s in grid.SCALES_M],
        "cells_url": reverse(route) + "?" + _with(request, scale=f"{grid.scale_km(size_m):g}"),
    }


def _with(request: HttpRequest, **changes) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


def exceedance(request: HttpRequest) -> HttpResponse:
    def build(scope) -> dict:
        region = region_param(request.GET)
        standard = api.standard_param(request.GET)
        medium = api.optional_medium(request.GET)
        figure = selectors.exceedance(scope, region, standard, medium)
        data = api.served(request, figure, "exceedance")
        elements = data["elements"]
        symbols = [e["element"] for e in elements]
        chart = {
            "title": _("Share of samples above the limits, by element"),
            "showTitle": False,
            "type": "bar",
            "categories": symbols,
            "series": [
                {"name": _("above screening"),
                 "data": [e["percent_above_screening"] for e in elements]},
                {"name": _("above intervention"),
                 "data": [e["percent_above_intervention"] for e in elements]},
            ],
            "yLabel": _("share of samples (per cent)"),
            "csv": {"columns": ["element", "n", "above_screening", "above_intervention",
                                "percent_above_screening", "percent_above_intervention"],
                    "rows": [[e["element"], e["n"], e["above_screening"],
                              e["above_intervention"], e["percent_above_screening"],
                              e["percent_above_intervention"]] for e in elements]},
            "filename": f"exceedance-{standard.code}-{region.param}",
        }  # fmt: skip
        severity = {
            "title": _("Severity: multiples of the screening value"),
            "showTitle": False,
            "type": "bar",
            "categories": symbols,
            "series": [
                {"name": str(label), "data": [e["severity_percent"][key] for e in elements]}
                for key, label in SEVERITY_LABELS.items()
            ],
            "yLabel": _("share of samples (per cent)"),
            "csv": {"columns": ["element", *SEVERITY_LABELS],
                    "rows": [[e["element"], *(e[k] for k in SEVERITY_LABELS)]
                             for e in elements]},
            "filename": f"exceedance-severity-{standard.code}-{region.param}",
        }  # fmt: skip
        return {"region": region, "standard": standard, "figure": data, "chart": chart,
                **_cell_map(request, "api:dashboard-exceedance-cells"),
                "severity_chart": severity, "severity_labels": SEVERITY_LABELS,
                "class_rows": [(label, data["samples"][key], data["samples"]["percent"][key])
                               for key, label in CLASS_LABELS.items()]}  # fmt: skip

    return _page(request, "exceedance", build)


def change(request: HttpRequest) -> HttpResponse:
    def build(scope) -> dict:
        region = region_param(request.GET)
        element = element_param({"element": request.GET.get("element") or DEFAULT_CHANGE_ELEMENT})
        rounds = api.rounds_param(request.GET, scope)
        medium = api.optional_medium(request.GET)
        within_m = api.pairing_distance_param(request.GET)
        figure = selectors.monitoring_change(
            scope, region, element, rounds, medium, within_m=within_m
        )
        data = api.served(request, figure, f"change {element.symbol}")
        edges, counts = data["histogram"]["edges"], data["histogram"]["counts"]
        labels = [
            f"{lo:g}…{hi:g} %" if hi is not None else f"> {lo:g} %"
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
        chart = {
            "title": _("Sites by relative change of %(element)s") % {"element": element.symbol},
            "showTitle": False,
            "type": "bar",
            "categories": labels,
            "series": [{"name": _("sites"), "data": counts}],
            "yLabel": _("sites"),
            "csv": {"columns": ["from_percent", "to_percent", "sites"],
                    "rows": [[lo, hi, c] for lo, hi, c in
                             zip(edges[:-1], edges[1:], counts, strict=True)]},
            "filename": f"change-{element.symbol}-{rounds[0]}-{rounds[1]}-{region.param}",
        }  # fmt: skip
        return {"region": region, "element": element, "rounds": rounds, "figure": data,
                "chart": chart, "available_rounds": selectors.monitoring_rounds(scope),
                "elements": Element.objects.order_by("atomic_number")}  # fmt: skip

    return _page(request, "change", build)


def volume(request: HttpRequest) -> HttpResponse:
    def build(scope) -> dict:
        region = region_param(request.GET)
        figure = selectors.data_volume(scope, region)
        data = api.served(request, figure, "data volume")
        per_country: dict[str, list[int]] = {}
        for row in data["rows"]:
            entry = per_country.setdefault(str(row["country_name"]), [0, 0])
            entry[0] += row["samples"]
            entry[1] += row["measurements"]
        names = list(per_country)
        chart = {
            "title": _("Samples and measurements per country"),
            "showTitle": False,
            "type": "hbar",
            "categories": names,
            "series": [
                {"name": _("samples"), "data": [per_country[n][0] for n in names]},
                {"name": _("measurements"), "data": [per_country[n][1] for n in names]},
            ],
            "xLabel": _("count"),
            "csv": {"columns": ["country", "samples", "measurements"],
                    "rows": [[n, *per_country[n]] for n in names]},
            "filename": f"data-volume-{region.param}",
        }  # fmt: skip
        return {"region": region, "figure": data, "chart": chart}

    return _page(request, "volume", build)


def baselines(request: HttpRequest) -> HttpResponse:
    def build(scope) -> dict:
        region = region_param(request.GET)
        medium = medium_param({"medium": request.GET.get("medium") or DEFAULT_BASELINE_MEDIUM})
        figure = selectors.element_baselines(scope, region, medium)
        data = api.served(request, figure, "element baselines")
        csv_url = (
            reverse("api:dashboard-baselines") + "?" + _with(request, f="csv", medium=medium.code)
        )
        return {"region": region, "medium": medium, "figure": data, "csv_url": csv_url}

    return _page(request, "baselines", build)


def compare(request: HttpRequest) -> HttpResponse:
    def build(scope) -> dict:
        params = request.GET.copy()
        params.setdefault("a", DEFAULT_COMPARE[0])
        params.setdefault("b", DEFAULT_COMPARE[1])
        params.setdefault("medium", DEFAULT_BASELINE_MEDIUM)
        body = api.compare_body(request, params)
        rows = _compare_rows(body)
        ratios = [r for r in rows if r["a"] and r["b"] and r["a"]["median"] and r["b"]["median"]]
        chart = {
            "title": _("Median of %(a)s as a multiple of %(b)s")
            % {"a": body["a"]["name"], "b": body["b"]["name"]},
            "showTitle": False,
            "type": "hbar",
            "categories": [r["element"] for r in ratios],
            "series": [{"name": _("ratio of medians"),
                        "data": [round(r["a"]["median"] / r["b"]["median"], 3) for r in ratios]}],
            "xLabel": _("ratio of medians"),
            "csv": {"columns": ["element", "median_a", "median_b", "ratio", "unit"],
                    "rows": [[r["element"], r["a"]["median"], r["b"]["median"],
                              r["a"]["median"] / r["b"]["median"], r["a"]["unit"]]
                             for r in ratios]},
            "filename": f"compare-{body['a']['region']}-{body['b']['region']}",
        }  # fmt: skip
        return {"figure": body, "rows": rows, "chart": chart, "compare_params": params}

    return _page(request, "compare", build)


def _compare_rows(body: dict) -> list[dict]:
    """One row per element present on either side: medians, P95 and exceedance side by side."""
    a = {e["element"]: e for e in body["a"]["baselines"]}
    b = {e["element"]: e for e in body["b"]["baselines"]}
    ea = {e["element"]: e for e in body["a"]["exceedance"]}
    eb = {e["element"]: e for e in body["b"]["exceedance"]}
    order = {e.symbol: e.atomic_number for e in Element.objects.all()}
    rows = []
    for symbol in sorted(set(a) | set(b), key=order.get):
        rows.append({"element": symbol, "a": a.get(symbol), "b": b.get(symbol),
                     "ea": ea.get(symbol), "eb": eb.get(symbol)})  # fmt: skip
    return rows


class ZoneUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("GeoJSON or GeoPackage file"),
        help_text=gettext_lazy("Polygons in any coordinate system GDAL knows; one zone each."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ZoneKind.choices)
    name_field = forms.CharField(label=gettext_lazy("Attribute holding the name"), initial="name")
    name_zh_field = forms.CharField(
        label=gettext_lazy("Attribute holding the Chinese name"), initial="name_zh",
        required=False,
    )  # fmt: skip
    source = forms.CharField(label=gettext_lazy("Source"), required=False)


def zones(request: HttpRequest) -> HttpResponse:
    """The zones dashboards can be cut by; stewards upload more (all or nothing)."""
    form = ZoneUploadForm()
    allowed = is_any_steward(request.user)
    if request.method == "POST":
        if not allowed:
            return HttpResponseForbidden(_("Only data stewards upload zones."))
        form = ZoneUploadForm(request.POST, request.FILES)
        if form.is_valid():
            created = _upload(form, request.user)
            if created is not None:
                messages.success(request, _("%(n)d zones stored.") % {"n": len(created)})
                return redirect("portal:dashboard-zones")
    return render(
        request,
        "portal/dashboards/zones.html",
        {"zones": Zone.objects.all(), "form": form, "may_upload": allowed},
        status=400 if form.errors else 200,
    )


def _upload(form: ZoneUploadForm, user) -> list[Zone] | None:
    def store(path: Path) -> list[Zone]:
        return zones_upload(
            path=path, kind=form.cleaned_data["kind"], user=user,
            name_field=form.cleaned_data["name_field"],
            name_zh_field=form.cleaned_data["name_zh_field"] or "name_zh",
            source=form.cleaned_data["source"],
        )  # fmt: skip

    return stored_upload(form, store, ZoneUploadError)
