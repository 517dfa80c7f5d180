"""The audit log: writes AuditEvent rows for access to non-public data, downloads and changes."""

from __future__ import annotations

from django.http import HttpRequest

from .models import AuditEvent


def audit_record(
    *,
    kind: str,
    user=None,
    summary: str,
    country=None,
    path: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=kind,
        user=user if user is not None and user.is_authenticated else None,
        country=country,
        path=path[:500],
        summary=summary[:300],
        before=before,
        after=after,
    )


def note_country_served(request: HttpRequest, country_id: int) -> None:
    """Serializers call this for each row they return, so the audit knows whose data went out."""
    seen = getattr(request, "_chemearth_countries_served", None)
    if seen is None:
        seen = request._chemearth_countries_served = set()
    seen.add(country_id)


def countries_served(request: HttpRequest) -> frozenset[int]:
    """The countries whose rows this request has served so far (``note_country_served``)."""
    return frozenset(getattr(request, "_chemearth_countries_served", ()))


def audit_access(request: HttpRequest, scope, summary: str) -> None:
    """Record a read that returned non-public rows: one event per country whose data the viewer
    sees beyond the public release (a partner's, steward's or staff's view), so each country's
    stewards find it in their log. Public-only viewers are not logged: what they see is public.
    """
    if scope.is_public_only:
        return
    served = countries_served(request)
    beyond_public = served if scope.everything else served & scope.non_public_countries
    if not beyond_public:
        return
    from baselines.models import Country

    user = getattr(request, "user", None)
    for country in Country.objects.filter(pk__in=beyond_public):
        audit_record(
            kind=AuditEvent.Kind.ACCESS,
            user=user,
            country=country,
            summary=f"{summary} ({country.code})",
            path=request.get_full_path(),
        )
