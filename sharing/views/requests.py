"""Access requests: a signed-in user asks the stewards for a survey's data before its release."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baselines.models import Survey

from ..models import AccessRequest
from ..services import access_request_create


@login_required
@require_POST
def request_access(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    pending = AccessRequest.objects.filter(
        user=request.user, survey=survey, status=AccessRequest.Status.PENDING
    ).exists()
    if pending:
        messages.info(request, _("Your request for this survey is already with its stewards."))
    else:
        access_request_create(
            user=request.user, survey=survey, message=request.POST.get("message", "")[:2000]
        )
        messages.success(request, _("Your request was sent to the country's data stewards."))
    return redirect("portal:survey-detail", slug=slug)
