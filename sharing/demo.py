"""Demo policies and accounts that show the release rules at work on the demo surveys.

- USA: fully public (CC BY 4.0). The policy is the country's, so it releases both USA surveys
  alike: the real USGS DS 801 round and the labelled synthetic 2020 round at its sites.
- Finland: public, but locations only as 20 km cell centroids.
- Norway: public, with Ni confidential.
- Russia: data available on a future date (public maps before release at 80 km, k = 3).
- "Barents Geoscience Partners": an agreement for Russia and Norway, Ni included, exact locations.
Accounts: a steward for Norway and Russia, a partner member, and a registered researcher.
"""

from __future__ import annotations

import datetime as dt
import os

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from baselines.models import Country, Element

from .models import Agreement, Membership, Organisation, ReleasePolicy, Stewardship

DEMO_PASSWORD = os.environ.get("CHEMEARTH_DEMO_PASSWORD", "chemearth-demo")
DEMO_USERS = [
    # username, role shown to the person running the demo
    ("steward", "country steward of Norway and Russia"),
    ("partner", "member of Barents Geoscience Partners (agreement: Russia, Norway incl. Ni)"),
    ("researcher", "registered user without agreements"),
]


def future_release_date(today: dt.date | None = None) -> dt.date:
    """Russia's demo release date: the next 1 June at least six months ahead."""
    today = today or timezone.now().date()
    for year in range(today.year, today.year + 3):
        day = dt.date(year, 6, 1)
        if (day - today).days >= 180:
            return day
    raise AssertionError("unreachable: a 1 June within three years is six months ahead")


@transaction.atomic
def demo_policies_load() -> list[str]:
    """Create the demo policies, organisation, agreement and accounts if missing."""
    created = []
    country = {code: Country.objects.by_code(code) for code in ("USA", "FIN", "NOR", "RUS")}
    ni = Element.objects.get(symbol="Ni")
    specs = {
        "USA": {"in_force": True, "citation": "USGS DS 801 (Smith et al., 2013)"},
        "FIN": {"in_force": True, "public_precision_m": 20_000},
        "NOR": {"in_force": True},
        "RUS": {
            "in_force": True,
            "available_on": future_release_date(),
            "prerelease_scale_m": 80_000,
            "prerelease_min_samples": 3,
        },
    }
    for code, fields in specs.items():
        policy, made = ReleasePolicy.objects.get_or_create(country=country[code], defaults=fields)
        if made:
            created.append(f"release policy for {code}")
            if code == "NOR":
                policy.confidential_elements.add(ni)

    User = get_user_model()
    users = {}
    for username, _role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username, f"{username}@chemearth.invalid", DEMO_PASSWORD
            )
            created.append(f"account {username}")
        users[username] = user
    for code in ("NOR", "RUS"):
        Stewardship.objects.get_or_create(user=users["steward"], country=country[code])

    organisation, _ = Organisation.objects.get_or_create(
        slug="barents-geoscience-partners",
        defaults={"name": "Barents Geoscience Partners", "country": country["NOR"]},
    )
    Membership.objects.get_or_create(organisation=organisation, user=users["partner"])
    if not organisation.agreements.exists():
        agreement = Agreement.objects.create(
            organisation=organisation,
            title="Barents baseline partnership",
            all_elements=True,
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2030, 12, 31),
            licence_text=(
                "Licensed to Barents Geoscience Partners for research and environmental "
                "assessment. No redistribution of sample-level data; cite Reimann et al. (1998)."
            ),
        )
        agreement.countries.add(country["NOR"], country["RUS"])
        agreement.elements.add(ni)
        created.append("partner agreement")
    return created
