"""The training thread's buffer of history rows.

A training loop logs the same keys step after step, so rows are kept in runs that share
one key tuple, each row as the tuple of its values: appending costs three list appends
whatever the row's width. The background writer takes the whole buffer at once
(:meth:`HistoryBuffer.to_chunk`) and forms the columns there (``itemgetter`` and numpy).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import numpy as np
from flightlog.format._columns import Chunk, column_from_values


class HistoryBuffer:
    __slots__ = ("_keys", "_values", "runs", "steps", "times")

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.times: list[float] = []
        # (keys, index of the run's first row, one tuple of values per row); rows are
        # indexes into steps/times. _keys/_values: the last run's.
        self.runs: list[tuple[tuple[str, ...], int, list[tuple[Any, ...]]]] = []
        self._keys: tuple[str, ...] | None = None
        self._values: list[tuple[Any, ...]] = []

    @property
    def rows(self) -> int:
        return len(self.steps)

    def append(self, step: int, time: float, keys: tuple[str, ...],
               values: tuple[Any, ...]) -> None:
        """One row: ``values[i]`` is the value of ``keys[i]`` (distinct keys)."""
        if keys != self._keys:
            self._keys, self._values = keys, []
            self.runs.append((keys, len(self.steps), self._values))
        self._values.append(values)
        self.steps.append(step)
        self.times.append(time)

    def to_chunk(self) -> Chunk:
        n = len(self.steps)
        # key -> (row indexes, values); a key of one run only keeps its range of rows.
        columns: dict[str, tuple[range | list[int], list[Any]]] = {}
        for keys, first, rows in self.runs:
            indexes = range(first, first + len(rows))
            for position, key in enumerate(keys):
                values = list(map(itemgetter(position), rows))  # C speed; zip(*rows) is not
                column = columns.get(key)
                if column is None:
                    columns[key] = (indexes, values)
                    continue
                rows_of_key = column[0]
                if isinstance(rows_of_key, range):
                    rows_of_key = list(rows_of_key)
                    columns[key] = (rows_of_key, column[1])
                rows_of_key.extend(indexes)
                column[1].extend(values)
        return Chunk(
            np.array(self.steps, dtype=np.int64),
            np.array(self.times, dtype=np.float64),
            {key: column_from_values(rows, values, n)
             for key, (rows, values) in columns.items()},
        )
