"""Writes of the sharing app: policy edits, survey dates, access requests, licence acceptance.

Each service is keyword-only and atomic, validates with ``full_clean()`` and writes its audit
event. The policy version is bumped by database triggers (``versioning.py``) whatever path the
write takes; ``signals.py`` then announces the change to the map layers.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from baselines.models import Country, Survey

from .access import is_steward
from .audit import audit_record
from .models import (
    AccessRequest,
    Agreement,
    ApiToken,
    AuditEvent,
    LicenceAcceptance,
    Membership,
    Organisation,
    ReleasePolicy,
    Stewardship,
    SurveyEmbargo,
    licence_digest,
    token_digest,
)


def policy_snapshot(policy: ReleasePolicy) -> dict:
    """The policy as plain data, for the audit log's before/after."""
    return {
        "in_force": policy.in_force,
        "available_on": policy.available_on.isoformat() if policy.available_on else None,
        "confidential_elements": sorted(e.symbol for e in policy.confidential_elements.all())
        if policy.pk
        else [],
        "public_precision_km": policy.public_precision_m and policy.public_precision_m / 1000,
        "prerelease_scale_km": policy.prerelease_scale_m and policy.prerelease_scale_m / 1000,
        "prerelease_min_samples": policy.prerelease_min_samples,
        "licence": policy.licence,
        "citation": policy.citation,
    }


@transaction.atomic
def policy_update(*, policy: ReleasePolicy, user, data: dict, confidential=None) -> ReleasePolicy:
    """Apply a steward's edit to a country policy, with before/after in the audit log."""
    if not is_steward(user, policy.country):
        raise PermissionDenied
    before = policy_snapshot(policy) if policy.pk else None
    for name, value in data.items():
        setattr(policy, name, value)
    policy.updated_by = user
    policy.full_clean()
    policy.save()
    if confidential is not None:
        policy.confidential_elements.set(confidential)
    after = policy_snapshot(policy)
    if before != after:
        changed = sorted(k for k in after if before is None or before.get(k) != after[k])
        audit_record(
            kind=AuditEvent.Kind.POLICY,
            user=user,
            country=policy.country,
            summary=f"Release policy of {policy.country.code} changed: {', '.join(changed)}",
            before=before,
            after=after,
        )
    return policy


@transaction.atomic
def survey_dates_update(
    *, user, country: Country, days: dict[Survey, dt.date | None], path: str = ""
) -> dict[str, str | None]:
    """Set the surveys' own "available on" dates (None: follow the country's), audited once with
    before and after; returns the changed dates by survey name."""
    existing = {
        e.survey_id: e for e in SurveyEmbargo.objects.select_for_update().filter(survey__in=days)
    }
    before: dict[str, str | None] = {}
    after: dict[str, str | None] = {}
    for survey, day in days.items():
        embargo = existing.get(survey.pk)
        old = embargo.available_on if embargo else None
        if old == day:
            continue
        before[survey.name] = old.isoformat() if old else None
        after[survey.name] = day.isoformat() if day else None
        if embargo is None:
            SurveyEmbargo.objects.create(survey=survey, available_on=day)
        elif day is None:
            embargo.delete()
        else:
            embargo.available_on = day
            embargo.save(update_fields=["available_on"])
    if after:
        audit_record(
            kind=AuditEvent.Kind.POLICY,
            user=user,
            country=country,
            path=path,
            summary=f"Survey 'available on' dates in {country.code} changed: " + ", ".join(after),
            before=before,
            after=after,
        )
    return after


@transaction.atomic
def access_request_create(*, user, survey: Survey, message: str = "") -> AccessRequest:
    """A signed-in user asks for a survey's data; the countries' stewards are told by email."""
    organisation = Organisation.objects.filter(membership__user=user).first()
    request = AccessRequest.objects.create(
        user=user, survey=survey, organisation=organisation, message=message
    )
    stewards = (
        Stewardship.objects.filter(country__in=survey.countries.all())
        .select_related("user")
        .values_list("user__email", flat=True)
    )
    recipients = sorted({email for email in stewards if email})
    audit_record(
        kind=AuditEvent.Kind.REQUEST,
        user=user,
        country=survey.countries.first(),
        summary=f"{user.get_username()} asked for access to {survey.name}",
    )
    if recipients:
        transaction.on_commit(
            lambda: send_mail(
                subject=f"[Chemical Earth] Access request for {survey.name}",
                message=(
                    f"{user.get_username()} ({user.email or 'no email'}) asks for access to "
                    f"{survey.name}.\n\n{message}\n\nDecide on the stewardship page."
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
                fail_silently=True,
            )
        )
    return request


@transaction.atomic
def access_request_decide(
    *,
    access_request: AccessRequest,
    steward,
    grant: bool,
    valid_to: dt.date | None = None,
    note: str = "",
) -> AccessRequest:
    """Grant (creating or extending an agreement for the requester's organisation) or decline."""
    survey = access_request.survey
    if not any(is_steward(steward, c) for c in survey.countries.all()):
        raise PermissionDenied
    access_request.status = AccessRequest.Status.GRANTED if grant else AccessRequest.Status.DECLINED
    access_request.decided_by = steward
    access_request.decided_at = timezone.now()
    access_request.decision_note = note
    if grant:
        organisation = access_request.organisation or _personal_organisation(access_request.user)
        agreement = Agreement.objects.filter(
            organisation=organisation, surveys=survey
        ).first() or Agreement(
            organisation=organisation,
            title=f"Access to {survey.name}",
            valid_from=timezone.now().date(),
            licence_text=_licence_for(survey),
        )
        agreement.valid_to = valid_to
        agreement.full_clean()
        agreement.save()
        agreement.countries.add(*survey.countries.all())
        agreement.surveys.add(survey)
        access_request.agreement = agreement
        access_request.organisation = organisation
        audit_record(
            kind=AuditEvent.Kind.AGREEMENT,
            user=steward,
            country=survey.countries.first(),
            summary=f"Granted {access_request.user.get_username()} access to {survey.name}",
            after={"agreement": agreement.pk, "valid_to": valid_to and valid_to.isoformat()},
        )
    else:
        audit_record(
            kind=AuditEvent.Kind.REQUEST,
            user=steward,
            country=survey.countries.first(),
            summary=f"Declined {access_request.user.get_username()}'s request for {survey.name}",
        )
    access_request.save()
    return access_request


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new named API key for the user; returns the token and the key, which is shown once
    (only its digest is stored). Other tokens of the user keep working."""
    name = name.strip()[:100] or timezone.now().strftime("token %Y-%m-%d %H:%M:%S")
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise ValidationError({"name": _("You already have a token of that name.")})
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user, name=name, key_digest=token_digest(key), prefix=key[:8]
    )
    return token, key


def api_token_revoke(*, user, token_id: int) -> bool:
    """Delete one of the user's tokens: scripts using it are refused from now on."""
    return ApiToken.objects.filter(user=user, pk=token_id).delete()[0] > 0


def _personal_organisation(user) -> Organisation:
    name = f"{user.get_username()} (individual)"
    # The slug carries the user's id: two usernames can slugify alike.
    organisation, _ = Organisation.objects.get_or_create(
        name=name, defaults={"slug": f"user-{user.pk}-{slugify(user.get_username())}"[:200]}
    )
    Membership.objects.get_or_create(organisation=organisation, user=user)
    return organisation


def _licence_for(survey: Survey) -> str:
    return survey.licence or "Use under the terms agreed with the data owner; cite the survey."


@transaction.atomic
def licence_accept(*, user, agreement: Agreement) -> LicenceAcceptance:
    """Record that a member accepted the current version of an agreement's licence: from now on
    the agreement grants them its data. Audited with the version and the text's SHA-256."""
    if not Membership.objects.filter(user=user, organisation=agreement.organisation).exists():
        raise PermissionDenied
    digest = licence_digest(agreement.licence_text)
    acceptance, created = LicenceAcceptance.objects.get_or_create(
        user=user,
        agreement=agreement,
        licence_version=agreement.licence_version,
        defaults={"licence_text": agreement.licence_text, "licence_sha256": digest},
    )
    if created:
        fingerprint = {"licence_version": agreement.licence_version, "licence_sha256": digest}
        # One event per country, so each country's stewards see it in their log.
        for country in agreement.countries.all() or [None]:
            audit_record(
                kind=AuditEvent.Kind.LICENCE,
                user=user,
                country=country,
                summary=(
                    f"Accepted the licence of {agreement} (version {agreement.licence_version}, "
                    f"SHA-256 {digest[:12]}…)"
                ),
                after=fingerprint,
            )
    return acceptance
