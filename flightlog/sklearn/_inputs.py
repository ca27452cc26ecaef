"""Checks of what users pass to ``flightlog.sklearn``: one place that turns bad input into
:class:`~flightlog.errors.InvalidValue` naming the argument, before any chart is built.

scikit-learn is an optional extra: :func:`require_sklearn` is the first call of every
builder, so a missing install surfaces as :class:`~flightlog.errors.MissingExtra`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from flightlog.errors import InvalidValue, MissingExtra

T = TypeVar("T")

#: Seed of every subsample flightlog.sklearn draws: the same input gives the same chart.
SAMPLE_SEED = 0


def require_sklearn() -> None:
    """Import scikit-learn or raise MissingExtra naming the extra to install."""
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("flightlog.sklearn needs scikit-learn: "
                           "pip install 'flightlog[sklearn]'") from exc


def model_name(model: Any) -> str:
    return type(model).__name__


def check_model(name: str, model: Any) -> None:
    """``model`` is a scikit-learn style estimator (has ``fit``)."""
    if model is None or not hasattr(model, "fit"):
        raise InvalidValue(f"{name} must be a scikit-learn estimator (with fit()), got "
                           f"{type(model).__name__}", key=name)


def check_fitted(name: str, model: Any) -> None:
    """``model`` is a fitted estimator; an unfitted one raises InvalidValue naming it."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    check_model(name, model)
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidValue(f"{name} ({model_name(model)}) is not fitted: call "
                           f"{name}.fit(X, y) first", key=name) from exc
    except TypeError as exc:  # check_is_fitted's answer for a non-estimator
        raise InvalidValue(f"{name} ({model_name(model)}) is not a scikit-learn "
                           f"estimator: {exc}", key=name) from exc


def _finite_check(name: str, array: Any) -> None:
    try:
        numbers = np.asarray(array, dtype=float)
    except (TypeError, ValueError):
        return  # non-numeric columns (strings, categories): the model's pipeline decides
    bad = ~np.isfinite(numbers)
    if bad.any():
        where = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(numbers[tuple(where)]) else "an infinite value"
        raise InvalidValue(f"{name} contains {kind} (first at index "
                           f"{tuple(int(i) for i in where) if where.size > 1 else int(where[0])}"
                           f"; {int(bad.sum())} in all)", key=name)


def matrix(name: str, X: Any) -> Any:
    """``X`` checked as a 2-d sample matrix without NaN. Returned as given (a DataFrame
    stays a DataFrame, so models fitted on named columns see their names)."""
    if X is None:
        raise InvalidValue(f"{name} is required", key=name)
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    shape: tuple[int, ...] = tuple(getattr(X, "shape", ()))
    if len(shape) != 2:
        raise InvalidValue(f"{name} must be 2-d (samples x features), got shape "
                           f"{tuple(shape)}", key=name)
    if shape[0] == 0:
        raise InvalidValue(f"{name} has no samples", key=name)
    if not _is_sparse(X):
        _finite_check(name, X)
    return X


def _is_sparse(X: Any) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def vector(name: str, y: Any, *, finite: bool = True) -> Any:
    """``y`` as a 1-d numpy array (a column vector is flattened), checked for NaN."""
    if y is None:
        raise InvalidValue(f"{name} is required", key=name)
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidValue(f"{name} must be 1-d (one value per sample), got shape "
                           f"{array.shape}", key=name)
    if array.size == 0:
        raise InvalidValue(f"{name} is empty", key=name)
    if finite:
        _finite_check(name, array)
    elif array.dtype.kind == "f" and np.isnan(array).any():
        raise InvalidValue(f"{name} contains NaN", key=name)
    return array


def probabilities(name: str, y_probas: Any) -> Any:
    """``y_probas`` as a 2-d float array (samples x classes) without NaN."""
    if y_probas is None:
        raise InvalidValue(f"{name} is required", key=name)
    try:
        array = np.asarray(y_probas, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{name} must be numbers: {exc}", key=name) from exc
    if array.ndim == 1:
        raise InvalidValue(f"{name} must be 2-d (samples x classes, as predict_proba "
                           f"returns), got 1-d of length {array.shape[0]}", key=name)
    if array.ndim != 2:
        raise InvalidValue(f"{name} must be 2-d (samples x classes), got shape "
                           f"{array.shape}", key=name)
    _finite_check(name, array)
    return array


def same_length(**named: Any) -> int:
    """All arguments have the same number of samples; else InvalidValue naming each
    argument with its length. Returns that number."""
    lengths = {name: int(value.shape[0]) if hasattr(value, "shape") else len(value)
               for name, value in named.items() if value is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise InvalidValue(f"arguments differ in number of samples: {described}",
                           key=next(iter(lengths)))
    return next(iter(lengths.values()))


def class_names(classes: Sequence[Any] | Any, labels: Any, *,
                argument: str = "labels") -> list[str]:
    """Display names of ``classes`` (sorted class values): ``labels[i]`` names the i-th
    class, as W&B's ``labels=['dog', 'cat']`` names class 0 and 1. Without labels, the
    class values themselves."""
    values = list(classes.tolist() if hasattr(classes, "tolist") else classes)
    if labels is None:
        return [str(v) for v in values]
    names = list(labels.tolist() if hasattr(labels, "tolist") else labels)
    if isinstance(labels, (str, bytes)) or len(names) != len(values):
        raise InvalidValue(f"{argument} has {len(names)} names but there are {len(values)} "
                           f"classes {values[:20]}", key=argument)
    return [str(n) for n in names]


def subsample_indices(n: int, limit: int | None, seed: int = SAMPLE_SEED) -> Any:
    """Sorted indices of at most ``limit`` of ``n`` samples, drawn without replacement by
    a fixed seed (all of them when ``n <= limit``)."""
    if limit is None or n <= limit:
        return np.arange(n)
    if limit < 1:
        raise InvalidValue(f"a sample limit must be >= 1, got {limit}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False))


def take(X: Any, indices: Any) -> Any:
    """Rows ``indices`` of ``X`` (numpy array, DataFrame/Series or sparse matrix)."""
    if hasattr(X, "iloc"):
        return X.iloc[indices]
    if _is_sparse(X):
        return X.tocsr()[indices]
    return np.asarray(X)[indices]


def call_model(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function`` (a model method); scikit-learn's complaints about the input
    (wrong number of features, unknown labels) become InvalidValue naming ``what``."""
    from sklearn.exceptions import NotFittedError

    try:
        return function(*args, **kwargs)
    except NotFittedError as exc:
        raise InvalidValue(f"{what}: the model is not fitted: {exc}", key=what) from exc
    except ValueError as exc:
        raise InvalidValue(f"{what}: {exc}", key=what) from exc


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidValue(f"{name} must be a positive int, got {value!r}", key=name)
    return int(value)


def floats(values: Any) -> list[float]:
    """A numeric array as plain Python floats (what a chart table stores)."""
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]
