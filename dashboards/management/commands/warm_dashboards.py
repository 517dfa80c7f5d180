"""``manage.py warm_dashboards``: compute every audience's default dashboard figures now, in this
process, with a progress bar (what the worker does after an ingest or a policy change)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from dashboards.warm import plan, warm


class Command(BaseCommand):
    help = "Compute every audience's default dashboard figures into the cache, with progress."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        todo = plan()
        with tqdm(total=len(todo), unit="figure", disable=options["no_progress"]) as bar:

            def progress(label: str) -> None:
                bar.set_postfix_str(label[-40:], refresh=False)
                bar.update()

            result = warm(todo, progress)
        self.stdout.write(
            f"{result['figures']} figures computed, {result['failed']} failed, "
            f"{result['seconds']} s"
        )
