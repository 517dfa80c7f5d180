"""Leak test: walk EVERY URL of the URL map and look for secret data in every response.

The URL map is introspected at test time (``django.urls.get_resolver()``, recursively), so an
endpoint added later is walked without touching this file. Each URL parameter gets candidate
values from real objects (``candidates_by_name`` / ``CANDIDATES_BY_CONVERTER`` below: add a line
there when a new parameter name appears); parameterless pages that answer 200 are also tried with
the common query strings of ``query_strings``.

The data: tiny surveys loaded with ``survey_ingest`` from CSVs written here, with values and
coordinates that cannot appear by chance:

    A  RUS  policy in force, available on in ten years     everything secret (embargo)
    B  NOR  public, Ni confidential                       Ni values secret, Cu public
    C  FIN  public at 20 km precision                     exact coordinates and fine cells secret
    D  SWE  no policy at all                              everything secret (rule 1)
    E  NOR  survey embargo (SurveyEmbargo) in ten years   everything secret
    F  RUS  survey embargo ended (opened early)           public (positive control)
    G  DNK  a policy that is not in force                 everything secret
    H  EST  no policy; the partner's agreement covers it  secret from the public, the partner's
    I  FIN  public at 20 km; the partner's agreement      exact coordinates secret from the
            grants this survey at exact locations         public (C's stay secret from the partner)

Viewers, each walked over the whole URL map:

- the anonymous public;
- a researcher: a registered, signed-in user of no organisation (sees what the public sees);
- a partner whose organisation has current agreements (EST; NOR limited to survey B without
  naming Ni; FIN at 40 km; FIN survey I at exact locations), accepted, an expired agreement (RUS,
  SWE, DNK) and a future one (RUS, SWE) -- walked twice: signed in (session), and by API token
  (a client that is not signed in and sends ``Authorization: Token <key>``). On ``/api/v1/`` and
  ``/tiles/`` the two walks must get identical answers;
- a partner before acceptance: a member of another organisation whose current agreement WOULD
  grant every secret (RUS, SWE, DNK, EST, FIN exactly, NOR with Ni named) but whose licence they
  never accepted: they must see what the public sees (every secret stays hidden); after
  ``licence_accept`` a few URLs do show the secrets (positive control for this viewer);
- staff, whose walk must FIND the secrets (positive control: a walk that finds nothing for staff
  proves nothing).

A bad API token (``Token nonsense``) is a 401 with a JSON reason on every ``/api/v1/`` and
``/tiles/`` URL.
"""

from __future__ import annotations

import datetime as dt
import gzip
import html
import io
import itertools
import re
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import get_converters
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django.utils.regex_helper import normalize

from baselines import grid
from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element, Measurement, Sample, Survey
from sharing.models import (
    AccessRequest,
    Agreement,
    ApiToken,
    Membership,
    Organisation,
    ReleasePolicy,
    SurveyEmbargo,
    token_digest,
)
from sharing.services import licence_accept
from tests.worlds import api_token, partner_with_agreement

pytestmark = pytest.mark.django_db

ANON, PARTNER, STAFF = "anonymous", "partner", "staff"
RESEARCHER = "researcher"  # signed in, member of no organisation
PARTNER_TOKEN = "partner-by-token"  # PARTNER's user, not signed in, Authorization: Token <key>
PENDING = "partner-before-acceptance"  # member of an agreement whose licence is not accepted
BAD_TOKEN = "bad-token"  # not signed in, Authorization: Token nonsense
# Each viewer's secrets are those of the viewer whose rights they have (see _define_secrets).
SAME_RIGHTS_AS = {RESEARCHER: ANON, PENDING: ANON, PARTNER_TOKEN: PARTNER}

# Cap on the parameter combinations tried per URL pattern (a walk stays at a few hundred requests).
MAX_COMBINATIONS = 24
# A walk longer than this is a test that nobody runs: keep the candidate tables small. (Requests,
# not seconds: the machine may be shared; each request costs ~20 ms of CPU here.) The module walks
# six viewers in full (anonymous, researcher, partner by session and by token, partner before
# acceptance, staff: ~1,000 requests each, ~430 of them the dashboards') plus the bad-token
# requests: about 150 s in all. The
# comparisons between walks reuse their recorded answers and ask again only where they differ.
MAX_REQUESTS_PER_WALK = 1_200


# Known, unfixed problems these tests found (docs/security.md): test name -> what is wrong. Each
# such test is marked ``xfail(strict=True)``: when the problem is fixed the test "unexpectedly
# passes" and fails the run -- then delete the entry and the marker.
KNOWN_LEAKS: dict[str, str] = {}

# --- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    code: str
    lon: float
    lat: float
    cu: float
    ni: float


@dataclass(frozen=True)
class SurveySpec:
    key: str
    name: str
    country: str
    rows: tuple[Row, ...]
    hidden_from: frozenset[str]  # viewers who may see none of its samples
    ni_hidden_from: frozenset[str] = frozenset()  # viewers who may not see its Ni values
    exact_hidden_from: frozenset[str] = frozenset()  # viewers who see only snapped locations
    precision_m: int = 0  # the snapping cell size for ``exact_hidden_from``


PUBLIC = frozenset()
NOT_STAFF = frozenset({ANON, PARTNER})

SPECS = (
    SurveySpec(
        "A", "Leak test A: RUS country embargo", "RUS",
        (Row("LKQA1-RZV", 37.614729, 55.758316, 7331.8713, 9173.2281),
         Row("LKQA2-RZW", 39.718364, 57.626183, 7412.6359, 9284.5172)),
        hidden_from=NOT_STAFF,
    ),
    SurveySpec(
        "B", "Leak test B: NOR nickel confidential", "NOR",
        (Row("LKQB1-NOX", 10.752841, 59.913627, 31.4159, 8642.1357),
         Row("LKQB2-NOY", 8.469173, 60.472819, 27.1828, 8531.9753)),
        hidden_from=PUBLIC, ni_hidden_from=NOT_STAFF,
    ),
    SurveySpec(
        "C", "Leak test C: FIN 20 km precision", "FIN",
        (Row("LKQC1-FIZ", 25.123457, 62.765431, 41.2732, 52.6183),
         Row("LKQC2-FIQ", 24.941736, 60.173159, 44.8391, 57.2946)),
        hidden_from=PUBLIC, exact_hidden_from=NOT_STAFF, precision_m=20_000,
    ),
    SurveySpec(
        "D", "Leak test D: SWE without policy", "SWE",
        (Row("LKQD1-SWK", 18.068416, 59.329371, 6137.2419, 5926.3817),
         Row("LKQD2-SWJ", 15.123987, 62.387413, 6248.7531, 5837.1249)),
        hidden_from=NOT_STAFF,
    ),
    SurveySpec(
        "E", "Leak test E: NOR survey embargo", "NOR",
        (Row("LKQE1-NEV", 5.324718, 60.391264, 4719.3682, 4826.5193),
         Row("LKQE2-NEU", 10.395147, 63.430582, 4937.1846, 4658.2731)),
        hidden_from=NOT_STAFF,
    ),
    SurveySpec(
        "F", "Leak test F: RUS survey opened early", "RUS",
        (Row("LKQF1-ROP", 30.318452, 59.937146, 61.9273, 73.1846),),
        hidden_from=PUBLIC,
    ),
    SurveySpec(
        "G", "Leak test G: DNK policy not in force", "DNK",
        (Row("LKQG1-DKM", 9.501739, 56.263428, 3816.4927, 3927.6158),
         Row("LKQG2-DKL", 10.203914, 56.162839, 3751.2964, 3682.8417)),
        hidden_from=NOT_STAFF,
    ),
    SurveySpec(
        "H", "Leak test H: EST for the partner only", "EST",
        (Row("LKQH1-ETS", 25.483619, 58.712947, 2718.3649, 2839.4716),
         Row("LKQH2-ETT", 24.753274, 59.436981, 2694.1538, 2573.6192)),
        hidden_from=frozenset({ANON}),
    ),
    SurveySpec(
        "I", "Leak test I: FIN survey the partner sees exactly", "FIN",
        (Row("LKQI1-FIR", 27.681937, 62.892416, 38.5127, 46.2913),
         Row("LKQI2-FIS", 23.761294, 61.498163, 35.9462, 48.3751)),
        hidden_from=PUBLIC, exact_hidden_from=frozenset({ANON}), precision_m=20_000,
    ),
)  # fmt: skip


@dataclass
class World:
    surveys: dict[str, Survey]
    samples: dict[str, Sample]  # by code
    measurements: dict[tuple[str, str], Measurement]  # (sample code, element symbol)
    agreements: list[Agreement]
    access_requests: list[AccessRequest]
    organisations: list[Organisation]
    users: dict[str, object]
    missing_sample_id: int
    missing_measurement_id: int
    partner_token: str  # PARTNER's API token key (PARTNER_TOKEN walks with it)
    pending_agreement: Agreement  # PENDING's agreement, licence never accepted
    # Green-land certificates (issued by staff, so over every row) of a unit around each of
    # these surveys' first sample: their public pages and units are walked too.
    unit_codes: list[str] = field(default_factory=list)
    certificate_ids: list[str] = field(default_factory=list)
    secrets: dict[str, list[Secret]] = field(default_factory=dict)  # by viewer
    public: list[Secret] = field(default_factory=list)  # public facts (positive controls)


def _set_policy(code: str, **fields) -> ReleasePolicy:
    country = Country.objects.by_code(code)
    policy, _ = ReleasePolicy.objects.update_or_create(country=country, defaults=fields)
    return policy


def build_world(tmp_path) -> World:
    User = get_user_model()
    today = timezone.now().date()
    far = today + dt.timedelta(days=3650)

    # Policies first (ingest does not depend on them); remove any left in a reused database.
    ReleasePolicy.objects.filter(country__iso_a3__in=["SWE", "EST"]).delete()
    _set_policy("RUS", in_force=True, available_on=far, public_precision_m=None)
    nor = _set_policy("NOR", in_force=True, available_on=None, public_precision_m=None)
    nor.confidential_elements.set([Element.objects.get(symbol="Ni")])
    _set_policy("FIN", in_force=True, available_on=None, public_precision_m=20_000)
    _set_policy("DNK", in_force=False, available_on=None, public_precision_m=None)

    surveys: dict[str, Survey] = {}
    for spec in SPECS:
        path = tmp_path / f"leak_{spec.key}.csv"
        lines = ["sample_id,longitude,latitude,Cu_ppm,Ni_ppm"]
        lines += [f"{r.code},{r.lon!r},{r.lat!r},{r.cu!r},{r.ni!r}" for r in spec.rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        survey_ingest(
            path=path,
            options=IngestOptions(
                survey=spec.name, medium="topsoil", scale_km=10, country=spec.country
            ),
        )
        surveys[spec.key] = Survey.objects.get(name=spec.name)
    SurveyEmbargo.objects.create(survey=surveys["E"], available_on=far, reason="leak test")
    SurveyEmbargo.objects.create(
        survey=surveys["F"], available_on=dt.date(2000, 1, 1), reason="leak test"
    )

    users = {
        PARTNER: User.objects.create_user("leak-partner", "partner@leak.invalid", "x"),
        STAFF: User.objects.create_user(
            "leak-staff", "staff@leak.invalid", "x", is_staff=True, is_superuser=True
        ),
        RESEARCHER: User.objects.create_user("leak-researcher", "researcher@leak.invalid", "x"),
        PENDING: User.objects.create_user("leak-pending", "pending@leak.invalid", "x"),
    }
    partner_token = api_token(users[PARTNER], name="leak walk")
    org = Organisation.objects.create(name="Leak test partner agency", slug="leak-partner-agency")
    Membership.objects.create(organisation=org, user=users[PARTNER])
    countries = {c: Country.objects.by_code(c) for c in ("RUS", "NOR", "FIN", "SWE", "DNK", "EST")}

    def agreement(title, codes, *, valid_from, valid_to=None, surveys_=(), precision_m=None):
        a = Agreement.objects.create(
            title=title,
            organisation=org,
            valid_from=valid_from,
            valid_to=valid_to,
            precision_m=precision_m,
            licence_text="leak test licence",
        )
        a.countries.set([countries[c] for c in codes])
        a.surveys.set(surveys_)
        if a.is_valid_at(timezone.now()):
            licence_accept(user=users[PARTNER], agreement=a)
        return a

    agreements = [
        # Current: EST (survey H), and NOR limited to survey B without naming Ni.
        agreement("current EST", ["EST"], valid_from=dt.date(2020, 1, 1)),
        agreement(
            "current NOR survey B", ["NOR"], valid_from=dt.date(2020, 1, 1),
            surveys_=[surveys["B"]],
        ),
        # FIN at 40 km: coarser than the public 20 km, so exact locations stay hidden.
        agreement("current FIN 40 km", ["FIN"], valid_from=dt.date(2020, 1, 1), precision_m=40_000),
        # FIN survey I at exact precision: survey C's locations stay at 20 km for the partner.
        agreement(
            "current FIN survey I exact", ["FIN"], valid_from=dt.date(2020, 1, 1),
            surveys_=[surveys["I"]],
        ),
        agreement(
            "expired", ["RUS", "SWE", "DNK"], valid_from=dt.date(2001, 1, 1),
            valid_to=dt.date(2002, 12, 31),
        ),
        agreement("future", ["RUS", "SWE"], valid_from=far),
    ]  # fmt: skip
    # The partner before acceptance: their organisation's current agreement would grant every
    # secret of the module (countries without survey limit, exact locations, Ni named), but they
    # never accepted its licence, so it grants nothing yet (rule 5).
    pending_org = Organisation.objects.create(
        name="Leak test pending agency", slug="leak-pending-agency"
    )
    Membership.objects.create(organisation=pending_org, user=users[PENDING])
    pending_agreement = Agreement.objects.create(
        title="pending RUS SWE DNK EST FIN NOR with Ni",
        organisation=pending_org,
        valid_from=dt.date(2020, 1, 1),
        licence_text="leak test licence, not accepted",
    )
    pending_agreement.countries.set(
        [countries[c] for c in ("RUS", "NOR", "FIN", "SWE", "DNK", "EST")]
    )
    pending_agreement.elements.set([Element.objects.get(symbol="Ni")])
    assert pending_agreement.is_valid_at(timezone.now())
    agreements.append(pending_agreement)
    access_requests = [
        AccessRequest.objects.create(user=users[PARTNER], survey=surveys["A"], message="please")
    ]

    samples = {
        s.code: s for s in Sample.objects.filter(survey__in=surveys.values()).select_related()
    }
    measurements = {
        (m.sample.code, m.element.symbol): m
        for m in Measurement.objects.filter(sample__survey__in=surveys.values()).select_related(
            "sample", "element"
        )
    }
    assert len(samples) == sum(len(s.rows) for s in SPECS)
    assert len(measurements) == 2 * len(samples)
    world = World(
        surveys=surveys,
        samples=samples,
        measurements=measurements,
        agreements=agreements,
        access_requests=access_requests,
        organisations=[org, pending_org],
        users=users,
        missing_sample_id=(Sample.objects.order_by("-pk").values_list("pk", flat=True)[0]) + 10**6,
        missing_measurement_id=(
            Measurement.objects.order_by("-pk").values_list("pk", flat=True)[0] + 10**6
        ),
        partner_token=partner_token,
        pending_agreement=pending_agreement,
    )
    _certificates(world, tmp_path)
    _define_secrets(world)
    return world


def _certificates(world: World, tmp_path) -> None:
    """A county unit of 0.1° around the first sample of surveys A (embargoed), B (Ni
    confidential), C (20 km), E (survey embargo), F (public) and H (partner only), each with a
    certificate staff issued (one sample is enough here: ``CERTIFICATE_MIN_SAMPLES=1``)."""
    import json

    from django.test import override_settings

    from certificates.services import certificate_issue, units_upload
    from dashboards.models import SoilStandard

    staff = world.users[STAFF]
    standard = SoilStandard.objects.get(code="gb15618-2018")
    for spec in SPECS:
        if spec.key not in "ABCEFH":
            continue
        row = spec.rows[0]
        w, e, s, n = row.lon - 0.05, row.lon + 0.05, row.lat - 0.05, row.lat + 0.05
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        feature = {"type": "Feature",
                   "properties": {"code": f"LEAK-UNIT-{spec.key}", "name": f"Leak {spec.key}"},
                   "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
        path = tmp_path / f"unit_{spec.key}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
        (unit,) = units_upload(path=path, level="county", user=staff)
        with override_settings(CERTIFICATE_MIN_SAMPLES=1):
            certificate = certificate_issue(unit=unit, standard=standard, user=staff)
        world.unit_codes.append(unit.code)
        world.certificate_ids.append(certificate.public_id)


# --- secrets and their renderings --------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    label: str
    kind: str  # value | coordinate | code | cell
    survey: str
    exact: tuple[str, ...] = ()  # plain substrings (full precision, codes)
    bounded: tuple[str, ...] = ()  # renderings that must stand alone (no digit either side)


def value_renderings(value: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(exact, bounded) strings a value in mg/kg (= ppm) may be shown as."""
    exact = {repr(value), str(value), f"{value:.6f}".rstrip("0")}
    bounded = {f"{value:g}", f"{value:.5g}", f"{value:.7g}"}  # (integers are dropped below)
    for d in range(1, 5):
        text = f"{value:.{d}f}"
        bounded.add(text)
        grouped = f"{value:,.{d}f}"
        for sep in (",", "\xa0", "\u202f", " "):
            bounded.add(grouped.replace(",", sep))
    percent = value / 10_000  # the same value in % (wt): only renderings with 5+ digits
    bounded |= {f"{percent:.5g}", f"{percent:.6g}", f"{percent:.7g}"}
    exact.add(repr(percent))
    # A rendering without decimals ("8532") could be any id or count: not a secret rendering.
    bounded = {text for text in bounded if "." in text}
    return tuple(sorted(exact)), tuple(sorted(bounded - exact))


def coordinate_renderings(value: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (repr(value),), tuple(sorted({f"{value:.{d}f}" for d in (4, 5, 6)} - {repr(value)}))


def _define_secrets(world: World) -> None:
    secrets: dict[str, list[Secret]] = {ANON: [], PARTNER: []}
    public: list[Secret] = []
    for spec in SPECS:
        for row in spec.rows:
            sample = world.samples[row.code]
            stored = {
                "Cu": world.measurements[(row.code, "Cu")].value,
                "Ni": world.measurements[(row.code, "Ni")].value,
            }
            facts: list[tuple[str, Secret]] = []  # (hidden unless ..., secret)
            for symbol, given in (("Cu", row.cu), ("Ni", row.ni)):
                exact, bounded = value_renderings(given)
                exact2, bounded2 = value_renderings(stored[symbol])
                secret = Secret(
                    f"survey {spec.key} ({spec.country}) {symbol} value of {row.code} = {given}",
                    "value",
                    spec.key,
                    tuple(sorted(set(exact) | set(exact2))),
                    tuple(sorted(set(bounded) | set(bounded2))),
                )
                facts.append((f"value:{symbol}", secret))
            for axis, given, stored_ in (
                ("lon", row.lon, sample.geom.x),
                ("lat", row.lat, sample.geom.y),
            ):
                exact, bounded = coordinate_renderings(given)
                exact2, bounded2 = coordinate_renderings(stored_)
                secret = Secret(
                    f"survey {spec.key} ({spec.country}) exact {axis} of {row.code} = {given}",
                    "coordinate",
                    spec.key,
                    tuple(sorted(set(exact) | set(exact2))),
                    tuple(sorted(set(bounded) | set(bounded2))),
                )
                facts.append(("coordinate", secret))
            facts.append(
                (
                    "code",
                    Secret(
                        f"survey {spec.key} ({spec.country}) sample code {row.code}",
                        "code",
                        spec.key,
                        (row.code, row.code.lower()),
                    ),
                )
            )
            for size in grid.SCALES_M:
                if size > 10_000:
                    continue  # a 20 km cell or coarser is no finer than the public precision
                code = sample.cell_code(size)
                facts.append(
                    (
                        "cell",
                        Secret(
                            f"survey {spec.key} ({spec.country}) {code} cell of {row.code}",
                            "cell",
                            spec.key,
                            (code, code.lower()),
                        ),
                    )
                )
            for what, secret in facts:
                for viewer in (ANON, PARTNER):
                    hidden = viewer in spec.hidden_from
                    hidden |= what == "value:Ni" and viewer in spec.ni_hidden_from
                    hidden |= what in ("coordinate", "cell") and viewer in spec.exact_hidden_from
                    if hidden:
                        secrets[viewer].append(secret)
                if (
                    not spec.hidden_from
                    and what.startswith("value")
                    and not (what == "value:Ni" and spec.ni_hidden_from)
                ):
                    public.append(secret)
    for viewer, same_as in SAME_RIGHTS_AS.items():
        secrets[viewer] = secrets[same_as]
    world.secrets = secrets
    world.public = public

    # The public sees FIN samples at 20 km cell centroids (and the partner at 40 km is merged to
    # 20 km): no rendering of a centroid may look like a secret exact coordinate by chance.
    for spec in SPECS:
        if not spec.precision_m:
            continue
        for row in spec.rows:
            for size in (spec.precision_m, 40_000):
                lon, lat = grid.parse_code(world.samples[row.code].cell_code(size)).centroid_lonlat
                for shown in (f"{round(lon, 6)!r}", f"{round(lat, 6)!r}", repr(lon), repr(lat)):
                    found = Matcher(secrets[ANON]).find(shown)
                    assert not found, f"test data: centroid {shown} looks like a secret {found}"


class Matcher:
    """Finds secret renderings in a text; ``find`` returns [(label, matched text)]."""

    def __init__(self, secrets: list[Secret]):
        self.by_text: dict[str, list[Secret]] = defaultdict(list)
        exact: set[str] = set()
        bounded: set[str] = set()
        for secret in secrets:
            for text in secret.exact:
                self.by_text[text].append(secret)
                exact.add(text)
            for text in secret.bounded:
                self.by_text[text].append(secret)
                bounded.add(text)

        def alternation(texts):
            return "|".join(re.escape(t) for t in sorted(texts, key=len, reverse=True))

        parts = []
        if exact:
            parts.append(f"(?<![0-9])(?:{alternation(exact)})")
        if bounded:
            parts.append(f"(?<![0-9])(?:{alternation(bounded)})(?![0-9])")
        self.regex = re.compile("|".join(parts)) if parts else None

    def find(self, text: str) -> list[tuple[Secret, str]]:
        if self.regex is None:
            return []
        found = []
        for match in self.regex.finditer(text):
            for secret in self.by_text[match.group(0)]:
                found.append((secret, match.group(0)))
        return found


# --- the URL map -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One leaf pattern of the URL map, with the ways of writing its URL."""

    pattern: URLPattern
    namespaces: tuple[str, ...]
    route: str  # for messages, e.g. "api/v1/samples/(?P<pk>[^/.]+)/$"
    forms: tuple[tuple[str, tuple[str, ...]], ...]  # ("api/v1/samples/%(pk)s/", ("pk",))
    converters: dict[str, str]  # parameter name -> converter name ("" for regex groups)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.namespaces

    @property
    def params(self) -> tuple[str, ...]:
        return self.forms[0][1] if self.forms else ()


def url_map() -> list[Endpoint]:
    """Every leaf pattern, by walking ``get_resolver()`` recursively (endpoints added later are
    included automatically)."""
    converter_names = {type(c): name for name, c in get_converters().items()}
    endpoints: list[Endpoint] = []

    def walk(patterns, chain, namespaces, converters):
        for p in patterns:
            conv = dict(converters)
            for name, c in getattr(p.pattern, "converters", {}).items():
                conv[name] = converter_names.get(type(c), type(c).__name__)
            if isinstance(p, URLResolver):
                walk(
                    p.url_patterns,
                    chain + (p.pattern,),
                    namespaces + ((p.namespace or p.app_name or ""),),
                    conv,
                )
                continue
            levels = [normalize(level.regex.pattern) for level in chain + (p.pattern,)]
            forms = []
            for combo in itertools.product(*levels):
                text = "".join(fmt for fmt, _ in combo)
                params = tuple(name for _, names in combo for name in names)
                forms.append((text, params))
            for params in {f[1] for f in forms}:
                for name in params:
                    conv.setdefault(name, "")
            route = "".join(str(level) for level in chain + (p.pattern,))
            endpoints.append(Endpoint(p, namespaces, route, tuple(forms), conv))

    walk(get_resolver().url_patterns, (), (), {})
    return endpoints


# Candidates by converter, used when a parameter's name has no entry in ``candidates_by_name``.
CANDIDATES_BY_CONVERTER = {
    "int": "ids",
    "slug": "slugs",
    "str": "strings",
    "path": "strings",
    "uuid": "uuids",
    "drf_format_suffix": "formats",
}


def candidate_values(world: World) -> dict[str, list[str]]:
    """Candidate values of URL parameters, by parameter name (and by converter, under the names
    that ``CANDIDATES_BY_CONVERTER`` points to). A NEW PARAMETER NAME GETS A LINE HERE."""
    # One hidden sample per hidden survey, one public sample; the same for measurements.
    sample_ids = [world.samples[spec.rows[0].code].pk for spec in SPECS if spec.key in "ADEGHBC"]
    measurement_ids = [
        world.measurements[(code, symbol)].pk
        for code, symbol in [
            ("LKQA1-RZV", "Cu"), ("LKQA2-RZW", "Ni"), ("LKQB1-NOX", "Ni"), ("LKQD1-SWK", "Cu"),
            ("LKQE1-NEV", "Ni"), ("LKQG1-DKM", "Cu"), ("LKQH1-ETS", "Ni"), ("LKQB1-NOX", "Cu"),
        ]
    ]  # fmt: skip
    other_ids = (
        [a.pk for a in world.agreements]
        + [r.pk for r in world.access_requests]
        + [world.surveys["A"].pk, world.organisations[0].pk]
    )
    missing = [world.missing_sample_id]
    ids = [str(i) for i in dict.fromkeys(sample_ids + measurement_ids + other_ids + missing)]
    slugs = [s.slug for s in world.surveys.values()] + [o.slug for o in world.organisations]
    countries = ["RUS", "NOR", "FIN", "SWE", "DNK", "EST", "rus", "SE"]
    elements = ["Cu", "Ni"]
    secret_samples = [world.samples[spec.rows[0].code] for spec in SPECS if spec.key in "ACD"]
    cells = [
        s.cell_code(size) for s in secret_samples for size in (80_000, 20_000, 10_000, 1_000, 500)
    ]
    codes = [spec.rows[0].code for spec in SPECS if spec.key in "ACD"]
    formats = ["json", "api", "csv", ".json"]
    tiles = []
    for s in secret_samples:
        for z in (3, 8):
            n = 2**z
            x = int((s.geom.x + 180) / 360 * n)
            import math

            lat = math.radians(s.geom.y)
            y = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * n)
            tiles.append((str(z), str(x), str(y)))
    strings = slugs[:4] + countries[:4] + elements + cells[:3] + codes[:2]
    return {
        # by converter (fallbacks)
        "ids": ids,
        "slugs": slugs,
        "strings": strings,
        "uuids": ["00000000-0000-0000-0000-000000000000"],
        "formats": formats,
        # by parameter name
        "pk": ids,
        "id": ids,
        "sample": [str(i) for i in sample_ids] + codes,
        "sample_id": [str(i) for i in sample_ids],
        "measurement": [str(i) for i in measurement_ids],
        "measurement_id": [str(i) for i in measurement_ids],
        "slug": slugs,
        "survey": slugs + [str(s.pk) for s in world.surveys.values()],
        "country": countries,
        "adm0_a3": countries,
        "iso_a3": countries,
        "code": ["topsoil"] + cells + codes + world.unit_codes,
        # certificates (/certificates/<id>/…) and download jobs (a UUID: none of this world)
        "public_id": world.certificate_ids + ["00000000-0000-0000-0000-000000000000"],
        "cell": cells,
        "cell_code": cells,
        "symbol": elements,
        "element": elements,
        "medium": ["topsoil"],
        # Dashboards (/dashboards/, /api/v1/dashboards/): regions whose rows are hidden, public
        # or both; both monitoring rounds; the default standard.
        "region": ["world", *(f"country:{c}" for c in countries[:3]), "continent:Europe"],
        "a": ["world", *(f"country:{c}" for c in countries[:2])],
        "b": ["world", *(f"country:{c}" for c in countries[:2])],
        "from": ["1", "2"],
        "to": ["2", "1"],
        "standard": ["gb15618-2018"],
        "scale": ["80", "20", "10", "1", "0.5", "20000", "500"],
        "scale_km": ["80", "20", "10", "1", "0.5"],
        "scale_m": ["80000", "20000", "10000", "1000", "500"],
        "format": formats,
        # OGC API (/ogcapi/): every survey's collection (hidden ones too), a missing one, and
        # hidden, public and missing sample ids as feature ids.
        "collection": ["samples", *(s.slug for s in world.surveys.values()), "no-such-survey"],
        "feature": [str(i) for i in sample_ids] + [str(world.missing_sample_id)],
        "uidb64": ["MQ", "Mg"],
        "token": ["set-password", "abc-123"],
        # Map layers (tiles, capability tiles, map images): no layer of this world is rendered,
        # so keys are ones no layer has; a capability that is no one's.
        "key": ["0" * 24, *strings[:2]],
        "expires": ["9999999999"],
        "signature": ["A" * 43],
        "fmt": ["png", "pdf"],
        "z": [t[0] for t in tiles],  # tiles: see JOINT (z, x and y are chosen together)
        "x": [t[1] for t in tiles],
        "y": [t[2] for t in tiles],
        "_tiles": tiles,
    }


# Parameters whose values are only meaningful together: their candidates are tuples.
JOINT = {("x", "y", "z"): "_tiles"}


def query_strings(world: World) -> tuple[str, list[str], list[str]]:
    """Query strings tried on every parameterless URL that answers 200: (probe, filters, formats).

    ``probe`` combines every filter at once: an endpoint whose answer to it is byte-identical to
    its answer without a query ignores them all, and gets only ``formats``. A NEW QUERY PARAMETER
    GETS A LINE HERE (in ``filters``, and in ``probe``).
    """
    fin = world.samples["LKQC1-FIZ"]
    # A small box around a snapped sample, at 2 decimals (no secret rendering in the URL).
    box = (
        f"{fin.geom.x - 0.02:.2f},{fin.geom.y - 0.02:.2f},{fin.geom.x + 0.02:.2f},"
        f"{fin.geom.y + 0.02:.2f}"
    )
    a = world.surveys["A"].slug
    probe = (
        f"?element=Ni&country=RUS&survey={a}&bbox=-180,-90,180,90&all_methods=true&limit=10000"
        "&medium=topsoil&censored=false&scale=10&q=LKQ&cell=20K-00000-00000&within_m=5000"
    )
    filters = [
        "?limit=10000",
        "?element=Cu",
        "?element=Ni&all_methods=true",
        "?bbox=-180,-90,180,90&element=Ni",
        f"?bbox={box}",
        "?country=RUS",
        "?country=SWE&all_methods=true",
        "?country=NOR&element=Ni",
        "?medium=topsoil&censored=false",
        "?scale=10&element=Ni",
        "?q=LKQ",
        "?element=Ni&within_m=5000",  # monitoring change: sites also paired by distance
    ]
    # Unfiltered lists come in pages of 100 (a shared test database may hold other surveys):
    # every survey of the module, in one page each.
    filters += [f"?survey={s.slug}&limit=10000" for s in world.surveys.values()]
    formats = ["?format=json", "?format=api&element=Ni"]
    return probe, filters, formats


def _combinations(endpoint: Endpoint, params: tuple[str, ...], table) -> list[dict[str, str]]:
    """Bounded combinations of candidate values for the parameters of one URL form."""
    lists: list[tuple[tuple[str, ...], list[tuple[str, ...]]]] = []
    rest = list(params)
    for names, key in JOINT.items():
        if set(names) <= set(rest):
            lists.append((names, list(table[key])))
            rest = [p for p in rest if p not in names]
    for name in rest:
        if name in table:
            values = table[name]
        else:
            fallback = CANDIDATES_BY_CONVERTER.get(endpoint.converters.get(name, ""), "strings")
            values = table[fallback] if endpoint.converters.get(name) else None
            if values is None:
                pytest.fail(
                    f"URL {endpoint.route!r}: no candidate values for parameter {name!r}; add them "
                    "to candidate_values() in tests/test_leaks.py"
                )
        lists.append(((name,), [(v,) for v in values]))
    if not lists:
        return [{}]
    total = 1
    for _, values in lists:
        total *= len(values)
    if total <= MAX_COMBINATIONS:
        combos = list(itertools.product(*(values for _, values in lists)))
    else:  # every value of every parameter at least once, then the first of the product
        longest = max(len(values) for _, values in lists)
        combos = [tuple(values[i % len(values)] for _, values in lists) for i in range(longest)]
        for combo in itertools.product(*(values for _, values in lists)):
            if len(combos) >= MAX_COMBINATIONS:
                break
            if combo not in combos:
                combos.append(combo)
    result = []
    for combo in combos:
        kwargs = {}
        for (names, _), values in zip(lists, combo, strict=True):
            kwargs.update(dict(zip(names, values, strict=True)))
        result.append(kwargs)
    return result


def endpoint_urls(endpoint: Endpoint, table) -> list[tuple[str, dict[str, str]]]:
    """Concrete URLs of one endpoint that resolve back to it."""
    urls = []
    for form, params in endpoint.forms:
        for kwargs in _combinations(endpoint, params, table):
            path = "/" + (form % {k: quote(str(v), safe="") for k, v in kwargs.items()})
            try:
                match = resolve(path)
            except Resolver404:
                continue
            if (
                match.func is endpoint.pattern.callback
                and match.url_name == endpoint.pattern.name
                and set(match.kwargs) >= set(params)
            ):
                urls.append((path, kwargs))
    return list(dict.fromkeys((u, tuple(sorted(k.items()))) for u, k in urls).keys())


# --- the walk ------------------------------------------------------------------------------------


@dataclass
class Hit:
    viewer: str
    url: str
    status: int
    secret: Secret
    matched: str
    context: str

    def __str__(self) -> str:
        return (
            f"LEAK  viewer={self.viewer}  GET {self.url}  -> {self.status}\n"
            f"      secret: {self.secret.label}\n"
            f"      matched {self.matched!r} in …{self.context}…"
        )


@dataclass(frozen=True)
class Answer:
    """What a walk got for one URL, as compared between viewers (``compare_answers``)."""

    status: int
    content_type: str
    text: str  # the body as the walk searched it (``walk_text``), without CSRF tokens
    kwargs: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # URL parameters


@dataclass
class WalkResult:
    viewer: str
    endpoints: int = 0
    requests: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    found_public: set[str] = field(default_factory=set)
    coincidences: list[str] = field(default_factory=list)
    per_endpoint: dict[str, list[float]] = field(default_factory=dict)  # route -> [n, seconds]
    answers: dict[str, Answer] = field(default_factory=dict)  # API and tile URLs only

    def summary(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.viewer}: {self.endpoints} URL patterns, {self.requests} requests, "
            f"{self.seconds:.1f} s ({self.cpu_seconds:.1f} s CPU in the test process); "
            f"statuses {statuses}; {len(self.hits)} secret matches"
        )


def response_text(response) -> str:
    """Decoded body (zip and gzip downloads opened), plus the headers that may carry data."""
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    parts = [body.decode("utf-8", errors="replace")]
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            parts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
    elif body[:2] == b"\x1f\x8b":
        parts.append(gzip.decompress(body).decode("utf-8", "replace"))
    for header in ("Location", "Content-Disposition", "Link", "X-Total-Count"):
        if header in response:
            parts.append(f"{header}: {response[header]}")
    return "\n".join(parts)


def _url_forms(url: str) -> list[str]:
    """The ways a page may echo a URL: raw, decoded, percent-encoded, HTML- and JSON-escaped."""
    forms = [url, unquote(url), quote(url, safe=""), quote(url, safe="/")]
    forms += [html.escape(f) for f in forms] + [f.replace("/", "\\/") for f in forms]
    return forms


def _strip_echo(text: str, url: str, kwargs: dict[str, str]) -> str:
    """Remove what the request itself supplied (a URL echoed in a login redirect, a cell code
    echoed by a page about that cell): quoting what was asked reveals nothing."""
    echoes = set(_url_forms(url))
    for value in kwargs.values():
        # Not numbers: stripping an id could cut a secret value that contains its digits.
        if isinstance(value, str) and len(value) >= 4 and not value.isdigit():
            echoes |= {value, quote(value, safe=""), value.lower()}
    for echo in sorted((e for e in echoes if len(e) >= 4), key=len, reverse=True):
        text = text.replace(echo, "«echo»")
    return text


_CSRF = re.compile(
    r'(?<=name="csrfmiddlewaretoken" value=")[^"]*|(?<="csrfToken": ")[^"]*'
)  # form fields, and the browsable API's JSON for its scripts


def _without_csrf(text: str) -> str:
    """A CSRF token is masked anew for every response: not part of an answer's content."""
    return _CSRF.sub("«csrf»", text)


def _comparable(response, url: str, as_url: str) -> str:
    """A body without its CSRF token, its echoes of ``url`` written as echoes of ``as_url``."""
    text = _without_csrf(response_text(response))
    pairs = sorted(zip(_url_forms(url), _url_forms(as_url), strict=True), key=lambda p: -len(p[0]))
    for form, replacement in pairs:
        if form != replacement:
            text = text.replace(form, replacement)
    return text


def client_for(world: World, viewer: str) -> Client:
    """A test client as ``viewer``: signed in (session) for the viewers of ``world.users``; not
    signed in and sending an ``Authorization: Token`` header for the token viewers."""
    if viewer == PARTNER_TOKEN:
        return Client(
            raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {world.partner_token}"
        )
    if viewer == BAD_TOKEN:
        return Client(raise_request_exception=False, HTTP_AUTHORIZATION="Token nonsense")
    client = Client(raise_request_exception=False)
    if viewer != ANON:
        client.force_login(world.users[viewer])
    return client


def is_api_or_tile(url: str) -> bool:
    return url.startswith(("/api/v1/", "/tiles/"))


def walk_text(response, url: str, kwargs: dict[str, str]) -> str:
    """The text a walk searches: body and data headers, the request's own echoes removed."""
    return _strip_echo(response_text(response), url, kwargs)


def answer_of(response, url: str, kwargs: dict[str, str], text: str | None = None) -> Answer:
    """The ``Answer`` a walk records for ``response`` (``text``: its ``walk_text``, if known)."""
    return Answer(
        response.status_code,
        response.get("Content-Type", ""),
        _without_csrf(walk_text(response, url, kwargs) if text is None else text),
        tuple(sorted(kwargs.items())),
    )


def _without_our_data(client: Client, url: str, kwargs: dict[str, str], matcher) -> set[str]:
    """The secret renderings a URL still shows once this module's surveys are deleted (inside a
    savepoint, rolled back): those come from other data in a shared test database (a concurrent
    test's committed rows), not from ours, and are coincidences rather than leaks."""
    savepoint = transaction.savepoint()
    try:
        Survey.objects.filter(name__in=[spec.name for spec in SPECS]).delete()
        response = client.get(url)
        return {matched for _, matched in matcher.find(walk_text(response, url, kwargs))}
    finally:
        transaction.savepoint_rollback(savepoint)


def walk(world: World, viewer: str, secrets: list[Secret], *, confirm: bool = True) -> WalkResult:
    """GET every URL (see the module doc) as ``viewer``; ``result.hits`` are the responses that
    show one of ``secrets``. With ``confirm``, a hit counts only if it goes away when this module's
    data is removed (``_without_our_data``)."""
    matcher = Matcher(secrets)
    public_matcher = Matcher(world.public)
    table = candidate_values(world)
    probe, filters, formats = query_strings(world)
    client = client_for(world, viewer)
    result = WalkResult(viewer)
    started = time.monotonic()
    cpu_started = time.process_time()

    def get(url: str, kwargs: dict[str, str]):
        response = client.get(url)  # follows no redirects
        if viewer in world.users and "_auth_user_id" not in client.session:
            # A GET that signed the viewer out would turn the rest of the walk anonymous (token
            # viewers are not signed in: their header goes with every request).
            client.force_login(world.users[viewer])
        result.requests += 1
        result.statuses[response.status_code] += 1
        if response.status_code >= 500:
            result.server_errors.append(f"{response.status_code} GET {url}")
        text = walk_text(response, url, kwargs)
        if is_api_or_tile(url):
            result.answers[url] = answer_of(response, url, kwargs, text)
        found = matcher.find(text)
        noise = _without_our_data(client, url, kwargs, matcher) if found and confirm else set()
        for secret, matched in found:
            if matched in noise:
                result.coincidences.append(f"GET {url}: {matched!r} (also without our data)")
                continue
            i = text.find(matched)
            context = text[max(0, i - 80) : i + len(matched) + 80].replace("\n", " ")
            result.hits.append(Hit(viewer, url, response.status_code, secret, matched, context))
        # Positive controls count full-precision renderings only (no coincidence passes them).
        result.found_public |= {
            s.label for s, matched in public_matcher.find(text) if matched in s.exact
        }
        return response

    for endpoint in url_map():
        if endpoint.is_admin:
            continue  # staff only: see test_admin_requires_staff
        urls = endpoint_urls(endpoint, table)
        assert urls, f"URL {endpoint.route!r}: no candidate URL resolves back to the pattern"
        result.endpoints += 1
        before = (result.requests, time.monotonic())
        for url, kwargs in urls:
            bare = get(url, dict(kwargs))
            if kwargs or bare.status_code != 200:
                continue
            probed = get(url + probe, {})
            ignores_queries = probed.status_code == 200 and _comparable(
                probed, url + probe, url
            ) == _comparable(bare, url, url)
            for query in formats if ignores_queries else filters + formats:
                get(url + query, {})
        result.per_endpoint[endpoint.route] = [
            result.requests - before[0],
            time.monotonic() - before[1],
        ]
    result.seconds = time.monotonic() - started
    result.cpu_seconds = time.process_time() - cpu_started
    print(result.summary())
    slowest = sorted(result.per_endpoint.items(), key=lambda kv: -kv[1][1])[:12]
    for route, (n, seconds) in slowest:
        print(f"  {seconds:5.1f} s  {n:4d} requests  {route}")
    for line in result.server_errors[:20]:
        print("  server error (not a leak):", line)
    for line in result.coincidences[:20]:
        print("  coincidence in other data (not a leak):", line)
    return result


def _report(result: WalkResult, hits: list[Hit] | None = None) -> str:
    hits = result.hits if hits is None else hits
    lines = [result.summary()]
    seen = set()
    for hit in hits:
        key = (hit.url, hit.secret.label)
        if key in seen:
            continue
        seen.add(key)
        lines.append(str(hit))
        if len(seen) >= 40:
            lines.append(f"… {len(hits) - 40} more")
            break
    return "\n".join(lines)


def _difference(a: Answer, b: Answer) -> str:
    """Where two answers first differ, for a failure message."""
    if (a.status, a.content_type) != (b.status, b.content_type):
        return f"{a.status} {a.content_type!r} vs {b.status} {b.content_type!r}"
    i = next(
        (i for i, (x, y) in enumerate(zip(a.text, b.text, strict=False)) if x != y),
        min(len(a.text), len(b.text)),
    )
    start = max(0, i - 60)
    return (
        f"{a.status}, bodies of {len(a.text)} and {len(b.text)} characters differ at {i}: "
        f"…{a.text[start : i + 100]!r}… vs …{b.text[start : i + 100]!r}…"
    )


def compare_answers(
    world: World, first: WalkResult, second: WalkResult, *, allowed=None
) -> tuple[list[str], list[str]]:
    """(differences, unstable) between the API and tile answers of two walks, on the URLs both
    walked; ``allowed(url, first_answer, second_answer)`` excuses a difference.

    A URL whose answers differ is asked again, by both viewers back to back: a difference that
    is gone then came from state that changed between the walks (caches, audit rows), not from
    the viewers; an answer that differs from its own repetition is ``unstable`` (it cannot be
    compared) rather than a difference. URLs walked by one viewer only are differences too: the
    walks take the same path unless an earlier answer differed."""
    differences, unstable = [], []
    clients = {}

    def client(viewer):
        if viewer not in clients:
            clients[viewer] = client_for(world, viewer)
        return clients[viewer]

    for url in sorted(first.answers.keys() | second.answers.keys()):
        a, b = first.answers.get(url), second.answers.get(url)
        if a is None or b is None:
            walked, skipped = (second, first) if a is None else (first, second)
            differences.append(f"GET {url}: walked by {walked.viewer} only, not {skipped.viewer}")
            continue
        if a == b or (allowed is not None and allowed(url, a, b)):
            continue
        kwargs = dict(a.kwargs)
        again_a = answer_of(client(first.viewer).get(url), url, kwargs)
        again_b = answer_of(client(second.viewer).get(url), url, kwargs)
        repeated_a = answer_of(client(first.viewer).get(url), url, kwargs)
        if again_a != repeated_a:
            unstable.append(f"GET {url} ({first.viewer}): {_difference(again_a, repeated_a)}")
        elif again_a != again_b and not (allowed is not None and allowed(url, again_a, again_b)):
            differences.append(
                f"GET {url}: {first.viewer} vs {second.viewer}: {_difference(again_a, again_b)}"
            )
    return differences, unstable


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The data, created once for the module in a transaction rolled back at its end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world(tmp_path_factory.mktemp("leaks"))
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


# --- tests ---------------------------------------------------------------------------------------


def test_admin_requires_staff(world):
    for viewer in (ANON, RESEARCHER, PARTNER, PARTNER_TOKEN, PENDING):
        response = client_for(world, viewer).get("/admin/")
        assert response.status_code == 302, viewer
        assert response["Location"].startswith("/admin/login/"), (viewer, response["Location"])


@pytest.fixture(scope="module")
def anonymous_walk(world, django_db_blocker):
    with django_db_blocker.unblock():
        return walk(world, ANON, world.secrets[ANON])


def test_anonymous_walk_leaks_nothing(anonymous_walk):
    result = anonymous_walk
    assert not result.hits, _report(result)
    # Positive control: the walk reached the public data (else it proves nothing).
    for key in "BCF":
        assert any(label.startswith(f"survey {key} ") for label in result.found_public), (
            f"the anonymous walk never showed survey {key}'s public values"
        )
    assert result.requests < MAX_REQUESTS_PER_WALK, result.summary()


@pytest.fixture(scope="module")
def researcher_walk(world, django_db_blocker):
    with django_db_blocker.unblock():
        return walk(world, RESEARCHER, world.secrets[RESEARCHER])


def test_researcher_walk_leaks_nothing(researcher_walk):
    """A registered user of no organisation sees no more than the public."""
    assert not researcher_walk.hits, _report(researcher_walk)
    assert researcher_walk.requests < MAX_REQUESTS_PER_WALK, researcher_walk.summary()


@pytest.fixture(scope="module")
def partner_walk(world, django_db_blocker):
    with django_db_blocker.unblock():
        return walk(world, PARTNER, world.secrets[PARTNER])


def test_partner_walk_leaks_nothing(partner_walk):
    assert not partner_walk.hits, _report(partner_walk)
    assert partner_walk.requests < MAX_REQUESTS_PER_WALK, partner_walk.summary()


@pytest.fixture(scope="module")
def partner_token_walk(world, django_db_blocker):
    with django_db_blocker.unblock():
        return walk(world, PARTNER_TOKEN, world.secrets[PARTNER_TOKEN])


def test_partner_token_walk_leaks_nothing(world, partner_token_walk):
    """The partner's API token gives what their session gives: no secret of theirs."""
    result = partner_token_walk
    assert not result.hits, _report(result)
    assert result.requests < MAX_REQUESTS_PER_WALK, result.summary()
    # The token was honoured all along (no GET of the walk revoked or refused it) ...
    assert ApiToken.objects.filter(key_digest=token_digest(world.partner_token)).exists()
    assert not result.statuses.get(401), result.summary()
    # ... and it does authenticate the partner (positive control): the EST agreement's data.
    url = f"/api/v1/measurements/?survey={world.surveys['H'].slug}"
    text = client_for(world, PARTNER_TOKEN).get(url).content.decode()
    assert repr(world.measurements[("LKQH1-ETS", "Cu")].value) in text


def test_token_and_session_answers_are_identical(world, partner_walk, partner_token_walk):
    """Every API and tile URL of the walk answers the partner's token exactly as the partner's
    session: same status, content type and body (as the walk searches it, CSRF tokens removed).

    Only ``/api/v1/`` and ``/tiles/``: the token authenticates the API (DRF) and the tile views,
    while an HTML page ignores it by design (pages use sessions): to a token client a page is the
    public page, to the session client it shows the partner's name, menu, notices and their
    data. The browsable API (``?format=api``) is compared too: both viewers are the same user."""
    differences, unstable = compare_answers(world, partner_walk, partner_token_walk)
    compared = len(partner_walk.answers.keys() & partner_token_walk.answers.keys())
    print(f"token vs session: {compared} API/tile URLs compared; {len(unstable)} unstable")
    for line in unstable[:20]:
        print("  unstable (not compared):", line)
    assert compared > 100, f"only {compared} API/tile URLs compared"
    assert not differences, (
        f"{len(differences)} of {compared} API/tile URLs answer the partner's token and session "
        "differently:\n" + "\n".join(differences[:40])
    )


@pytest.fixture(scope="module")
def pending_walk(world, django_db_blocker):
    with django_db_blocker.unblock():
        return walk(world, PENDING, world.secrets[PENDING])


def test_partner_before_acceptance_walk_leaks_nothing(pending_walk):
    """An agreement whose licence is not accepted grants nothing: its member sees no secret,
    though the agreement would grant every one of them (see the acceptance test below)."""
    assert not pending_walk.hits, _report(pending_walk)
    assert pending_walk.requests < MAX_REQUESTS_PER_WALK, pending_walk.summary()


def _refused_for_licence(url: str, answer: Answer) -> bool:
    """The 403 an API request naming a pending agreement's data gets (instead of public data):
    only for a ``country`` or ``survey`` filter (every country and survey of the module is
    covered by PENDING's agreement)."""
    query = url.partition("?")[2].split("&")
    return (
        url.startswith("/api/v1/")
        and any(q.startswith(("country=", "survey=")) for q in query)
        and answer.status == 403
        and '"error":"licence_not_accepted"' in answer.text.replace(" ", "")
    )


@pytest.mark.parametrize("viewer", [RESEARCHER, PENDING])
def test_public_viewers_get_the_public_answers(
    world, anonymous_walk, researcher_walk, pending_walk, viewer
):
    """The researcher and the partner before acceptance get the anonymous answer on every API
    and tile URL -- the partner may get the 403 naming the licence instead. HTML answers are not
    compared (pages and the browsable API show the signed-in user)."""
    walked = {RESEARCHER: researcher_walk, PENDING: pending_walk}[viewer]

    def allowed(url, public, answer):
        return (
            "text/html" in public.content_type
            or "text/html" in answer.content_type
            or (viewer == PENDING and _refused_for_licence(url, answer))
        )

    differences, unstable = compare_answers(world, anonymous_walk, walked, allowed=allowed)
    compared = len(anonymous_walk.answers.keys() & walked.answers.keys())
    refused = sum(_refused_for_licence(url, a) for url, a in walked.answers.items())
    print(f"{viewer} vs anonymous: {compared} API/tile URLs compared, {refused} refused (licence)")
    for line in unstable[:20]:
        print("  unstable (not compared):", line)
    assert not differences, f"{viewer} does not get the public answers:\n" + "\n".join(
        differences[:40]
    )


def test_partner_before_acceptance_is_refused_then_granted(world):
    """Before acceptance, requests naming the agreement's data get a 403 naming the licence and
    every page links to it; after ``licence_accept`` the same requests show the secrets (the
    positive control of the walk above, kept to a few URLs)."""
    agreement = world.pending_agreement
    licence_path = f"/agreements/{agreement.pk}/licence/"
    client = client_for(world, PENDING)
    a = world.surveys["A"].slug
    for url in (
        "/api/v1/measurements/?country=RUS",
        "/api/v1/samples/?country=RUS",
        f"/api/v1/measurements/?survey={a}",
    ):
        response = client.get(url)
        assert response.status_code == 403, (url, response.status_code, response.content[:300])
        body = response.json()
        assert body["error"] == "licence_not_accepted", (url, body)
        assert body["licence_url"].endswith(licence_path), (url, body)
        assert body["reason"] and body["status"] == 403, (url, body)
    assert licence_path in client.get("/").content.decode(), "the home page names no licence"

    licence_accept(user=world.users[PENDING], agreement=agreement)  # rolled back after the test
    matcher = Matcher(world.secrets[PENDING])
    found = set()
    for url in (
        "/api/v1/measurements/?country=RUS&limit=10000",
        "/api/v1/measurements/?country=NOR&element=Ni&limit=10000",
        "/api/v1/samples/?country=FIN&limit=10000",
        f"/api/v1/measurements/?survey={world.surveys['H'].slug}&limit=10000",
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        text = walk_text(response, url, {})
        found |= {(s.survey, s.kind) for s, matched in matcher.find(text) if matched in s.exact}
    expected = {("A", "value"), ("A", "coordinate"), ("A", "code"), ("B", "value")}
    expected |= {("C", "coordinate"), ("H", "value")}
    assert expected <= found, f"after acceptance, still hidden: {sorted(expected - found)}"


def test_pending_licence_refuses_only_its_own_data(world):
    """A pending agreement refuses requests for its own data only: a member of a pending
    agreement over RUS gets, for a NOR or FIN survey, exactly what an anonymous visitor gets."""
    user, _ = partner_with_agreement(
        ["RUS"],
        username="leak-pending-rus",
        organisation="Leak test pending RUS agency",
        accepted=False,
    )
    client = Client(raise_request_exception=False)
    client.force_login(user)
    assert client.get("/api/v1/measurements/?country=RUS").status_code == 403  # its own data
    anonymous = client_for(world, ANON)
    wrong = []
    for key in "BC":
        for path in ("/api/v1/measurements/", "/api/v1/samples/"):
            url = f"{path}?survey={world.surveys[key].slug}&limit=10000"
            response, public = client.get(url), anonymous.get(url)
            if (response.status_code, response.content) != (public.status_code, public.content):
                wrong.append(
                    f"GET {url}: {response.status_code} {response.content[:120]!r}, "
                    f"anonymous {public.status_code}"
                )
    assert not wrong, "\n".join(wrong)


def _browsable(url: str) -> bool:
    """Whether a URL asks for DRF's browsable API (HTML) rather than JSON."""
    path, _, query = url.partition("?")
    return path.endswith(".api") or "format=api" in query.split("&")


def _unrendered_suffix(url: str) -> bool:
    """Whether an API URL ends in a format suffix other than the API's own (``.csv``)."""
    last = url.partition("?")[0].rstrip("/").rpartition("/")[2]
    return (
        url.startswith("/api/v1/")
        and "." in last
        and last.rpartition(".")[2]
        not in (
            "json",
            "api",
        )
    )


def test_bad_token_is_refused_everywhere(world):
    """``Authorization: Token nonsense`` is a 401 with a JSON reason on every API and tile URL
    (the resolved URLs of the walk, and the all-filters query on parameterless ones): a bad
    credential is never served as the public. Cheap: no secret matching, about 350 requests.

    Two answers are not a JSON 401, and are no fallback to the public either: a URL asking for
    the browsable API (``.api``) gets the 401 as that HTML page, with the reason in it; a format
    suffix the endpoint does not render (``.csv``) is a 404 to everyone, anonymous included (DRF
    negotiates the format before it authenticates) -- checked against the anonymous answer."""
    table = candidate_values(world)
    probe, _, _ = query_strings(world)
    client, anonymous = client_for(world, BAD_TOKEN), client_for(world, ANON)
    failures, requests, counts = [], 0, defaultdict(int)
    for endpoint in url_map():
        if not endpoint.route.startswith(("api/v1/", "tiles/")):
            continue
        for url, kwargs in endpoint_urls(endpoint, table):
            for asked in [url] if kwargs else [url, url + probe]:
                response = client.get(asked)
                requests += 1
                content_type = response.get("Content-Type", "")
                if response.status_code == 401 and content_type.startswith("application/json"):
                    body = response.json()
                    ok = bool(body.get("reason")) and body.get("status") == 401
                    counts["401 JSON"] += 1
                elif response.status_code == 401 and _browsable(asked):
                    ok = "Invalid token" in response.content.decode()
                    counts["401 browsable API"] += 1
                elif response.status_code == 404 and _unrendered_suffix(asked):
                    public = anonymous.get(asked)
                    requests += 1
                    ok = public.status_code == 404 and public.content == response.content
                    counts["404 to everyone (format not rendered)"] += 1
                else:
                    ok = False
                if not ok:
                    failures.append(
                        f"GET {asked} -> {response.status_code} {content_type!r} "
                        f"{response.content[:160]!r}"
                    )
    print(f"bad token: {requests} requests, {dict(counts)}, {len(failures)} failures")
    assert requests < MAX_REQUESTS_PER_WALK
    assert counts["401 JSON"] > 100, dict(counts)
    assert not failures, f"{len(failures)} of {requests} URLs:\n" + "\n".join(failures[:40])


def test_partner_sees_unagreed_survey_at_public_precision(world):
    """Precision is per grant, not per country (a leak this walk found): the partner's agreement
    grants FIN survey I at exact locations; FIN survey C is only public (20 km), so its samples
    must come snapped."""
    sample = world.samples["LKQC1-FIZ"]
    centroid = grid.parse_code(sample.cell_code(20_000)).centroid_lonlat
    response = client_for(world, PARTNER).get(
        "/api/v1/samples/", {"survey": world.surveys["C"].slug, "limit": 10000}
    )
    feature = next(f for f in response.json()["features"] if f["properties"]["code"] == sample.code)
    assert feature["geometry"]["coordinates"] == [round(centroid[0], 6), round(centroid[1], 6)], (
        f"partner sees {sample.code} of survey C at {feature['geometry']['coordinates']}; stored "
        f"at {[sample.geom.x, sample.geom.y]}; public 20 km centroid {centroid}"
    )
    assert feature["properties"]["location_precision_km"] == 20


def test_partner_sees_what_the_agreement_grants(world):
    """Positive control for the partner walk: the current agreement (EST) is in effect."""
    client = client_for(world, PARTNER)
    text = client.get(f"/api/v1/measurements/?survey={world.surveys['H'].slug}").content.decode()
    h_cu = world.measurements[("LKQH1-ETS", "Cu")].value
    assert repr(h_cu) in text
    # ... and the agreement for FIN survey I gives its exact locations.
    text = client.get(f"/api/v1/samples/?survey={world.surveys['I'].slug}").content.decode()
    assert repr(world.samples["LKQI1-FIR"].geom.x) in text


def test_staff_walk_finds_the_secrets(world):
    """Positive control: the same walk as staff finds every kind of secret, so the walks of the
    other viewers would have found them too."""
    everything = world.secrets[ANON]
    result = walk(world, STAFF, everything, confirm=False)
    # Full-precision renderings only: no coincidence with other data can pass the control.
    exact_hits = [hit for hit in result.hits if hit.matched in hit.secret.exact]
    found = {hit.secret.label for hit in exact_hits}
    kinds_found = {(hit.secret.survey, hit.secret.kind) for hit in exact_hits}
    expected = {
        (spec.key, kind)
        for spec in SPECS
        if spec.hidden_from
        for kind in ("value", "coordinate", "code")
    } | {("C", "coordinate")}
    missing = expected - kinds_found
    assert not missing, f"the staff walk never showed {sorted(missing)}:\n{result.summary()}"
    b_ni = [s.label for s in everything if s.survey == "B" and s.kind == "value"]
    assert set(b_ni) <= found, "the staff walk never showed the confidential Ni values of B"
    # At least the API measurement list shows the embargoed value to staff.
    a_cu = world.measurements[("LKQA1-RZV", "Cu")].value
    staff = client_for(world, STAFF)
    url = f"/api/v1/measurements/?survey={world.surveys['A'].slug}&limit=10000"
    assert repr(a_cu) in staff.get(url).content.decode()


def _detail_endpoints() -> list[tuple[Endpoint, type]]:
    """API detail routes of samples and measurements (found by their viewset's model)."""
    found = []
    for endpoint in url_map():
        cls = getattr(endpoint.pattern.callback, "cls", None)
        actions = getattr(endpoint.pattern.callback, "actions", {}) or {}
        if cls is None or actions.get("get") != "retrieve":
            continue
        serializer = getattr(cls, "serializer_class", None)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
        if model in (Sample, Measurement):
            found.append((endpoint, model))
    return found


def test_hidden_and_missing_objects_answer_alike(world):
    """An anonymous request for a hidden object's id and for a non-existent id get the same status
    and a byte-identical body (a response never reveals that a hidden object exists)."""
    endpoints = _detail_endpoints()
    routes = {e.route for e, _ in endpoints}
    assert any("samples" in r for r in routes) and any("measurements" in r for r in routes), routes
    hidden = {
        Sample: [s.pk for c, s in world.samples.items() if c[3] in "ADEGH"],
        Measurement: [
            m.pk for (c, el), m in world.measurements.items()
            if c[3] in "ADEGH" or (c[3] == "B" and el == "Ni")
        ],
    }  # fmt: skip
    missing = {Sample: world.missing_sample_id, Measurement: world.missing_measurement_id}
    client = client_for(world, ANON)
    differences = []
    for endpoint, model in endpoints:
        for form, params in endpoint.forms:
            formats = ["json"] if "format" in params else [None]
            for fmt in formats:

                def url(pk, form=form, fmt=fmt, params=params):
                    kwargs = {p: pk if p != "format" else fmt for p in params}
                    return "/" + form % kwargs

                reference = client.get(url(missing[model]))
                for pk in hidden[model]:
                    response = client.get(url(pk))
                    same = (
                        response.status_code == reference.status_code
                        and response.get("Content-Type") == reference.get("Content-Type")
                        and response.content == reference.content
                    )
                    if not same:
                        differences.append(
                            f"GET {url(pk)} -> {response.status_code} {response.content[:200]!r}\n"
                            f"  vs missing GET {url(missing[model])} -> {reference.status_code} "
                            f"{reference.content[:200]!r}"
                        )
    assert not differences, "hidden and missing objects answer differently:\n" + "\n".join(
        differences
    )


@pytest.mark.parametrize(
    "viewer",
    [ANON, PARTNER, PARTNER_TOKEN],
)
def test_bbox_filter_does_not_locate_snapped_samples(world, viewer):
    """A bbox query reveals no more than which public-precision cell holds a sample: a tiny box
    around the exact point and a tiny box elsewhere in the same 20 km cell answer alike."""
    sample = world.samples["LKQC1-FIZ"]
    cell = grid.cell_at(sample.geom.x, sample.geom.y, 20_000)
    ring = cell.polygon_lonlat()
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    # The corner of the cell farthest from the sample, moved 10 % inwards.
    far_lon = (
        west + 0.1 * (east - west)
        if sample.geom.x > (west + east) / 2
        else east - 0.1 * (east - west)
    )
    far_lat = (
        south + 0.1 * (north - south)
        if sample.geom.y > (south + north) / 2
        else north - 0.1 * (north - south)
    )
    d = 0.002

    def ids(lon, lat, path):
        response = client_for(world, viewer).get(
            path, {"bbox": f"{lon - d},{lat - d},{lon + d},{lat + d}", "limit": 10000}
        )
        assert response.status_code == 200, response.content[:300]
        data = response.json()
        rows = data["features"] if "features" in data else data["results"]
        return sorted(r["id"] for r in rows)

    for path in ("/api/v1/samples/", "/api/v1/measurements/"):
        at_sample = ids(sample.geom.x, sample.geom.y, path)
        elsewhere = ids(far_lon, far_lat, path)
        assert at_sample, f"{path}: the snapped sample is not found by its own cell (test setup)"
        assert at_sample == elsewhere, (
            f"{viewer} {path}: a tiny bbox around the exact point finds {at_sample}, one elsewhere "
            f"in the same 20 km cell finds {elsewhere}: the bbox filter locates the sample"
        )
