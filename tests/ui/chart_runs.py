"""Runs of the chart-drawing UI tests (imported by test_chart_kinds.py).

- ``every_kind_run``: one run holding one chart of every kind flightlog makes
  (flightlog.plot, plot_table, flightlog.sklearn's aggregates, a matplotlib figure), a
  plotly figure, and a table with an image cell and an HTML cell. Small models: the whole
  run is logged in well under a second.
- ``showcase_run``: what the README's run-page screenshot shows: metrics per epoch, a ROC
  curve, a confusion matrix, a table of images and an HTML note (digits, SGD).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

import flightlog
import flightlog.plot as fp

#: Charts logged by flightlog.plot / plot_table, under these names ("plot/..." so that
#: they do not collide with the W&B keys flightlog.sklearn logs under).
PLOT_CHARTS = [
    "plot/line", "plot/scatter", "plot/bar", "plot/histogram", "plot/line_series",
    "plot/pr_curve", "plot/roc_curve", "plot/confusion_matrix", "plot/lift_curve",
    "plot/cumulative_gains", "plot/calibration_curve", "plot/predicted_vs_true",
    "plot/residual_histogram", "plot/feature_importance", "plot/table_preset",
    "plot/table_custom",
]
#: W&B's keys: plot_classifier (breast cancer), plot_regressor (diabetes),
#: plot_clusterer (iris).
SKLEARN_CHARTS = [
    "roc", "precision_recall", "confusion_matrix", "class_proportions",
    "feature_importances", "calibration_curve", "summary_metrics",  # classifier
    "learning_curve", "outlier_candidates", "residuals",  # regressor (+ summary_metrics)
    "elbow_curve", "silhouette_plot",  # clusterer
]
FIGURE_CHARTS = ["matplotlib"]
EVERY_CHART = sorted(PLOT_CHARTS + SKLEARN_CHARTS + FIGURE_CHARTS)

#: Marks some charts must draw exactly (data marks of the Vega scenegraph, by type).
LINE_POINTS = 50
EXACT_MARKS = {
    "plot/scatter": {"symbol": LINE_POINTS},
    "plot/bar": {"rect": 3},
    "plot/confusion_matrix": {"rect": 4, "text": 4},  # 2 classes: 2 x 2 cells, counted
    "plot/table_preset": {"symbol": LINE_POINTS},
    "plot/table_custom": {"rect": LINE_POINTS},
    "plot/feature_importance": {"rect": 30},  # breast cancer's 30 features
}
CELL_IMAGE_WIDTH = 16
CELL_HTML = "<p id='cell'>hello from a cell</p>"


def png_width(content: bytes) -> int:
    """The width in a PNG's IHDR chunk."""
    assert content[:8] == b"\x89PNG\r\n\x1a\n", content[:8]
    return int(struct.unpack(">I", content[16:20])[0])


def every_kind_run(root: Path) -> Path:
    """One run with one chart of every kind, a plotly figure and a table of media cells."""
    import plotly.graph_objects as go
    from matplotlib.figure import Figure
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    run = flightlog.init(project="kinds", name="every-kind", dir=root)
    rng = np.random.default_rng(0)
    xs = np.linspace(0, 2 * math.pi, LINE_POINTS)
    wave = flightlog.Table(data=[[float(x), math.sin(x)] for x in xs], columns=["x", "y"])
    bars = flightlog.Table(data=[["cat", 12], ["dog", 30], ["owl", 7]],
                           columns=["label", "value"])
    values = flightlog.Table(data=[[float(v)] for v in rng.normal(size=300)],
                             columns=["value"])
    custom = {"mark": "bar", "title": "${string:title}",
              "encoding": {"x": {"field": "${field:x}", "type": "quantitative"},
                           "y": {"field": "${field:y}", "type": "quantitative"}}}
    run.log({
        "plot/line": fp.line(wave, "x", "y", title="sine"),
        "plot/scatter": fp.scatter(wave, "x", "y", title="sine points"),
        "plot/bar": fp.bar(bars, "label", "value", title="pets"),
        "plot/histogram": fp.histogram(values, "value", title="normal"),
        "plot/line_series": fp.line_series([0, 1, 2, 3, 4], [[1, 2, 3, 4, 5], [5, 3, 4, 1, 2]],
                                           keys=["up", "down"], title="two lines"),
        "plot/table_preset": flightlog.plot_table("flightlog/scatter", wave,
                                                  {"x": "x", "y": "y"},
                                                  string_fields={"title": "preset"}),
        "plot/table_custom": flightlog.plot_table(custom, wave, {"x": "x", "y": "y"},
                                                  string_fields={"title": "custom spec"}),
    })

    cancer = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(cancer.data, cancer.target,
                                                        test_size=0.3, random_state=0)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x_train, y_train)
    y_pred = forest.predict(x_test)
    y_probas = forest.predict_proba(x_test)
    labels = list(cancer.target_names)
    names = list(cancer.feature_names)
    run.log({
        "plot/pr_curve": fp.pr_curve(y_test, y_probas, labels=labels),
        "plot/roc_curve": fp.roc_curve(y_test, y_probas, labels=labels),
        "plot/confusion_matrix": fp.confusion_matrix(y_true=y_test, preds=y_pred,
                                                     class_names=labels),
        "plot/lift_curve": fp.lift_curve(y_test, y_probas, labels=labels),
        "plot/cumulative_gains": fp.cumulative_gains(y_test, y_probas, labels=labels),
        "plot/calibration_curve": fp.calibration_curve(y_test, y_probas, labels=labels),
        "plot/feature_importance": fp.feature_importance(names, forest.feature_importances_),
    })
    flightlog.sklearn.plot_classifier(forest, x_train, x_test, y_train, y_test, y_pred,
                                      y_probas, labels, model_name="RandomForest",
                                      feature_names=names)

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    ridge = Ridge(alpha=0.1).fit(x_train, y_train)
    predicted = ridge.predict(x_test)
    run.log({"plot/predicted_vs_true": fp.predicted_vs_true(y_test, predicted),
             "plot/residual_histogram": fp.residual_histogram(y_test, predicted)})
    flightlog.sklearn.plot_regressor(ridge, x_train, x_test, y_train, y_test,
                                     model_name="Ridge")

    iris = load_iris().data
    kmeans = KMeans(n_clusters=3, n_init=3, random_state=0).fit(iris)
    flightlog.sklearn.plot_clusterer(kmeans, iris, kmeans.labels_, model_name="KMeans")

    figure = Figure(figsize=(4, 3), dpi=80)
    axes = figure.add_subplot()
    axes.plot([1, 2, 3, 4], [1, 4, 2, 3], label="a")
    axes.set_ylabel("some numbers")
    run.log({"matplotlib": figure})  # a PNG and the converted chart
    run.log({"plotly": go.Figure(go.Scatter(x=[0, 1, 2, 3], y=[0, 1, 4, 9]))})
    gradient = np.tile(np.linspace(0, 255, CELL_IMAGE_WIDTH, dtype=np.uint8), (8, 1))
    cells = flightlog.Table(columns=["name", "image", "page"])
    cells.add_data("gradient", flightlog.Image(gradient, caption="gradient"),
                   flightlog.Html(CELL_HTML))
    run.log({"cells": cells})
    run.finish()
    return Path(run.dir)


def showcase_run(root: Path) -> Path:
    """A digits classifier trained by SGD for 25 epochs: loss and accuracy per epoch, then
    a ROC curve, a confusion matrix, a table of test images with their predictions and an
    HTML note (the README's run-page screenshot)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target,
                                                        test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test_scaled = scaler.transform(x_train), scaler.transform(x_test)
    classes = np.arange(10)
    config = {"model": "SGDClassifier", "loss": "log_loss", "alpha": 1e-3, "epochs": 25}
    run = flightlog.init(project="digits", name="sgd-digits", config=config,
                         tags=["baseline"], dir=root)
    model = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=0)
    for _ in range(config["epochs"]):
        model.partial_fit(x_train, y_train, classes=classes)
        probas = model.predict_proba(x_test_scaled)
        run.log({"loss": float(log_loss(y_test, probas, labels=classes)),
                 "accuracy": float((model.predict(x_test_scaled) == y_test).mean())})
    probas = model.predict_proba(x_test_scaled)
    predicted = model.predict(x_test_scaled)
    labels = [str(c) for c in classes]
    run.log({"roc": fp.roc_curve(y_test, probas, labels=labels),
             "confusion_matrix": fp.confusion_matrix(y_true=y_test, preds=predicted,
                                                     class_names=labels)})
    samples = flightlog.Table(columns=["image", "truth", "prediction"])
    for image, truth, guess in zip(x_test[:6], y_test[:6], predicted[:6], strict=True):
        pixels = np.kron(image.reshape(8, 8) * (255 / 16), np.ones((6, 6))).astype(np.uint8)
        samples.add_data(flightlog.Image(pixels, caption=f"truth {truth}"), int(truth),
                         int(guess))
    run.log({"test_samples": samples})
    accuracy = float((predicted == y_test).mean())
    run.log({"notes": flightlog.Html(
        "<h2 style='font-family:sans-serif'>Model card</h2>"
        "<p style='font-family:sans-serif'>SGD logistic regression on scikit-learn's "
        f"digits, 25 epochs. Test accuracy <b>{accuracy:.3f}</b>.</p>")})
    run.summary["accuracy"] = accuracy
    run.finish()
    return Path(run.dir)
