"""``/api/v1/downloads/``: ask for a download package, follow its build, fetch its file.

- ``POST /api/v1/downloads/`` with JSON ``{"surveys", "countries", "elements", "medium", "bbox",
  "polygon", "scales", "years", "rounds", "format", "all_methods"}`` answers 202 with ``{"id",
  "url", "state", "progress"}`` once the rows are counted and within the viewer's limit; a bad
  field is the kit's 400 naming it, a request over the limit a 400 ``too_large`` (before any job
  exists), a country or survey an unaccepted agreement would grant the 403
  ``licence_not_accepted``. ``"format": "geotiff"`` is one map layer's COG as the map draws it
  for the asker: ``{"elements": ["Cu"], "medium": "topsoil", "scales": [20], "style": "cells" |
  "surface"}`` (exactly one element and one grid scale; optional ``scheme``, ``ramp``, ``bbox``;
  see ``downloads.query``).
- ``GET /api/v1/downloads/`` lists the viewer's packages; ``GET /api/v1/downloads/<id>`` is one
  of them (another user's answers like a missing one), with ``file`` — a link signed for the
  viewer, expiring after ``DOWNLOAD_LINK_MAX_AGE`` — when ready.
- ``GET /downloads/file/<signed>``: the zip (``FileResponse``, or ``X-Accel-Redirect`` when
  ``DOWNLOAD_ACCEL_REDIRECT`` is set), ``Cache-Control: private, no-store``. Another user's,
  an expired and a tampered link are the same 404 as a missing one. Every fetch is audited.

The rows themselves are read by the build, through the gate (``downloads.selectors``); these
views only count them (``downloads.services``) and hand out what was built.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import APIException
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from downloads import storage as package_storage
from downloads.models import DownloadJob
from downloads.query import FORMATS, LAYER_STYLES, DownloadQuery, InvalidQuery
from downloads.services import (
    LicencePending,
    TooLarge,
    download_request,
    job_for_token,
    job_for_viewer,
    jobs_of,
    package_fetched,
    requeue_if_stalled,
    sign_job,
)
from maps.classification import SCHEMES
from maps.ramps import RAMPS

from .http import BadParameter, LicenceNotAccepted, parse_bbox, refuse_unaccepted_licence
from .schema import ERRORS, JSON_OBJECT

SESSION_JOBS = "chemearth_download_jobs"


class PackageTooLarge(APIException):
    """Over the viewer's row limit: refused before any work, never a truncated file."""

    status_code = 400
    default_code = "too_large"

    def __init__(self, exc: TooLarge) -> None:
        super().__init__(str(exc))
        self.extra = {"rows": exc.rows, "limit": exc.limit, "role": exc.role}


def parse_request(request, body) -> DownloadQuery:
    """The download query of a request body, bad fields as the kit's 400 naming them, and the
    403 for data an unaccepted agreement would grant (as ``samples/?country=`` answers it)."""
    if isinstance(body, dict) and isinstance(body.get("bbox"), list):
        # The kit's one bbox rule (clamped to the world, west < east, finite).
        body = {**body, "bbox": list(parse_bbox(",".join(map(str, body["bbox"]))))}
    try:
        query = DownloadQuery.parse(body)
    except InvalidQuery as exc:
        raise BadParameter(exc.field, exc.reason) from None
    for country in query.countries:
        refuse_unaccepted_licence(request, country=country, survey=None)
    for survey in query.surveys:
        refuse_unaccepted_licence(request, country=None, survey=survey)
    return query


def ask_for_package(request, query: DownloadQuery) -> DownloadJob:
    try:
        job = download_request(user=request.user, query=query)
    except TooLarge as exc:
        raise PackageTooLarge(exc) from None
    except LicencePending as exc:
        raise LicenceNotAccepted(request, exc.licence) from None
    if not request.user.is_authenticated:
        # The page lists an anonymous visitor's packages from the session.
        session = getattr(request, "session", None)
        if session is not None:
            session[SESSION_JOBS] = [str(job.public_id), *session.get(SESSION_JOBS, [])][:20]
    return job


def file_url(request, job: DownloadJob) -> str:
    return request.build_absolute_uri(reverse("downloads:file", args=[sign_job(job)]))


def job_document(request, job: DownloadJob) -> dict:
    """What a client needs to follow a package: state, progress and, when ready, the link."""
    document = {
        "id": str(job.public_id),
        "url": request.build_absolute_uri(reverse("downloads:api-detail", args=[job.public_id])),
        "state": job.state,
        "progress": job.progress,
        "rows_written": job.rows_written,
        "rows_total": job.rows_total,
        "format": job.format,
        "query": job.query,
        "created": job.created,
        "finished": job.finished,
        "landing_page": request.build_absolute_uri(
            reverse("downloads:package", args=[job.public_id])
        ),
    }
    if job.state == DownloadJob.State.FAILED:
        document["error"] = job.error
    if job.state == DownloadJob.State.READY:
        document["datacite"] = request.build_absolute_uri(
            reverse("downloads:api-datacite", args=[job.public_id])
        )
        expires = timezone.now() + dt.timedelta(seconds=settings.DOWNLOAD_LINK_MAX_AGE)
        document.update(
            file=file_url(request, job),
            file_expires=expires.replace(microsecond=0),
            size_bytes=job.size_bytes,
            sha256=job.sha256,
            rows=job.row_counts,
            policy_version=job.policy_version,
            data_version=job.data_version,
        )
    return document


QUERY_BODY = {
    "application/json": {
        "type": "object",
        "properties": {
            "surveys": {"type": "array", "items": {"type": "string"}},
            "countries": {"type": "array", "items": {"type": "string"}},
            "elements": {"type": "array", "items": {"type": "string"}},
            "medium": {"type": "string"},
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
            "polygon": {"type": "object"},
            "scales": {"type": "array", "items": {"type": "number"}},
            "years": {"type": "array", "items": {"type": "integer"}},
            "rounds": {"type": "array", "items": {"type": "integer"}},
            "format": {"type": "string", "enum": list(FORMATS)},
            "all_methods": {"type": "boolean"},
            "style": {
                "type": "string",
                "enum": list(LAYER_STYLES),
                "description": "geotiff only: the map layer's style (default cells)",
            },
            "scheme": {
                "type": "string",
                "enum": list(SCHEMES),
                "description": "geotiff only: the classification (default percentiles)",
            },
            "ramp": {
                "type": "string",
                "enum": list(RAMPS),
                "description": "geotiff only: the colour ramp (default geochem)",
            },
        },
    }
}
LICENCE_403 = OpenApiResponse(ERRORS[400].response, description="licence_not_accepted")


class DownloadsView(APIView):
    """``POST``: ask for a package (202, or 400 naming the field, 400 ``too_large``, 403
    ``licence_not_accepted``). ``GET``: the viewer's packages, newest first."""

    @extend_schema(operation_id="downloads_list", responses={200: JSON_OBJECT, **ERRORS},
                   tags=["downloads"])  # fmt: skip
    def get(self, request):
        session = getattr(request, "session", None)
        ids = session.get(SESSION_JOBS, []) if session is not None else []
        jobs = jobs_of(request.user, public_ids=ids)
        return Response({"results": [job_document(request, job) for job in jobs]})

    @extend_schema(
        request=QUERY_BODY,
        responses={202: JSON_OBJECT, 403: LICENCE_403, **ERRORS},
        tags=["downloads"],
    )
    def post(self, request):
        query = parse_request(request, request.data)
        job = ask_for_package(request, query)
        document = job_document(request, job)
        return Response(document, status=202, headers={"Location": document["url"]})


class DownloadDetailView(APIView):
    """One of the viewer's packages; poll it while ``state`` is ``queued`` or ``running``."""

    @extend_schema(responses={200: JSON_OBJECT, **ERRORS}, tags=["downloads"])
    def get(self, request, public_id):
        job = job_for_viewer(public_id, request.user)
        if job is None:
            raise Http404
        requeue_if_stalled(job)
        response = Response(job_document(request, job))
        response["Cache-Control"] = "private, no-store"
        return response


class DownloadDataCiteView(APIView):
    """DataCite metadata (REST API JSON) of a ready package, with its landing page as ``url``:
    everything an operator needs to mint a DOI for it."""

    @extend_schema(responses={200: JSON_OBJECT, **ERRORS}, tags=["downloads"])
    def get(self, request, public_id):
        job = job_for_viewer(public_id, request.user)
        if job is None or job.state != DownloadJob.State.READY or not job.datacite:
            raise Http404
        landing = request.build_absolute_uri(reverse("downloads:package", args=[job.public_id]))
        attributes = {**job.datacite, "url": landing}
        return Response({"data": {"type": "dois", "attributes": attributes}})


class AnyAccept(BaseContentNegotiation):
    """The file view answers a zip (or the one JSON error) whatever the client accepts."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DownloadFileView(APIView):
    """``/downloads/file/<signed>``: the package, for the user the link was signed for."""

    content_negotiation_class = AnyAccept

    # Not in the OpenAPI description: its URL is handed out by the API (``file``), never built
    # by a client, and it lives outside /api/v1/.
    @extend_schema(exclude=True)
    def get(self, request, token: str):
        job = job_for_token(token, request.user)
        if job is None:
            raise Http404
        # The audit names the package, not the link (which must not outlive its expiry in a log).
        package_fetched(job, path=reverse("downloads:api-detail", args=[job.public_id]))
        if not package_storage.is_local() and settings.STORAGE_S3_REDIRECT:
            # The bytes come from the object store (or the CDN in front of it), not through the
            # portal: a presigned URL valid for STORAGE_S3_URL_SECONDS.
            response = HttpResponseRedirect(
                package_storage.remote_url(job.file_name, job.download_name)
            )
        elif package_storage.is_local() and settings.DOWNLOAD_ACCEL_REDIRECT:
            response = HttpResponse(content_type="application/zip")
            response["X-Accel-Redirect"] = settings.DOWNLOAD_ACCEL_REDIRECT + job.file_name
            response["Content-Disposition"] = f'attachment; filename="{job.download_name}"'
        else:
            response = FileResponse(
                package_storage.open_package(job.file_name),
                as_attachment=True,
                filename=job.download_name,
                content_type="application/zip",
            )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response
