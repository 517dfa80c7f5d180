"""``manage.py restore FOLDER [--database NAME]``: a backup into an empty database (default: the
configured one) and the empty file roots, then what differs from its manifest (none: exit 0)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from health.backup import BackupError, Database, file_roots, restore


class Command(BaseCommand):
    help = "Restore a backup into an empty database and empty file roots, and verify it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", help="a folder written by manage.py backup")
        parser.add_argument("--database", help="database name (default: the configured one)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        database = Database.from_settings(options["database"])
        with tqdm(total=5, unit="step", disable=options["no_progress"]) as bar:

            def step(label: str) -> None:
                bar.set_postfix_str(label, refresh=False)
                bar.update()

            try:
                found = restore(Path(options["folder"]), database, file_roots(), step)
            except BackupError as exc:
                raise CommandError(str(exc)) from None
        if found:
            raise CommandError("restored, but it differs from the backup:\n" + "\n".join(found))
        self.stdout.write(f"restored into {database.name}: row counts and checksums match")
