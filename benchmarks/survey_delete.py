#!/usr/bin/env python
"""Survey deletion benchmark: removing a survey with all its samples and measurements.

    .venv/bin/python benchmarks/ingest.py --samples 100000 --keep   # the world: chemearth_bench
    .venv/bin/python benchmarks/survey_delete.py

On a database kept by ``ingest.py --keep`` (or ``--database``), times ``Survey.delete()`` of its
largest survey inside a transaction that is then rolled back (so runs repeat), and, as the
reference measured in the same run, one ``SELECT count(*)`` of that survey's measurement rows:
reading the rows once. Prints the median of ``--repeat`` runs and the ratio. (Django's own
cascade, which read every measurement into memory and deleted them by id, did not finish in
10 minutes at 100,000 samples; it is not run.)
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import command_line, git_revision, setup_django_on_kept


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="chemearth_bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup_django_on_kept(args.database)
    from django.db import transaction
    from django.db.models import Count

    from baselines.models import Measurement, Survey

    survey = Survey.objects.annotate(n=Count("samples")).order_by("-n").first()
    rows = Measurement.objects.filter(sample__survey=survey)
    counts, deletes, deleted = [], [], None
    for _ in range(args.repeat):
        start = time.perf_counter()
        total = rows.count()
        counts.append(time.perf_counter() - start)
        start = time.perf_counter()
        try:
            with transaction.atomic():
                deleted = Survey.objects.get(pk=survey.pk).delete()[1]
                deletes.append(time.perf_counter() - start)
                raise Rollback
        except Rollback:
            pass
    count_s, delete_s = statistics.median(counts), statistics.median(deletes)
    print(f"Survey deletion — git {git_revision()}, database {args.database}, "
          f"survey {survey.name!r}: {survey.n:,} samples, {total:,} measurements, "
          f"median of {args.repeat}")  # fmt: skip
    print(f"  deleted: {deleted}")
    print(f"  {'count(*) of its rows s':>24}{'Survey.delete() s':>20}{'ratio':>8}")
    print(f"  {count_s:>24.2f}{delete_s:>20.2f}{delete_s / count_s:>8.2f}")
    print(f"\ncommand: {command_line()}")


if __name__ == "__main__":
    main()
