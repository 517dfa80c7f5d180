"""Steward pages: their countries' release policies with a preview, access requests, audit log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def steward_home(request: HttpRequest) -> HttpResponse:  # replaced by the steward work
    return HttpResponse(status=501)


@login_required
def policy_edit(request: HttpRequest, country: str) -> HttpResponse:
    return HttpResponse(status=501)


@login_required
def audit_log(request: HttpRequest, country: str) -> HttpResponse:
    return HttpResponse(status=501)


@login_required
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(status=501)
