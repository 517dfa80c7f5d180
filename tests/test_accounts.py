"""Accounts: registration, sign-in and password reset, the account page, API tokens, licences.

Pages are fetched with Django's test client; API calls go through the real access gate on PostGIS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element, Survey
from sharing.models import (
    AccessRequest,
    Agreement,
    ApiToken,
    AuditEvent,
    LicenceAcceptance,
    Membership,
    Organisation,
)
from sharing.services import licence_accept
from tests.worlds import api_token

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "Granite-Basalt-42"
NEW_PASSWORD = "Moraine-Esker-97"
ACCOUNT = reverse("sharing:account")
REGISTER = reverse("sharing:register")
LOGIN = reverse("login")
SAMPLES_API = "/api/v1/samples/"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def user(db):
    return User.objects.create_user("ana", "ana@example.org", PASSWORD)


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def organisation(user):
    organisation = Organisation.objects.create(name="Geological Survey of Finland", slug="gtk")
    Membership.objects.create(organisation=organisation, user=user)
    return organisation


def make_agreement(organisation, *, title="Baltic shield data", days_from=-1, days_to=None, **kw):
    today = timezone.now().date()
    agreement = Agreement.objects.create(
        title=title,
        organisation=organisation,
        valid_from=today + dt.timedelta(days=days_from),
        valid_to=None if days_to is None else today + dt.timedelta(days=days_to),
        licence_text=kw.pop("licence_text", "Cite the survey. Do not redistribute raw values."),
        **kw,
    )
    agreement.countries.add(Country.objects.get(iso_a3="FIN"))
    return agreement


@pytest.fixture
def pending_agreement(organisation):
    """An agreement of the user's organisation whose licence nobody has accepted yet."""
    return make_agreement(organisation)


@pytest.fixture
def agreement(pending_agreement, user):
    """The same agreement, its licence accepted by the user: it grants Finland's data."""
    licence_accept(user=user, agreement=pending_agreement)
    return pending_agreement


@pytest.fixture
def finnish_survey(write_csv) -> Survey:
    """Two Finnish samples; Finland has no release policy, so nothing of it is public."""
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "Cu_ppm"],
            ["FI-1", 25.0, 62.0, 12.5],
            ["FI-2", 26.0, 63.0, 30.1],
        ]
    )
    survey_ingest(
        path=path,
        options=IngestOptions(survey="Finnish till", medium="topsoil", scale_km=10, country="FIN"),
    )
    return Survey.objects.get(name="Finnish till")


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def token_client(key: str) -> Client:
    """A client that is not signed in and sends the API token on every request."""
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


def sample_codes(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {f["properties"]["code"] for f in response.json()["features"]}


# --- registration --------------------------------------------------------------------------------


def test_register_page_shows_username_email_and_password_fields(client):
    html = page(client.get(REGISTER))
    for name in ("username", "email", "password1", "password2"):
        assert f'name="{name}"' in html
    assert "csrfmiddlewaretoken" in html


def test_registration_creates_the_user_signs_them_in_and_opens_the_account_page(client):
    response = client.post(
        REGISTER,
        {
            "username": "mika",
            "email": "mika@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response.url == ACCOUNT
    user = User.objects.get(username="mika")
    assert user.email == "mika@example.org"
    assert user.check_password(PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)
    html = page(client.get(ACCOUNT))
    assert "mika" in html and "Your account" in html


def test_registration_with_a_taken_username_is_rejected_with_a_message(client, user):
    response = client.post(
        REGISTER,
        {
            "username": "ana",
            "email": "other@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    html = page(response)
    assert "A user with that username already exists." in html
    assert User.objects.count() == 1
    assert "_auth_user_id" not in client.session


def test_registration_with_a_taken_email_in_any_case_is_rejected_with_a_message(client, user):
    response = client.post(
        REGISTER,
        {
            "username": "ana2",
            "email": "ANA@Example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    html = page(response)
    assert "An account with this email address already exists." in html
    assert not User.objects.filter(username="ana2").exists()
    assert "_auth_user_id" not in client.session


def test_registration_requires_an_email(client):
    response = client.post(
        REGISTER, {"username": "noemail", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert "This field is required." in page(response)
    assert not User.objects.filter(username="noemail").exists()


def test_registration_follows_a_local_next_but_never_an_offsite_one(client):
    data = {"email": "a@example.org", "password1": PASSWORD, "password2": PASSWORD}
    local = client.post(REGISTER + "?next=/surveys/", {**data, "username": "local"})
    assert local.url == "/surveys/"
    client.logout()
    data["email"] = "b@example.org"
    offsite = client.post(REGISTER, {**data, "username": "offsite", "next": "https://evil.test/"})
    assert offsite.url == ACCOUNT


def test_a_signed_in_user_opening_register_is_sent_to_the_account_page(signed_in):
    response = signed_in.get(REGISTER)
    assert response.status_code == 302 and response.url == ACCOUNT


# --- sign in, sign out ---------------------------------------------------------------------------


def test_login_page_renders_and_links_password_reset_and_registration(client):
    html = page(client.get(LOGIN))
    assert 'name="username"' in html and 'name="password"' in html
    assert reverse("password_reset") in html and REGISTER in html


def test_login_with_the_right_password_opens_the_account_page(client, user):
    response = client.post(LOGIN, {"username": "ana", "password": PASSWORD})
    assert response.status_code == 302 and response.url == ACCOUNT
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_with_a_wrong_password_shows_an_error_and_does_not_sign_in(client, user):
    html = page(client.post(LOGIN, {"username": "ana", "password": "wrong-password"}))
    assert "errorlist" in html
    assert "_auth_user_id" not in client.session


def test_logout_signs_out_and_the_account_page_then_asks_to_sign_in(signed_in):
    response = signed_in.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in signed_in.session
    response = signed_in.get(ACCOUNT)
    assert response.status_code == 302 and response.url.startswith(LOGIN)


def test_logged_out_template_renders(client):
    from django.template.loader import render_to_string

    html = render_to_string("registration/logged_out.html")
    assert "Signed out" in html


# --- password reset and change -------------------------------------------------------------------


def reset_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_password_reset_end_to_end_sets_the_new_password_and_retires_the_old_one(client, user):
    assert "Reset your password" in page(client.get(reverse("password_reset")))
    response = client.post(reverse("password_reset"), {"email": "ana@example.org"})
    assert response.status_code == 302
    assert "Check your email" in page(client.get(response.url))

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.org"]
    assert "Chemical Earth" in message.subject and "\n" not in message.subject
    assert "ana" in message.body  # the username, in case it was forgotten
    assert "<" not in message.body, "the email is plain text"

    link = reset_link(message)
    response = client.get(link)  # Django swaps the token for a session and redirects
    assert response.status_code == 302
    form_url = response.url
    assert 'name="new_password1"' in page(client.get(form_url))
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert "Password changed" in page(client.get(response.url))

    # Through the sign-in form (django-axes counts its failures; Client.login has no request).
    fresh = Client()
    wrong = fresh.post("/accounts/login/", {"username": "ana", "password": PASSWORD})
    assert wrong.status_code == 200 and "_auth_user_id" not in fresh.session
    right = fresh.post("/accounts/login/", {"username": "ana", "password": NEW_PASSWORD})
    assert right.status_code == 302 and "_auth_user_id" in fresh.session
    # The link is spent: a second use shows the invalid-link page, no form.
    html = page(Client().get(link, follow=True))
    assert "This link is not valid" in html and 'name="new_password1"' not in html


def test_password_reset_for_an_unknown_address_sends_nothing_and_answers_the_same(client, user):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_change_pages_change_the_password(signed_in, user):
    url = reverse("password_change")
    assert 'name="old_password"' in page(signed_in.get(url))
    response = signed_in.post(
        url,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert "Password changed" in page(signed_in.get(response.url))
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)


# --- the account page ----------------------------------------------------------------------------


def test_account_page_requires_sign_in(client):
    response = client.get(ACCOUNT)
    assert response.status_code == 302 and response.url == f"{LOGIN}?next={ACCOUNT}"


def test_account_page_lists_own_organisations_agreements_valid_now_and_requests(
    signed_in, user, organisation, finnish_survey
):
    cu = Element.objects.get(symbol="Cu")
    current = make_agreement(organisation, title="Current exact", days_to=30)
    current.elements.add(cu)
    make_agreement(
        organisation, title="Named only coarse", all_elements=False, precision_m=10_000
    ).elements.add(cu)
    make_agreement(organisation, title="Expired deal", days_from=-30, days_to=-1)
    make_agreement(organisation, title="Future deal", days_from=2)
    stranger = User.objects.create_user("kai", "kai@example.org", PASSWORD)
    other_org = Organisation.objects.create(name="Other agency", slug="other")
    Membership.objects.create(organisation=other_org, user=stranger)
    make_agreement(other_org, title="Not yours")
    AccessRequest.objects.create(user=user, survey=finnish_survey)
    AccessRequest.objects.create(
        user=stranger, survey=finnish_survey, status=AccessRequest.Status.GRANTED
    )

    html = page(signed_in.get(ACCOUNT))
    assert "Geological Survey of Finland" in html
    assert "Other agency" not in html
    assert "Current exact" in html and "Named only coarse" in html
    for hidden in ("Expired deal", "Future deal", "Not yours"):
        assert hidden not in html
    assert "all non-confidential" in html
    assert "10 km cells" in html and "exact" in html
    assert (timezone.now().date() + dt.timedelta(days=30)).isoformat() in html
    assert "no end date" in html
    assert reverse("sharing:licence-accept", args=[current.pk]) in html
    assert "Read and accept the licence" in html
    assert "Finnish till" in html and "pending" in html
    assert "granted" not in html  # the other user's request
    assert reverse("password_change") in html
    assert "You have no API token." in html
    assert "Authorization: Token &lt;key&gt;" in html
    assert "http://testserver/api/v1/measurements/?element=Cu" in html
    assert "no-store" in signed_in.get(ACCOUNT)["Cache-Control"]


def test_account_page_of_a_user_without_organisations_says_so(signed_in):
    html = page(signed_in.get(ACCOUNT))
    assert "You are not a member of any organisation." in html
    assert "you see the public release only" in html


# --- API tokens ----------------------------------------------------------------------------------


def created_key(client, name: str = "") -> str:
    """Create a token through the account page and read its key from the one-time display."""
    html = page(client.post(reverse("sharing:token-create"), {"name": name}, follow=True))
    return re.search(r'id="new-token" class="token-key" type="text" value="([0-9a-f]+)"', html)[1]


def test_creating_a_token_shows_the_full_key_once_then_only_its_start(signed_in, user):
    key = created_key(signed_in, "QGIS")
    token = ApiToken.objects.get(user=user)
    assert token.name == "QGIS" and token.prefix == key[:8]
    assert token.key_digest == hashlib.sha256(key.encode()).hexdigest()  # the key is not stored
    html = page(signed_in.get(ACCOUNT))
    assert key not in html
    assert f"{key[:8]}…" in html and "QGIS" in html
    assert token.created.date().isoformat() in html and "never" in html


def test_token_buttons_accept_only_post_with_a_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(reverse("sharing:token-create")).status_code == 405
    assert client.post(reverse("sharing:token-create")).status_code == 403
    assert not ApiToken.objects.filter(user=user).exists()
    html = page(client.get(ACCOUNT))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post(reverse("sharing:token-create"), {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 302
    assert ApiToken.objects.filter(user=user).exists()


def test_token_buttons_require_sign_in(client):
    response = client.post(reverse("sharing:token-create"))
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert not ApiToken.objects.exists()


def test_several_named_tokens_work_side_by_side_and_each_is_revoked_alone(
    signed_in, user, agreement, finnish_survey
):
    laptop, server = created_key(signed_in, "laptop"), created_key(signed_in, "server")
    assert laptop != server and ApiToken.objects.filter(user=user).count() == 2
    for key in (laptop, server):
        assert sample_codes(token_client(key).get(SAMPLES_API)) == {"FI-1", "FI-2"}
    # The last use is recorded (and shown on the account page).
    assert ApiToken.objects.get(name="laptop").last_used is not None
    # A second token of the same name is refused with a message; nothing is replaced.
    html = page(signed_in.post(reverse("sharing:token-create"), {"name": "laptop"}, follow=True))
    assert "already have a token of that name" in html
    assert ApiToken.objects.filter(user=user).count() == 2
    # Revoking one leaves the other working.
    token = ApiToken.objects.get(name="laptop")
    signed_in.post(reverse("sharing:token-revoke", args=[token.pk]))
    assert token_client(laptop).get(SAMPLES_API).status_code == 401
    assert sample_codes(token_client(server).get(SAMPLES_API)) == {"FI-1", "FI-2"}
    # Another user's token id revokes nothing.
    other = ApiToken.objects.get(name="server")
    outsider = User.objects.create_user("kai", "kai@example.org", PASSWORD)
    intruder = Client()
    intruder.force_login(outsider)
    intruder.post(reverse("sharing:token-revoke", args=[other.pk]))
    assert ApiToken.objects.filter(pk=other.pk).exists()


def test_token_authenticates_api_calls_with_the_users_rights(
    signed_in, user, agreement, finnish_survey
):
    key = created_key(signed_in)
    assert sample_codes(token_client(key).get(SAMPLES_API)) == {"FI-1", "FI-2"}
    # Finland has no release policy: without the token nothing of it is visible.
    assert sample_codes(Client().get(SAMPLES_API)) == set()
    # A token of a user outside the organisation sees nothing either.
    outsider = User.objects.create_user("kai", "kai@example.org", PASSWORD)
    assert sample_codes(token_client(api_token(outsider)).get(SAMPLES_API)) == set()
    # Non-public rows read with the token are in the audit log under the user.
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS, user=user).exists()


def _revoked_token_response(signed_in, user):
    key = created_key(signed_in)
    assert token_client(key).get(SAMPLES_API).status_code == 200
    token = ApiToken.objects.get(user=user)
    response = signed_in.post(reverse("sharing:token-revoke", args=[token.pk]), follow=True)
    html = page(response)
    assert "The API token was revoked." in html and "You have no API token." in html
    assert not ApiToken.objects.filter(user=user).exists()
    return token_client(key).get(SAMPLES_API)


def test_a_revoked_token_is_refused_with_a_json_reason(signed_in, user, agreement, finnish_survey):
    response = _revoked_token_response(signed_in, user)
    assert response.status_code in (401, 403)
    body = response.json()
    assert body["reason"] == "Invalid token."
    assert "features" not in body


def test_a_revoked_token_is_refused_with_401(signed_in, user, agreement, finnish_survey):
    response = _revoked_token_response(signed_in, user)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# --- licences ------------------------------------------------------------------------------------


def licence_url(agreement) -> str:
    return reverse("sharing:licence-accept", args=[agreement.pk])


def test_licence_page_shows_the_text_and_an_accept_form(signed_in, pending_agreement):
    html = page(signed_in.get(licence_url(pending_agreement)))
    assert "Do not redistribute raw values." in html
    assert 'name="accept"' in html and "I accept" in html
    assert "grants you nothing" in html


def test_accepting_a_licence_records_the_version_digest_and_an_audit_event(
    signed_in, user, pending_agreement
):
    agreement = pending_agreement
    text = "Cite the survey. Do not redistribute raw values."
    response = signed_in.post(licence_url(agreement), {"accept": "on"})
    assert response.status_code == 302 and response.url == ACCOUNT
    acceptance = LicenceAcceptance.objects.get(user=user, agreement=agreement)
    assert acceptance.licence_text == text and acceptance.licence_version == 1
    assert acceptance.licence_sha256 == hashlib.sha256(text.encode()).hexdigest()
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.LICENCE)
    assert event.user == user and agreement.title in event.summary
    assert event.after == {"licence_version": 1, "licence_sha256": acceptance.licence_sha256}
    html = page(signed_in.get(licence_url(agreement)))
    assert "version 1 accepted on" in html and 'name="accept"' not in html
    # Accepting again records nothing new.
    signed_in.post(licence_url(agreement), {"accept": "on"})
    assert LicenceAcceptance.objects.count() == 1
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LICENCE).count() == 1
    html = page(signed_in.get(ACCOUNT))
    assert "accepted on" in html and "Read and accept the licence" not in html


def test_a_new_licence_text_is_a_new_version_that_needs_a_new_acceptance(
    signed_in, user, agreement, finnish_survey
):
    assert sample_codes(signed_in.get(SAMPLES_API)) == {"FI-1", "FI-2"}
    agreement.licence_text = "A later, stricter licence."
    agreement.save()
    agreement.refresh_from_db()
    assert agreement.licence_version == 2
    # The old acceptance keeps its text; the agreement grants nothing until v2 is accepted.
    old = LicenceAcceptance.objects.get(user=user, agreement=agreement)
    assert old.licence_text == "Cite the survey. Do not redistribute raw values."
    assert sample_codes(signed_in.get(SAMPLES_API)) == set()
    html = page(signed_in.get(licence_url(agreement)))
    assert "The text you accepted" in html and 'name="accept"' in html
    assert "version 2 needs your acceptance" in html
    signed_in.post(licence_url(agreement), {"accept": "on"})
    assert LicenceAcceptance.objects.filter(user=user, agreement=agreement).count() == 2
    assert sample_codes(signed_in.get(SAMPLES_API)) == {"FI-1", "FI-2"}


def test_before_acceptance_an_agreement_grants_nothing_and_says_why(
    signed_in, user, pending_agreement, finnish_survey
):
    # Rows: what an anonymous visitor sees (Finland has no policy: nothing).
    assert sample_codes(signed_in.get(SAMPLES_API)) == set()
    # A request naming the agreement's data is refused with the licence to accept.
    for url in (SAMPLES_API + "?country=FIN", "/api/v1/measurements/?country=fin&element=Cu"):
        response = signed_in.get(url)
        assert response.status_code == 403, url
        body = response.json()
        assert body["error"] == "licence_not_accepted" and "licence" in body["reason"]
        assert body["licence_url"].endswith(licence_url(pending_agreement))
    key = created_key(signed_in)
    assert token_client(key).get(SAMPLES_API + "?country=FIN").status_code == 403
    # Every page says why, with the link to accept.
    html = page(signed_in.get("/map/"))
    assert "grants you nothing until you accept its licence" in html
    assert licence_url(pending_agreement) in html
    # Other countries' data is not refused.
    assert signed_in.get(SAMPLES_API + "?country=USA").status_code == 200
    licence_accept(user=user, agreement=pending_agreement)
    assert sample_codes(signed_in.get(SAMPLES_API + "?country=FIN")) == {"FI-1", "FI-2"}
    assert "grants you nothing" not in page(signed_in.get("/map/"))


def test_accepting_without_ticking_the_box_records_nothing(signed_in, pending_agreement):
    html = page(signed_in.post(licence_url(pending_agreement), {}))
    assert "Tick the box to accept the licence." in html
    assert not LicenceAcceptance.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.LICENCE).exists()


def test_licence_page_is_404_for_non_members_as_for_a_missing_agreement(client, pending_agreement):
    agreement = pending_agreement
    outsider = User.objects.create_user("kai", "kai@example.org", PASSWORD)
    client.force_login(outsider)
    assert client.get(licence_url(agreement)).status_code == 404
    assert client.post(licence_url(agreement), {"accept": "on"}).status_code == 404
    missing = client.get(reverse("sharing:licence-accept", args=[agreement.pk + 1000]))
    assert missing.status_code == 404
    assert not LicenceAcceptance.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.LICENCE).exists()


def test_licence_page_asks_anonymous_visitors_to_sign_in(client, pending_agreement):
    agreement = pending_agreement
    response = client.get(licence_url(agreement))
    assert response.status_code == 302 and response.url.startswith(LOGIN)
