"""The policy version: one string that changes whenever anything affecting visibility changes.

It has two parts. A counter, bumped on every write to a table the access rules read (policies,
embargoes, agreements, memberships, stewardships, staff status) — by the receivers in
``sharing/signals.py``, so admin edits, services and shell sessions all count. And the number of
release instants (embargo ends, agreement starts and ends) already passed, so data opening at
00:00 UTC changes the version at the next request, before any scheduled job runs.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import F
from django.utils import timezone

from .models import PolicyCounter


def bump_policy_version() -> None:
    updated = PolicyCounter.objects.filter(pk=1).update(value=F("value") + 1)
    if not updated:
        PolicyCounter.objects.get_or_create(pk=1, defaults={"value": 1})


_VERSION_SQL = """
SELECT (SELECT value FROM sharing_policycounter WHERE id = 1),
       (SELECT count(*) FROM (
            SELECT available_on AS day FROM sharing_releasepolicy WHERE in_force
            UNION ALL SELECT available_on FROM sharing_surveyembargo
            UNION ALL SELECT valid_from FROM sharing_agreement
            UNION ALL SELECT valid_to + 1 FROM sharing_agreement WHERE valid_to IS NOT NULL
        ) boundaries WHERE day <= %s)
"""


def policy_version(now: dt.datetime | None = None) -> str:
    """e.g. "17.4": counter 17, four release instants passed by ``now``."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_VERSION_SQL, [now.astimezone(dt.UTC).date()])
        counter, passed = cursor.fetchone()
    return f"{counter or 0}.{passed}"


def release_instants_between(start: dt.datetime | None, end: dt.datetime) -> list[dt.date]:
    """Days whose 00:00 UTC lies in (start, end]: embargo ends and agreement boundaries."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT day FROM (
                SELECT available_on AS day FROM sharing_releasepolicy WHERE in_force
                UNION ALL SELECT available_on FROM sharing_surveyembargo
                UNION ALL SELECT valid_from FROM sharing_agreement
                UNION ALL SELECT valid_to + 1 FROM sharing_agreement WHERE valid_to IS NOT NULL
            ) b WHERE day IS NOT NULL AND day <= %s AND (%s::date IS NULL OR day > %s::date)
            ORDER BY day
            """,
            [end.astimezone(dt.UTC).date(), start and start.date(), start and start.date()],
        )
        return [row[0] for row in cursor.fetchall()]
