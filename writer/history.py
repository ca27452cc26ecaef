"""The training thread's buffer of history rows, kept as columns as they arrive.

Appending costs a few list appends per value; the background writer takes the whole
buffer at once (:meth:`HistoryBuffer.to_chunk`) and does the numpy work there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flightlog.format._columns import Chunk, column_from_values


class HistoryBuffer:
    __slots__ = ("columns", "steps", "times")

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.times: list[float] = []
        # key -> (row indexes, values); rows are indexes into steps/times.
        self.columns: dict[str, tuple[list[int], list[Any]]] = {}

    @property
    def rows(self) -> int:
        return len(self.steps)

    def append(self, step: int, time: float, row: dict[str, Any]) -> None:
        index = len(self.steps)
        self.steps.append(step)
        self.times.append(time)
        columns = self.columns
        for key, value in row.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [])
            column[0].append(index)
            column[1].append(value)

    def to_chunk(self) -> Chunk:
        n = len(self.steps)
        return Chunk(
            np.array(self.steps, dtype=np.int64),
            np.array(self.times, dtype=np.float64),
            {key: column_from_values(rows, values, n)
             for key, (rows, values) in self.columns.items()},
        )
