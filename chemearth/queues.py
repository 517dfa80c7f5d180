"""Print this deployment's Celery queues, comma-separated, for a worker's ``-Q``.

    celery -A chemearth worker -Q "$(python -m chemearth.queues)"          # every kind
    celery -A chemearth worker -Q "$(python -m chemearth.queues render)"   # renders only

The names come from ``settings.JOB_QUEUES`` (derived from ``DEPLOYMENT_NAME``), the one list.
"""

from __future__ import annotations

import os
import sys


def worker_queues(kinds: list[str] | None = None) -> str:
    """The ``-Q`` value for a worker taking these job kinds (all when none are named)."""
    from django.conf import settings

    queues = settings.JOB_QUEUES
    unknown = sorted(set(kinds or ()) - set(queues))
    if unknown:
        raise SystemExit(f"unknown job kind {', '.join(unknown)}; known: {', '.join(queues)}")
    return ",".join(queues[kind] for kind in (kinds or queues))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")
    print(worker_queues(sys.argv[1:]))
