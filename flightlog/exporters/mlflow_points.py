"""A run's history as the points an MLflow export sends, in **step-major order** (step by
step, keys in history column order): appending steps to a run only appends points, so a
count of points sent is a position that stays valid as the run grows (the last step of a
live run is held back, as for Parquet: it may still merge keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

_NUMERIC = (pa.float64(), pa.int64(), pa.bool_())


@dataclass
class Points:
    """Every non-null history cell; ``numeric`` false for cells MLflow cannot hold
    (strings), which count in positions but are not sent."""

    keys: list[str]          # history keys, column order
    key_index: Any           # int32 per point
    step: Any                # int64
    timestamp_ms: Any        # int64: MLflow timestamps are milliseconds
    value: Any               # float64 (bools 0/1, ints converted)
    numeric: Any             # bool

    def __len__(self) -> int:
        return len(self.step)


def points_of(history: Any) -> Points:
    """The points of ``history`` (a ``history()`` table, held-back rows already cut)."""
    steps = history["_step"].to_numpy()
    ms = np.rint(history["_timestamp"].to_numpy() * 1000.0).astype(np.int64)
    keys: list[str] = []
    rows: list[Any] = []
    cols: list[Any] = []
    values: list[Any] = []
    numeric: list[Any] = []
    for field in history.schema:
        if field.name in ("_step", "_timestamp"):
            continue
        column = history[field.name]
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        where = np.flatnonzero(valid)
        index = len(keys)
        keys.append(field.name)
        rows.append(where)
        cols.append(np.full(len(where), index, np.int32))
        if field.type in _NUMERIC:
            cells = column.cast(pa.float64()).to_numpy(zero_copy_only=False)[where]
            values.append(cells.astype(np.float64))
            numeric.append(np.ones(len(where), bool))
        else:
            values.append(np.zeros(len(where)))
            numeric.append(np.zeros(len(where), bool))
    if not keys:
        empty = np.zeros(0, np.int64)
        return Points([], empty.astype(np.int32), empty, empty, empty.astype(float),
                      empty.astype(bool))
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    order = np.lexsort((col, row))
    return Points(keys, col[order], steps[row[order]], ms[row[order]],
                  np.concatenate(values)[order], np.concatenate(numeric)[order])
