"""Structured logs: one JSON line per request (``RequestLogMiddleware``) and per Celery task
(``connect_task_logs``), each also counted in ``chemearth.metrics``. A line has a request or task
id, the user's id (never the name), the duration and the outcome — and never a secret: signed
download links are cut to their route, and query values under secret-sounding names are replaced
(``scrub``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from urllib.parse import parse_qsl, urlencode

from . import metrics

REQUEST_LOGGER = logging.getLogger("chemearth.requests")
TASK_LOGGER = logging.getLogger("chemearth.tasks")
# A caller's X-Request-ID is kept when it looks like an id (so a proxy's id follows the request).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Path segments that are credentials: a download link's signed token, a tile capability's
# signature (/tiles/c/<key>/<expires>/<signature>/…).
_SECRET_PATHS = (
    re.compile(r"(/downloads/file/)[^/\s?\"']+"),
    re.compile(r"(/tiles/c/[^/\s]+/[0-9]+/)[^/\s?\"']+"),
)
_SECRET_NAMES = re.compile(r"token|key|password|secret|signature|sig$|auth", re.I)
REDACTED = "[redacted]"
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def scrub(path: str, query: str = "") -> str:
    """``path?query`` with credentials replaced."""
    for pattern in _SECRET_PATHS:
        path = pattern.sub(rf"\g<1>{REDACTED}", path)
    if not query:
        return path
    pairs = [
        (name, REDACTED if _SECRET_NAMES.search(name) else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{path}?{urlencode(pairs, safe='[]')}"


class ScrubFilter(logging.Filter):
    """Cuts credentials out of every record's message (Django's own "Not Found: <path>" names a
    signed link's path): attached to the console handler, so no logger can write one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = message
        for pattern in _SECRET_PATHS:
            cleaned = pattern.sub(rf"\g<1>{REDACTED}", cleaned)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class RequestLogMiddleware:
    """Gives each request an id (``request.request_id``, echoed as ``X-Request-ID``) and logs one
    line when it is answered."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id(request.META)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        user = getattr(request, "user", None)
        match = getattr(request, "resolver_match", None)
        log_request(
            request_id=request.request_id,
            method=request.method,
            path=request.path,
            query=request.META.get("QUERY_STRING", ""),
            status=response.status_code,
            started=started,
            user_id=user.pk if user is not None and user.is_authenticated else None,
            route=match.route if match is not None else "unmatched",
        )
        return response


def request_id(environ: dict) -> str:
    """A caller's X-Request-ID when it looks like an id (so a proxy's id follows the request),
    else a new one."""
    given = environ.get("HTTP_X_REQUEST_ID", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def log_request(
    *,
    request_id: str,
    method: str,
    path: str,
    query: str,
    status: int,
    started: float,
    user_id: int | None,
    route: str,
) -> None:
    """The one JSON line of an answered request, and its metrics (``route``: the URL pattern,
    not the path — one label value per endpoint, not per sample id)."""
    fields = {
        "request_id": request_id,
        "method": method,
        "path": scrub(path, query),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "user_id": user_id,
    }
    level = logging.ERROR if status >= 500 else logging.INFO
    REQUEST_LOGGER.log(level, "request", extra={"fields": fields})
    # Any other method counts as "other": a label per invented method would grow without end.
    label = method if method in _METHODS else "other"
    metrics.REQUESTS.labels(label, route, f"{status // 100}xx").inc()
    metrics.REQUEST_SECONDS.labels(route).observe(fields["duration_ms"] / 1000)


def connect_task_logs() -> None:
    """One line per finished Celery task: its id, name, duration and state (arguments are not
    logged: they may name files and users)."""
    from celery.signals import task_postrun, task_prerun

    started: dict[str, float] = {}

    @task_prerun.connect(weak=False)
    def _started(task_id=None, **kwargs) -> None:
        started[task_id] = time.perf_counter()

    @task_postrun.connect(weak=False)
    def _finished(task_id=None, task=None, state=None, **kwargs) -> None:
        began = started.pop(task_id, None)
        seconds = None if began is None else time.perf_counter() - began
        fields = {
            "task_id": task_id,
            "task": getattr(task, "name", None),
            "state": state,
            "duration_ms": None if seconds is None else round(seconds * 1000, 1),
        }
        level = logging.ERROR if state == "FAILURE" else logging.INFO
        TASK_LOGGER.log(level, "task", extra={"fields": fields})
        metrics.TASKS.labels(fields["task"], state or "UNKNOWN").inc()
        if seconds is not None:
            metrics.TASK_SECONDS.labels(fields["task"]).observe(seconds)
