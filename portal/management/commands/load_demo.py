"""``manage.py load_demo``: load the demo surveys and demo accounts; safe to run again."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from baselines.demo import demo_dataset_load, demo_datasets
from baselines.management.commands.ingest import summary
from certificates.demo import demo_units_load
from dashboards.demo import demo_zones_load
from sharing.demo import DEMO_PASSWORD, DEMO_USERS, demo_policies_load

DEMO_ADMIN = ("admin", os.environ.get("CHEMEARTH_DEMO_ADMIN_PASSWORD", "chemearth-demo"))


class Command(BaseCommand):
    help = (
        "Load the real demo surveys (USGS DS 801, Kola C-horizon), the labelled synthetic 2020 "
        "round at the USGS sites (generated into var/demo/), and the demo policies and accounts."
    )

    def handle(self, *args, **options) -> None:
        for dataset in demo_datasets():
            report, described = demo_dataset_load(dataset)
            first_line = summary(report).splitlines()[0]
            self.stdout.write(first_line)
            if described:
                self.stdout.write(
                    f"  described its provenance: {len(described)} changes "
                    "(methods, laboratory, detection limits)"
                )
        for item in demo_policies_load():
            self.stdout.write(f"Created {item}.")
        for name in demo_zones_load():
            self.stdout.write(f"Created the example zone {name}.")
        for item in demo_units_load():
            self.stdout.write(f"Created the example {item}.")
        username, password = DEMO_ADMIN
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, "admin@chemearth.invalid", password)
            self.stdout.write(f"Created the demo admin account {username!r}.")
        self.stdout.write("Demo accounts (sign in at /accounts/login/):")
        self.stdout.write(f"  {username:<11} {password:<16} staff: sees everything, admin site")
        for name, role in DEMO_USERS:
            self.stdout.write(f"  {name:<11} {DEMO_PASSWORD:<16} {role}")
