"""Shared builders for test worlds: partners, their agreements and licence acceptances.

An agreement grants its members nothing until each has accepted its current licence version
(rule 5), so a test that wants a working partner says so with ``accepted=True`` (the default)
and one that tests the state before acceptance with ``accepted=False``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth import get_user_model

from baselines.models import Country
from sharing.models import Agreement, Membership, Organisation
from sharing.services import licence_accept


def accept_licences(user) -> None:
    """The user accepts the current licence of every agreement of their organisations."""
    for agreement in Agreement.objects.filter(organisation__membership__user=user).distinct():
        licence_accept(user=user, agreement=agreement)


def partner_with_agreement(
    countries: Iterable[str],
    *,
    username: str = "partner",
    organisation: str = "Partner agency",
    accepted: bool = True,
    valid_from: dt.date = dt.date(2000, 1, 1),
    licence_text: str = "Cite the survey.",
    **agreement_fields,
):
    """A user in an organisation holding one agreement over ``countries`` (ISO3 codes);
    returns (user, agreement)."""
    user = get_user_model().objects.create_user(username, password="x")
    org, _ = Organisation.objects.get_or_create(
        name=organisation, defaults={"slug": organisation.lower().replace(" ", "-")}
    )
    Membership.objects.create(organisation=org, user=user)
    agreement = Agreement.objects.create(
        organisation=org,
        title=agreement_fields.pop("title", f"{organisation} agreement"),
        valid_from=valid_from,
        licence_text=licence_text,
        **agreement_fields,
    )
    agreement.countries.set([Country.objects.by_code(code) for code in countries])
    if accepted:
        licence_accept(user=user, agreement=agreement)
    return user, agreement


def ingest_survey(
    write_csv,
    rows: Iterable[Iterable],
    *,
    country: str,
    name: str | None = None,
    header: Iterable[str] = ("sample_id", "longitude", "latitude", "Cu_ppm"),
    medium: str = "topsoil",
    scale_km: float = 10,
):
    """Ingest a small survey of ``rows`` (under ``header``) for one country, as the ``ingest``
    command would; returns the Survey. ``write_csv`` is the conftest fixture."""
    from baselines.ingest import IngestOptions, survey_ingest
    from baselines.models import Survey

    name = name or f"{country} soils"
    path = write_csv([list(header), *map(list, rows)], name=f"{name}.csv")
    survey_ingest(
        path=path,
        options=IngestOptions(survey=name, medium=medium, scale_km=scale_km, country=country),
    )
    return Survey.objects.get(name=name)


def api_token(user, name: str = "test") -> str:
    """A new named API token of the user; returns its key (``Authorization: Token <key>``)."""
    from sharing.services import api_token_create

    return api_token_create(user=user, name=name)[1]
