"""Curve numerics of ``flightlog.plot``: numpy only, O(n log n), bounded output.

Everything here takes validated numpy arrays (see :mod:`flightlog.plot._inputs`) and
returns numpy arrays; nothing imports scikit-learn. The curves are exactly those of
scikit-learn (same points at the same distinct-score thresholds, without its
``drop_intermediate`` pruning, which only removes collinear points):

- :func:`threshold_counts` (``y_true``, ``y_score``) -> ``(fps, tps, thresholds)``: the
  counts at each distinct score, thresholds decreasing (as sklearn's
  ``confusion_matrix_at_thresholds``), from one sort of the scores and cumulative sums.
- :func:`roc_points` -> :class:`RocPoints` ``(fpr, tpr, thresholds, auc)``, starting at
  (0, 0) with threshold +inf (as ``sklearn.metrics.roc_curve``); ``auc`` is the trapezoid
  area of the full curve (= ``roc_auc_score``).
- :func:`pr_points` -> :class:`PrPoints` ``(precision, recall, thresholds,
  average_precision)`` in sklearn's order (recall decreasing, final point (recall 0,
  precision 1) with no threshold); ``average_precision`` = ``average_precision_score``.
- :func:`gains_points` -> :class:`GainsPoints` ``(fraction, gains, lift)``: cumulative
  gains (share of all positives among the top-scored ``fraction`` of samples) and lift
  (``gains / fraction``) at each distinct score.
- :func:`calibration_points` -> :class:`CalibrationPoints` ``(fraction_positive,
  mean_predicted, count)``: exactly ``sklearn.calibration.calibration_curve`` (empty bins
  left out) plus the number of samples per bin.
- :func:`area_under` (trapezoid rule), :func:`downsample_curve` and
  :func:`polyline_deviation` (below).

Downsampling rule (:func:`downsample_curve`, SPEC.md copies this paragraph): a curve
of ``n`` points is stored whole when ``n <= max_points`` (default 1000). Otherwise both
axes are scaled to [0, 1] by their ranges, the polyline's cumulative arc length ``s`` is
computed, and the kept points are: for each of ``max_points - 4`` equally spaced arc
positions the first point at or after it (this includes the first and the last point),
plus the points where x and y take their global minimum and maximum; duplicates are
merged, order is kept. Guarantee: every point of the full curve lies within ``L / (k - 1)``
(in the scaled units, ``L`` the scaled arc length, ``k = max_points - 4``) of the stored
polyline, and vice versa; for a ROC curve ``L <= 2``, so 1000 points keep it within
0.002 of the full curve. Curve summaries (AUC, average precision) are computed from the
full curve before downsampling. Time and memory are O(n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MAX_POINTS",
    "CalibrationPoints",
    "GainsPoints",
    "PrPoints",
    "RocPoints",
    "area_under",
    "calibration_points",
    "downsample_curve",
    "gains_points",
    "polyline_deviation",
    "pr_points",
    "roc_points",
    "threshold_counts",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: Points stored per curve (per class) at most.
DEFAULT_MAX_POINTS = 1000
#: Points of the budget reserved for the global extremes of x and y.
_EXTREMES = 4


@dataclass(frozen=True)
class RocPoints:
    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray
    auc: float


@dataclass(frozen=True)
class PrPoints:
    precision: FloatArray
    recall: FloatArray
    #: One shorter than ``precision``/``recall``: the final (0, 1) point has none.
    thresholds: FloatArray
    average_precision: float


@dataclass(frozen=True)
class GainsPoints:
    #: Share of samples taken, best-scored first; starts at 0.
    fraction: FloatArray
    #: Share of all positives among them; starts at 0.
    gains: FloatArray
    #: ``gains / fraction``; NaN at fraction 0 (undefined there).
    lift: FloatArray
    thresholds: FloatArray


@dataclass(frozen=True)
class CalibrationPoints:
    fraction_positive: FloatArray
    mean_predicted: FloatArray
    count: IntArray


def threshold_counts(y_true: BoolArray, y_score: FloatArray
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """False and true positives when predicting positive for ``score >= threshold``, at
    each distinct score, thresholds decreasing. ``y_true`` is boolean (positive class).

    Same counts as sorting the samples by score and summing labels cumulatively (sklearn),
    but without an argsort: a plain sort of the scores gives the distinct values and how
    many samples score at least each; the smaller of the positive/negative sets is
    located among the distinct values (binary search) and counted per value."""
    ordered = np.sort(y_score)
    # Last index of each run of equal scores, ascending; the final one closes the array.
    ends = np.concatenate([np.flatnonzero(np.diff(ordered)), [ordered.size - 1]])
    values = ordered[ends]
    taken_ascending = ordered.size - np.concatenate([[0], ends[:-1] + 1])
    taken = taken_ascending[::-1].astype(np.float64)
    count_positives = int(np.count_nonzero(y_true))
    counted_positives = count_positives <= ordered.size // 2
    counted = y_score[y_true] if counted_positives else y_score[~y_true]
    # Exact: every score is one of ``values``.
    # Sorted queries let searchsorted narrow each search from the previous answer.
    per_value = np.bincount(np.searchsorted(values, np.sort(counted)), minlength=values.size)
    at_or_above = np.cumsum(per_value[::-1]).astype(np.float64)
    tps = at_or_above if counted_positives else taken - at_or_above
    return taken - tps, tps, values[::-1].astype(np.float64)


def area_under(x: FloatArray, y: FloatArray) -> float:
    """Trapezoid-rule area under the polyline (x monotone), as ``sklearn.metrics.auc``."""
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)
    return -area if x.size > 1 and x[-1] < x[0] else area


def roc_points(y_true: BoolArray, y_score: FloatArray) -> RocPoints:
    """The full ROC curve and its AUC. Needs positives and negatives in ``y_true``."""
    fps, tps, thresholds = threshold_counts(y_true, y_score)
    fpr = np.concatenate([[0.0], fps / fps[-1]])
    tpr = np.concatenate([[0.0], tps / tps[-1]])
    thresholds = np.concatenate([[np.inf], thresholds])
    return RocPoints(fpr, tpr, thresholds, area_under(fpr, tpr))


def pr_points(y_true: BoolArray, y_score: FloatArray) -> PrPoints:
    """The full precision-recall curve and average precision. Needs positives."""
    fps, tps, thresholds = threshold_counts(y_true, y_score)
    precision = tps / (tps + fps)  # tps + fps >= 1 at every threshold
    recall = tps / tps[-1]
    precision = np.concatenate([precision[::-1], [1.0]])
    recall = np.concatenate([recall[::-1], [0.0]])
    average_precision = max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))
    return PrPoints(precision, recall, thresholds[::-1].copy(), average_precision)


def gains_points(y_true: BoolArray, y_score: FloatArray) -> GainsPoints:
    """Cumulative gains and lift at each distinct score. Needs positives."""
    fps, tps, thresholds = threshold_counts(y_true, y_score)
    taken = fps + tps
    fraction = np.concatenate([[0.0], taken / taken[-1]])
    gains = np.concatenate([[0.0], tps / tps[-1]])
    lift = np.full_like(gains, np.nan)
    lift[1:] = gains[1:] / fraction[1:]
    return GainsPoints(fraction, gains, lift, np.concatenate([[np.inf], thresholds]))


def calibration_points(y_true: BoolArray, y_prob: FloatArray, n_bins: int = 10,
                       strategy: str = "uniform") -> CalibrationPoints:
    """Reliability diagram bins as ``sklearn.calibration.calibration_curve`` computes
    them (``strategy`` "uniform" or "quantile"; ``y_prob`` in [0, 1])."""
    if strategy == "quantile":
        edges = np.percentile(y_prob, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], y_prob)
    sums = np.bincount(bin_ids, weights=y_prob, minlength=n_bins)
    trues = np.bincount(bin_ids, weights=y_true.astype(np.float64), minlength=n_bins)
    totals = np.bincount(bin_ids, minlength=n_bins)
    nonzero = totals != 0
    return CalibrationPoints(trues[nonzero] / totals[nonzero], sums[nonzero] / totals[nonzero],
                             totals[nonzero].astype(np.intp))


def _scaled(values: FloatArray) -> FloatArray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    low, span = float(finite.min()), float(finite.max() - finite.min())
    scaled = (values - low) / (span if span > 0 else 1.0)
    return np.where(np.isfinite(scaled), scaled, 0.0)


def _arc_length(x: FloatArray, y: FloatArray) -> FloatArray:
    sx, sy = _scaled(x), _scaled(y)
    return np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(sx), np.diff(sy)))])


def downsample_curve(x: npt.ArrayLike, y: npt.ArrayLike,
                     max_points: int = DEFAULT_MAX_POINTS) -> IntArray:
    """Indices of the points to store of the curve ``(x, y)`` (module docstring: rule and
    error bound). Increasing; at most ``max_points`` of them (``max_points >= 8``)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = xs.size
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    budget = max(2, max_points - _EXTREMES)
    arc = _arc_length(xs, ys)
    targets = np.linspace(0.0, arc[-1], budget)
    picked = np.minimum(np.searchsorted(arc, targets, side="left"), n - 1)
    extremes = [0, n - 1]
    for values in (xs, ys):
        if np.isfinite(values).any():
            extremes += [int(np.nanargmin(values)), int(np.nanargmax(values))]
    return np.unique(np.concatenate([picked, np.asarray(extremes)])).astype(np.intp)


def polyline_deviation(x: npt.ArrayLike, y: npt.ArrayLike, keep: npt.ArrayLike,
                       *, scaled: bool = True) -> float:
    """Largest distance from a point of the full curve to the polyline through the
    points ``keep`` (increasing indices, first and last included). In units scaled to
    [0, 1] per axis (as :func:`downsample_curve` measures) unless ``scaled=False``."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    kept = np.asarray(keep, dtype=np.intp)
    if scaled:
        xs, ys = _scaled(xs), _scaled(ys)
    # Each point belongs to the stored segment between the kept points around it.
    segment = np.clip(np.searchsorted(kept, np.arange(xs.size), side="right") - 1,
                      0, max(0, kept.size - 2))
    start = kept[segment]
    end = kept[np.minimum(segment + 1, kept.size - 1)]
    ax, ay, bx, by = xs[start], ys[start], xs[end], ys[end]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    safe = np.where(length2 > 0, length2, 1.0)
    t = np.where(length2 > 0, ((xs - ax) * dx + (ys - ay) * dy) / safe, 0.0)
    t = np.clip(t, 0.0, 1.0)
    distance = np.hypot(xs - (ax + t * dx), ys - (ay + t * dy))
    finite = distance[np.isfinite(distance)]
    return float(finite.max()) if finite.size else 0.0
