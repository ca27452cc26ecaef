"""``flightlog.sklearn``: scikit-learn model charts, as ``wandb.sklearn``.

Each ``plot_*`` function computes a chart (a :class:`flightlog.Chart`: a data table and a
Vega-Lite spec) from a model and its data, logs it to the current run under W&B's key
(``run.log({"roc": chart})``) and returns it; the aggregates ``plot_classifier``,
``plot_regressor`` and ``plot_clusterer`` log several in one step and return them by key::

    import flightlog, flightlog.sklearn
    run = flightlog.init(project="cancer")
    flightlog.sklearn.plot_classifier(clf, X_train, X_test, y_train, y_test,
                                      clf.predict(X_test), clf.predict_proba(X_test),
                                      labels=["malignant", "benign"], model_name="RF")
    run.finish()
    flightlog.open_run(run.dir).charts()["roc"]    # the Vega-Lite spec, data inlined

The ``build_*`` functions make the same charts without logging (no run needed).

scikit-learn is an optional extra (``pip install 'flightlog[sklearn]'``); without it every
function raises :class:`~flightlog.errors.MissingExtra`. Bad input raises
:class:`~flightlog.errors.InvalidValue` naming the argument, before anything is
written; the run goes on. Your models are never changed: charts that fit models (learning
curve, calibration, elbow) fit clones. Costly charts subsample large inputs with a fixed
seed (learning curve, calibration, elbow: 10 000 rows; silhouette: 2 000), and stored
points are bounded (outliers, residuals: 1 000; curves: see ``flightlog.plot``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flightlog.charts import Chart
from flightlog.errors import InvalidValue, WriterError

from . import _inputs
from ._classifier import (
    build_calibration_curve,
    build_class_proportions,
    build_confusion_matrix,
    build_feature_importances,
    build_precision_recall,
    build_roc,
    importances_of,
)
from ._clusterer import build_elbow_curve, build_silhouette
from ._regressor import build_outlier_candidates, build_residuals, cooks_distance
from ._shared import build_learning_curve, build_summary_metrics

if TYPE_CHECKING:
    from flightlog.writer import Run

__all__ = [
    "build_calibration_curve",
    "build_class_proportions",
    "build_confusion_matrix",
    "build_elbow_curve",
    "build_feature_importances",
    "build_learning_curve",
    "build_outlier_candidates",
    "build_precision_recall",
    "build_residuals",
    "build_roc",
    "build_silhouette",
    "build_summary_metrics",
    "cooks_distance",
    "plot_calibration_curve",
    "plot_class_proportions",
    "plot_classifier",
    "plot_clusterer",
    "plot_confusion_matrix",
    "plot_elbow_curve",
    "plot_feature_importances",
    "plot_learning_curve",
    "plot_outlier_candidates",
    "plot_precision_recall",
    "plot_regressor",
    "plot_residuals",
    "plot_roc",
    "plot_silhouette",
    "plot_summary_metrics",
]


def _current_run(function: str) -> Run:
    """The run to log to; checked before any (possibly slow) computation."""
    from flightlog.writer import current

    run = current()
    if run is None:
        raise WriterError(f"flightlog.sklearn.{function}: no current run: call "
                          f"flightlog.init() first (or use build_* to get the chart "
                          f"without logging it)")
    return run


def _log_one(function: str, key: str, build: Callable[[], Chart]) -> Chart:
    run = _current_run(function)
    chart = build()
    run.log({key: chart})
    return chart


def plot_learning_curve(model: Any = None, X: Any = None, y: Any = None, cv: Any = None,
                        shuffle: bool = False, random_state: Any = None,
                        train_sizes: Any = None, n_jobs: int = 1,
                        scoring: Any = None) -> Chart:
    """Log the learning curve (key ``"learning_curve"``): mean train and cross-validation
    scores against the training-set size (:func:`build_learning_curve`).

    Args:
        model: a classifier or regressor (cloned; fitted or not).
        X: features. y: targets.
        cv, shuffle, random_state, train_sizes, n_jobs, scoring: as
            ``sklearn.model_selection.learning_curve`` (train_sizes default
            ``linspace(0.1, 1, 5)``).

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: bad input. MissingExtra: no
            scikit-learn.
    """
    return _log_one("plot_learning_curve", "learning_curve", lambda: build_learning_curve(
        model, X, y, cv=cv, shuffle=shuffle, random_state=random_state,
        train_sizes=train_sizes, n_jobs=n_jobs, scoring=scoring))


def plot_roc(y_true: Any = None, y_probas: Any = None, labels: Any = None,
             plot_micro: bool = True, plot_macro: bool = True,
             classes_to_plot: Any = None) -> Chart:
    """Log the ROC curves (key ``"roc"``), one per class, one-vs-rest.

    Args:
        y_true: test-set classes. y_probas: ``predict_proba`` of the test set.
        labels: class names, in the order of the columns of ``y_probas``.
        plot_micro, plot_macro: accepted for W&B compatibility; W&B ignores them too.
        classes_to_plot: classes (indices or names) to draw; default all.

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: lengths differ, NaN, labels that do
            not match the columns. MissingExtra: no scikit-learn.
    """
    return _log_one("plot_roc", "roc",
                    lambda: build_roc(y_true, y_probas, labels, classes_to_plot))


def plot_precision_recall(y_true: Any = None, y_probas: Any = None, labels: Any = None,
                          plot_micro: bool = True, classes_to_plot: Any = None) -> Chart:
    """Log the precision-recall curves (key ``"precision_recall"``), one per class.
    Arguments, returns and raises as :func:`plot_roc`."""
    return _log_one("plot_precision_recall", "precision_recall",
                    lambda: build_precision_recall(y_true, y_probas, labels, classes_to_plot))


def plot_confusion_matrix(y_true: Any = None, y_pred: Any = None,
                          labels: Any = None) -> Chart:
    """Log the confusion matrix (key ``"confusion_matrix"``).

    Args:
        y_true: test-set classes. y_pred: predicted classes.
        labels: class names (``labels[i]`` names class ``i``, or the i-th sorted class).

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: lengths differ, NaN, labels that do
            not match the classes. MissingExtra: no scikit-learn.
    """
    return _log_one("plot_confusion_matrix", "confusion_matrix",
                    lambda: build_confusion_matrix(y_true, y_pred, labels))


def plot_feature_importances(model: Any = None, feature_names: Any = None,
                             title: str = "Feature Importance",
                             max_num_features: int = 50) -> Chart:
    """Log the feature importances (key ``"feature_importances"``) of a fitted model with
    ``feature_importances_`` (trees) or ``coef_`` (linear models: ``|coef_|``, averaged
    over classes); the ``max_num_features`` most important, most important first.

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: unfitted model, no importances,
            feature_names of the wrong length. MissingExtra: no scikit-learn.
    """
    return _log_one("plot_feature_importances", "feature_importances",
                    lambda: build_feature_importances(model, feature_names, title,
                                                      max_num_features))


def plot_class_proportions(y_train: Any = None, y_test: Any = None,
                           labels: Any = None) -> Chart:
    """Log the number of samples per class in the training and test sets (key
    ``"class_proportions"``).

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: NaN, labels that do not match the
            classes. MissingExtra: no scikit-learn.
    """
    return _log_one("plot_class_proportions", "class_proportions",
                    lambda: build_class_proportions(y_train, y_test, labels))


def plot_calibration_curve(clf: Any = None, X: Any = None, y: Any = None,
                           clf_name: str = "Classifier") -> Chart:
    """Log calibration curves (key ``"calibration_curve"``) of a binary classifier, of
    its isotonic and sigmoid calibrations and of a logistic-regression baseline
    (:func:`build_calibration_curve`).

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: unfitted clf, y not binary, bad X/y.
        MissingExtra: no scikit-learn.
    """
    return _log_one("plot_calibration_curve", "calibration_curve",
                    lambda: build_calibration_curve(clf, X, y, clf_name))


def plot_summary_metrics(model: Any = None, X: Any = None, y: Any = None,
                         X_test: Any = None, y_test: Any = None) -> Chart:
    """Log summary metrics (key ``"summary_metrics"``) of a fitted model on the training
    and the test set: accuracy, precision, recall, F1 (weighted) for classifiers; MAE,
    MSE, R² for regressors.

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: unfitted model, bad input.
        MissingExtra: no scikit-learn.
    """
    return _log_one("plot_summary_metrics", "summary_metrics",
                    lambda: build_summary_metrics(model, X, y, X_test, y_test))


def plot_elbow_curve(clusterer: Any = None, X: Any = None, cluster_ranges: Any = None,
                     n_jobs: int = 1, show_cluster_time: bool = True) -> Chart:
    """Log the elbow curve (key ``"elbow_curve"``): variance explained and fitting time
    against the number of clusters (default 1, 3, 5, 7, 9) of clones of ``clusterer``.

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: no n_clusters parameter, bad X.
        MissingExtra: no scikit-learn.
    """
    return _log_one("plot_elbow_curve", "elbow_curve",
                    lambda: build_elbow_curve(clusterer, X, cluster_ranges, n_jobs,
                                              show_cluster_time))


def plot_silhouette(clusterer: Any = None, X: Any = None, cluster_labels: Any = None,
                    labels: Any = None, metric: str = "euclidean",
                    kmeans: bool = True) -> Chart:
    """Log the silhouette plot (key ``"silhouette_plot"``) of a fitted clusterer
    (:func:`build_silhouette`).

    Args:
        clusterer: the fitted clusterer. X: features.
        cluster_labels: the cluster of each sample (default the clusterer's labels_ or
            predict(X)).
        labels: display names of the clusters.
        metric: distance for the silhouette coefficients.
        kmeans: accepted for W&B compatibility: centres are drawn whenever the clusterer
            has ``cluster_centers_``.

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: unfitted clusterer, bad input.
        MissingExtra: no scikit-learn.
    """
    return _log_one("plot_silhouette", "silhouette_plot",
                    lambda: build_silhouette(clusterer, X, cluster_labels, labels, metric))


def plot_outlier_candidates(regressor: Any = None, X: Any = None, y: Any = None) -> Chart:
    """Log Cook's distance of each sample (key ``"outlier_candidates"``) for a fitted
    regressor (:func:`build_outlier_candidates`).

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: unfitted regressor, bad X/y.
        MissingExtra: no scikit-learn.
    """
    return _log_one("plot_outlier_candidates", "outlier_candidates",
                    lambda: build_outlier_candidates(regressor, X, y))


def plot_residuals(regressor: Any = None, X: Any = None, y: Any = None) -> Chart:
    """Log residuals against predictions, with their distribution (key ``"residuals"``)
    for a fitted regressor (:func:`build_residuals`).

    Returns:
        The logged Chart.

    Raises:
        WriterError: no current run. InvalidValue: unfitted regressor, bad X/y.
        MissingExtra: no scikit-learn.
    """
    return _log_one("plot_residuals", "residuals",
                    lambda: build_residuals(regressor, X, y))


def _has_importances(model: Any) -> bool:
    try:
        importances_of(model)
    except InvalidValue:
        return False
    return True


def plot_classifier(model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any,
                    y_pred: Any, y_probas: Any, labels: Any, is_binary: bool = False,
                    model_name: str = "Classifier", feature_names: Any = None,
                    log_learning_curve: bool = False) -> dict[str, Chart]:
    """Log every classifier chart in one step: feature importances, confusion matrix,
    summary metrics, class proportions, calibration curve, ROC, precision-recall (and
    the learning curve with ``log_learning_curve=True``).

    Feature importances are left out for a model without ``feature_importances_`` or
    ``coef_``; the calibration curve for a problem of more than two classes (as W&B).
    All charts are computed before any is logged: a bad input writes nothing.

    Args:
        model: the fitted classifier.
        X_train, X_test, y_train, y_test: the data it was fitted and tested on.
        y_pred, y_probas: its ``predict`` and ``predict_proba`` of ``X_test``.
        labels: class names (or None).
        is_binary: accepted for W&B compatibility (positional); not needed.
        model_name: the model's name in the charts.
        feature_names: names of the features.
        log_learning_curve: also fit and log the learning curve (slow).

    Returns:
        The logged charts by key.

    Raises:
        WriterError: no current run. InvalidValue: bad input. MissingExtra: no
            scikit-learn.
    """
    run = _current_run("plot_classifier")
    _inputs.require_sklearn()
    _inputs.check_fitted("model", model)
    charts: dict[str, Chart] = {}
    if _has_importances(model):
        charts["feature_importances"] = build_feature_importances(model, feature_names)
    if log_learning_curve:
        charts["learning_curve"] = build_learning_curve(model, X_train, y_train)
    charts["confusion_matrix"] = build_confusion_matrix(y_test, y_pred, labels)
    charts["summary_metrics"] = build_summary_metrics(model, X_train, y_train, X_test,
                                                      y_test)
    charts["class_proportions"] = build_class_proportions(y_train, y_test, labels)
    if len(set(_inputs.vector("y_train", y_train).tolist())) == 2:
        charts["calibration_curve"] = build_calibration_curve(model, X_train, y_train,
                                                              model_name)
    charts["roc"] = build_roc(y_test, y_probas, labels)
    charts["precision_recall"] = build_precision_recall(y_test, y_probas, labels)
    run.log(dict(charts))
    return charts


def plot_regressor(model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any,
                   model_name: str = "Regressor") -> dict[str, Chart]:
    """Log every regressor chart in one step: summary metrics, learning curve, outlier
    candidates (on the training set) and residuals (training and test set). All charts
    are computed before any is logged: a bad input writes nothing.

    Args:
        model: the fitted regressor.
        X_train, X_test, y_train, y_test: the data it was fitted and tested on.
        model_name: accepted for W&B compatibility (W&B only prints it).

    Returns:
        The logged charts by key.

    Raises:
        WriterError: no current run. InvalidValue: bad input. MissingExtra: no
            scikit-learn.
    """
    run = _current_run("plot_regressor")
    charts = {
        "summary_metrics": build_summary_metrics(model, X_train, y_train, X_test, y_test),
        "learning_curve": build_learning_curve(model, X_train, y_train),
        "outlier_candidates": build_outlier_candidates(model, X_train, y_train),
        "residuals": build_residuals(model, X_train, y_train, X_test, y_test),
    }
    run.log(dict(charts))
    return charts


def plot_clusterer(model: Any, X_train: Any, cluster_labels: Any, labels: Any = None,
                   model_name: str = "Clusterer") -> dict[str, Chart]:
    """Log the clusterer charts in one step: the elbow curve (for a clusterer with an
    ``n_clusters`` parameter, such as KMeans) and the silhouette plot.

    Args:
        model: the fitted clusterer. X_train: the data it clustered.
        cluster_labels: the cluster of each sample of X_train (None: the model's own).
        labels: display names of the clusters.
        model_name: accepted for W&B compatibility (W&B only prints it).

    Returns:
        The logged charts by key.

    Raises:
        WriterError: no current run. InvalidValue: bad input. MissingExtra: no
            scikit-learn.
    """
    run = _current_run("plot_clusterer")
    _inputs.require_sklearn()
    _inputs.check_fitted("model", model)
    charts: dict[str, Chart] = {}
    if "n_clusters" in model.get_params():
        charts["elbow_curve"] = build_elbow_curve(model, X_train)
    charts["silhouette_plot"] = build_silhouette(model, X_train, cluster_labels, labels)
    run.log(dict(charts))
    return charts
