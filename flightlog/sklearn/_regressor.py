"""Charts for regressors: outlier candidates (Cook's distance) and residuals."""

from __future__ import annotations

from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from . import _inputs as inputs

#: Points a regressor chart stores at most (per dataset for residuals). Statistics are
#: computed on every sample; only the stored points are chosen (largest Cook's distances;
#: a seeded random subset of residuals), so a chart of a million samples stays small.
MAX_POINTS = 1000
#: Rows per block when computing leverages: bounds the temporary memory to
#: ``_BLOCK * n_features`` floats whatever the number of samples.
_BLOCK = 65_536


def _numeric(name: str, X: Any) -> Any:
    if inputs._is_sparse(X):
        X = X.toarray()
    try:
        return np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{name} must be numeric for Cook's distance: {exc}",
                           key=name) from exc


def cooks_distance(X: Any, residuals: Any) -> Any:
    """Cook's distance of every sample of a least-squares fit with an intercept.

    ``D_i = e_i² / (p s²) · h_i / (1 - h_i)²`` where ``h_i`` is the leverage (diagonal of
    the hat matrix of ``[1, X]``), ``p`` that matrix's rank and ``s² = Σe² / (n - p)``.
    For a model other than ordinary least squares this is the usual approximation: the
    leverages are those of the linear model on the same features.
    """
    X = np.asarray(X, dtype=float)
    e = np.asarray(residuals, dtype=float)
    n = X.shape[0]
    # Centring the features makes the Gram matrix of [1, X] block-diagonal, so the
    # leverage is 1/n plus that of the centred features (same hat matrix, better
    # conditioned than with a column of ones).
    centred = X - X.mean(axis=0)
    gram = centred.T @ centred
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    top = float(eigenvalues.max()) if eigenvalues.size else 0.0
    keep = eigenvalues > top * 1e-12 if top > 0 else np.zeros(eigenvalues.shape, bool)
    basis = eigenvectors[:, keep] / np.sqrt(eigenvalues[keep])
    leverage = np.full(n, 1.0 / n)
    for start in range(0, n, _BLOCK):
        projected = centred[start:start + _BLOCK] @ basis
        leverage[start:start + _BLOCK] += np.einsum("ij,ij->i", projected, projected)
    rank = int(keep.sum()) + 1
    dof = n - rank
    if dof <= 0:
        raise InvalidValue(f"Cook's distance needs more samples ({n}) than the model has "
                           f"parameters ({rank})", key="X")
    mse = float(e @ e) / dof
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = (e ** 2 / (rank * mse)) * leverage / (1.0 - leverage) ** 2
    # A sample with leverage 1 is fitted exactly: its distance is undefined, shown as 0.
    return np.where(np.isfinite(distance), distance, 0.0)


def build_outlier_candidates(regressor: Any, X: Any, y: Any,
                             max_points: int = MAX_POINTS) -> Chart:
    """The outlier-candidates chart, without logging it (see ``plot_outlier_candidates``).

    Cook's distance of every sample (:func:`cooks_distance`) from the residuals of the
    fitted ``regressor`` on ``X``/``y`` (W&B refits your model on X/y first; flightlog
    never changes your model). Samples with a distance of at least ``4 / n`` are outlier
    candidates; the title gives their share. The chart stores the ``max_points``
    samples of largest distance.

    Raises:
        InvalidValue: unfitted regressor; bad X/y (lengths differ, NaN, non-numeric).
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    inputs.check_fitted("regressor", regressor)
    max_points = inputs.positive_int("max_points", max_points)
    X = inputs.matrix("X", X)
    y = inputs.vector("y", y)
    n = inputs.same_length(X=X, y=y)
    features = _numeric("X", X)
    predicted = np.asarray(inputs.call_model("X", regressor.predict, X), dtype=float)
    distance = cooks_distance(features, y.astype(float) - predicted.reshape(n))
    threshold = 4.0 / n
    percentage = 100.0 * float(np.mean(distance >= threshold))
    shown = np.sort(np.argsort(-distance, kind="stable")[:max_points])
    table = {
        "instance_index": [int(i) for i in shown],
        "distance": inputs.floats(distance[shown]),
        "outlier_percentage": [percentage] * len(shown),
        "influence_threshold": [threshold] * len(shown),
    }
    spec = {
        "title": {"text": f"Outlier Candidates ({inputs.model_name(regressor)})",
                  "subtitle": f"{percentage:.1f}% of {n} samples have Cook's distance ≥ "
                              f"4/n = {threshold:.3g}"},
        "width": 500, "height": 250,
        "layer": [
            {"mark": {"type": "rule", "opacity": 0.7},
             "encoding": {"x": {"field": "instance_index", "type": "quantitative",
                                "title": "Instance index"},
                          "y": {"field": "distance", "type": "quantitative",
                                "title": "Cook's distance"},
                          "y2": {"datum": 0}}},
            {"mark": {"type": "point", "filled": True, "size": 12, "tooltip": True},
             "encoding": {"x": {"field": "instance_index", "type": "quantitative"},
                          "y": {"field": "distance", "type": "quantitative"}}},
            {"mark": {"type": "rule", "color": "red", "strokeDash": [6, 4]},
             "encoding": {"y": {"datum": threshold}}},
        ],
    }
    return Chart(table, spec, kind="sklearn/outlier_candidates")


def build_residuals(regressor: Any, X: Any, y: Any, X_test: Any = None, y_test: Any = None,
                    max_points: int = MAX_POINTS) -> Chart:
    """The residuals chart, without logging it (see ``plot_residuals``).

    Residual = ``y - regressor.predict(X)`` of the fitted ``regressor``, charted against
    the prediction, beside their distribution. With ``X_test``/``y_test`` both sets are
    shown ("train" and "test"). W&B refits your model on a random 80 % of X and charts
    the rest as "test"; flightlog never changes your model. R² of each set is in the
    subtitle; at most ``max_points`` points per set are stored (a seeded random subset).

    Raises:
        InvalidValue: unfitted regressor; bad X/y (lengths differ, NaN).
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from sklearn.metrics import r2_score

    inputs.check_fitted("regressor", regressor)
    max_points = inputs.positive_int("max_points", max_points)
    sets = [("train", "X", "y", X, y)]
    if X_test is not None or y_test is not None:
        sets.append(("test", "X_test", "y_test", X_test, y_test))
    checked = []
    for dataset, x_name, y_name, features, target in sets:
        features = inputs.matrix(x_name, features)
        target = inputs.vector(y_name, target).astype(float)
        inputs.same_length(**{x_name: features, y_name: target})
        checked.append((dataset, x_name, features, target))
    table: dict[str, list[Any]] = {"dataset": [], "index": [], "y_true": [], "y_pred": [],
                                   "residual": []}
    scores = []
    for dataset, x_name, features, target in checked:
        predicted = np.asarray(inputs.call_model(x_name, regressor.predict, features),
                               dtype=float).reshape(target.shape[0])
        scores.append(f"{dataset} R² = {r2_score(target, predicted):.3f}")
        rows = inputs.subsample_indices(target.shape[0], max_points)
        table["dataset"] += [dataset] * len(rows)
        table["index"] += [int(i) for i in rows]
        table["y_true"] += inputs.floats(target[rows])
        table["y_pred"] += inputs.floats(predicted[rows])
        table["residual"] += inputs.floats(target[rows] - predicted[rows])
    order = [dataset for dataset, *_ in checked]
    color = {"field": "dataset", "type": "nominal", "title": "Dataset", "sort": order}
    spec = {
        "title": {"text": f"Residuals ({inputs.model_name(regressor)})",
                  "subtitle": ", ".join(scores)},
        "hconcat": [
            {"width": 400, "height": 300,
             "layer": [
                 {"mark": {"type": "point", "opacity": 0.6, "tooltip": True},
                  "encoding": {"x": {"field": "y_pred", "type": "quantitative",
                                     "title": "Predicted value", "scale": {"zero": False}},
                               "y": {"field": "residual", "type": "quantitative",
                                     "title": "Residual (actual - predicted)"},
                               "color": color}},
                 {"mark": {"type": "rule", "color": "gray"},
                  "encoding": {"y": {"datum": 0}}},
             ]},
            {"width": 120, "height": 300,
             "mark": {"type": "bar", "opacity": 0.6},
             "encoding": {"y": {"field": "residual", "type": "quantitative",
                                "bin": {"maxbins": 30}, "title": None},
                          "x": {"aggregate": "count", "type": "quantitative",
                                "title": "Count", "stack": None},
                          "color": color}},
        ],
        "resolve": {"scale": {"y": "shared"}},  # the histogram beside the scatter's axis
    }
    return Chart(table, spec, kind="sklearn/residuals")
