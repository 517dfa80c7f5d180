"""The real Celery worker for the fault tests (tests/test_faults.py), with one hook: when
``FAULT_PAUSE_AFTER`` names ``module:function``, the pool process that runs it pauses right
after it returns (once: it writes its pid to ``FAULT_PAUSE_FILE`` and sleeps), so a test can
kill that process mid-job at a known point. Every other line of the worker is the production one.

Usage: python tests/fault_worker.py <celery worker arguments>
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import time
from pathlib import Path


def install_pause() -> None:
    target = os.environ.get("FAULT_PAUSE_AFTER")
    if not target:
        return
    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    marker = Path(os.environ["FAULT_PAUSE_FILE"])

    @functools.wraps(original)
    def paused(*args, **kwargs):
        result = original(*args, **kwargs)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            while True:  # until the test kills this process
                time.sleep(1)
        return result

    setattr(module, name, paused)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    install_pause()  # before the pool forks: its processes inherit the patched module
    from chemearth.celery import app

    # Its own queue (the test routes its tasks there): no other test worker takes them, and
    # what this worker queues itself (a layer queued again) comes back to it.
    app.conf.task_default_queue = os.environ["FAULT_QUEUE"]
    app.conf.task_routes = {}  # not the per-kind queues of settings: this one queue for all
    if os.environ.get("FAULT_VISIBILITY_TIMEOUT"):  # redeliver a dead worker's message soon
        app.conf.broker_transport_options = {
            "visibility_timeout": float(os.environ["FAULT_VISIBILITY_TIMEOUT"])
        }
    from celery.bin.celery import main

    sys.argv = ["celery", "-A", "chemearth", *sys.argv[1:]]
    sys.exit(main())
