"""Downsampling a metric for drawing: few points, every extreme kept.

A chart a few hundred pixels wide cannot show a million points, but it must not hide a
spike either. :func:`downsample` cuts the points of the requested x range into buckets
of equal point count and keeps, per bucket, the first, the last, the minimum and the
maximum point (in x order): the drawn line passes through every local extreme that the
full series has at that resolution, and its ends are exact. When the range holds at most
``points`` points they are returned unchanged (the "full data when zoomed" case).

numpy only; used by the server's ``/series`` endpoint and by the offline report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Series", "downsample", "metric_columns", "series_of", "vector_series"]

#: Points drawn when the caller does not say (about 4 per pixel of a wide chart).
DEFAULT_POINTS = 2000


@dataclass
class Series:
    """Points of one metric over one x axis, in x order."""

    x: np.ndarray  # float64
    y: np.ndarray  # float64
    total: int  # points of the full series in the requested range
    downsampled: bool

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x.tolist(), "y": self.y.tolist(), "total": self.total,
                "downsampled": self.downsampled}


def downsample(x: np.ndarray, y: np.ndarray, points: int = DEFAULT_POINTS,
               start: float | None = None, end: float | None = None) -> Series:
    """The points of ``(x, y)`` with ``start <= x <= end``, at most about ``points`` of
    them, keeping each bucket's first, last, minimum and maximum.

    Args:
        x: increasing x values (steps or timestamps).
        y: the metric, same length; NaN marks a step where it was not logged (dropped).
        points: the budget; the range is returned whole when it holds no more.
        start, end: the x range (inclusive); ``None`` for unbounded. One point beyond
            each end is kept so that a zoomed line runs to the chart's edges.

    Raises:
        ValueError: ``x`` and ``y`` differ in length, or ``points`` < 4.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} values but y has {len(y)}")
    if points < 4:
        raise ValueError(f"points must be at least 4, got {points}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(x)
    if not keep.all():
        x, y = x[keep], y[keep]
    if len(x) > 1 and not bool(np.all(x[1:] >= x[:-1])):  # timestamps of a resumed run
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    lo = 0 if start is None else max(int(np.searchsorted(x, start, "left")) - 1, 0)
    hi = len(x) if end is None else min(int(np.searchsorted(x, end, "right")) + 1, len(x))
    x, y = x[lo:hi], y[lo:hi]
    total = len(x)
    if total <= points:
        return Series(x, y, total, False)
    buckets = points // 4
    size = -(-total // buckets)  # ceil: every bucket but the last is full
    padded = size * buckets
    # Pad the last bucket with NaN (ignored by nanargmin/nanargmax) to get a 2-d view.
    values = np.full(padded, np.nan)
    values[:total] = y
    grid = values.reshape(buckets, size)
    rows = np.flatnonzero(~np.isnan(grid).all(axis=1))
    base = rows * size
    first = base
    last = np.minimum(base + size, total) - 1
    low = base + np.nanargmin(grid[rows], axis=1)
    high = base + np.nanargmax(grid[rows], axis=1)
    index = np.unique(np.concatenate([first, last, low, high]))
    return Series(x[index], y[index], total, True)


def metric_columns(table: Any) -> list[str]:
    """The history columns a line chart can draw: numeric, not ``_step``/``_timestamp``."""
    import pyarrow as pa

    names = []
    for field in table.schema:
        if field.name.startswith("_"):
            continue
        kind = field.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            names.append(field.name)
    return names


def column_array(table: Any, name: str) -> np.ndarray:
    """A history column as float64, nulls (steps that did not log it) as NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.int8())
    column = pc.cast(column, pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def series_of(table: Any, key: str, x: str = "_step", points: int = DEFAULT_POINTS,
              start: float | None = None, end: float | None = None) -> Series:
    """:func:`downsample` of history column ``key`` over column ``x`` of ``table``.

    Raises:
        KeyError: ``table`` has no column ``key`` or ``x``.
    """
    for name in (key, x):
        if name not in table.column_names:
            raise KeyError(name)
    return downsample(column_array(table, x), column_array(table, key), points, start, end)


#: Vectors (log_list, repeated run.log) answered per run, the rest named as left out.
MAX_VECTORS = 200


def vector_series(metrics: dict[str, list[Any]], lists: dict[str, list[Any]],
                  points: int = DEFAULT_POINTS) -> dict[str, dict[str, Any]]:
    """A run's vectors (format/azure_forms.py) as the renderer draws them: key ->
    ``{"kind", "x": index, "y", "total", "downsampled"}``, at most ``points`` points
    each (non-numbers dropped) and :data:`MAX_VECTORS` of them (sorted by key; then
    ``"_truncated": {"vectors": N}``)."""
    from flightlog.format.azure_forms import vectors

    found = vectors(metrics, lists)
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(found)[:MAX_VECTORS]:
        vector = found[key]
        ys = np.array([np.nan if v is None else v for v in vector.values], dtype=np.float64)
        series = downsample(np.arange(len(ys), dtype=np.float64), ys, points)
        out[key] = {"kind": vector.kind, **series.to_json(), "length": len(ys)}
    if len(found) > MAX_VECTORS:
        out["_truncated"] = {"vectors": len(found)}
    return out
