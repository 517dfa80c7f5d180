"""Run by ``tests/test_replica.py`` in a process of its own whose ``DATABASE_URL`` is a private
primary and ``DATABASE_REPLICA_URL`` its streaming replica: it answers requests through the real
middleware stack and router with Django's test client and prints, as JSON, which server each read
ran on (``pg_is_in_recovery()`` evaluated in the very query that read the row) and what it saw.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections, router, transaction  # noqa: E402
from django.db.models.expressions import RawSQL  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import include, path  # noqa: E402

from baselines.models import Element  # noqa: E402

SYMBOL = "Cu"


def read_element() -> dict:
    """The element's name and whether the server that answered is a replica, in one query."""
    return (
        Element.objects.filter(symbol=SYMBOL)
        .annotate(replica=RawSQL("pg_is_in_recovery()", []))
        .values("name_en", "replica")
        .get()
    )


def element_view(request):
    if request.method == "POST":
        Element.objects.filter(symbol=SYMBOL).update(name_en=request.POST["name"])
        return JsonResponse({"written": True})
    return JsonResponse(read_element())


def writes_on_get_view(request):
    """A GET that writes (as a GET that creates a map layer does) and reads back."""
    before = read_element()
    Element.objects.filter(symbol=SYMBOL).update(name_en=before["name_en"])
    return JsonResponse({"before": before, "after": read_element()})


def atomic_view(request):
    with transaction.atomic():
        return JsonResponse(read_element())


urlpatterns = [
    path("probe/element/", element_view),
    path("probe/writes-on-get/", writes_on_get_view),
    path("probe/atomic/", atomic_view),
    path("", include("chemearth.urls")),
]


def wait_for_replay(timeout: float = 60) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        lsn = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the replica did not replay {lsn} within {timeout} s")


def get(client: Client, url: str, **headers) -> dict:
    response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.json()


def main() -> dict:
    seen: dict = {"aliases": sorted(settings.DATABASES)}
    wait_for_replay()
    original = Element.objects.get(symbol=SYMBOL).name_en
    renamed = f"{original} (renamed)"
    reader, writer = Client(), Client()
    cookie = settings.REPLICA_PIN_COOKIE

    seen["reader_before"] = get(reader, "/probe/element/")
    posted = writer.post("/probe/element/", {"name": renamed})
    seen["writer_pin_cookie"] = cookie in posted.cookies
    seen["writer_after"] = get(writer, "/probe/element/")  # read-your-writes
    seen["reader_unpinned"] = get(reader, "/probe/element/")["replica"]
    wait_for_replay()
    seen["reader_after_replay"] = get(reader, "/probe/element/")
    seen["renamed"] = renamed
    seen["original"] = original

    # The pin ends: a cookie whose time has passed, and a forged one too far ahead, are ignored.
    writer.cookies[cookie] = str(int(time.time()) - 1)
    seen["writer_pin_expired"] = get(writer, "/probe/element/")["replica"]
    writer.cookies[cookie] = str(int(time.time()) + 10 * settings.REPLICA_PIN_SECONDS)
    seen["forged_pin"] = get(writer, "/probe/element/")["replica"]

    # Scripts keep no cookies: the pin is keyed by their Authorization header.
    token, other = "Token probe-token-a", "Token probe-token-b"
    Client().post("/probe/element/", {"name": renamed}, HTTP_AUTHORIZATION=token)
    seen["token_same"] = get(Client(), "/probe/element/", HTTP_AUTHORIZATION=token)["replica"]
    seen["token_other"] = get(Client(), "/probe/element/", HTTP_AUTHORIZATION=other)["replica"]

    # A GET that writes reads the primary after its write, and pins its client.
    fresh = Client()
    response = fresh.get("/probe/writes-on-get/")
    seen["writes_on_get"] = response.json()
    seen["writes_on_get_pins"] = cookie in response.cookies
    seen["atomic"] = get(Client(), "/probe/atomic/")["replica"]

    # A real API page: its queries ran on the replica, none on the primary.
    with (
        CaptureQueriesContext(connections["replica"]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        response = Client().get("/api/v1/elements/")
    seen["api"] = {
        "status": response.status_code,
        "symbols": len(response.json()),
        "replica_queries": len(on_replica),
        "primary_queries": len(on_primary),
    }

    # /health/'s replica check: a streaming standby, caught up.
    from health.checks import run_checks

    check = run_checks(timeout=10).checks["replica"]
    seen["health_replica"] = {"ok": check.ok, "detail": check.detail}

    # Outside a request (a Celery task, a command): the primary.
    seen["outside_request_alias"] = router.db_for_read(Element)
    seen["outside_request"] = read_element()["replica"]
    Element.objects.filter(symbol=SYMBOL).update(name_en=original)
    return seen


if __name__ == "__main__":
    with override_settings(ROOT_URLCONF=sys.modules[__name__]):
        print(json.dumps(main()))
