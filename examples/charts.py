"""Everything the seeds log besides scalars, offline, into one run directory.

- W&B custom charts (seed 002): line, scatter, bar, histogram, multi-line, PR and ROC
  curves, a confusion matrix, a custom Vega-Lite chart through ``plot_table``, a
  matplotlib figure, a plotly figure, a table of HTML and image cells;
- W&B's scikit-learn plots (seeds 000/001): ``plot_classifier`` (breast cancer),
  ``plot_regressor`` (diabetes), ``plot_clusterer`` (iris);
- Azure's automated-ML charts (seed 003): lift, cumulative gains, calibration, predicted
  vs true, residual histogram, feature importance.

Then ``flightlog show`` lists what was logged, and ``flightlog report`` (with the
``report`` extra) draws it all in one HTML file.

    python examples/charts.py [--dir flightlog-demo/runs]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed

import matplotlib.pyplot as plt
import numpy as np
import plotly.express as px
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

import flightlog


def custom_charts(run: flightlog.Run) -> None:
    """Seed 002: wandb.plot.* as flightlog.plot.*."""
    xs = np.linspace(0, 4 * math.pi, 200)
    table = flightlog.Table(data=[[x, math.sin(x)] for x in xs], columns=["x", "y"])
    run.log({"my_custom_plot_id": flightlog.plot.line(table, "x", "y",
                                                      title="Custom Y vs X Line Plot")})
    rng = np.random.default_rng(0)
    points = flightlog.Table(data=rng.normal(size=(300, 2)).tolist(),
                             columns=["class_x", "class_y"])
    run.log({"my_custom_id": flightlog.plot.scatter(points, "class_x", "class_y")})
    bars = flightlog.Table(data=[["cat", 12], ["dog", 30], ["owl", 7]],
                           columns=["label", "value"])
    run.log({"my_bar_chart_id": flightlog.plot.bar(bars, "label", "value",
                                                   title="Custom Bar Chart")})
    scores = flightlog.Table(data=[[s] for s in rng.beta(2, 5, 1000)], columns=["scores"])
    run.log({"my_histogram": flightlog.plot.histogram(scores, "scores", title="Histogram")})
    run.log({"my_multi_line": flightlog.plot.line_series(
        xs=[0, 1, 2, 3, 4], ys=[[10, 20, 30, 40, 50], [0.5, 11, 72, 3, 41]],
        keys=["metric Y", "metric Z"], title="Two Random Metrics", xname="x units")})
    # A custom chart from a preset with the user's own field mapping (wandb.plot_table).
    heights = flightlog.Table(data=[[i, 150 + 30 * rng.random()] for i in range(50)],
                              columns=["step", "height"])
    run.log({"my_custom_chart": flightlog.plot_table(
        "flightlog/histogram", heights, {"value": "height"},
        string_fields={"title": "Height Histogram"})})
    # matplotlib, logged as W&B does: a PNG and, since it converts, an interactive chart.
    plt.figure()
    plt.plot([1, 2, 3, 4])
    plt.ylabel("some interesting numbers")
    run.log({"chart": plt})
    plt.close("all")
    # plotly: stored as the figure's JSON; and as HTML inside a table.
    fig = px.scatter(x=[0, 1, 2, 3, 4], y=[0, 1, 4, 9, 16])
    run.log({"plotly_scatter": fig})
    html_table = flightlog.Table(columns=["plotly_figure"])
    html_table.add_data(flightlog.Html(fig.to_html(include_plotlyjs=False, full_html=False)))
    run.log({"test_table": html_table})


def cancer_model() -> tuple[Any, ...]:
    """A random forest on scikit-learn's breast cancer data, and its test predictions."""
    data = load_breast_cancer()
    X_train, X_test, y_train, y_test = train_test_split(data.data, data.target,
                                                        test_size=0.3, random_state=0)
    clf = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    return (data, clf, X_train, X_test, y_train, y_test, clf.predict(X_test),
            clf.predict_proba(X_test), list(data.target_names))


def classifier(run: flightlog.Run) -> None:
    """Seeds 000/001: W&B's scikit-learn classifier plots, and a table of image cells."""
    data, clf, X_train, X_test, y_train, y_test, y_pred, y_probas, labels = cancer_model()
    flightlog.sklearn.plot_classifier(clf, X_train, X_test, y_train, y_test, y_pred,
                                      y_probas, labels, model_name="RandomForest",
                                      feature_names=list(data.feature_names))
    # A table of image cells: the first test samples' feature vectors as tiny images.
    samples = flightlog.Table(columns=["truth", "prediction", "features"])
    for row, truth, pred in zip(X_test[:8], y_test[:8], y_pred[:8], strict=True):
        pixels = (255 * (row[:25] / X_train.max(axis=0)[:25])).reshape(5, 5)
        samples.add_data(labels[truth], labels[pred], flightlog.Image(
            pixels.astype(np.uint8), caption=labels[truth]))
    run.log({"predictions": samples})
    run.summary["accuracy"] = float((y_pred == y_test).mean())


def evaluation(run: flightlog.Run) -> None:
    """Seed 002's model-evaluation charts and seed 003's automated-ML charts."""
    data, clf, _, _, _, y_test, y_pred, y_probas, labels = cancer_model()
    run.log({"pr": flightlog.plot.pr_curve(y_test, y_probas, labels=labels),
             "roc": flightlog.plot.roc_curve(y_test, y_probas, labels=labels),
             "conf_mat": flightlog.plot.confusion_matrix(y_true=y_test, preds=y_pred,
                                                         class_names=labels),
             "lift": flightlog.plot.lift_curve(y_test, y_probas, labels=labels),
             "gains": flightlog.plot.cumulative_gains(y_test, y_probas, labels=labels),
             "calibration": flightlog.plot.calibration_curve(y_test, y_probas,
                                                             labels=labels),
             "importance": flightlog.plot.feature_importance(
                 list(data.feature_names), clf.feature_importances_)})


def regressor(run: flightlog.Run) -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    reg = Ridge(alpha=0.1).fit(X_train, y_train)
    flightlog.sklearn.plot_regressor(reg, X_train, X_test, y_train, y_test, model_name="Ridge")
    pred = reg.predict(X_test)
    run.log({"predicted_vs_true": flightlog.plot.predicted_vs_true(y_test, pred),
             "residuals_histogram": flightlog.plot.residual_histogram(y_test, pred)})


def clusterer(run: flightlog.Run) -> None:
    X = load_iris().data
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    flightlog.sklearn.plot_clusterer(kmeans, X, kmeans.labels_, labels=None,
                                     model_name="KMeans")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="flightlog-demo/runs", help="root of run directories")
    args = parser.parse_args()
    dirs = []
    for name, part in [("custom-charts", custom_charts), ("classifier", classifier),
                       ("evaluation", evaluation), ("regressor", regressor),
                       ("clusterer", clusterer)]:
        with flightlog.init(project="visualize-sklearn", name=name, dir=args.dir) as run:
            part(run)
        dirs.append(run.dir)
        print(f"{name}: {run.dir}")
    for run_dir in dirs:
        subprocess.run([sys.executable, "-m", "flightlog.cli", "show", str(run_dir)],
                       check=True)
    print(f"\nSee them: flightlog report {' '.join(map(str, dirs))} -o report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
