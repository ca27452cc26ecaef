"""Checking what users pass to ``flightlog.plot``: every bad input becomes an
:class:`~flightlog.errors.InvalidValue` naming the argument (numpy's own errors never
reach the user).

- :func:`float_array` / :func:`check_finite` / :func:`check_same_length`: arrays.
- :func:`class_index` maps ``y_true`` (class indices, or values among ``labels``) to
  class indices; :func:`label_names`, :func:`plotted_classes` resolve ``labels`` and
  ``classes_to_plot``; :func:`class_scores` does all of it for the curve functions.
- :func:`arrow_table` / :func:`require_column`: the ``table`` argument of the basic charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from flightlog.charts import as_arrow
from flightlog.errors import InvalidValue

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _describe(values: Any) -> str:
    return type(values).__name__


def float_array(name: str, values: Any, ndims: tuple[int, ...] = (1,)) -> FloatArray:
    """``values`` as a float64 array of one of ``ndims`` dimensions, all finite."""
    if values is None:
        raise InvalidValue(f"{name} is required", key=name)
    if isinstance(values, (str, bytes)):
        raise InvalidValue(f"{name} must be numbers, got a string", key=name)
    try:
        array = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InvalidValue(f"{name} must be an array of numbers ({_describe(values)}): {exc}",
                           key=name) from exc
    if array.ndim not in ndims:
        wanted = " or ".join(f"{d}-d" for d in ndims)
        raise InvalidValue(f"{name} must be {wanted}, got shape {array.shape}", key=name)
    if array.size == 0:
        raise InvalidValue(f"{name} is empty", key=name)
    check_finite(name, array)
    return array


def check_finite(name: str, array: npt.NDArray[Any]) -> None:
    """Raise naming ``name`` and the first position holding NaN or an infinity."""
    bad = ~np.isfinite(array)
    if bad.any():
        position = np.unravel_index(int(np.argmax(bad)), array.shape)
        where = position[0] if len(position) == 1 else tuple(int(p) for p in position)
        value = array[position]
        kind = "NaN" if np.isnan(value) else "an infinite value"
        raise InvalidValue(f"{name} contains {kind} (at {where}); "
                           f"{int(bad.sum())} non-finite value(s) in all", key=name)


def check_same_length(name_a: str, length_a: int, name_b: str, length_b: int) -> None:
    if length_a != length_b:
        raise InvalidValue(f"{name_a} and {name_b} differ in length: {name_a} has "
                           f"{length_a} values, {name_b} has {length_b}", key=name_a)


def label_names(labels: Any, n_classes: int, name: str = "labels") -> list[str]:
    """``labels`` as ``n_classes`` strings (default "0", "1", ...)."""
    if labels is None:
        return [str(i) for i in range(n_classes)]
    if isinstance(labels, (str, bytes)):
        raise InvalidValue(f"{name} must be a list of class names, got a string", key=name)
    names = [str(label) for label in (labels.tolist() if hasattr(labels, "tolist")
                                      else list(labels))]
    if len(names) != n_classes:
        raise InvalidValue(f"{name} has {len(names)} names but there are {n_classes} "
                           f"classes (columns of the scores)", key=name)
    if len(set(names)) != len(names):
        raise InvalidValue(f"{name} has duplicate names: {names}", key=name)
    return names


def class_index(name: str, values: Any, n_classes: int,
                labels: Sequence[str] | None = None) -> IntArray:
    """Class indices of ``values``: integers in ``range(n_classes)``, or (when
    ``labels`` is given) values among the label names."""
    if values is None:
        raise InvalidValue(f"{name} is required", key=name)
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidValue(f"{name} must be 1-d (one class per sample), got shape "
                           f"{array.shape}", key=name)
    if array.size == 0:
        raise InvalidValue(f"{name} is empty", key=name)
    if array.dtype.kind == "b":
        array = array.astype(np.intp)
    if array.dtype.kind in "iuf":
        if array.dtype.kind == "f":
            check_finite(name, array)
        index = array.astype(np.intp)
        outside = (index != array) | (index < 0) | (index >= n_classes)
        if outside.any():
            found = np.unique(array[outside])[:5].tolist()
            raise InvalidValue(f"{name} has values outside the {n_classes} classes "
                               f"(0..{n_classes - 1}): {found}", key=name)
        return index
    if labels is None:
        raise InvalidValue(f"{name} holds {array.dtype} values; give class indices "
                           f"0..{n_classes - 1}, or class names together with labels=",
                           key=name)
    lookup = {label: i for i, label in enumerate(labels)}
    strings = array.astype(str)
    unknown = sorted(set(np.unique(strings).tolist()) - set(lookup))
    if unknown:
        raise InvalidValue(f"{name} has values that are not among the labels {list(labels)}: "
                           f"{unknown[:5]}", key=name)
    return np.fromiter((lookup[s] for s in strings.tolist()), dtype=np.intp,
                       count=strings.size)


def plotted_classes(classes_to_plot: Any, names: Sequence[str],
                    default: Sequence[int]) -> list[int]:
    """Indices of the classes to draw: ``classes_to_plot`` holds indices or names."""
    if classes_to_plot is None:
        return list(default)
    items = (classes_to_plot.tolist() if hasattr(classes_to_plot, "tolist")
             else [classes_to_plot] if isinstance(classes_to_plot, (str, int))
             else list(classes_to_plot))
    chosen: list[int] = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool) \
                and 0 <= int(item) < len(names):
            chosen.append(int(item))
        elif str(item) in names:
            chosen.append(names.index(str(item)))
        else:
            raise InvalidValue(f"classes_to_plot: {item!r} is neither a class index "
                               f"(0..{len(names) - 1}) nor a class name {list(names)}",
                               key="classes_to_plot")
    if not chosen:
        raise InvalidValue("classes_to_plot is empty", key="classes_to_plot")
    return list(dict.fromkeys(chosen))


@dataclass(frozen=True)
class ClassScores:
    """Checked inputs of a per-class (one-vs-rest) curve."""

    #: Class index of each sample.
    truth: IntArray
    #: Scores, one column per class (binary 1-d scores ``s`` become ``[-s, s]``).
    scores: FloatArray
    names: list[str]
    plotted: list[int]
    #: Whether the user gave 1-d (positive-class) scores.
    binary_scores: bool

    def score_of(self, klass: int) -> FloatArray:
        column: FloatArray = self.scores[:, klass]
        return column


def class_scores(y_true: Any, y_probas: Any, labels: Any, classes_to_plot: Any, *,
                 probabilities: bool = False) -> ClassScores:
    """Validate the inputs of a per-class curve (W&B's ``roc_curve`` / ``pr_curve``
    arguments). 1-d ``y_probas`` are scores of the positive class of a binary problem
    (``y_true`` in {0, 1}); by default only that class is drawn. ``probabilities``:
    scores must lie in [0, 1] (calibration)."""
    scores = float_array("y_probas", y_probas, (1, 2))
    binary_scores = scores.ndim == 1
    n_classes = 2 if binary_scores else scores.shape[1]
    if n_classes < 2 and not binary_scores:
        raise InvalidValue(f"y_probas needs a column per class (at least 2), got shape "
                           f"{scores.shape}", key="y_probas")
    if probabilities and (scores.min() < 0 or scores.max() > 1):
        raise InvalidValue(f"y_probas must be probabilities in [0, 1]; found values from "
                           f"{scores.min()} to {scores.max()}", key="y_probas")
    names = label_names(labels, n_classes)
    truth = class_index("y_true", y_true, n_classes, names if labels is not None else None)
    check_same_length("y_true", truth.size, "y_probas", scores.shape[0])
    if binary_scores:
        # The negative class ranks samples in reverse order (1 - p for probabilities).
        negative = 1.0 - scores if probabilities else -scores
        scores = np.column_stack([negative, scores])
    default = [1] if binary_scores else list(range(n_classes))
    plotted = plotted_classes(classes_to_plot, names, default)
    return ClassScores(truth, scores, names, plotted, binary_scores)


def arrow_table(what: str, table: Any) -> Any:
    """The chart's ``table`` argument as a ``pyarrow.Table``."""
    return as_arrow(what, table)


def require_column(table: Any, column: Any, argument: str) -> str:
    """``column`` if ``table`` has it, else InvalidValue naming it and the columns."""
    if not isinstance(column, str):
        raise InvalidValue(f"{argument} must be a column name (str), got "
                           f"{_describe(column)}", key=argument)
    if column not in table.column_names:
        raise InvalidValue(f"{argument}={column!r}: the table has no such column; its "
                           f"columns are {table.column_names}", key=argument)
    return column


def arrow_columns(columns: dict[str, list[Any]]) -> Any:
    """A chart's computed columns (plain Python values, one type per column) as a
    ``pyarrow.Table``, built column-wise (curve tables have thousands of rows)."""
    import pyarrow as pa

    return pa.table({name: pa.array(values) for name, values in columns.items()})
