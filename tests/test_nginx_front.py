"""The real front server (deploy/nginx.conf, Debian's nginx with njs) in front of the portal:
restricted tiles by capability URL are checked and sent by nginx alone; anything not genuine,
expired or for another layer ends at the portal's 404."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from chemearth.nginx_conf import filled
from portal import tile_capabilities
from tests.test_layers import RUS_POINTS, USA_POINTS, pixel, rendered
from tests.test_layers import world as _world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def partner(request):
    """The world of tests/test_layers.py (USA public, RUS embargoed) and its RUS partner."""
    return request.getfixturevalue("_world")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def front(live_server, tmp_path: Path):
    """nginx per deploy/nginx.conf on a free port, proxying the live server; its URL."""
    port = free_port()
    for sub in ("run", "log"):
        (tmp_path / sub).mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        filled(
            {
                "USER": "root",  # the tests' TILE_ROOT is a private temporary directory
                "RUN_DIR": str(tmp_path / "run"),
                "LOG_DIR": str(tmp_path / "log"),
                "MIME_TYPES": "/etc/nginx/mime.types",
                "LISTEN": f"127.0.0.1:{port}",
                "SERVER_NAME": "127.0.0.1",
                "UPSTREAM": live_server.url.removeprefix("http://"),
                "STATIC_ROOT": str(tmp_path),
                "TILE_ROOT": str(settings.TILE_ROOT),
                "NGINX_MODULES": "/usr/lib/nginx/modules",
                "DEPLOY_DIR": str(Path(__file__).resolve().parent.parent / "deploy"),
            }
        )
    )
    argv = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp_path), "-c", str(conf),
            "-e", str(tmp_path / "log" / "error.log"), "-g", "daemon off;"]  # fmt: skip
    env = {"TILE_CAPABILITY_SECRET": settings.TILE_CAPABILITY_SECRET, "PATH": "/usr/sbin:/usr/bin"}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_nginx_sends_capability_tiles_from_disk_and_refuses_the_rest(partner, front):
    layer = rendered(partner)
    assert not layer.is_public
    tx, ty, *_ = pixel(*RUS_POINTS[0], 5)
    zxy = f"5/{tx}/{ty}"
    expires, signature = tile_capabilities.issue(layer.key)
    url = f"{front}/tiles/c/{layer.key}/{expires}/{signature}/{zxy}.png"
    layer.tile_path(5, tx, ty).unlink()  # seeded at render time; make the portal cut it again

    status, headers, body = get(url)  # not cached yet: nginx passes it to the portal
    assert status == 200 and body.startswith(b"\x89PNG")
    assert headers.get("X-Tile-Source") != "disk"
    assert layer.tile_path(5, tx, ty).exists()
    status, headers, again = get(url)  # cached: nginx checks the capability and sends the file
    assert status == 200 and headers.get("X-Tile-Source") == "disk" and again == body

    missing = get(f"{front}/tiles/{'0' * 24}/{zxy}.png")
    assert missing[0] == 404
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    past = int(time.time()) - 1
    public = rendered()
    refused = {
        "tampered": f"/tiles/c/{layer.key}/{expires}/{flipped}/{zxy}.png",
        "later expiry": f"/tiles/c/{layer.key}/{expires + 300}/{signature}/{zxy}.png",
        "expired": f"/tiles/c/{layer.key}/{past}/"
        f"{tile_capabilities.signature(layer.key, past)}/{zxy}.png",
        "other layer": f"/tiles/c/{public.key}/{expires}/{signature}/{zxy}.png",
        "no capability": f"/tiles/{layer.key}/{zxy}.png",
    }
    for name, path in refused.items():
        status, headers, body = get(front + path)
        assert (status, body) == (404, missing[2]), name  # the portal's own 404, nothing else
        assert headers.get("X-Tile-Source") != "disk", name


def test_nginx_sends_public_tiles_from_disk(partner, front, client):  # noqa: ARG001
    layer = rendered()
    tx, ty, *_ = pixel(*USA_POINTS[0], 4)
    assert client.get(f"/tiles/{layer.key}/4/{tx}/{ty}.png").status_code == 200  # cut, cached
    status, headers, body = get(f"{front}/tiles/{layer.key}/4/{tx}/{ty}.png")
    assert status == 200 and headers.get("X-Tile-Source") == "disk"
    assert "immutable" in headers["Cache-Control"]
