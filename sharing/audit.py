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


def audit_access(request: HttpRequest, scope, summary: str) -> None:
    """Record a read that may include non-public rows (a partner's, steward's or staff's view).

    Public-only viewers are not logged: what they see is public.
    """
    if scope.is_public_only:
        return
    audit_record(
        kind=AuditEvent.Kind.ACCESS,
        user=request.user,
        summary=summary,
        path=request.get_full_path(),
    )
