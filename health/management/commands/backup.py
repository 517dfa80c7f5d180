"""``manage.py backup DIR``: the database and the file roots in a new folder under DIR, with a
manifest of row counts and checksums (health/backup.py), with progress."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from health.backup import BackupError, backup, file_roots


class Command(BaseCommand):
    help = "Back up the database and the tile, package and media roots, with a manifest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="directory to write the backup folder into")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        steps = 3 + len(file_roots())
        with tqdm(total=steps, unit="step", disable=options["no_progress"]) as bar:

            def step(label: str) -> None:
                bar.set_postfix_str(label, refresh=False)
                bar.update()

            try:
                folder = backup(Path(options["target"]), step)
            except BackupError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(f"backup written to {folder}")
