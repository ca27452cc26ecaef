"""Charts for any estimator: the learning curve and the summary metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from . import _inputs as inputs

#: Rows used by the learning curve at most: it fits the model ``cv * len(train_sizes)``
#: times, so a large X is subsampled (a fixed seed) to keep that cost bounded.
LEARNING_CURVE_MAX_SAMPLES = 10_000


def build_learning_curve(model: Any, X: Any, y: Any, cv: Any = None, shuffle: bool = False,
                         random_state: Any = None, train_sizes: Any = None, n_jobs: int = 1,
                         scoring: Any = None,
                         max_samples: int | None = LEARNING_CURVE_MAX_SAMPLES) -> Chart:
    """The learning curve chart, without logging it (see ``plot_learning_curve``).

    Fits clones of ``model`` (``model`` itself is not changed) on growing parts of the
    data with ``sklearn.model_selection.learning_curve`` and charts the mean train and
    cross-validation scores (± one standard deviation) against the training-set size.

    Args:
        model: a classifier or regressor (fitted or not; it is cloned).
        X: features. y: targets.
        cv, shuffle, random_state, train_sizes, n_jobs, scoring: as
            ``sklearn.model_selection.learning_curve``; ``train_sizes`` defaults to
            ``np.linspace(0.1, 1.0, 5)`` and ``cv`` to 5-fold, as W&B.
        max_samples: a larger X is subsampled to this many rows first (None: never).

    Raises:
        InvalidValue: bad X/y (lengths differ, NaN), or scikit-learn refused the input.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from sklearn.model_selection import learning_curve

    inputs.check_model("model", model)
    X = inputs.matrix("X", X)
    y = inputs.vector("y", y)
    n = inputs.same_length(X=X, y=y)
    if train_sizes is None:
        train_sizes = np.linspace(0.1, 1.0, 5)
    rows = inputs.subsample_indices(n, max_samples)
    if len(rows) < n:
        X, y = inputs.take(X, rows), y[rows]
    sizes, train_scores, test_scores = inputs.call_model(
        "plot_learning_curve", learning_curve, model, X, y, cv=cv, n_jobs=n_jobs,
        train_sizes=train_sizes, scoring=scoring, shuffle=shuffle, random_state=random_state)
    table: dict[str, list[Any]] = {"dataset": [], "train_size": [], "score": [],
                                   "score_std": []}
    for dataset, scores in (("train", train_scores), ("test", test_scores)):
        for size, per_fold in zip(sizes, scores, strict=True):
            table["dataset"].append(dataset)
            table["train_size"].append(int(size))
            table["score"].append(float(np.mean(per_fold)))
            table["score_std"].append(float(np.std(per_fold)))
    encoding = {
        "x": {"field": "train_size", "type": "quantitative", "title": "Training set size"},
        "color": {"field": "dataset", "type": "nominal", "title": "Dataset",
                  "sort": ["train", "test"]},
    }
    spec = {
        "title": f"Learning Curve ({inputs.model_name(model)})",
        "width": 400, "height": 300,
        "encoding": encoding,
        "layer": [
            {"transform": [{"calculate": "datum.score - datum.score_std", "as": "low"},
                           {"calculate": "datum.score + datum.score_std", "as": "high"}],
             "mark": {"type": "area", "opacity": 0.2},
             "encoding": {"y": {"field": "low", "type": "quantitative"},
                          "y2": {"field": "high"}}},
            {"mark": {"type": "line", "point": True, "tooltip": True},
             "encoding": {"y": {"field": "score", "type": "quantitative", "title": "Score",
                                "scale": {"zero": False}}}},
        ],
    }
    return Chart(table, spec, kind="sklearn/learning_curve")


def build_summary_metrics(model: Any, X: Any = None, y: Any = None, X_test: Any = None,
                          y_test: Any = None) -> Chart:
    """The summary metrics chart, without logging it (see ``plot_summary_metrics``).

    Classifiers: accuracy, and precision, recall and F1 averaged over classes weighted
    by support (W&B's choice). Regressors: MAE, MSE and R². Computed on the test set, and
    on the training set too when ``X``/``y`` are given (W&B charts the test set only).

    Raises:
        InvalidValue: model unfitted or neither classifier nor regressor; bad X/y.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    inputs.check_fitted("model", model)
    classifier = is_classifier(model)
    if not classifier and not is_regressor(model):
        raise InvalidValue(f"model ({inputs.model_name(model)}) is neither a classifier nor "
                           f"a regressor: summary metrics need one", key="model")
    sets = []
    if X is not None or y is not None:
        sets.append(("train", "X_train", "y_train", X, y))
    sets.append(("test", "X_test", "y_test", X_test, y_test))
    checked = []
    for dataset, x_name, y_name, features, target in sets:
        features = inputs.matrix(x_name, features)
        target = inputs.vector(y_name, target)
        inputs.same_length(**{x_name: features, y_name: target})
        checked.append((dataset, x_name, features, target))
    table: dict[str, list[Any]] = {"metric_name": [], "metric_value": [], "dataset": [],
                                   "model_name": []}
    for dataset, x_name, features, target in checked:
        predicted = inputs.call_model(x_name, model.predict, features)
        if classifier:
            # zero_division=0: a class never predicted scores 0 without a warning.
            values = {
                "accuracy_score": metrics.accuracy_score(target, predicted),
                "precision": metrics.precision_score(target, predicted, average="weighted",
                                                     zero_division=0),
                "recall": metrics.recall_score(target, predicted, average="weighted",
                                               zero_division=0),
                "f1_score": metrics.f1_score(target, predicted, average="weighted",
                                             zero_division=0),
            }
        else:
            values = {
                "mae": metrics.mean_absolute_error(target, predicted),
                "mse": metrics.mean_squared_error(target, predicted),
                "r2_score": metrics.r2_score(target, predicted),
            }
        for metric, value in values.items():
            table["metric_name"].append(metric)
            table["metric_value"].append(float(value))
            table["dataset"].append(dataset)
            table["model_name"].append(inputs.model_name(model))
    bars = {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "dataset", "type": "nominal", "title": None,
                  "sort": ["train", "test"], "axis": {"labelAngle": 0}},
            "y": {"field": "metric_value", "type": "quantitative", "title": "Value"},
            "color": {"field": "dataset", "type": "nominal", "title": "Dataset",
                      "sort": ["train", "test"]},
        },
    }
    spec: dict[str, Any] = {
        "title": f"Summary Metrics ({inputs.model_name(model)})",
        "facet": {"column": {"field": "metric_name", "type": "nominal", "title": None,
                             "sort": list(dict.fromkeys(table["metric_name"]))}},
        "spec": {"width": 80, "height": 220, **bars},
    }
    if not classifier:  # MSE and R² differ by orders of magnitude: one axis each
        spec["resolve"] = {"scale": {"y": "independent"}}
    return Chart(table, spec, kind="sklearn/summary_metrics")
