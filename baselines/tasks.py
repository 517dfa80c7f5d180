"""Background jobs of the baselines app: ingesting a survey file through the Celery queue.

Large files (a national survey of a million samples) take minutes: a caller that must not wait
queues this task (ids and JSON options only) and follows its progress from the task state; the
``ingest`` command runs the same service in the foreground with a progress bar.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from celery import shared_task

from .ingest import IngestError, IngestOptions, survey_ingest


def options_to_json(options: IngestOptions) -> dict:
    data = dataclasses.asdict(options)
    if options.detection_limits is not None:
        data["detection_limits"] = str(options.detection_limits)
    data["skip_columns"] = list(options.skip_columns)
    return data


def options_from_json(data: dict) -> IngestOptions:
    data = dict(data)
    if data.get("detection_limits"):
        data["detection_limits"] = Path(data["detection_limits"])
    data["skip_columns"] = tuple(data.get("skip_columns") or ())
    return IngestOptions(**data)


@shared_task(bind=True, time_limit=6 * 3600, acks_late=True)
def ingest_file(self, path: str, options: dict) -> dict:
    """Ingest one file; returns the report, or ``{"ok": False, "problems": [...]}``.

    Safe to retry: an ingest that already landed is recognised by the file's checksum, and one
    that failed wrote nothing.
    """

    def progress(stage: str, done: int, total: int) -> None:
        self.update_state(state="PROGRESS", meta={"stage": stage, "done": done, "total": total})

    try:
        report = survey_ingest(
            path=Path(path), options=options_from_json(options), progress=progress
        )
    except IngestError as exc:
        return {
            "ok": False,
            "problems": [str(p) for p in exc.problems],
            "total_problems": exc.total,
        }
    return {"ok": True, **report.as_dict()}
