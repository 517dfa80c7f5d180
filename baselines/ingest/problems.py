"""Problems with a file, each naming its file, row and column; all are raised together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, precise enough to fix it."""

    file: str
    reason: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return ", ".join(where) + ": " + self.reason


class IngestError(Exception):
    """The file cannot be loaded; nothing was written. ``problems`` lists why."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = total if total is not None else len(problems)
        super().__init__("\n".join(str(p) for p in problems))


class Problems:
    """Collects problems up to a limit, counting the rest."""

    def __init__(self, file: str, limit: int):
        self.file, self.limit, self.items, self.total = file, limit, [], 0

    def add(self, reason: str, row: int | None = None, column: str | None = None) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(Problem(self.file, reason, row, column))

    def add_rows(
        self, mask: np.ndarray, rows: int | np.ndarray, column: str, reason: Callable
    ) -> None:
        """One problem per flagged row of a chunk; ``reason(i)`` words it for chunk index i.

        ``rows`` is the file row of the chunk's first line, or every line's file row (a chunk
        filtered to one ``--fraction`` keeps its rows' own numbers)."""
        idx = np.flatnonzero(mask)
        self.total += len(idx)
        room = self.limit - len(self.items)
        for i in idx[: max(room, 0)]:
            row = rows + int(i) if isinstance(rows, int) else int(rows[i])
            self.items.append(Problem(self.file, reason(int(i)), row, column))

    def raise_if_any(self) -> None:
        if self.total:
            raise IngestError(self.items, self.total)
