"""`manage.py health`: the checks of /health/, run here, with their details (`make status`)."""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from health.checks import run_checks


class Command(BaseCommand):
    help = (
        "Run the health checks of /health/ in this process and print each with its detail; "
        "exit status 1 when one is down."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the JSON /health/ gives")

    def handle(self, *args, **options):
        report = run_checks()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(details=True), indent=2))
        else:
            state = "ok" if report.ok else "down (" + ", ".join(report.failed) + ")"
            self.stdout.write(
                f"health: {state} — deployment {settings.DEPLOYMENT_NAME}, {report.ms} ms"
            )
            width = max(len(name) for name in report.checks)
            for name, check in report.checks.items():
                self.stdout.write(
                    f"  {name:<{width}}  {'ok' if check.ok else 'DOWN':<4}  "
                    f"{check.ms:>5} ms  {check.detail}"
                )
        if not report.ok:
            self.stdout.flush()
            sys.exit(1)
