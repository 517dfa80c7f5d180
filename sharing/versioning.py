"""The policy version: one string that changes whenever anything affecting visibility changes.

It has three parts. A counter and a random token, bumped by database triggers (migration
``sharing/0003``) on every write to a table the access rules read — policies, embargoes,
agreements, memberships, stewardships, survey countries, staff status — whatever path the write
takes (admin, services, ``queryset.update()``, raw SQL). The token is new at every bump, so a
version never names two states, even after a rolled-back transaction. And the number of release
instants (embargo ends, agreement starts and ends) already passed, so data opening at 00:00 UTC
changes the version at the next request, before any scheduled job runs.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

_BUMP_SQL = """
INSERT INTO sharing_policycounter (id, value, token) VALUES (1, 1, md5(random()::text))
ON CONFLICT (id) DO UPDATE SET value = sharing_policycounter.value + 1, token = md5(random()::text)
"""


def bump_policy_version() -> None:
    """An explicit bump, for changes the triggers cannot see (a scheduled release)."""
    with connection.cursor() as cursor:
        cursor.execute(_BUMP_SQL)


# Every day whose 00:00 UTC changes what someone sees: embargo ends, agreement starts and ends.
_RELEASE_DAYS_SQL = """
    SELECT available_on AS day FROM sharing_releasepolicy WHERE in_force
    UNION ALL SELECT available_on FROM sharing_surveyembargo
    UNION ALL SELECT valid_from FROM sharing_agreement
    UNION ALL SELECT valid_to + 1 FROM sharing_agreement WHERE valid_to IS NOT NULL
"""

# The inputs of a version, in one query: the counter, its token and every release day in order.
_INPUTS_SQL = f"""
SELECT (SELECT value FROM sharing_policycounter WHERE id = 1),
       (SELECT token FROM sharing_policycounter WHERE id = 1),
       ARRAY(SELECT day FROM ({_RELEASE_DAYS_SQL}) boundaries WHERE day IS NOT NULL ORDER BY day)
"""

_RELEASES_BETWEEN_SQL = f"""
SELECT DISTINCT day FROM ({_RELEASE_DAYS_SQL}) b
WHERE day IS NOT NULL AND day <= %s AND (%s::date IS NULL OR day > %s::date)
ORDER BY day
"""


@dataclass(frozen=True)
class VersionInputs:
    """What a policy version is made of, before the instant it is read at."""

    counter: int
    token: str
    release_days: tuple[dt.date, ...]  # sorted; repeated when several rules open on one day

    def version_at(self, now: dt.datetime) -> str:
        passed = bisect.bisect_right(self.release_days, now.astimezone(dt.UTC).date())
        return f"{self.counter}.{passed}.{self.token[:8]}"


def version_inputs() -> VersionInputs:
    with connection.cursor() as cursor:
        cursor.execute(_INPUTS_SQL)
        counter, token, days = cursor.fetchone()
    return VersionInputs(counter or 0, token or "-", tuple(days))


def policy_version(now: dt.datetime | None = None) -> str:
    """e.g. "17.4.9f0c2a1b": counter 17, four release instants passed by ``now``, token."""
    return version_inputs().version_at(now or timezone.now())


def release_instants_between(start: dt.datetime | None, end: dt.datetime) -> list[dt.date]:
    """Days whose 00:00 UTC lies in (start, end]: embargo ends and agreement boundaries."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RELEASES_BETWEEN_SQL,
            [end.astimezone(dt.UTC).date(), start and start.date(), start and start.date()],
        )
        return [row[0] for row in cursor.fetchall()]
