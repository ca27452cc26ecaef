"""Charts for classifiers: ROC, precision-recall, confusion matrix, feature importances,
class proportions and calibration curves.

ROC, precision-recall, confusion matrix and feature importances are drawn by
:mod:`flightlog.plot` (one implementation of the curves); this module maps
scikit-learn's class values to that module's class indices and names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from . import _inputs as inputs

#: Rows the calibration curve uses at most: it fits four models, so a larger X is
#: subsampled (a fixed seed) first.
CALIBRATION_MAX_SAMPLES = 10_000
#: Features the feature-importance chart shows at most (the most important), as W&B.
MAX_FEATURES = 50


def _relabel(chart: Chart, kind: str) -> Chart:
    """``chart`` (made by flightlog.plot) under a flightlog.sklearn kind."""
    return Chart(chart.table, chart.spec, kind=kind)


def class_axis(labels: Any, n_classes: int | None = None,
               **named: Any) -> tuple[dict[str, Any], list[str] | None]:
    """Class indices of each named array of class values, and the class names.

    W&B's convention: when ``labels`` is given and the values are integers in
    ``0..len(labels)-1`` they index ``labels`` (``labels=['dog', 'cat']`` names 0 and 1);
    values that are all among ``labels`` are indexed by their place in ``labels`` (for
    scores, ``labels`` then names the columns in order). Otherwise the classes are the
    sorted distinct values (which is the column order of ``predict_proba``) and
    ``labels``, if given, names them in that order. With
    ``n_classes`` (columns of the scores), integer values in ``0..n_classes-1`` are
    indices as they are.
    """
    arrays = {name: inputs.vector(name, values) for name, values in named.items()}
    joined = np.concatenate(list(arrays.values()))
    size = len(labels) if labels is not None and not isinstance(labels, (str, bytes)) \
        else n_classes
    integral = joined.dtype.kind in "iub" or (
        joined.dtype.kind == "f" and bool(np.all(joined == np.round(joined))))
    if size is not None and integral and joined.min() >= 0 and joined.max() < size:
        if n_classes is not None and labels is not None and len(labels) != n_classes:
            raise InvalidValue(f"labels has {len(labels)} names but y_probas has "
                               f"{n_classes} columns (classes)", key="labels")
        names = None if labels is None else inputs.class_names(range(size), labels)
        return {name: array.astype(np.intp) for name, array in arrays.items()}, names
    if labels is not None and not integral and joined.dtype.kind in "USO":
        # Class names themselves: index them by their place in labels.
        names = inputs.class_names(range(len(labels)), labels)
        lookup = {label: index for index, label in enumerate(names)}
        if set(joined.astype(str).tolist()) <= set(lookup):
            if n_classes is not None and len(names) != n_classes:
                raise InvalidValue(f"labels has {len(names)} names but y_probas has "
                                   f"{n_classes} columns (classes)", key="labels")
            return {name: np.fromiter((lookup[v] for v in array.astype(str).tolist()),
                                      dtype=np.intp, count=array.size)
                    for name, array in arrays.items()}, names
    classes = np.unique(joined)
    if n_classes is not None and len(classes) != n_classes:
        raise InvalidValue(f"{next(iter(arrays))} has {len(classes)} classes "
                           f"{classes.tolist()[:20]} but y_probas has {n_classes} columns; "
                           f"give class indices 0..{n_classes - 1}", key=next(iter(arrays)))
    names = inputs.class_names(classes, labels)
    indices = {name: np.searchsorted(classes, array).astype(np.intp)
               for name, array in arrays.items()}
    return indices, names


def _class_scores(y_true: Any, y_probas: Any,
                  labels: Any) -> tuple[Any, Any, list[str] | None]:
    probas = inputs.probabilities("y_probas", y_probas)
    truth = inputs.vector("y_true", y_true)
    inputs.same_length(y_true=truth, y_probas=probas)
    indices, names = class_axis(labels, probas.shape[1], y_true=truth)
    return indices["y_true"], probas, names


def build_roc(y_true: Any, y_probas: Any, labels: Any = None, classes_to_plot: Any = None,
              title: str = "ROC Curve") -> Chart:
    """The ROC chart, without logging it (see ``plot_roc``): one curve per class,
    one-vs-rest, drawn by ``flightlog.plot.roc_curve``.

    Raises:
        InvalidValue: lengths differ, NaN, labels or classes that do not match the
            columns of ``y_probas``.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from flightlog.plot import roc_curve

    truth, probas, names = _class_scores(y_true, y_probas, labels)
    return _relabel(roc_curve(truth, probas, names, classes_to_plot, title=title),
                    "sklearn/roc")


def build_precision_recall(y_true: Any, y_probas: Any, labels: Any = None,
                           classes_to_plot: Any = None,
                           title: str = "Precision-Recall Curve") -> Chart:
    """The precision-recall chart, without logging it (see ``plot_precision_recall``),
    drawn by ``flightlog.plot.pr_curve``.

    Raises:
        InvalidValue: as :func:`build_roc`.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from flightlog.plot import pr_curve

    truth, probas, names = _class_scores(y_true, y_probas, labels)
    return _relabel(pr_curve(truth, probas, names, classes_to_plot, title=title),
                    "sklearn/precision_recall")


def build_confusion_matrix(y_true: Any, y_pred: Any, labels: Any = None,
                           title: str = "Confusion Matrix") -> Chart:
    """The confusion-matrix chart, without logging it (see ``plot_confusion_matrix``),
    drawn by ``flightlog.plot.confusion_matrix``.

    Raises:
        InvalidValue: lengths differ, NaN, labels that do not match the classes.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from flightlog.plot import confusion_matrix

    truth = inputs.vector("y_true", y_true)
    predicted = inputs.vector("y_pred", y_pred)
    inputs.same_length(y_true=truth, y_pred=predicted)
    indices, names = class_axis(labels, y_true=truth, y_pred=predicted)
    if names is None:
        names = [str(i) for i in range(int(max(indices["y_true"].max(),
                                                indices["y_pred"].max())) + 1)]
    chart = confusion_matrix(y_true=indices["y_true"], preds=indices["y_pred"],
                             class_names=names, title=title)
    return _relabel(chart, "sklearn/confusion_matrix")


def importances_of(model: Any) -> Any:
    """The per-feature importances of a fitted model: ``feature_importances_`` (trees),
    else the magnitude of ``coef_`` (linear models; averaged over classes/targets). A
    Pipeline's final step is asked."""
    estimator = model
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and not hasattr(model, "feature_importances_"):
        estimator = steps[-1][1]
    importances = getattr(estimator, "feature_importances_", None)
    if importances is not None:
        return np.asarray(importances, dtype=float).ravel()
    coef = getattr(estimator, "coef_", None)
    if coef is not None:
        magnitude = np.abs(np.asarray(coef, dtype=float))
        return magnitude if magnitude.ndim == 1 else magnitude.mean(axis=0)
    raise InvalidValue(f"model ({inputs.model_name(estimator)}) has neither "
                       f"feature_importances_ nor coef_: feature importances need a tree "
                       f"ensemble or a linear model", key="model")


def build_feature_importances(model: Any, feature_names: Any = None,
                              title: str = "Feature Importance",
                              max_num_features: int = MAX_FEATURES) -> Chart:
    """The feature-importance chart, without logging it (see
    ``plot_feature_importances``): the ``max_num_features`` most important features,
    most important first, drawn by ``flightlog.plot.feature_importance``.

    Args:
        model: a fitted model with ``feature_importances_`` or ``coef_`` (or a Pipeline
            ending in one).
        feature_names: one name per feature; default the model's ``feature_names_in_``
            (fitted on a DataFrame), else the feature indices.

    Raises:
        InvalidValue: unfitted model; no importances; names of the wrong length.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from flightlog.plot import feature_importance

    inputs.check_fitted("model", model)
    limit = inputs.positive_int("max_num_features", max_num_features)
    importances = importances_of(model)
    if feature_names is None:
        known = getattr(model, "feature_names_in_", None)
        names = [str(n) for n in known] if known is not None and \
            len(known) == importances.size else [str(i) for i in range(importances.size)]
    else:
        if isinstance(feature_names, (str, bytes)):
            raise InvalidValue("feature_names must be a list of names, got a string",
                               key="feature_names")
        names = [str(n) for n in (feature_names.tolist() if hasattr(feature_names, "tolist")
                                  else feature_names)]
        if len(names) != importances.size:
            raise InvalidValue(f"feature_names has {len(names)} names but the model has "
                               f"{importances.size} features", key="feature_names")
    chart = feature_importance(names, importances, title=title, max_features=limit)
    return _relabel(chart, "sklearn/feature_importances")


def build_class_proportions(y_train: Any, y_test: Any, labels: Any = None) -> Chart:
    """The class-proportions chart, without logging it (see ``plot_class_proportions``):
    the number of samples of each class in the training and the test set.

    Raises:
        InvalidValue: NaN; labels that do not match the classes.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    indices, names = class_axis(labels, y_train=y_train, y_test=y_test)
    n_classes = len(names) if names is not None else int(
        max(indices["y_train"].max(), indices["y_test"].max())) + 1
    if names is None:
        names = [str(i) for i in range(n_classes)]
    table: dict[str, list[Any]] = {"class": [], "dataset": [], "count": []}
    counts = {dataset: np.bincount(indices[f"y_{dataset}"], minlength=n_classes)
              for dataset in ("train", "test")}
    for index, name in enumerate(names):
        for dataset in ("train", "test"):
            table["class"].append(name)
            table["dataset"].append(dataset)
            table["count"].append(int(counts[dataset][index]))
    by_dataset = {"field": "dataset", "type": "nominal", "title": "Dataset",
                  "sort": ["train", "test"]}
    spec = {
        "title": "Class Proportions",
        "width": max(200, min(800, 40 * n_classes)), "height": 300,
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "class", "type": "nominal", "title": "Class", "sort": names},
            "xOffset": by_dataset,
            "y": {"field": "count", "type": "quantitative", "title": "Samples"},
            "color": by_dataset,
        },
    }
    return Chart(table, spec, kind="sklearn/class_proportions")


def _positive_scores(model: Any, X: Any) -> Any:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    decision = np.asarray(model.decision_function(X), dtype=float)
    low, high = float(decision.min()), float(decision.max())
    # W&B's rescaling: decision values mapped onto [0, 1] (not probabilities).
    return (decision - low) / (high - low) if high > low else np.full_like(decision, 0.5)


def build_calibration_curve(clf: Any, X: Any, y: Any, clf_name: str = "Classifier",
                            n_bins: int = 10, test_size: float = 0.5,
                            random_state: int = 42,
                            max_samples: int | None = CALIBRATION_MAX_SAMPLES) -> Chart:
    """The calibration chart, without logging it (see ``plot_calibration_curve``).

    As W&B: X/y are split (stratified, ``random_state``); on the first part a baseline
    logistic regression (on standardised features), a clone of ``clf``, and ``clf``
    calibrated with isotonic and with sigmoid regression (``CalibratedClassifierCV``,
    cv=2) are fitted; on the other part ``sklearn.calibration.calibration_curve`` gives
    each model's fraction of positives per bin of predicted probability, charted against
    the mean predicted probability (the diagonal is perfect calibration), with the
    number of predictions per bin below. ``clf`` itself is not changed. W&B fits on 5 %
    of the data and leaves out the uncalibrated model; flightlog fits on
    ``1 - test_size`` and shows it.

    Args:
        clf: a fitted binary classifier. X, y: features and labels (two classes; the
            larger class value is the positive one, as predict_proba's column 1).
        clf_name: the name of the model in the legend.
        n_bins: bins of predicted probability.
        max_samples: a larger X is subsampled to this many rows first.

    Raises:
        InvalidValue: unfitted model; y not of two classes; bad X/y.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV, calibration_curve
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    inputs.check_fitted("clf", clf)
    n_bins = inputs.positive_int("n_bins", n_bins)
    X = inputs.matrix("X", X)
    y = inputs.vector("y", y)
    n = inputs.same_length(X=X, y=y)
    classes = np.unique(y)
    if len(classes) != 2:
        raise InvalidValue(f"the calibration curve is for binary classifiers; y has "
                           f"{len(classes)} classes {classes.tolist()[:10]}", key="y")
    rows = inputs.subsample_indices(n, max_samples)
    if len(rows) < n:
        X, y = inputs.take(X, rows), y[rows]
    X_fit, X_eval, y_fit, y_eval = inputs.call_model(
        "plot_calibration_curve", train_test_split, X, y, test_size=test_size,
        random_state=random_state, stratify=y)
    positive_eval = (y_eval == classes[1]).astype(int)
    models = [
        ("Logistic", make_pipeline(StandardScaler(), LogisticRegression())),
        (clf_name, clone(clf)),
        (f"{clf_name} + Isotonic", CalibratedClassifierCV(clone(clf), cv=2,
                                                         method="isotonic")),
        (f"{clf_name} + Sigmoid", CalibratedClassifierCV(clone(clf), cv=2,
                                                        method="sigmoid")),
    ]
    table: dict[str, list[Any]] = {"model": [], "mean_predicted_value": [],
                                   "fraction_of_positives": [], "bin_start": [],
                                   "count": []}
    for name, model in models:
        inputs.call_model("plot_calibration_curve", model.fit, X_fit, y_fit)
        scores = _positive_scores(model, X_eval)
        fraction, mean = calibration_curve(positive_eval, scores, n_bins=n_bins)
        # The bins calibration_curve used (uniform on [0, 1], empty ones left out).
        which = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], scores)
        counts = np.bincount(which, minlength=n_bins)
        for bin_index, frac, avg in zip(np.flatnonzero(counts), fraction, mean,
                                        strict=True):
            table["model"].append(name)
            table["mean_predicted_value"].append(float(avg))
            table["fraction_of_positives"].append(float(frac))
            table["bin_start"].append(float(bin_index) / n_bins)
            table["count"].append(int(counts[bin_index]))
    legend = [name for name, _ in models]
    color = {"field": "model", "type": "nominal", "title": "Model", "sort": legend}
    spec = {
        "title": f"Calibration Curve ({clf_name})",
        "vconcat": [
            {"width": 400, "height": 300,
             "layer": [
                 {"data": {"values": [{"p": 0.0}, {"p": 1.0}]},
                  "mark": {"type": "line", "color": "#888888", "strokeDash": [4, 4]},
                  "encoding": {"x": {"field": "p", "type": "quantitative"},
                               "y": {"field": "p", "type": "quantitative"}}},
                 {"mark": {"type": "line", "point": True, "tooltip": True},
                  "encoding": {
                      "x": {"field": "mean_predicted_value", "type": "quantitative",
                            "title": "Mean predicted value",
                            "scale": {"domain": [0, 1]}},
                      "y": {"field": "fraction_of_positives", "type": "quantitative",
                            "title": "Fraction of positives",
                            "scale": {"domain": [0, 1]}},
                      "color": color}},
             ]},
            {"width": 400, "height": 120,
             "mark": {"type": "bar", "tooltip": True},
             "encoding": {
                 "x": {"field": "bin_start", "type": "ordinal", "title": "Predicted value bin",
                       "axis": {"format": ".1f", "labelAngle": 0}},
                 "xOffset": {"field": "model", "type": "nominal", "sort": legend},
                 "y": {"field": "count", "type": "quantitative", "title": "Count"},
                 "color": color}},
        ],
    }
    return Chart(table, spec, kind="sklearn/calibration_curve")
