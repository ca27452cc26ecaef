"""``flightlog.Histogram``: a distribution logged at a step, as W&B's ``wandb.Histogram``.

``run.log({"grads": flightlog.Histogram(values)})`` stores the bin edges and counts, not the
values (SPEC.md §9.1 gives the record). A numpy array, a framework tensor or a list of
numbers logged directly becomes a histogram of 64 bins, as W&B does. Read back with
``open_run(path).histograms("grads")``; the run page draws them as a heatmap of bins over
steps, as TensorBoard's and W&B's distribution views do.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidValue

#: The most bins one histogram may have (W&B's limit too): 513 edges and 512 counts keep
#: one histogram well inside a history record (SPEC.md §9.1).
MAX_BINS = 512
DEFAULT_BINS = 64
#: The ``_type`` of the stored map (W&B's name, so its exports read as they are).
TYPE_NAME = "histogram"


class Histogram:
    """Bin edges and counts of a distribution.

    ``Histogram(values, num_bins=64)`` bins ``values`` (any sequence, numpy array or
    tensor of numbers; NaN and infinities are left out and counted in ``nonfinite``);
    ``Histogram(np_histogram=np.histogram(values))`` keeps the bins given.

    Attributes:
        bins: the ``len(histogram) + 1`` bin edges, increasing.
        histogram: the count of each bin.
        nonfinite: values left out because they were NaN or infinite.
    """

    __slots__ = ("bins", "histogram", "nonfinite")

    def __init__(self, sequence: Any = None, np_histogram: Any = None,
                 num_bins: int = DEFAULT_BINS, *, key: str | None = None) -> None:
        where = f"Histogram of {key!r}" if key else "Histogram"
        self.nonfinite = 0
        if np_histogram is not None:
            if sequence is not None:
                raise InvalidValue(f"{where}: give sequence or np_histogram, not both",
                                   key=key)
            counts, edges = _pair(np_histogram, where, key)
        else:
            if sequence is None:
                raise InvalidValue(f"{where} needs a sequence or np_histogram=", key=key)
            if type(num_bins) is not int or not 1 <= num_bins <= MAX_BINS:
                raise InvalidValue(f"{where}: num_bins must be an int in 1..{MAX_BINS}, got "
                                   f"{num_bins!r}", key=key)
            values = _numbers(sequence, where, key)
            finite = values[np.isfinite(values)]
            self.nonfinite = int(values.size - finite.size)
            counts_np, edges_np = np.histogram(finite if finite.size else np.zeros(0),
                                               bins=num_bins)
            counts, edges = counts_np.tolist(), edges_np.tolist()
        self.histogram: list[float] = counts
        self.bins: list[float] = edges

    def to_record(self) -> dict[str, Any]:
        """The map stored as the history value (SPEC.md §9.1)."""
        record: dict[str, Any] = {"_type": TYPE_NAME, "bins": self.bins,
                                  "values": self.histogram}
        if self.nonfinite:
            record["nonfinite"] = self.nonfinite
        return record

    def __repr__(self) -> str:
        lo, hi = self.bins[0], self.bins[-1]
        return f"<flightlog.Histogram {len(self.histogram)} bins [{lo:g}, {hi:g}]>"


def _numbers(sequence: Any, where: str, key: str | None) -> Any:
    tolist = getattr(sequence, "tolist", None)
    if callable(tolist) and not isinstance(sequence, np.ndarray):
        sequence = tolist()  # a framework tensor, on any device
    try:
        values = np.asarray(sequence, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{where}: the values are not numbers ({exc})", key=key) from None
    return values


def _pair(np_histogram: Any, where: str, key: str | None) -> tuple[list[float], list[float]]:
    """(counts, edges) of ``np.histogram``'s output, checked."""
    try:
        counts_raw, edges_raw = np_histogram
        counts = np.asarray(counts_raw, dtype=np.float64).reshape(-1)
        edges = np.asarray(edges_raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{where}: np_histogram must be (counts, bin_edges) as "
                           f"numpy.histogram returns ({exc})", key=key) from None
    check_bins(edges.tolist(), counts.tolist(), where, key)
    ints = [int(c) if float(c).is_integer() else float(c) for c in counts.tolist()]
    return ints, edges.tolist()


def check_bins(edges: Sequence[Any], counts: Sequence[Any], where: str,
               key: str | None = None) -> None:
    """InvalidValue unless ``edges`` are ``len(counts) + 1`` finite increasing numbers and
    the counts finite and non-negative (the rule readers apply too, SPEC.md §9.1)."""
    why = bins_problem(edges, counts)
    if why:
        raise InvalidValue(f"{where}: {why}", key=key)


def bins_problem(edges: Sequence[Any], counts: Sequence[Any]) -> str | None:
    """What is wrong with these edges and counts, or None (no exception: readers use it
    on untrusted maps)."""
    if not 1 <= len(counts) <= MAX_BINS:
        return f"{len(counts)} bins; a histogram has 1..{MAX_BINS}"
    if len(edges) != len(counts) + 1:
        return f"{len(edges)} bin edges for {len(counts)} counts (need counts + 1)"
    numbers = all(type(v) in (int, float) for v in (*edges, *counts))
    if not numbers or not all(math.isfinite(v) for v in (*edges, *counts)):
        return "edges and counts must be finite numbers"
    if any(b <= a for a, b in itertools.pairwise(edges)):
        return "bin edges must increase"
    if any(c < 0 for c in counts):
        return "counts must not be negative"
    return None


def as_histogram(key: str, value: Any) -> Histogram | None:
    """``value`` as a Histogram when W&B would log it as one: a Histogram, a numpy array
    or tensor of more than one element, or a list/tuple of numbers; else None."""
    if isinstance(value, Histogram):
        return value
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                         for v in value):
            return Histogram(value, key=key)
        return None
    size = getattr(value, "size", None)
    if getattr(value, "shape", None) is not None and isinstance(size, int) and size > 1:
        dtype = getattr(value, "dtype", None)
        kind = getattr(dtype, "kind", "f")  # numpy; torch dtypes have no kind: numbers
        if kind in "biuf" and kind != "b":
            return Histogram(value, key=key)
    return None
