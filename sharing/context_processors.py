"""Template context every page shares: the viewer's agreements still waiting for a licence."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from .access import request_scope


def pending_licences(request: HttpRequest) -> dict:
    """Agreements that grant nothing until their licence is accepted, with the page to accept it
    (every page says why a partner sees only public data, and where to change that)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    pending = request_scope(request).pending_licences
    return {
        "pending_licences": [
            {"title": p.title, "url": reverse("sharing:licence-accept", args=[p.agreement_id])}
            for p in pending
        ]
    }
