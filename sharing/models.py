"""Data-release policy: organisations, stewards, country policies, embargoes, partner agreements,
licence acceptances, access requests and the audit log.

These tables are the inputs of the access module (``sharing/access.py``), the only code that turns
them into visible rows. Anything that changes visibility bumps the policy version
(``sharing/versioning.py``), so caches keyed by it never serve a stale answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baselines import grid
from baselines.models import Country, Element, Survey

PRECISION_CHOICES = [(size, f"{size / 1000:g} km cells") for size in grid.SCALES_M]


def opens_at(day: dt.date | None) -> dt.datetime | None:
    """Data dated "available on D" opens at 00:00 UTC of D."""
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def released_by(day: dt.date | None, now: dt.datetime) -> bool:
    """Data "available on" ``day`` (blank: already) is open at ``now`` — the one statement of
    rule 2's date."""
    return day is None or opens_at(day) <= now


class Organisation(models.Model):
    """A partner agency (or other body) whose members share its agreements."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    country = models.ForeignKey(Country, null=True, blank=True, on_delete=models.SET_NULL)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organisations"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    is_manager = models.BooleanField(default=False)
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation}"


class Stewardship(models.Model):
    """A country steward: sees all of the country's data and edits its release policy."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stewardships"
    )
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="stewardships")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "country"], name="stewardship_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} stewards {self.country.code}"


class ReleasePolicy(models.Model):
    """A country's data-release policy. A country without one publishes nothing."""

    country = models.OneToOneField(Country, on_delete=models.CASCADE, related_name="policy")
    in_force = models.BooleanField(_("in force"), default=False)
    available_on = models.DateField(
        _("data available on"),
        null=True,
        blank=True,
        help_text=_("Default date the country's data opens (00:00 UTC). Blank: already open."),
    )
    confidential_elements = models.ManyToManyField(
        Element, blank=True, related_name="confidential_in"
    )
    public_precision_m = models.PositiveIntegerField(
        _("public location precision"),
        null=True,
        blank=True,
        choices=PRECISION_CHOICES,
        help_text=_("Publish locations only as centroids of cells of this size. Blank: exact."),
    )
    prerelease_scale_m = models.PositiveIntegerField(
        _("public maps before release at"),
        null=True,
        blank=True,
        choices=PRECISION_CHOICES,
        help_text=_(
            "Let embargoed, non-confidential values colour public maps at this cell size or "
            "coarser, as each cell's colour class and sample count only (never a value, "
            "statistic, class break, point or export). Blank: off."
        ),
    )
    prerelease_min_samples = models.PositiveSmallIntegerField(
        _("minimum samples per cell before release"), default=3
    )
    licence = models.CharField(max_length=200, default="CC BY 4.0")
    citation = models.TextField(blank=True)
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "release policies"

    def __str__(self) -> str:
        return f"Release policy of {self.country}"

    def is_open_at(self, now: dt.datetime, *, survey_day: dt.date | None = None) -> bool:
        """Whether data under this policy is open at ``now``: the survey's own date when it has
        one, else the country's (the policy must also be in force to publish anything)."""
        return released_by(survey_day if survey_day is not None else self.available_on, now)

    def clean(self) -> None:
        if (
            self.prerelease_scale_m
            and self.public_precision_m
            and self.prerelease_scale_m < self.public_precision_m
        ):
            raise ValidationError(
                {"prerelease_scale_m": _("cannot be finer than the public location precision")}
            )


class SurveyEmbargo(models.Model):
    """A survey-specific "available on" date, overriding its countries' default."""

    survey = models.OneToOneField(Survey, on_delete=models.CASCADE, related_name="embargo")
    available_on = models.DateField(_("data available on"))
    reason = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.survey}: available on {self.available_on}"


class Agreement(models.Model):
    """What a partner organisation's members may see beyond the public release."""

    title = models.CharField(max_length=200)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="agreements"
    )
    countries = models.ManyToManyField(Country, related_name="agreements")
    surveys = models.ManyToManyField(
        Survey,
        blank=True,
        related_name="agreements",
        help_text=_("Limit to these surveys; none selected means every survey of the countries."),
    )
    all_elements = models.BooleanField(
        default=True,
        help_text=_("Every non-confidential element, plus the confidential ones named below."),
    )
    elements = models.ManyToManyField(
        Element,
        blank=True,
        related_name="agreements",
        help_text=_("Elements granted; confidential elements are granted only when named here."),
    )
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text=_("Last day; blank: no end."))
    precision_m = models.PositiveIntegerField(
        _("location precision"),
        null=True,
        blank=True,
        choices=PRECISION_CHOICES,
        help_text=_("Blank: exact locations."),
    )
    licence_text = models.TextField()
    licence_version = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text=_("Goes up whenever the licence text changes; each version needs acceptance."),
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation", "title"]

    def __str__(self) -> str:
        return f"{self.title} ({self.organisation})"

    def save(self, *args, **kwargs) -> None:
        # The version is derived from the text's history: a changed text is a new licence, which
        # grants nothing until a member accepts it again (the access gate compares versions).
        if self.pk is not None:
            stored = (
                Agreement.objects.filter(pk=self.pk)
                .values_list("licence_text", "licence_version")
                .first()
            )
            if stored and stored[0] != self.licence_text:
                self.licence_version = stored[1] + 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.valid_to and self.valid_to < self.valid_from:
            raise ValidationError({"valid_to": _("ends before it starts")})

    @property
    def licence_sha256(self) -> str:
        return licence_digest(self.licence_text)

    def is_valid_at(self, now: dt.datetime) -> bool:
        closes = opens_at(self.valid_to + dt.timedelta(days=1)) if self.valid_to else None
        return opens_at(self.valid_from) <= now and (closes is None or now < closes)


def licence_digest(text: str) -> str:
    """SHA-256 of a licence text (UTF-8), the fingerprint an acceptance records."""
    return hashlib.sha256(text.encode()).hexdigest()


class LicenceAcceptance(models.Model):
    """A user accepted one version of an agreement's licence. An agreement grants a member
    nothing until they have accepted its current version (``sharing/access.py``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="acceptances")
    accepted_at = models.DateTimeField(default=timezone.now)
    licence_version = models.PositiveIntegerField(default=1)
    licence_sha256 = models.CharField(max_length=64, blank=True)
    licence_text = models.TextField(help_text=_("The text as it was when accepted."))

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "agreement", "licence_version"], name="acceptance_unique_version"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.user} accepted {self.agreement} (licence v{self.licence_version}) "
            f"on {self.accepted_at:%Y-%m-%d}"
        )


def token_digest(key: str) -> str:
    """SHA-256 of an API key: keys are stored only as digests, like passwords."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """One of a user's named API keys (``Authorization: Token <key>``). The key is shown once at
    creation; only its digest and first characters are kept. Revoking one leaves the others."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    key_digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text=_("The key's first characters, to tell it."))
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="api_token_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"


class AccessRequest(models.Model):
    """A signed-in user asks for a survey's data before its release."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        GRANTED = "granted", _("granted")
        DECLINED = "declined", _("declined")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="access_requests")
    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.SET_NULL)
    message = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    agreement = models.ForeignKey(Agreement, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} → {self.survey} ({self.status})"


class AuditEvent(models.Model):
    """Who accessed which non-public data, who downloaded what, who changed which policy."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("access to non-public data")
        DOWNLOAD = "download", _("download")
        POLICY = "policy", _("policy change")
        AGREEMENT = "agreement", _("agreement change")
        REQUEST = "request", _("access request")
        RELEASE = "release", _("scheduled release")
        LICENCE = "licence", _("licence accepted")
        CERTIFICATE = "certificate", _("certificate issued or revoked")

    created = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    country = models.ForeignKey(Country, null=True, blank=True, on_delete=models.SET_NULL)
    path = models.CharField(max_length=500, blank=True)
    summary = models.CharField(max_length=300)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["country", "-created"])]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.kind}: {self.summary}"


class PolicyCounter(models.Model):
    """One row: bumped by database triggers on every write that affects visibility (see
    versioning.py). ``token`` is new at every bump, so a version never repeats for another state,
    even when a transaction that bumped it was rolled back."""

    value = models.PositiveBigIntegerField(default=0)
    token = models.CharField(max_length=32, default="", blank=True)
    released_through = models.DateTimeField(
        null=True, blank=True, help_text=_("Embargo ends up to this instant have been processed.")
    )

    def __str__(self) -> str:
        return f"policy counter {self.value}"
