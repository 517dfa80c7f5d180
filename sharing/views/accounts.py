"""Account pages: registration, the user's page (API token, organisations, licences)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


def register(request: HttpRequest) -> HttpResponse:  # replaced by the accounts work
    return HttpResponse(status=501)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=501)


@login_required
def token_create(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=501)


@login_required
def token_revoke(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=501)


@login_required
def licence_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(status=501)
