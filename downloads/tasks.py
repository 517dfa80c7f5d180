"""Celery tasks of the downloads app: build a package, delete expired ones.

Tasks take ids, re-check state at the start (a repeated delivery does nothing), and the build
re-evaluates the viewer's scope when it runs (``downloads.services.download_build``).
"""

from __future__ import annotations

import logging

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.signals import task_failure
from django.conf import settings
from django.db import OperationalError

from . import services
from .package import PackageRefused

log = logging.getLogger(__name__)


# A dropped connection or a deadlock is retried (the job goes back to the queue first); any
# other failure marks the job failed with a reason the viewer can read.
@shared_task(
    acks_late=True,
    time_limit=settings.DOWNLOAD_TASK_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    max_retries=3,
)
def build_download_package(job_id: int) -> str:
    """Build one download package; its progress is on the job row (the API reports it)."""
    if not services.claim(job_id):
        return "not claimed"
    try:
        services.download_build(job_id=job_id)
    except PackageRefused as exc:
        services.download_failed(job_id, str(exc))
        return "refused"
    except OperationalError:
        services.download_requeued(job_id)
        raise
    except Exception:
        log.exception("building download package %s failed", job_id)
        services.download_failed(job_id, "The package could not be built; the error is logged.")
        raise
    return "ready"


@task_failure.connect
def build_worker_lost(sender=None, exception=None, args=None, kwargs=None, **_) -> None:
    """A pool process killed mid-build (out of memory, a SIGKILL) runs no except block: the
    worker's main process sees it lost and sends this signal; the job is failed with a reason
    and its partial files removed (``services.download_lost``)."""
    if getattr(sender, "name", "") != build_download_package.name:
        return
    if not isinstance(exception, WorkerLostError):
        return
    job_id = args[0] if args else (kwargs or {}).get("job_id")
    log.warning("the worker building download %s was lost: %s", job_id, exception)
    services.download_lost(job_id)


@shared_task(time_limit=600, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def cleanup_download_packages() -> dict:
    """Beat job: delete package files past their keeping time and stale build directories."""
    return services.downloads_cleanup()
