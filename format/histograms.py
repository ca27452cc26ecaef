"""Histograms read back from history (SPEC.md §9.1): per key, one per step.

A histogram is a history value: the map ``{"_type": "histogram", "bins": [...], "values":
[...]}``. Maps come from untrusted files, so each is checked (edge count, order, finite
numbers, at most 512 bins) before it is returned; a malformed one is left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._columns import Chunk

TYPE_NAME = "histogram"
MAX_BINS = 512


@dataclass(frozen=True, slots=True)
class HistogramAt:
    """One histogram of a key: its ``step``, bin ``edges`` (``len(counts) + 1``) and
    ``counts``; ``nonfinite`` values were left out when it was made."""

    step: int
    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]
    nonfinite: int = 0


def is_histogram(value: Any) -> bool:
    return type(value) is dict and value.get("_type") == TYPE_NAME


def parse(value: Any, step: int) -> HistogramAt | None:
    """The histogram a stored map holds, or None when it is not a well-formed one."""
    if not is_histogram(value):
        return None
    edges, counts = value.get("bins"), value.get("values")
    if type(edges) is not list or type(counts) is not list:
        return None
    if not 1 <= len(counts) <= MAX_BINS or len(edges) != len(counts) + 1:
        return None
    if not all(type(v) in (int, float) for v in (*edges, *counts)):
        return None
    e = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(c)) and np.all(np.diff(e) > 0)
            and np.all(c >= 0)):
        return None
    nonfinite = value.get("nonfinite")
    if nonfinite is None:
        nonfinite = 0
    elif type(nonfinite) is not int or nonfinite < 0:  # SPEC.md §9.1: a uint when present
        return None
    return HistogramAt(step, e, c, nonfinite)


def _kept_values(chunks: Iterable[Chunk], key: str) -> Iterable[tuple[int, Any]]:
    """(step, value) of ``key`` per history row that has it, after merging (SPEC.md §9,
    §11.2: consecutive rows of equal step are one row; the last value logged wins, a
    logged nil included)."""
    kept: list[list[Any]] = []  # [group, step, value], in row order
    group, previous = -1, None
    for chunk in chunks:
        steps = chunk.steps.tolist()
        groups = []
        for step in steps:
            if step != previous:
                group, previous = group + 1, step
            groups.append(group)
        col = chunk.columns.get(key)
        if col is None:
            continue
        rows = range(chunk.rows) if col.present is None else col.present.tolist()
        values = col.values.tolist() if isinstance(col.values, np.ndarray) else col.values
        for row, value in zip(rows, values, strict=True):
            if kept and kept[-1][0] == groups[row]:
                kept[-1][2] = value
            else:
                kept.append([groups[row], steps[row], value])
    return [(step, value) for _, step, value in kept]


def histograms_of(chunks: Iterable[Chunk], key: str) -> tuple[list[HistogramAt], int]:
    """(the histograms of ``key``, one per history row whose kept value is a map of
    ``_type`` "histogram", in row order; and how many such maps break SPEC.md §9.1's
    rules and were left out)."""
    found: list[HistogramAt] = []
    bad = 0
    for step, value in _kept_values(chunks, key):
        if not is_histogram(value):
            continue
        parsed = parse(value, step)
        if parsed is None:
            bad += 1
        else:
            found.append(parsed)
    return found, bad


def histogram_keys(chunks: Iterable[Chunk]) -> list[str]:
    """Keys with at least one histogram, in order of first appearance."""
    keys: dict[str, None] = {}
    for chunk in chunks:
        for key, col in chunk.columns.items():
            if key not in keys and col.kind == "any" and any(map(is_histogram, col.values)):
                keys[key] = None
    return list(keys)
