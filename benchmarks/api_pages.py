#!/usr/bin/env python
"""Measurement-list paging benchmark: one API page, sorted by id, on a table without an id btree.

    .venv/bin/python benchmarks/ingest.py --samples 100000 --keep   # the world: chemearth_bench
    .venv/bin/python benchmarks/api_pages.py

On a database kept by ``ingest.py --keep`` (or ``--database``), times the pagination step of
``/api/v1/measurements`` (the paginator's queries through the gate, rows fully read, no JSON) for
a viewer who sees every row (a superuser), with DRF's ``CursorPagination`` (``ORDER BY id LIMIT
n``, the sort of every visible row) as the reference and the portal's ``IdWindowPagination``
(windows of ids): the first page, a page from the middle of the table, and the first page of one
element; and the admin's measurement list (numbered pages, newest first: ``ORDER BY -id``
with ``OFFSET`` against ``NewestMeasurementsPaginator``), pages 1 and 500. Prints the median
of ``--repeat`` runs of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import command_line, git_revision, setup_django_on_kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="chemearth_bench")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    setup_django_on_kept(args.database)
    from django.contrib.auth import get_user_model
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from baselines.models import Element, Measurement
    from portal.pagination import IdCursorPagination, IdWindowPagination
    from sharing.access import viewer_scope, visible_measurements

    user = get_user_model().objects.filter(is_superuser=True).first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-pages", "bench@example.org", None)
    scope = viewer_scope(user)
    rows = visible_measurements(scope).preferred()
    total = Measurement.objects.count()
    middle = Measurement.objects.id_ceiling() // 2
    element = Element.objects.get(symbol="Cu")
    factory = APIRequestFactory()

    def page(paginator_class, queryset, position: int | None) -> int:
        paginator = paginator_class()
        query = {"limit": args.limit}
        if position is not None:
            from rest_framework.pagination import Cursor

            paginator.base_url = "http://bench/api/v1/measurements/"
            query["cursor"] = paginator.encode_cursor(Cursor(0, False, str(position))).split(
                "cursor="
            )[1]
        request = Request(factory.get("/api/v1/measurements/", query))
        found = paginator.paginate_queryset(queryset, request)
        assert len(found) == args.limit, len(found)
        return found[0].pk

    cases = [
        ("first page", rows, None),
        ("page after the middle id", rows, middle),
        ("first page of Cu", rows.filter(element=element), None),
    ]
    print(f"Measurement paging — git {git_revision()}, database {args.database}, "
          f"{total:,} measurements, page of {args.limit}, median of {args.repeat}")  # fmt: skip
    print(f"  {'case':<28}{'ORDER BY id ms':>16}{'id windows ms':>16}{'ratio':>8}")
    for label, queryset, position in cases:
        times = {}
        for name, paginator_class in (("sort", IdCursorPagination), ("window", IdWindowPagination)):
            firsts, samples = set(), []
            page(paginator_class, queryset, position)  # warm-up
            for _ in range(args.repeat):
                start = time.perf_counter()
                firsts.add(page(paginator_class, queryset, position))
                samples.append(time.perf_counter() - start)
            times[name] = (statistics.median(samples) * 1000, firsts)
        assert times["sort"][1] == times["window"][1], "both paginators start at the same row"
        ratio = times["window"][0] / times["sort"][0]
        print(f"  {label:<28}{times['sort'][0]:>16.1f}{times['window'][0]:>16.1f}{ratio:>8.3f}")

    # The admin's measurement list: newest first, numbered pages of 100.
    from baselines.admin import EstimatedCountPaginator, NewestMeasurementsPaginator

    listed = Measurement.objects.select_related("sample", "element", "analyte").order_by("-pk")
    header = f"{'ORDER BY -id ms':>16}{'id windows ms':>16}{'ratio':>8}"
    print(f"\n  {'admin list, newest first':<28}{header}")
    for number in (1, 500):
        times = {}
        for name, paginator_class in (
            ("sort", EstimatedCountPaginator),
            ("window", NewestMeasurementsPaginator),
        ):
            samples, firsts = [], set()
            for _ in range(args.repeat + 1):
                start = time.perf_counter()
                firsts.add(paginator_class(listed, 100).page(number).object_list[0].pk)
                samples.append(time.perf_counter() - start)
            times[name] = (statistics.median(samples[1:]) * 1000, firsts)
        assert times["sort"][1] == times["window"][1], "both paginators show the same rows"
        ratio = times["window"][0] / times["sort"][0]
        label = f"page {number}"
        print(f"  {label:<28}{times['sort'][0]:>16.1f}{times['window'][0]:>16.1f}{ratio:>8.3f}")
    print(f"\ncommand: {command_line()}")


if __name__ == "__main__":
    main()
