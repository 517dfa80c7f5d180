"""Account pages: registration, the user's page (API token, organisations, licences)."""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetView
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ..account_forms import LicenceAcceptForm, RegistrationForm
from ..models import AccessRequest, Agreement, ApiToken, LicenceAcceptance, Membership
from ..services import api_token_create, api_token_revoke, licence_accept

# Session key of a freshly created API token: the account page shows it once, then forgets it.
NEW_TOKEN_SESSION_KEY = "sharing_new_api_token"


def register(request: HttpRequest) -> HttpResponse:
    """Sign up, sign in, go to the account page (or to a safe ``next``)."""
    if request.user.is_authenticated:
        return redirect("sharing:account")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    form = RegistrationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request, _("Welcome, %(name)s: your account is ready.") % {"name": user.get_username()}
        )
        # ``next`` is a URL, never a view name: "account" must not be reversed (NoReverseMatch).
        return redirect(next_url if next_url.startswith("/") else reverse("sharing:account"))
    return render(request, "sharing/register.html", {"form": form, "next": next_url})


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in user's organisations, agreements valid now, API token and access requests."""
    user = request.user
    now = timezone.now()
    agreements = [
        agreement
        for agreement in Agreement.objects.filter(
            organisation__membership__user=user, valid_from__lte=now.date()
        )
        .select_related("organisation")
        .prefetch_related("countries", "surveys", "elements")
        if agreement.is_valid_at(now)
    ]
    accepted = {
        (agreement_id, version): at
        for agreement_id, version, at in LicenceAcceptance.objects.filter(
            user=user, agreement__in=agreements
        ).values_list("agreement_id", "licence_version", "accepted_at")
    }
    for agreement in agreements:
        agreement.precision_km = (
            f"{agreement.precision_m / 1000:g}" if agreement.precision_m else None
        )
        agreement.accepted_at = accepted.get((agreement.pk, agreement.licence_version))
    new = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    tokens = list(ApiToken.objects.filter(user=user))
    context = {
        "memberships": Membership.objects.filter(user=user).select_related("organisation"),
        "agreements": agreements,
        "tokens": tokens,
        # The key of the token just created, shown once (and only if that token still exists).
        "new_token": new if new and any(t.pk == new[0] for t in tokens) else None,
        "access_requests": AccessRequest.objects.filter(user=user).select_related("survey"),
        "api_example_url": request.build_absolute_uri(reverse("api:measurement-list"))
        + "?element=Cu",
    }
    return render(request, "sharing/account.html", context)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a named API token; the others keep working. Its key is shown once."""
    try:
        token, key = api_token_create(user=request.user, name=request.POST.get("name", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(reverse("sharing:account") + "#api-token")
    request.session[NEW_TOKEN_SESSION_KEY] = [token.pk, key]
    messages.success(request, _("Your API token “%(name)s” was created.") % {"name": token.name})
    return redirect(reverse("sharing:account") + "#api-token")


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of the user's API tokens: scripts using it are refused from now on."""
    if api_token_revoke(user=request.user, token_id=pk):
        messages.success(request, _("The API token was revoked."))
    else:
        messages.info(request, _("No such token."))
    return redirect(reverse("sharing:account") + "#api-token")


@login_required
def licence_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Show an agreement's licence to a member of its organisation and record their acceptance.

    Anyone else gets the same 404 as for a missing agreement.
    """
    agreement = get_object_or_404(
        Agreement.objects.select_related("organisation"),
        pk=pk,
        organisation__membership__user=request.user,
    )
    # The latest acceptance: of the current version, or of an earlier text to accept again.
    acceptance = LicenceAcceptance.objects.filter(user=request.user, agreement=agreement).first()
    current = acceptance is not None and acceptance.licence_version == agreement.licence_version
    form = LicenceAcceptForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and current:
        messages.info(request, _("You have already accepted this licence."))
        return redirect("sharing:account")
    if request.method == "POST" and form.is_valid():
        try:
            licence_accept(user=request.user, agreement=agreement)
        except PermissionDenied as exc:  # the membership ended since the check above
            raise Http404 from exc
        messages.success(
            request, _("You accepted the licence of “%(title)s”.") % {"title": agreement.title}
        )
        return redirect("sharing:account")
    context = {"agreement": agreement, "acceptance": acceptance, "current": current, "form": form}
    return render(request, "sharing/licence_accept.html", context)


class ThrottledPasswordResetView(PasswordResetView):
    """Django's password-reset form, refused with a message on the form after
    ``PASSWORD_RESET_LIMIT_PER_HOUR`` requests from one address in an hour: each request mails
    whoever it names, so unthrottled it is a mail cannon. Counted in the cache; a cache outage
    lets requests through (the form still says nothing of who has an account)."""

    def form_valid(self, form):
        key = f"password-reset:{get_client_ip_address(self.request)}"
        try:
            cache.add(key, 0, timeout=3600)
            count = cache.incr(key)
        except Exception:  # noqa: BLE001 — degrade to no limit, never to an error
            count = 0
        if count > settings.PASSWORD_RESET_LIMIT_PER_HOUR:
            form.add_error(
                None, _("Too many password reset requests from your address; try again in an hour.")
            )
            return self.form_invalid(form)
        return super().form_valid(form)
