"""Steward pages: policy edit with audit and preview, 404 for other countries, access decisions.

Data comes from ``survey_ingest`` on tiny CSVs of Norwegian samples; every count is checked
against the access gate itself (``Sample.objects.visible_to``), never a second copy of the rules.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element, Survey
from sharing.access import viewer_scope, visible_measurements, visible_samples
from sharing.models import (
    AccessRequest,
    Agreement,
    AuditEvent,
    Membership,
    Organisation,
    ReleasePolicy,
    Stewardship,
    SurveyEmbargo,
)
from sharing.services import access_request_create, licence_accept

pytestmark = pytest.mark.django_db

HEADER = ["sample_id", "longitude", "latitude", "Cu_ppm", "Ni_ppm"]
OSLO_ROWS = [
    ["N-1", 10.70, 59.90, 21.0, 14.0],
    ["N-2", 10.80, 60.00, 18.5, 11.0],
    ["N-3", 10.60, 59.95, 30.2, 25.0],
]
FUTURE = dt.date(2099, 1, 1)


def ingest_norway(write_csv, name: str = "Oslo topsoil", rows=OSLO_ROWS) -> Survey:
    path = write_csv([HEADER, *rows], name=f"{name.replace(' ', '_')}.csv")
    survey_ingest(
        path=path,
        options=IngestOptions(survey=name, medium="topsoil", scale_km=10, country="NOR"),
    )
    return Survey.objects.get(name=name)


def public_counts(country: Country) -> tuple[int, int]:
    scope = viewer_scope(None)
    return (
        visible_samples(scope).filter(country=country).count(),
        visible_measurements(scope).filter(sample__country=country).count(),
    )


def policy_post(survey: Survey | None = None, **overrides) -> dict:
    """The policy form as a browser would post it (booleans omitted when false)."""
    data = {
        "in_force": "on",
        "available_on": "",
        "confidential_elements": [],
        "public_precision_m": "",
        "prerelease_scale_m": "",
        "prerelease_min_samples": "3",
        "licence": "CC BY 4.0",
        "citation": "",
    }
    if survey is not None:
        data[f"survey_{survey.pk}"] = ""
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def norway() -> Country:
    return Country.objects.by_code("NOR")


@pytest.fixture
def survey(write_csv) -> Survey:
    return ingest_norway(write_csv)


@pytest.fixture
def open_policy(norway) -> ReleasePolicy:
    """Norway publishes everything now."""
    return ReleasePolicy.objects.create(country=norway, in_force=True)


@pytest.fixture
def steward(django_user_model, norway):
    user = django_user_model.objects.create_user("nora", "nora@example.org", "pw-steward-1")
    Stewardship.objects.create(user=user, country=norway)
    return user


@pytest.fixture
def steward_client(client, steward):
    client.force_login(steward)
    return client


def policy_url(code: str = "NOR") -> str:
    return reverse("sharing:policy-edit", kwargs={"country": code})


# --- policy edit and audit ----------------------------------------------------------------------


def test_policy_page_lists_measured_elements_first(steward_client, survey, open_policy):
    response = steward_client.get(policy_url())
    assert response.status_code == 200
    form = response.context["form"]
    measured = [box.data["label"].split(" ")[0] for box in form.measured_boxes()]
    assert measured == ["Ni", "Cu"]  # by atomic number: Ni 28, Cu 29
    assert len(form.other_boxes()) == Element.objects.count() - 2
    assert response.context["current"].samples == 3
    assert "embargoed" not in response.content.decode().lower()


def test_steward_edit_writes_audit_event_with_before_and_after(
    steward_client, steward, survey, open_policy, norway
):
    cu = Element.objects.get(symbol="Cu")
    response = steward_client.post(
        policy_url(),
        policy_post(survey, confidential_elements=[cu.pk], public_precision_m="10000"),
        follow=True,
    )
    assert response.redirect_chain == [(policy_url(), 302)]
    assert "was saved" in response.content.decode()

    open_policy.refresh_from_db()
    assert list(open_policy.confidential_elements.values_list("symbol", flat=True)) == ["Cu"]
    assert open_policy.public_precision_m == 10_000
    assert open_policy.updated_by == steward

    event = AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY, user=steward)
    assert event.country == norway
    assert event.before["confidential_elements"] == []
    assert event.after["confidential_elements"] == ["Cu"]
    assert event.before["public_precision_km"] is None
    assert event.after["public_precision_km"] == 10
    assert public_counts(norway) == (3, 3)

    # The audit log shows the change as a before/after table.
    log = steward_client.get(reverse("sharing:audit-log", kwargs={"country": "NOR"}))
    assert log.status_code == 200
    (logged, changes), *_ = log.context["rows"]
    assert logged == event
    assert ("confidential elements", "—", "Cu") in changes
    assert {c[0] for c in changes} == {"confidential elements", "public location precision (km)"}


def test_policy_created_when_missing(steward_client, steward, survey, norway):
    assert not ReleasePolicy.objects.filter(country=norway).exists()
    assert steward_client.get(policy_url()).status_code == 200
    assert not ReleasePolicy.objects.filter(country=norway).exists()  # GET writes nothing
    assert public_counts(norway) == (0, 0)

    steward_client.post(policy_url(), policy_post(survey))
    assert ReleasePolicy.objects.get(country=norway).in_force
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY, user=steward)
    assert event.before is None and event.after["in_force"] is True
    assert public_counts(norway) == (3, 6)


def test_survey_dates_are_saved_removed_and_audited(
    steward_client, steward, survey, open_policy, norway
):
    steward_client.post(policy_url(), policy_post(survey, **{f"survey_{survey.pk}": "2099-01-01"}))
    assert SurveyEmbargo.objects.get(survey=survey).available_on == FUTURE
    assert public_counts(norway) == (0, 0)
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY, user=steward)
    assert event.before == {survey.name: None}
    assert event.after == {survey.name: "2099-01-01"}
    assert event.path == policy_url()

    steward_client.post(policy_url(), policy_post(survey))  # blank removes the override
    assert not SurveyEmbargo.objects.filter(survey=survey).exists()
    assert public_counts(norway) == (3, 6)
    latest = AuditEvent.objects.filter(kind=AuditEvent.Kind.POLICY, user=steward).first()
    assert latest.before == {survey.name: "2099-01-01"} and latest.after == {survey.name: None}


def test_invalid_policy_is_not_saved(steward_client, steward, survey, open_policy):
    response = steward_client.post(
        policy_url(), policy_post(survey, public_precision_m="20000", prerelease_scale_m="10000")
    )
    assert response.status_code == 200
    assert "prerelease_scale_m" in response.context["form"].errors
    open_policy.refresh_from_db()
    assert open_policy.public_precision_m is None
    assert not AuditEvent.objects.filter(user=steward).exists()


# --- preview ------------------------------------------------------------------------------------


def snapshot(country: Country, steward) -> dict:
    """What a preview must leave untouched (scoped to this test's rows: other test runs may
    share the database)."""
    policy = ReleasePolicy.objects.filter(country=country).first()
    return {
        "policy": policy and (policy.in_force, policy.available_on, policy.public_precision_m),
        "confidential": policy
        and sorted(policy.confidential_elements.values_list("pk", flat=True)),
        "embargoes": list(
            SurveyEmbargo.objects.filter(survey__countries=country).values_list(
                "survey_id", "available_on"
            )
        ),
        "audit": AuditEvent.objects.filter(user=steward).count(),
        "public": public_counts(country),
    }


@pytest.mark.parametrize(
    "change, samples, by_element",
    [
        ("confidential_cu", 4, {"Ni": 4}),
        ("survey_date", 3, {"Ni": 3, "Cu": 3}),
        ("not_in_force", 0, {}),
    ],
)
def test_preview_writes_nothing_and_reports_the_gates_counts(
    steward_client, steward, write_csv, survey, open_policy, norway, change, samples, by_element
):
    other = ingest_norway(write_csv, name="Oslo subsoil", rows=[["S-1", 10.75, 59.92, 10.0, 9.0]])
    cu = Element.objects.get(symbol="Cu")
    overrides = {
        "confidential_cu": {"confidential_elements": [cu.pk]},
        "survey_date": {f"survey_{other.pk}": "2099-01-01"},
        "not_in_force": {"in_force": None},
    }[change]
    data = {**policy_post(survey), f"survey_{other.pk}": "", **overrides}
    data = {k: v for k, v in data.items() if v is not None}
    before = snapshot(norway, steward)
    assert before["public"] == (4, 8)

    response = steward_client.post(policy_url(), {**data, "preview": "1"})

    assert response.status_code == 200
    assert snapshot(norway, steward) == before  # nothing written, nothing left behind
    preview = response.context["preview"]
    assert (preview.current.samples, preview.current.measurements) == (4, 8)
    assert preview.proposed.samples == samples
    assert preview.proposed.by_element == by_element
    html = response.content.decode()
    assert (
        f"With this policy, the public would see {samples} samples / "
        f"{sum(by_element.values())} measurements of these elements:" in html
    )

    # Saving the same form makes the gate give exactly what the preview said.
    steward_client.post(policy_url(), data)
    assert snapshot(norway, steward)["audit"] > before["audit"]
    assert public_counts(norway) == (preview.proposed.samples, preview.proposed.measurements)
    gate = (
        visible_measurements(None)
        .filter(sample__country=norway)
        .values_list("element__symbol")
        .annotate(n=Count("pk"))
    )
    assert dict(gate) == preview.proposed.by_element


# --- who may see what ---------------------------------------------------------------------------


def test_steward_of_norway_gets_404_for_russia(steward_client, survey, open_policy):
    for url in [
        policy_url("RUS"),
        reverse("sharing:audit-log", kwargs={"country": "RUS"}),
        reverse("sharing:audit-log", kwargs={"country": "all"}),
        policy_url("XYZ"),
    ]:
        assert steward_client.get(url).status_code == 404, url
    assert steward_client.post(policy_url("RUS"), policy_post()).status_code == 404
    assert not ReleasePolicy.objects.filter(country__iso_a3="RUS").exists()
    assert steward_client.get(policy_url("NOR")).status_code == 200


def test_non_steward_gets_404_and_staff_sees_all(client, django_user_model, survey, open_policy):
    user = django_user_model.objects.create_user("ulla", password="pw-user-1")
    client.force_login(user)
    assert client.get(reverse("sharing:steward-home")).status_code == 404
    assert client.get(policy_url()).status_code == 404

    staff = django_user_model.objects.create_user("sam", password="pw-staff-1", is_staff=True)
    client.force_login(staff)
    home = client.get(reverse("sharing:steward-home"))
    assert [row["country"].code for row in home.context["rows"]] == ["NOR"]
    assert client.get(reverse("sharing:audit-log", kwargs={"country": "all"})).status_code == 200
    assert client.get(policy_url("RUS")).status_code == 200


def test_anonymous_is_redirected_to_login(client, survey):
    for url in [
        reverse("sharing:steward-home"),
        policy_url(),
        reverse("sharing:audit-log", kwargs={"country": "NOR"}),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")
    response = client.post(reverse("sharing:request-decide", kwargs={"pk": 1}))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- access requests ----------------------------------------------------------------------------


@pytest.fixture
def embargoed(norway) -> ReleasePolicy:
    return ReleasePolicy.objects.create(country=norway, in_force=True, available_on=FUTURE)


@pytest.fixture
def requester(django_user_model):
    user = django_user_model.objects.create_user("rolf", "rolf@example.org", "pw-requester-1")
    organisation = Organisation.objects.create(name="Geo Agency", slug="geo-agency")
    Membership.objects.create(organisation=organisation, user=user)
    return user


def decide_url(access_request: AccessRequest) -> str:
    return reverse("sharing:request-decide", kwargs={"pk": access_request.pk})


def test_grant_creates_agreement_and_requester_sees_samples(
    steward_client, steward, survey, embargoed, requester
):
    access_request = access_request_create(user=requester, survey=survey, message="For a thesis")
    assert visible_samples(requester).filter(survey=survey).count() == 0

    home = steward_client.get(reverse("sharing:steward-home"))
    html = home.content.decode()
    assert "rolf" in html and "For a thesis" in html and survey.name in html
    assert "available on 2099-01-01" in html

    end = timezone.now().date() + dt.timedelta(days=30)
    prefix = f"request-{access_request.pk}"
    response = steward_client.post(
        decide_url(access_request),
        {f"{prefix}-decision": "grant", f"{prefix}-valid_to": end.isoformat()},
        follow=True,
    )
    assert response.redirect_chain == [(reverse("sharing:steward-home"), 302)]
    assert "rolf may see Oslo topsoil once they accept its licence" in response.content.decode()

    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.GRANTED
    assert access_request.decided_by == steward
    agreement = Agreement.objects.get(surveys=survey)
    assert access_request.agreement == agreement
    assert agreement.organisation.name == "Geo Agency"
    assert list(agreement.surveys.all()) == [survey]
    assert agreement.valid_to == end
    # Granted, but nothing to see until the requester accepts the agreement's licence.
    assert visible_samples(requester).filter(survey=survey).count() == 0
    licence_accept(user=requester, agreement=agreement)
    assert visible_samples(requester).filter(survey=survey).count() == 3
    assert visible_samples(None).filter(survey=survey).count() == 0

    # Decided requests leave the list and cannot be decided twice.
    assert access_request.pk not in [r.pk for r, _ in response.context["requests"]]
    again = steward_client.post(
        decide_url(access_request), {f"{prefix}-decision": "decline"}, follow=True
    )
    assert "already decided" in again.content.decode()
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.GRANTED


def test_decline_creates_nothing(steward_client, survey, embargoed, requester):
    access_request = access_request_create(user=requester, survey=survey)
    prefix = f"request-{access_request.pk}"
    response = steward_client.post(
        decide_url(access_request), {f"{prefix}-decision": "decline"}, follow=True
    )
    assert "was declined" in response.content.decode()
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.DECLINED
    assert access_request.agreement is None
    assert not Agreement.objects.filter(surveys=survey).exists()
    assert not Agreement.objects.filter(organisation__membership__user=requester).exists()
    assert [o.name for o in Organisation.objects.filter(membership__user=requester)] == [
        "Geo Agency"
    ]
    assert visible_samples(requester).filter(survey=survey).count() == 0


def test_decision_with_past_end_date_is_refused(steward_client, survey, embargoed, requester):
    access_request = access_request_create(user=requester, survey=survey)
    prefix = f"request-{access_request.pk}"
    response = steward_client.post(
        decide_url(access_request),
        {f"{prefix}-decision": "grant", f"{prefix}-valid_to": "2001-01-01"},
        follow=True,
    )
    assert "was not decided" in response.content.decode()
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.PENDING
    assert not Agreement.objects.filter(surveys=survey).exists()


def test_steward_of_other_country_cannot_decide(
    client, django_user_model, survey, embargoed, requester
):
    russia_steward = django_user_model.objects.create_user("ivan", password="pw-ivan-1")
    Stewardship.objects.create(user=russia_steward, country=Country.objects.by_code("RUS"))
    access_request = access_request_create(user=requester, survey=survey)
    client.force_login(russia_steward)
    home = client.get(reverse("sharing:steward-home"))
    assert home.context["requests"] == []
    prefix = f"request-{access_request.pk}"
    response = client.post(decide_url(access_request), {f"{prefix}-decision": "grant"})
    assert response.status_code == 404
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.PENDING


def test_audit_log_filters_by_kind_and_paginates(steward_client, steward, survey, norway):
    from sharing.audit import audit_record

    for i in range(55):
        audit_record(kind=AuditEvent.Kind.DOWNLOAD, user=steward, country=norway, summary=f"d{i}")
    audit_record(kind=AuditEvent.Kind.POLICY, user=steward, country=norway, summary="p")
    url = reverse("sharing:audit-log", kwargs={"country": "NOR"})
    first = steward_client.get(url)
    assert first.context["page"].paginator.count == 56
    assert len(first.context["rows"]) == 50
    assert first.context["rows"][0][0].summary == "p"  # newest first
    second = steward_client.get(url, {"page": 2})
    assert len(second.context["rows"]) == 6
    only_policy = steward_client.get(url, {"kind": "policy"})
    assert [e.summary for e, _ in only_policy.context["rows"]] == ["p"]


@pytest.mark.django_db
def test_a_steward_cannot_change_the_date_of_a_survey_shared_with_another_country(
    steward_client, survey, open_policy
):
    """A survey's date applies in all its countries; NOR's steward alone may not move SWE's."""
    survey.countries.add(Country.objects.by_code("SWE"))
    response = steward_client.post(
        policy_url(), policy_post(survey, **{f"survey_{survey.pk}": FUTURE.isoformat()})
    )

    assert response.status_code in (200, 302)
    assert not SurveyEmbargo.objects.filter(survey=survey).exists()
    page = steward_client.get(policy_url()).content.decode()
    assert "only a steward of every country of the survey can change this date" in page


@pytest.mark.django_db
def test_a_steward_of_every_country_of_a_shared_survey_can_change_its_date(
    steward_client, steward, survey, open_policy
):
    sweden = Country.objects.by_code("SWE")
    survey.countries.add(sweden)
    Stewardship.objects.create(user=steward, country=sweden)
    steward_client.post(
        policy_url(), policy_post(survey, **{f"survey_{survey.pk}": FUTURE.isoformat()})
    )
    assert SurveyEmbargo.objects.get(survey=survey).available_on == FUTURE


def test_the_request_names_its_survey_and_countries_and_is_not_offered_when_granted(
    steward_client, survey, embargoed, requester
):
    survey_url = reverse("portal:survey-detail", kwargs={"slug": survey.slug})
    client = Client()
    client.force_login(requester)
    page = client.get(survey_url).content.decode()
    assert f"Request access to {survey.name} (Norway) before release" in page
    access_request_create(user=requester, survey=survey, message="For a thesis")
    # The steward sees which survey and which countries the request is for.
    home = steward_client.get(reverse("sharing:steward-home")).content.decode()
    assert survey.name in home and "(Norway)" in home
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST, user=requester).exists()
    # Granted but not accepted: the page points to the licence, not to a new request.
    access_request = AccessRequest.objects.get(user=requester)
    prefix = f"request-{access_request.pk}"
    steward_client.post(decide_url(access_request), {f"{prefix}-decision": "grant"})
    agreement = Agreement.objects.get(surveys=survey)
    page = client.get(survey_url).content.decode()
    assert reverse("sharing:licence-accept", args=[agreement.pk]) in page
    assert "Send request to the stewards" not in page
    # Accepted: the agreement covers the survey; nothing to request.
    licence_accept(user=requester, agreement=agreement)
    page = client.get(survey_url).content.decode()
    assert "already grants you this survey" in page and "Send request" not in page
