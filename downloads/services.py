"""Download services: ask for a package, sign and check its link, record its fetches.

- ``download_request`` counts the rows first (through the gate) and refuses a request over the
  viewer's role limit (``settings.DOWNLOAD_MAX_ROWS``) before anything is created or queued:
  never a truncated file. Then it creates the job and queues the build after commit.
- ``sign_job`` / ``job_for_token``: a link signed (``TimestampSigner``) with the job's public id
  and its user's id, expiring after ``DOWNLOAD_LINK_MAX_AGE``. Another user, an expired or a
  tampered link, a missing job and one not ready all give ``None`` (the portal's one 404).
- ``package_fetched``: every fetch is audited, one event per country whose rows the file holds.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q
from django.utils import timezone

from baselines.models import Country, Survey
from chemearth import metrics
from sharing.access import PendingLicence, Scope, pending_licence, viewer_scope
from sharing.audit import audit_record
from sharing.models import AuditEvent, Membership, Stewardship

from . import storage
from .models import DownloadJob
from .query import DownloadQuery
from .selectors import Contents, count_measurements, package_contents

log = logging.getLogger(__name__)
LINK_SALT = "chemearth.downloads.file"


# --- limits --------------------------------------------------------------------------------------


def viewer_role(user) -> str:
    """The role whose row limit applies: anonymous, registered, partner, steward or staff."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "anonymous"
    if user.is_staff:
        return "staff"
    if Stewardship.objects.filter(user=user).exists():
        return "steward"
    if Membership.objects.filter(user=user).exists():
        return "partner"
    return "registered"


def row_limit(user) -> int | None:
    return settings.DOWNLOAD_MAX_ROWS.get(viewer_role(user))


@dataclass
class TooLarge(Exception):
    """More rows than the viewer's role may take in one package."""

    rows: int
    limit: int
    role: str
    layer: bool = False  # a map layer's GeoTIFF: made from the rows, not holding them

    def __str__(self) -> str:
        if self.layer:
            return (
                f"This map layer is made from {self.rows:,} values; one package may draw on at "
                f"most {self.limit:,} for your role ({self.role}), however small its area."
            )
        return (
            f"This package would hold {self.rows:,} values; one package holds at most "
            f"{self.limit:,} for your role ({self.role}). Narrow it by survey, country, element, "
            f"area or year, and ask for several packages."
        )


class LicencePending(Exception):
    """The query names data an agreement grants once its licence is accepted (rule 5)."""

    def __init__(self, licence: PendingLicence) -> None:
        super().__init__(
            f"Your agreement “{licence.title}” grants this data once you accept its licence."
        )
        self.licence = licence


def pending_licence_for(scope: Scope, query: DownloadQuery) -> PendingLicence | None:
    """The first unaccepted agreement that would grant a country or survey the query names."""
    scope = viewer_scope(scope)
    if not scope.pending_licences:
        return None
    countries = Country.objects.filter(iso_a3__in=query.countries) | Country.objects.filter(
        adm0_a3__in=query.countries
    )
    for country_id in countries.values_list("pk", flat=True).distinct():
        licence = pending_licence(scope, country_id=country_id)
        if licence is not None:
            return licence
    for survey in Survey.objects.filter(slug__in=query.surveys):
        licence = pending_licence(scope, survey=survey)
        if licence is not None:
            return licence
    return None


# --- asking for a package ------------------------------------------------------------------------


def download_request(*, user, query: DownloadQuery) -> DownloadJob:
    """Count, check the limit, create the job and queue its build after commit. An anonymous
    request gets the public package already built (or being built) for the same query at the
    same policy and data versions, if there is one."""
    scope = viewer_scope(user)
    licence = pending_licence_for(scope, query)
    if licence is not None:
        raise LicencePending(licence)
    anonymous = user is None or not user.is_authenticated
    if anonymous:
        shared = public_package(query, scope)
        if shared is not None:
            return shared
    # A package's counts are kept for its build (one pass over the rows instead of two); a
    # layer's rows are only counted here.
    contents = None if query.is_layer else package_contents(scope, query)
    rows = count_measurements(scope, query) if contents is None else contents.values_read
    limit = row_limit(user)
    if limit is not None and rows > limit:
        raise TooLarge(rows=rows, limit=limit, role=viewer_role(user), layer=query.is_layer)
    job = DownloadJob.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        query=query.as_json(),
        format=query.format,
        rows_total=rows if not query.wide else 0,
        progress_percent=0.0 if query.is_layer else None,
        policy_version=scope.version,
        data_version=Survey.objects.all().data_version(),
        contents=None if contents is None else contents.as_json(scope.cache_key),
    )
    queue_build(job)
    return job


def public_package(query: DownloadQuery, scope: Scope) -> DownloadJob | None:
    """A public package of this query at this policy version: ready at the current data version
    (file still there), or queued or running (it will be built at the versions of its run)."""
    candidates = DownloadJob.objects.filter(
        user=None, query=query.as_json(), policy_version=scope.version
    )
    data_version = Survey.objects.all().data_version()
    job = (
        candidates.filter(
            Q(state=DownloadJob.State.READY, data_version=data_version)
            | Q(state__in=[DownloadJob.State.QUEUED, DownloadJob.State.RUNNING])
        )
        .order_by("-created")
        .first()
    )
    if job is not None and job.state == DownloadJob.State.READY and not job.stored:
        return None
    return job


def queue_build(job: DownloadJob) -> None:
    """Queue the build after commit. With the broker down the job stays queued (``queued_at``
    empty) and the next look at it queues it again (``requeue_if_stalled``)."""

    def send() -> None:
        from .tasks import build_download_package

        try:
            build_download_package.delay(job.pk)
        except Exception as exc:  # noqa: BLE001 — kombu raises many kinds when Redis is down
            log.warning("could not queue download %s: %s", job.public_id, exc)
            return
        DownloadJob.objects.filter(pk=job.pk, state=DownloadJob.State.QUEUED).update(
            queued_at=timezone.now()
        )

    transaction.on_commit(send)


def requeue_if_stalled(job: DownloadJob) -> None:
    """A queued job that never reached the broker is queued again when someone looks at it."""
    if job.state == DownloadJob.State.QUEUED and job.queued_at is None:
        queue_build(job)


def jobs_of(user, *, public_ids=()) -> list[DownloadJob]:
    """A viewer's jobs, newest first: a user's own, or an anonymous session's."""
    if user is not None and user.is_authenticated:
        return list(DownloadJob.objects.filter(user=user)[:50])
    if not public_ids:
        return []
    return list(DownloadJob.objects.filter(user=None, public_id__in=list(public_ids))[:50])


def job_for_viewer(public_id, user) -> DownloadJob | None:
    """A job as its owner sees it; another user's job is the same None as a missing one.
    Anonymous jobs hold public data only and are found by their (unguessable) id."""
    owner = user.pk if user is not None and user.is_authenticated else None
    return DownloadJob.objects.filter(public_id=public_id, user_id=owner).first()


# --- signed links --------------------------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def sign_job(job: DownloadJob) -> str:
    """A token naming the job and its user, valid for ``DOWNLOAD_LINK_MAX_AGE`` seconds."""
    return _signer().sign_object({"job": str(job.public_id), "user": job.user_id})


def job_for_token(token: str, user) -> DownloadJob | None:
    """The ready job a token names, if it was signed for this user and has not expired."""
    try:
        payload = _signer().unsign_object(token, max_age=settings.DOWNLOAD_LINK_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    owner = user.pk if user is not None and user.is_authenticated else None
    if not isinstance(payload, dict) or payload.get("user") != owner:
        return None
    job = DownloadJob.objects.filter(
        public_id=payload.get("job"), user_id=owner, state=DownloadJob.State.READY
    ).first()
    if job is None or not job.stored:
        return None
    return job


# --- audit ---------------------------------------------------------------------------------------


def audit_package(job: DownloadJob, *, action: str, path: str = "") -> None:
    """One DOWNLOAD event per country whose rows the package holds (so each country's stewards
    see it), or one without a country for an empty package."""
    counts = job.row_counts.get("by_country", {}) if job.row_counts else {}
    countries = list(Country.objects.filter(pk__in=job.countries)) or [None]
    for country in countries:
        values = counts.get(country.code, {}).get("measurements", 0) if country else 0
        where = f" of {country.code}" if country else ""
        audit_record(
            kind=AuditEvent.Kind.DOWNLOAD,
            user=job.user,
            country=country,
            summary=(
                f"Download package {job.public_id} {action}: {values:,} values{where} "
                f"({job.format})"
            ),
            path=path,
            after={"package": str(job.public_id), "action": action, "query": job.query},
        )


def package_fetched(job: DownloadJob, *, path: str) -> None:
    audit_package(job, action="fetched", path=path)


# --- building ------------------------------------------------------------------------------------


def download_build(*, job_id: int) -> DownloadJob | None:
    """Build a claimed job's package. The viewer's scope is evaluated now, not when the job was
    asked for: rights lost (or a licence changed) in between are not exported."""
    from . import package

    job = DownloadJob.objects.select_related("user").get(pk=job_id)
    user = job.user if job.user is not None and job.user.is_active else None
    scope = viewer_scope(user)
    query = DownloadQuery.from_json(job.query)
    licence = pending_licence_for(scope, query)
    if licence is not None:
        raise package.PackageRefused(str(LicencePending(licence)))
    data_version = Survey.objects.all().data_version()
    # Reused only for the same rights (a user deactivated meanwhile builds as the public, under
    # the same policy version) and the same data.
    counted = job.contents or {}
    if (counted.get("rights"), job.data_version) == (scope.cache_key, data_version):
        contents = Contents.from_json(counted)  # counted at the request, still true
    else:
        contents = package_contents(scope, query)
    limit = row_limit(user)
    if limit is not None and contents.values_read > limit:
        too_large = TooLarge(
            rows=contents.values_read, limit=limit, role=viewer_role(user), layer=query.is_layer
        )
        raise package.PackageRefused(str(too_large))
    job.rows_total = contents.samples if query.wide else contents.values_read
    job.rows_written = 0
    job.policy_version, job.data_version = scope.version, data_version
    job.countries = contents.country_ids
    job.row_counts = package.row_counts(contents, scope)
    job.measurement_rows, job.sample_rows = contents.measurements, contents.samples
    job.save()

    # Progress goes through a connection of its own: the package's COPY holds the main one for
    # as long as it streams, and an UPDATE on it waited for the COPY forever (a package whose
    # COPY took over PROGRESS_SECONDS never finished).
    reporter = connections.create_connection(DEFAULT_DB_ALIAS)
    table = DownloadJob._meta.db_table

    def progress(rows: int) -> None:
        with reporter.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET rows_written = %s WHERE id = %s", [rows, job.pk])

    def percent(done: float) -> None:
        with reporter.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET progress_percent = %s WHERE id = %s", [done, job.pk]
            )

    try:
        if query.is_layer:
            from .geotiff import build_layer_package

            built = build_layer_package(job, scope, contents, user, percent)
        else:
            built = package.build(job, scope, contents, progress)
    finally:
        reporter.close()
    job.file_name, job.size_bytes, job.sha256 = built.file_name, built.size_bytes, built.sha256
    job.rows_written = built.rows_written
    if query.is_layer:
        job.progress_percent = 100.0
    job.state, job.finished, job.error = DownloadJob.State.READY, timezone.now(), ""
    job.save()
    metrics.DOWNLOAD_PACKAGES.labels(job.format).inc()
    metrics.DOWNLOAD_BYTES.inc(job.size_bytes or 0)
    audit_package(job, action="built", path=f"/api/v1/downloads/{job.public_id}")
    return job


def claim(job_id: int) -> bool:
    """Take a job for building: a queued one, or one left running by a worker that died (older
    than the task's time limit). A repeated delivery of a claimed job does nothing."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.DOWNLOAD_TASK_TIME_LIMIT)
    return bool(
        DownloadJob.objects.filter(pk=job_id)
        .filter(
            Q(state=DownloadJob.State.QUEUED)
            | Q(state=DownloadJob.State.RUNNING, started__lt=stale)
        )
        .update(state=DownloadJob.State.RUNNING, started=now, error="")
    )


def download_failed(job_id: int, reason: str) -> None:
    DownloadJob.objects.filter(pk=job_id).update(
        state=DownloadJob.State.FAILED, error=reason[:2000], finished=timezone.now()
    )


def download_lost(job_id: int) -> None:
    """The process building the job died (``tasks.build_worker_lost``): its build directory
    (DOWNLOAD_ROOT/tmp, never served) goes, and a running job is failed with a reason the
    viewer can read; they may ask for the package again."""
    import shutil
    from pathlib import Path

    job = DownloadJob.objects.filter(pk=job_id, state=DownloadJob.State.RUNNING).first()
    if job is None:
        return
    shutil.rmtree(Path(settings.DOWNLOAD_ROOT) / "tmp" / str(job.public_id), ignore_errors=True)
    DownloadJob.objects.filter(pk=job_id, state=DownloadJob.State.RUNNING).update(
        state=DownloadJob.State.FAILED,
        error="The worker building the package stopped; please ask for it again.",
        finished=timezone.now(),
    )


def download_requeued(job_id: int) -> None:
    """A build interrupted by the database (retried by the task): back to the queue."""
    DownloadJob.objects.filter(pk=job_id, state=DownloadJob.State.RUNNING).update(
        state=DownloadJob.State.QUEUED
    )


def downloads_cleanup() -> dict:
    """Delete package files older than ``DOWNLOAD_KEEP_SECONDS`` (their jobs become
    ``expired``) and build directories left by workers that died."""
    import shutil
    from pathlib import Path

    now = timezone.now()
    keep = dt.timedelta(seconds=settings.DOWNLOAD_KEEP_SECONDS)
    expired = 0
    for job in DownloadJob.objects.filter(state=DownloadJob.State.READY, finished__lt=now - keep):
        storage.delete(job.file_name)
        DownloadJob.objects.filter(pk=job.pk).update(state=DownloadJob.State.EXPIRED)
        expired += 1
    # Running past the task's hard time limit: its worker died without a word (a host lost; a
    # pool process killed is reported at once, ``tasks.build_worker_lost``).
    dead = DownloadJob.objects.filter(
        state=DownloadJob.State.RUNNING,
        started__lt=now - dt.timedelta(seconds=settings.DOWNLOAD_TASK_TIME_LIMIT),
    ).values_list("pk", flat=True)
    lost = 0
    for job_id in list(dead):
        download_lost(job_id)
        lost += 1
    tmp = Path(settings.DOWNLOAD_ROOT) / "tmp"
    removed = 0
    if tmp.is_dir():
        limit = now.timestamp() - settings.DOWNLOAD_TASK_TIME_LIMIT * 2
        for entry in tmp.iterdir():
            if entry.stat().st_mtime < limit:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    return {"expired": expired, "stale_build_directories": removed, "lost": lost}
