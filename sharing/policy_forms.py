"""Forms of the steward pages: a country's release policy with its surveys' "available on" dates,
its preview through the access gate, access-request decisions and the audit-log filter.

Saving and previewing share one code path (``PolicyForm._apply``); the preview runs it inside a
transaction that is rolled back, so the figures it shows come from the real gate, not a copy of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.db.models import Case, Count, IntegerField, Value, When
from django.forms.boundfield import BoundField, BoundWidget
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from baselines import grid
from baselines.models import Country, Element, Survey

from .access import is_steward, viewer_scope, visible_measurements, visible_samples
from .models import AuditEvent, ReleasePolicy, SurveyEmbargo
from .services import policy_update, survey_dates_update

SCALAR_FIELDS = (
    "in_force",
    "available_on",
    "public_precision_m",
    "prerelease_scale_m",
    "prerelease_min_samples",
    "licence",
    "citation",
)
SURVEY_PREFIX = "survey_"


def cell_choices(blank_label: str) -> list[tuple[str, str]]:
    """A blank choice, then every grid cell size, coarsest first."""
    return [("", blank_label)] + [
        (str(size), gettext("%(km)s km cells") % {"km": f"{size / 1000:g}"})
        for size in grid.SCALES_M
    ]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class ElementChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Element) -> str:
        return f"{obj.symbol} — {obj.name}"


@dataclass(frozen=True)
class PublicFigures:
    """What the public sees of one country: samples, measurements, and measurements by element."""

    samples: int
    by_element: dict[str, int]

    @property
    def measurements(self) -> int:
        return sum(self.by_element.values())


def public_figures(country: Country) -> PublicFigures:
    """Counts from the access gate for an anonymous viewer at this instant."""
    scope = viewer_scope(None)
    samples = visible_samples(scope).filter(country=country).count()
    rows = (
        visible_measurements(scope)
        .filter(sample__country=country)
        .values("element__symbol", "element__atomic_number")
        .annotate(n=Count("pk"))
        .order_by("element__atomic_number")
    )
    return PublicFigures(samples, {row["element__symbol"]: row["n"] for row in rows})


@dataclass(frozen=True)
class PolicyPreview:
    """The public figures now and with the proposed policy."""

    current: PublicFigures
    proposed: PublicFigures

    def rows(self) -> list[tuple[str, int, int]]:
        """(element, measurements now, measurements with the proposed policy)."""
        symbols = list(self.current.by_element)
        symbols += [s for s in self.proposed.by_element if s not in self.current.by_element]
        order = dict(
            Element.objects.filter(symbol__in=symbols).values_list("symbol", "atomic_number")
        )
        symbols.sort(key=lambda s: order.get(s, 0))
        return [
            (s, self.current.by_element.get(s, 0), self.proposed.by_element.get(s, 0))
            for s in symbols
        ]


class PolicyForm(forms.ModelForm):
    """A country's release policy and one "available on" date per survey of the country.

    Validation runs on ``instance`` (a scratch copy); ``save`` and ``preview`` reload the policy so
    the audit log's "before" is what was stored.
    """

    confidential_elements = ElementChoiceField(
        queryset=Element.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Confidential elements"),
        help_text=_("Never public, and granted to partners only when an agreement names them."),
    )
    public_precision_m = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        label=_("Public location precision"),
        help_text=_("Publish locations only as centroids of cells of this size."),
    )
    prerelease_scale_m = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        label=_("Public maps before release at"),
        help_text=_(
            "Let non-confidential values not yet available colour public maps at this cell size "
            "or coarser. Such a cell shows only its colour class and its number of samples: no "
            "value, statistic, class break, chart, point or export ever includes them."
        ),
    )

    class Meta:
        model = ReleasePolicy
        fields = [
            "in_force",
            "available_on",
            "confidential_elements",
            "public_precision_m",
            "prerelease_scale_m",
            "prerelease_min_samples",
            "licence",
            "citation",
        ]
        labels = {
            "in_force": _("In force"),
            "available_on": _("Data available on"),
            "prerelease_min_samples": _("Minimum samples per cell before release"),
            "licence": _("Licence"),
            "citation": _("Citation"),
        }
        help_texts = {
            "in_force": _("A country without a policy in force publishes nothing."),
            "available_on": _(
                "The country's data is available on this day (from 00:00 UTC). Blank: now."
            ),
        }
        widgets = {
            "available_on": DateInput(),
            "citation": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(
        self, *args, country: Country, surveys: Iterable[Survey], user=None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.country = country
        self.surveys = list(surveys)
        measured = set(
            Element.objects.filter(analytes__survey__in=self.surveys).values_list("pk", flat=True)
        )
        self.measured_ids = measured
        self.fields["confidential_elements"].queryset = Element.objects.annotate(
            measured=Case(
                When(pk__in=measured, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        ).order_by("measured", "atomic_number")
        self.fields["public_precision_m"].choices = cell_choices(gettext("exact locations"))
        self.fields["prerelease_scale_m"].choices = cell_choices(gettext("off"))
        embargoes = dict(
            SurveyEmbargo.objects.filter(survey__in=self.surveys).values_list(
                "survey_id", "available_on"
            )
        )
        for survey in self.surveys:
            others = [c for c in survey.countries.all() if c.pk != country.pk]
            codes = ", ".join(sorted(c.code for c in others))
            help_text = gettext("Blank: the country's date applies.")
            # A survey's date applies in all its countries, so only someone who stewards every
            # one of them may change it; others see it read-only.
            editable = user is None or all(is_steward(user, c) for c in others)
            if others and editable:
                help_text += " " + gettext("Also applies in %(codes)s.") % {"codes": codes}
            elif others:
                help_text = gettext(
                    "Shared with %(codes)s: only a steward of every country of the survey can "
                    "change this date."
                ) % {"codes": codes}
            self.fields[f"{SURVEY_PREFIX}{survey.pk}"] = forms.DateField(
                required=False,
                label=survey.name,
                help_text=help_text,
                widget=DateInput(),
                initial=embargoes.get(survey.pk),
                disabled=not editable,
            )

    # --- rendering helpers ---------------------------------------------------------------------

    def policy_fields(self) -> list[BoundField]:
        return [self[name] for name in self.Meta.fields if name != "confidential_elements"]

    def survey_fields(self) -> list[BoundField]:
        return [self[f"{SURVEY_PREFIX}{survey.pk}"] for survey in self.surveys]

    def _element_boxes(self, measured: bool) -> list[BoundWidget]:
        return [
            box
            for box in self["confidential_elements"]
            if (box.data["value"].value in self.measured_ids) == measured
        ]

    def measured_boxes(self) -> list[BoundWidget]:
        """Checkboxes of the elements measured in the country's surveys."""
        return self._element_boxes(True)

    def other_boxes(self) -> list[BoundWidget]:
        return self._element_boxes(False)

    def other_checked(self) -> bool:
        return any(box.data["selected"] for box in self.other_boxes())

    # --- writes --------------------------------------------------------------------------------

    def save(self, user, *, path: str = "") -> ReleasePolicy:  # type: ignore[override]
        """Store the policy and the surveys' dates; both are audited with before and after."""
        return self._apply(user, path)

    def preview(self, user) -> PolicyPreview:
        """The public figures now and as they would be with this form saved; writes nothing."""
        current = public_figures(self.country)
        with transaction.atomic():
            self._apply(user, "")
            proposed = public_figures(self.country)
            transaction.set_rollback(True)
        return PolicyPreview(current, proposed)

    @transaction.atomic
    def _apply(self, user, path: str) -> ReleasePolicy:
        policy = ReleasePolicy.objects.select_for_update().filter(
            country=self.country
        ).first() or ReleasePolicy(country=self.country)
        policy_update(
            policy=policy,
            user=user,
            data={name: self.cleaned_data[name] for name in SCALAR_FIELDS},
            confidential=list(self.cleaned_data["confidential_elements"]),
        )
        self._apply_survey_dates(user, path)
        return policy

    def _apply_survey_dates(self, user, path: str) -> None:
        days = {
            survey: self.cleaned_data.get(f"{SURVEY_PREFIX}{survey.pk}")
            for survey in self.surveys
            if not self.fields[f"{SURVEY_PREFIX}{survey.pk}"].disabled
        }
        survey_dates_update(user=user, country=self.country, days=days, path=path)


class AccessDecisionForm(forms.Form):
    """A steward's answer to one access request (prefix the form with the request's id)."""

    decision = forms.ChoiceField(choices=[("grant", _("Grant")), ("decline", _("Decline"))])
    valid_to = forms.DateField(
        required=False,
        label=_("Access ends on"),
        help_text=_("Last day; blank: no end."),
        widget=DateInput(),
    )
    note = forms.CharField(required=False, max_length=2000, label=_("Note to the record"))

    def clean_valid_to(self) -> dt.date | None:
        day = self.cleaned_data["valid_to"]
        if day and day < timezone.now().astimezone(dt.UTC).date():
            raise forms.ValidationError(_("The end date cannot be in the past."))
        return day


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, label=_("Kind"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", gettext("all kinds")), *AuditEvent.Kind.choices]
