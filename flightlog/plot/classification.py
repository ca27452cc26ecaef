"""Model-evaluation charts of classifiers: ROC, precision-recall, lift, cumulative gains,
calibration (one curve per class, one-vs-rest, as W&B and Azure automated ML draw them)
and the confusion matrix.

Curves are computed with numpy in O(n log n) (:mod:`flightlog.plot._curves`), their
summary (AUC, average precision) from the full curve, then stored downsampled to at
most ``max_points`` points per class by the rule of :func:`~flightlog.plot._curves.
downsample_curve`. A class with no positive (or, for ROC, no negative) sample in
``y_true`` has no curve and is left out when drawing all classes; asking for it with
``classes_to_plot`` is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from . import _curves
from ._curves import DEFAULT_MAX_POINTS, FloatArray
from ._inputs import (
    ClassScores,
    arrow_columns,
    check_same_length,
    class_index,
    class_scores,
    float_array,
    label_names,
)
from ._specs import base_spec, channel, curve_layer, reference_line, tooltip

__all__ = ["calibration_curve", "confusion_matrix", "cumulative_gains", "lift_curve",
           "pr_curve", "roc_curve"]


@dataclass(frozen=True)
class _Curve:
    """One class's curve to store: columns (full length) and its summary."""

    columns: dict[str, FloatArray]
    summary: float | None = None


def _check_max_points(max_points: int) -> None:
    if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 8:
        raise InvalidValue(f"max_points must be an integer >= 8, got {max_points!r}",
                           key="max_points")


def _class_table(inputs: ClassScores, compute: Callable[[Any, FloatArray], _Curve],
                 x: str, y: str, needs_negatives: bool, summary: str | None,
                 summary_label: str, max_points: int) -> dict[str, list[Any]]:
    """Rows of all plotted classes' (downsampled) curves."""
    table: dict[str, list[Any]] = {"class": [], "curve": [], "index": []}
    explicit = inputs.plotted != ([1] if inputs.binary_scores
                                  else list(range(len(inputs.names))))
    drawn = 0
    for klass in inputs.plotted:
        positive = inputs.truth == klass
        name = inputs.names[klass]
        lacking = "positive" if not positive.any() else (
            "negative" if needs_negatives and positive.all() else None)
        if lacking is not None:
            if explicit:
                raise InvalidValue(f"y_true has no {lacking} sample of class {name!r}, so "
                                   f"its curve is undefined", key="y_true")
            continue
        curve = compute(positive, inputs.score_of(klass))
        keep = _curves.downsample_curve(curve.columns[x], curve.columns[y], max_points)
        legend = name if curve.summary is None else \
            f"{name} ({summary_label} {curve.summary:.3f})"
        table["class"] += [name] * keep.size
        table["curve"] += [legend] * keep.size
        table["index"] += range(keep.size)
        for column, values in curve.columns.items():
            table.setdefault(column, []).extend(values[keep].tolist())
        if summary is not None:
            table.setdefault(summary, []).extend([curve.summary] * keep.size)
        drawn += 1
    if drawn == 0:
        raise InvalidValue("y_true: no class has both positive and negative samples, so no "
                           "curve can be drawn", key="y_true")
    return table


def _curve_chart(table: dict[str, list[Any]], kind: str, title: str,
                 x: tuple[str, str], y: tuple[str, str], extra_tips: list[tuple[str, str, str]],
                 reference: dict[str, Any] | None, *, unit_axes: bool = True,
                 axis_format: str | None = None) -> Chart:
    scale = {"scale": {"domain": [0, 1]}} if unit_axes else {}
    axis = {"axis": {"format": axis_format}} if axis_format else {}
    tips = tooltip(("class", "nominal"), (x[0], "quantitative", ".4f"),
                   (y[0], "quantitative", ".4f"), *extra_tips)
    layer = curve_layer(channel(x[0], "quantitative", x[1], **scale, **axis),
                        channel(y[0], "quantitative", y[1], **scale),
                        channel("curve", "nominal", "class"), tips)
    layers = [layer] if reference is None else [layer, reference]
    return Chart(arrow_columns(table), base_spec(title, layer=layers), kind=kind)


def roc_curve(y_true: Any, y_probas: Any, labels: Any = None, classes_to_plot: Any = None,
              title: str = "ROC curve", *, max_points: int = DEFAULT_MAX_POINTS) -> Chart:
    """Receiver operating characteristic: one curve per class, one-vs-rest.

    Args:
        y_true: true class of each sample: class indices ``0..C-1`` (binary: 0/1), or
            class names when ``labels`` is given.
        y_probas: scores, shape ``(n, C)``; or 1-d positive-class scores of a binary
            problem (then only the positive class is drawn unless ``classes_to_plot``).
        labels: class names, one per column of ``y_probas``.
        classes_to_plot: indices or names of the classes to draw (default all).
        title: chart title.
        max_points: points stored per class at most (>= 8).

    Returns:
        A Chart (kind ``"roc_curve"``) with columns class, curve (legend, with the AUC),
        index, fpr, tpr, threshold, auc (full precision, from the full curve).

    Raises:
        InvalidValue: lengths differ (both named), NaN/infinite scores, labels that do
            not match the classes, y_true outside the classes, a requested class
            without positive and negative samples.
    """
    _check_max_points(max_points)
    inputs = class_scores(y_true, y_probas, labels, classes_to_plot)

    def compute(positive: Any, score: FloatArray) -> _Curve:
        points = _curves.roc_points(positive, score)
        return _Curve({"fpr": points.fpr, "tpr": points.tpr,
                       "threshold": points.thresholds}, points.auc)

    table = _class_table(inputs, compute, "fpr", "tpr", True, "auc", "AUC", max_points)
    reference = reference_line("fpr", "tpr", [(0.0, 0.0), (1.0, 1.0)], "chance (y = x)")
    return _curve_chart(table, "roc_curve", title, ("fpr", "False positive rate"),
                        ("tpr", "True positive rate"),
                        [("threshold", "quantitative", ".4g"), ("auc", "quantitative", ".6f")],
                        reference)


def pr_curve(y_true: Any, y_probas: Any, labels: Any = None, classes_to_plot: Any = None,
             title: str = "Precision-recall curve", *,
             max_points: int = DEFAULT_MAX_POINTS) -> Chart:
    """Precision against recall, one curve per class (one-vs-rest), as
    ``sklearn.metrics.precision_recall_curve``; the legend shows each class's average
    precision. Arguments as :func:`roc_curve`.

    Returns:
        A Chart (kind ``"pr_curve"``) with columns class, curve, index, recall,
        precision, threshold (null at the final recall-0 point), average_precision.

    Raises:
        InvalidValue: as :func:`roc_curve`.
    """
    _check_max_points(max_points)
    inputs = class_scores(y_true, y_probas, labels, classes_to_plot)

    def compute(positive: Any, score: FloatArray) -> _Curve:
        points = _curves.pr_points(positive, score)
        thresholds = np.concatenate([points.thresholds, [np.nan]])
        return _Curve({"recall": points.recall, "precision": points.precision,
                       "threshold": thresholds}, points.average_precision)

    table = _class_table(inputs, compute, "recall", "precision", False, "average_precision",
                         "AP", max_points)
    return _curve_chart(table, "pr_curve", title, ("recall", "Recall"),
                        ("precision", "Precision"),
                        [("threshold", "quantitative", ".4g"),
                         ("average_precision", "quantitative", ".6f")], None)


def cumulative_gains(y_true: Any, y_probas: Any, labels: Any = None,
                     classes_to_plot: Any = None, title: str = "Cumulative gains", *,
                     max_points: int = DEFAULT_MAX_POINTS) -> Chart:
    """Cumulative gains (Azure automated ML's gains chart): taking samples best-scored
    first, the share of all positives found (y) against the share of samples taken (x);
    the dashed line is a random ordering. Arguments as :func:`roc_curve`.

    Returns:
        A Chart (kind ``"cumulative_gains"``) with columns class, curve, index,
        fraction, gains, threshold.

    Raises:
        InvalidValue: as :func:`roc_curve`.
    """
    _check_max_points(max_points)
    inputs = class_scores(y_true, y_probas, labels, classes_to_plot)

    def compute(positive: Any, score: FloatArray) -> _Curve:
        points = _curves.gains_points(positive, score)
        return _Curve({"fraction": points.fraction, "gains": points.gains,
                       "threshold": points.thresholds})

    table = _class_table(inputs, compute, "fraction", "gains", False, None, "", max_points)
    reference = reference_line("fraction", "gains", [(0.0, 0.0), (1.0, 1.0)], "random")
    return _curve_chart(table, "cumulative_gains", title,
                        ("fraction", "Share of samples (best scores first)"),
                        ("gains", "Share of positives found"),
                        [("threshold", "quantitative", ".4g")], reference, axis_format="%")


def lift_curve(y_true: Any, y_probas: Any, labels: Any = None, classes_to_plot: Any = None,
               title: str = "Lift curve", *, max_points: int = DEFAULT_MAX_POINTS) -> Chart:
    """Lift (Azure automated ML's lift chart): how many times more positives the
    best-scored share of samples holds than a random share of that size
    (``gains / fraction``); the dashed line at 1 is a random model. Arguments as
    :func:`roc_curve`.

    Returns:
        A Chart (kind ``"lift_curve"``) with columns class, curve, index, fraction,
        lift, threshold (from the first distinct score on: lift is undefined at 0).

    Raises:
        InvalidValue: as :func:`roc_curve`.
    """
    _check_max_points(max_points)
    inputs = class_scores(y_true, y_probas, labels, classes_to_plot)

    def compute(positive: Any, score: FloatArray) -> _Curve:
        points = _curves.gains_points(positive, score)
        return _Curve({"fraction": points.fraction[1:], "lift": points.lift[1:],
                       "threshold": points.thresholds[1:]})

    table = _class_table(inputs, compute, "fraction", "lift", False, None, "", max_points)
    reference = reference_line("fraction", "lift", [(0.0, 1.0), (1.0, 1.0)], "random (lift 1)")
    chart = _curve_chart(table, "lift_curve", title,
                         ("fraction", "Share of samples (best scores first)"),
                         ("lift", "Lift"), [("threshold", "quantitative", ".4g")], reference,
                         unit_axes=False, axis_format="%")
    return chart


def calibration_curve(y_true: Any, y_probas: Any, labels: Any = None, n_bins: int = 10,
                      classes_to_plot: Any = None, title: str = "Calibration curve", *,
                      strategy: str = "uniform") -> Chart:
    """Reliability diagram (Azure automated ML's calibration plot): per bin of predicted
    probability, the fraction of samples that are positive, against the mean predicted
    probability; a calibrated model follows the dashed y = x line. Bins as
    ``sklearn.calibration.calibration_curve`` (empty bins left out).

    Args:
        y_true, labels, classes_to_plot: as :func:`roc_curve`.
        y_probas: probabilities in [0, 1], ``(n, C)`` or 1-d (binary positive class).
        n_bins: number of bins (>= 1).
        title: chart title.
        strategy: ``"uniform"`` (equal-width bins) or ``"quantile"`` (equal counts).

    Returns:
        A Chart (kind ``"calibration_curve"``) with columns class, curve, index,
        mean_predicted, fraction_positive, count.

    Raises:
        InvalidValue: as :func:`roc_curve`; probabilities outside [0, 1]; bad n_bins or
            strategy.
    """
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 1:
        raise InvalidValue(f"n_bins must be a positive integer, got {n_bins!r}", key="n_bins")
    if strategy not in ("uniform", "quantile"):
        raise InvalidValue(f"strategy must be 'uniform' or 'quantile', got {strategy!r}",
                           key="strategy")
    inputs = class_scores(y_true, y_probas, labels, classes_to_plot, probabilities=True)

    def compute(positive: Any, score: FloatArray) -> _Curve:
        points = _curves.calibration_points(positive, score, n_bins, strategy)
        return _Curve({"mean_predicted": points.mean_predicted,
                       "fraction_positive": points.fraction_positive,
                       "count": points.count.astype(np.float64)})

    table = _class_table(inputs, compute, "mean_predicted", "fraction_positive", False, None,
                         "", max(8, n_bins))
    table["count"] = [int(c) for c in table["count"]]
    reference = reference_line("mean_predicted", "fraction_positive",
                               [(0.0, 0.0), (1.0, 1.0)], "perfectly calibrated (y = x)")
    return _curve_chart(table, "calibration_curve", title,
                        ("mean_predicted", "Mean predicted probability"),
                        ("fraction_positive", "Fraction of positives"),
                        [("count", "quantitative", "d")], reference)


def confusion_matrix(probs: Any = None, y_true: Any = None, preds: Any = None,
                     class_names: Any = None, title: str = "Confusion matrix") -> Chart:
    """Counts of (true class, predicted class) pairs as a heat map with the counts
    written in the cells (rows: true class, columns: predicted class).

    Args:
        probs: class probabilities, shape ``(n, C)``; the prediction is the argmax.
            Give either ``probs`` or ``preds``, not both.
        y_true: true classes (indices ``0..C-1``, or names among ``class_names``).
        preds: predicted classes, like ``y_true``.
        class_names: the class names (default "0".."C-1", C from ``probs`` or the
            largest class index seen).
        title: chart title.

    Returns:
        A Chart (kind ``"confusion_matrix"``) with one row per (actual, predicted) pair
        of classes, zeros included: actual, predicted, count, share (of the actual
        class's samples), correct.

    Raises:
        InvalidValue: both or neither of probs/preds; lengths differ; classes outside
            class_names; NaN in probs.
    """
    if (probs is None) == (preds is None):
        raise InvalidValue("confusion_matrix takes exactly one of probs= and preds= (got "
                           f"{'both' if probs is not None else 'neither'})", key="probs")
    if y_true is None:
        raise InvalidValue("y_true is required", key="y_true")
    names: list[str] | None = None
    if probs is not None:
        probabilities = float_array("probs", probs, (2,))
        names = label_names(class_names, probabilities.shape[1], "class_names")
        predicted = np.argmax(probabilities, axis=1).astype(np.intp)
        prediction_name = "probs"
    else:
        names = None if class_names is None else label_names(
            class_names, len(list(class_names)), "class_names")
        prediction_name = "preds"
    if names is None:
        largest = max(_largest_index("y_true", y_true), _largest_index("preds", preds))
        names = [str(i) for i in range(largest + 1)]
    n_classes = len(names)
    named = names if class_names is not None else None
    actual = class_index("y_true", y_true, n_classes, named)
    if preds is not None:
        predicted = class_index("preds", preds, n_classes, named)
    check_same_length("y_true", actual.size, prediction_name, predicted.size)
    counts = np.bincount(actual * n_classes + predicted,
                         minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    row_totals = counts.sum(axis=1)
    table: dict[str, list[Any]] = {"actual": [], "predicted": [], "count": [], "share": [],
                                   "correct": []}
    for i in range(n_classes):
        for j in range(n_classes):
            table["actual"].append(names[i])
            table["predicted"].append(names[j])
            table["count"].append(int(counts[i, j]))
            table["share"].append(float(counts[i, j] / row_totals[i]) if row_totals[i] else 0.0)
            table["correct"].append(i == j)
    cells = {"x": channel("predicted", "nominal", "Predicted class", sort=names),
             "y": channel("actual", "nominal", "True class", sort=names)}
    tips = tooltip(("actual", "nominal"), ("predicted", "nominal"), ("count", "quantitative"),
                   ("share", "quantitative", ".1%"))
    heat = {"mark": {"type": "rect"},
            "encoding": {**cells, "color": channel("count", "quantitative", "count",
                                                   scale={"scheme": "blues"}),
                         "tooltip": tips}}
    # Counts in white on the dark half of the colour scale, dark grey elsewhere: readable
    # on every cell (the cell colour already tells right from wrong by its place).
    text = {"mark": {"type": "text", "fontSize": 12},
            "transform": [{"joinaggregate": [{"op": "max", "field": "count",
                                              "as": "max_count"}]}],
            "encoding": {**cells, "text": channel("count", "quantitative"),
                         "color": {"condition": {"test": "datum.count > 0.5 * datum.max_count",
                                                 "value": "white"},
                                   "value": "#222222"},
                         "tooltip": tips}}
    size = max(200, min(600, 40 * n_classes))
    spec = base_spec(title, layer=[heat, text])
    spec["width"] = spec["height"] = size
    return Chart(arrow_columns(table), spec, kind="confusion_matrix")


def _largest_index(name: str, values: Any) -> int:
    if values is None:
        return 0
    array = np.asarray(values)
    if array.dtype.kind not in "iub" or array.ndim != 1 or array.size == 0:
        raise InvalidValue(f"{name} must hold class indices 0..C-1 when class_names is not "
                           f"given (got {array.dtype} of shape {array.shape})", key=name)
    if array.min() < 0:
        raise InvalidValue(f"{name} has negative class indices: {int(array.min())}", key=name)
    return int(array.max())
