"""flightlog.plot: every chart kind validates against the Vega-Lite v6 schema, renders
headless, and its numbers agree with scikit-learn's own metrics on real data sets
(fixtures in conftest.py); bad input raises InvalidValue naming the argument."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics
from sklearn.calibration import calibration_curve as sk_calibration_curve
from vl import assert_valid_vega_lite, render_png

import flightlog
import flightlog.plot as fp
from flightlog.charts import Chart
from flightlog.errors import FlightlogError, InvalidValue


def rows_of(chart: Chart, column: str, value: Any) -> dict[str, list[Any]]:
    """The chart's table restricted to rows where ``column == value``, as columns."""
    data = chart.table.to_pydict()
    keep = [i for i, v in enumerate(data[column]) if v == value]
    return {name: [values[i] for i in keep] for name, values in data.items()}


# ---------------------------------------------------------------- every kind draws


def _all_charts(binary: Any, iris: Any, diabetes: Any) -> dict[str, Chart]:
    rng = np.random.default_rng(0)
    return {
        "roc_curve": fp.roc_curve(iris.y, iris.proba, labels=iris.names),
        "pr_curve": fp.pr_curve(iris.y, iris.proba, labels=iris.names),
        "lift_curve": fp.lift_curve(binary.y, binary.proba[:, 1]),
        "cumulative_gains": fp.cumulative_gains(iris.y, iris.proba),
        "calibration_curve": fp.calibration_curve(binary.y, binary.proba),
        "confusion_matrix": fp.confusion_matrix(probs=iris.proba, y_true=iris.y,
                                                class_names=iris.names),
        "predicted_vs_true": fp.predicted_vs_true(diabetes.y, diabetes.pred),
        "residual_histogram": fp.residual_histogram(diabetes.y, diabetes.pred, bins=15),
        "feature_importance": fp.feature_importance(["age", "bmi", "bp"], [0.2, 0.5, 0.3]),
        "line": fp.line({"step": [0, 1, 2], "val.loss": [1.0, 0.5, 0.25]}, "step", "val.loss",
                        title="loss"),
        "line_stroke": fp.line({"step": [0, 1, 0, 1], "loss": [1.0, 0.5, 0.9, 0.7],
                                "split": ["a", "a", "b", "b"]}, "step", "loss", stroke="split"),
        "scatter": fp.scatter({"a": rng.random(30), "b": rng.random(30)}, "a", "b"),
        "bar": fp.bar({"label": ["cat", "dog"], "value": [3, 5]}, "label", "value"),
        "histogram": fp.histogram({"score": rng.normal(size=200)}, "score", title="scores"),
        "line_series": fp.line_series([0, 1, 2], [[1, 2, 3], [3, 1, 2]], keys=["y", "z"]),
        "plot_table": flightlog.plot.plot_table("flightlog/scatter", {"h": [1, 2], "w": [3, 4]},
                                                {"x": "h", "y": "w"}, {"title": "hw"}),
    }


def test_every_chart_kind_is_valid_vega_lite_and_renders(binary: Any, iris: Any,
                                                         diabetes: Any) -> None:
    for name, chart in _all_charts(binary, iris, diabetes).items():
        assert chart.spec["data"] == {"name": "table"}, name
        assert_valid_vega_lite(chart)
        json.dumps(chart.vega_lite(), allow_nan=False)  # NaN/inf cells became null
        render_png(chart)
        assert isinstance(chart.spec["width"], int) and isinstance(chart.spec["height"], int)


def test_multiclass_curves_have_a_legend_with_the_summary(iris: Any) -> None:
    chart = fp.roc_curve(iris.y, iris.proba, labels=iris.names)
    layer = chart.spec["layer"][0]
    assert layer["encoding"]["color"]["field"] == "curve"
    assert {t["field"] for t in layer["encoding"]["tooltip"]} >= {"fpr", "tpr", "threshold"}
    legends = set(chart.table.column("curve").to_pylist())
    assert len(legends) == 3 and all("(AUC 0." in legend or "(AUC 1.000)" in legend
                                     for legend in legends)


# ---------------------------------------------------------------- agreement with sklearn


def test_binary_roc_is_sklearns_curve_and_auc(binary: Any) -> None:
    scores = binary.proba[:, 1]
    chart = fp.roc_curve(binary.y, scores)
    fpr, tpr, thresholds = metrics.roc_curve(binary.y, scores, drop_intermediate=False)
    table = chart.table.to_pydict()
    assert set(table["class"]) == {"1"}  # 1-d scores: the positive class only
    assert table["fpr"] == fpr.tolist() and table["tpr"] == tpr.tolist()
    assert table["threshold"] == thresholds.tolist()
    assert abs(table["auc"][0] - metrics.roc_auc_score(binary.y, scores)) < 1e-9
    # (n, 2) probabilities draw both classes; class 0 is class 1 mirrored.
    both = fp.roc_curve(binary.y, binary.proba)
    assert set(both.table.column("class").to_pylist()) == {"0", "1"}
    zero = rows_of(both, "class", "0")
    assert abs(zero["auc"][0] - metrics.roc_auc_score(binary.y == 0, binary.proba[:, 0])) < 1e-9


def test_multiclass_roc_is_one_vs_rest(iris: Any, digits: Any) -> None:
    for data in (iris, digits):  # digits: GaussianNB, heavily tied scores
        chart = fp.roc_curve(data.y, data.proba, labels=data.names)
        for k, name in enumerate(data.names):
            rows = rows_of(chart, "class", name)
            fpr, tpr, _ = metrics.roc_curve(data.y == k, data.proba[:, k],
                                            drop_intermediate=False)
            assert rows["fpr"] == fpr.tolist() and rows["tpr"] == tpr.tolist()
            want = metrics.roc_auc_score(data.y == k, data.proba[:, k])
            assert abs(rows["auc"][0] - want) < 1e-9
            assert rows["index"] == list(range(len(rows["fpr"])))


def test_classes_to_plot_by_name_and_index(iris: Any) -> None:
    by_name = fp.roc_curve(iris.y, iris.proba, labels=iris.names,
                           classes_to_plot=["virginica"])
    by_index = fp.roc_curve(iris.y, iris.proba, labels=iris.names, classes_to_plot=[2])
    assert set(by_name.table.column("class").to_pylist()) == {"virginica"}
    assert by_name.table.equals(by_index.table)
    # y_true given as names works when labels are given
    named = fp.roc_curve(np.asarray(iris.names)[iris.y], iris.proba, labels=iris.names)
    assert named.table.equals(fp.roc_curve(iris.y, iris.proba, labels=iris.names).table)


def test_pr_curve_is_sklearns_curve_and_average_precision(binary: Any, digits: Any) -> None:
    scores = binary.proba[:, 1]
    rows = fp.pr_curve(binary.y, scores).table.to_pydict()
    precision, recall, thresholds = metrics.precision_recall_curve(binary.y, scores)
    assert rows["precision"] == precision.tolist() and rows["recall"] == recall.tolist()
    assert rows["threshold"][:-1] == thresholds.tolist() and np.isnan(rows["threshold"][-1])
    assert abs(rows["average_precision"][0]
               - metrics.average_precision_score(binary.y, scores)) < 1e-9
    chart = fp.pr_curve(digits.y, digits.proba)
    for k in range(10):
        got = rows_of(chart, "class", str(k))
        precision, recall, _ = metrics.precision_recall_curve(digits.y == k, digits.proba[:, k])
        np.testing.assert_array_equal(got["precision"], precision)
        np.testing.assert_array_equal(got["recall"], recall)
        want = metrics.average_precision_score(digits.y == k, digits.proba[:, k])
        assert abs(got["average_precision"][0] - want) < 1e-9


def test_confusion_matrix_counts_are_sklearns(iris: Any, digits: Any) -> None:
    for data in (iris, digits):
        predicted = data.proba.argmax(axis=1)
        want = metrics.confusion_matrix(data.y, predicted, labels=range(len(data.names)))
        for chart in (fp.confusion_matrix(probs=data.proba, y_true=data.y,
                                          class_names=data.names),
                      fp.confusion_matrix(y_true=data.y, preds=predicted,
                                          class_names=data.names)):
            table = chart.table.to_pydict()
            n = len(data.names)
            assert len(table["count"]) == n * n  # zero cells included
            got = np.asarray(table["count"]).reshape(n, n)
            np.testing.assert_array_equal(got, want)
            assert table["actual"][:n] == [data.names[0]] * n
            assert table["predicted"][:n] == data.names
    # without class_names: classes 0..max seen; names as y_true values work with names
    plain = fp.confusion_matrix(y_true=[0, 1, 2, 2], preds=[0, 2, 2, 1])
    assert plain.table.column("predicted").to_pylist()[:3] == ["0", "1", "2"]
    named = fp.confusion_matrix(y_true=["cat", "dog"], preds=["dog", "dog"],
                                class_names=["cat", "dog"])
    assert named.table.column("count").to_pylist() == [0, 1, 0, 1]


def test_calibration_is_sklearns(binary: Any, iris: Any) -> None:
    for strategy, n_bins in (("uniform", 10), ("quantile", 5)):
        chart = fp.calibration_curve(binary.y, binary.proba[:, 1], n_bins=n_bins,
                                     strategy=strategy)
        rows = chart.table.to_pydict()
        prob_true, prob_pred = sk_calibration_curve(binary.y, binary.proba[:, 1],
                                                    n_bins=n_bins, strategy=strategy)
        np.testing.assert_allclose(rows["fraction_positive"], prob_true, rtol=0, atol=1e-12)
        np.testing.assert_allclose(rows["mean_predicted"], prob_pred, rtol=0, atol=1e-12)
        assert sum(rows["count"]) == binary.y.size
    chart = fp.calibration_curve(iris.y, iris.proba, labels=iris.names, n_bins=5)
    for k, name in enumerate(iris.names):
        prob_true, _ = sk_calibration_curve(iris.y == k, iris.proba[:, k], n_bins=5)
        np.testing.assert_allclose(rows_of(chart, "class", name)["fraction_positive"],
                                   prob_true, atol=1e-12)
    reference = chart.spec["layer"][1]["data"]["values"]
    assert [(r["mean_predicted"], r["fraction_positive"]) for r in reference] == [(0, 0), (1, 1)]


def _direct_gains(positive: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]
                  ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Gains by brute force: for each distinct score t (high to low), the share of
    samples with score >= t and the share of positives among them."""
    thresholds = np.unique(scores)[::-1]
    taken = scores[None, :] >= thresholds[:, None]
    fraction = taken.mean(axis=1)
    gains = (taken & positive[None, :]).sum(axis=1) / positive.sum()
    return fraction, gains


def test_lift_and_gains_agree_with_a_direct_computation(binary: Any, iris: Any) -> None:
    scores = binary.proba[:, 1]
    fraction, gains = _direct_gains(binary.y == 1, scores)
    g = fp.cumulative_gains(binary.y, scores).table.to_pydict()
    np.testing.assert_allclose(g["fraction"], np.r_[0.0, fraction], atol=1e-12)
    np.testing.assert_allclose(g["gains"], np.r_[0.0, gains], atol=1e-12)
    lift = fp.lift_curve(binary.y, scores).table.to_pydict()
    np.testing.assert_allclose(lift["fraction"], fraction, atol=1e-12)
    np.testing.assert_allclose(lift["lift"], gains / fraction, atol=1e-12)
    assert abs(lift["lift"][-1] - 1.0) < 1e-12  # everything taken: lift 1
    chart = fp.cumulative_gains(iris.y, iris.proba, labels=iris.names)
    for k, name in enumerate(iris.names):
        fraction, gains = _direct_gains(iris.y == k, iris.proba[:, k])
        np.testing.assert_allclose(rows_of(chart, "class", name)["gains"], np.r_[0.0, gains],
                                   atol=1e-12)


def test_regression_charts_keep_the_inputs(diabetes: Any) -> None:
    chart = fp.predicted_vs_true(diabetes.y, diabetes.pred)
    rows = chart.table.to_pydict()
    assert rows["true"] == diabetes.y.tolist() and rows["predicted"] == diabetes.pred.tolist()
    ideal = chart.spec["layer"][1]["data"]["values"]
    low = min(diabetes.y.min(), diabetes.pred.min())
    high = max(diabetes.y.max(), diabetes.pred.max())
    assert [(p["true"], p["predicted"]) for p in ideal] == [(low, low), (high, high)]
    hist = fp.residual_histogram(diabetes.y, diabetes.pred, bins=12)
    residual = diabetes.y - diabetes.pred
    assert hist.table.column("residual").to_pylist() == residual.tolist()
    binning = hist.spec["layer"][0]["encoding"]["x"]["bin"]
    start, stop = binning["extent"]
    edges = start + binning["step"] * np.arange(13)
    np.testing.assert_allclose(edges, np.histogram_bin_edges(residual, 12), atol=1e-9)
    assert abs(edges[-1] - stop) < 1e-9 and binning["nice"] is False


def test_feature_importance_sorts_bars() -> None:
    chart = fp.feature_importance(["a", "b", "c", "d"], [0.1, 0.4, -0.2, 0.4])
    rows = chart.table.to_pydict()
    assert rows["feature"] == ["b", "d", "a", "c"]  # ties keep input order
    assert rows["importance"] == [0.4, 0.4, 0.1, -0.2] and rows["rank"] == [1, 2, 3, 4]
    top = fp.feature_importance(["a", "b", "c"], [3, 1, 2], max_features=2)
    assert top.table.column("feature").to_pylist() == ["a", "c"]


# ---------------------------------------------------------------- table charts


def test_table_charts_accept_every_table_kind() -> None:
    import pandas as pd

    columns = {"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]}
    kinds = [columns, pa.table(columns), pd.DataFrame(columns),
             flightlog.Table(columns=["x", "y"], data=[[1, 0.5], [2, 0.25], [3, 0.125]])]
    for data in kinds:
        chart = fp.line(data, "x", "y", title="t")
        assert chart.table.to_pydict() == columns
        assert chart.spec["encoding"]["x"]["field"] == "x" and chart.title == "t"
        assert chart.spec["encoding"]["x"]["type"] == "quantitative"


def test_table_chart_types_follow_the_columns() -> None:
    chart = fp.line({"split": ["a", "b"], "loss.val": [1.0, 2.0]}, "split", "loss.val")
    assert chart.spec["encoding"]["x"]["type"] == "nominal"
    assert chart.spec["encoding"]["y"]["field"] == "loss\\.val"  # escaped for Vega-Lite
    assert chart.spec["encoding"]["y"]["title"] == "loss.val"
    bar = fp.bar({"label": ["a", "b"], "value": [1, 2]}, "label", "value")
    assert bar.spec["encoding"]["y"]["field"] == "label"
    assert bar.spec["encoding"]["x"]["type"] == "quantitative"
    hist = fp.histogram({"s": [1.0, 2.0, 2.5]}, "s")
    assert hist.spec["encoding"]["y"]["aggregate"] == "count"
    assert "bin" in hist.spec["encoding"]["x"]


def test_line_series_shared_and_own_xs() -> None:
    shared = fp.line_series([0, 1, 2], [[1, 2, 3], [4, 5, 6]], keys=["a", "b"],
                            title="two", xname="epoch").table.to_pydict()
    assert shared == {"key": ["a"] * 3 + ["b"] * 3, "x": [0, 1, 2, 0, 1, 2],
                      "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
    own = fp.line_series([[0, 1], [5, 6, 7]], [[1, 2], [3, 4, 5]])
    rows = own.table.to_pydict()
    assert rows["key"] == ["series 0"] * 2 + ["series 1"] * 3 and rows["x"] == [0, 1, 5, 6, 7]
    chart = fp.line_series([0, 1], [[1, 2]], xname="epoch")
    assert chart.spec["encoding"]["x"]["title"] == "epoch"


# ---------------------------------------------------------------- plot_table


def test_plot_table_with_presets_and_own_specs() -> None:
    assert {"flightlog/line", "flightlog/scatter", "flightlog/bar",
            "flightlog/histogram"} <= set(fp.PRESETS)
    for name, template in fp.PRESETS.items():
        fields = {f: "c" for f in fp.placeholders(template)["field"]}
        chart = fp.plot_table(name, {"c": [1.0, 2.0, 3.0]}, fields, {"title": name})
        assert chart.kind == name and chart.title == name
        assert_valid_vega_lite(chart)
        assert "${" not in json.dumps(chart.spec)
    own = {"mark": "bar", "title": "${string:title} of ${field:value}",
           "encoding": {"x": {"field": "${field:x}", "type": "nominal"},
                        "y": {"field": "${field:value}", "type": "quantitative"}}}
    data = flightlog.Table(columns=["step", "height.cm"], data=[[1, 150], [2, 160]])
    for template in (own, json.dumps(own)):
        chart = fp.plot_table(template, data, {"x": "step", "value": "height.cm"},
                              {"title": "Height"})
        assert chart.kind == "custom" and chart.title == "Height of height.cm"
        assert chart.spec["encoding"]["y"]["field"] == "height\\.cm"
        assert_valid_vega_lite(chart)
        render_png(chart)
    fp.register_preset("me/bars", own)
    assert fp.plot_table("me/bars", data, {"x": "step", "value": "step"}).kind == "me/bars"
    with pytest.raises(InvalidValue, match="built-in"):
        fp.register_preset("flightlog/line", own)
    assert flightlog.plot.plot_table is fp.plot_table


def test_plot_table_errors_name_the_placeholder_or_column() -> None:
    data = {"step": [1, 2], "height": [3, 4]}
    with pytest.raises(InvalidValue, match=r"\$\{field:y\}.*unfilled"):
        fp.plot_table("flightlog/line", data, {"x": "step"})
    with pytest.raises(InvalidValue, match="no placeholder 'colour'"):
        fp.plot_table("flightlog/line", data, {"x": "step", "y": "height", "colour": "step"})
    with pytest.raises(InvalidValue, match=r"'weight'.*\['step', 'height'\]"):
        fp.plot_table("flightlog/line", data, {"x": "step", "y": "weight"})
    with pytest.raises(InvalidValue, match="no placeholder 'subtitle'"):
        fp.plot_table("flightlog/line", data, {"x": "step", "y": "height"}, {"subtitle": "s"})
    with pytest.raises(InvalidValue, match="vega_spec_name='nope/chart'"):
        fp.plot_table("nope/chart", data, {})
    with pytest.raises(InvalidValue, match="not valid JSON"):
        fp.plot_table("{not json", data, {})


# ---------------------------------------------------------------- bad input


def _raises(call: Any, *needles: str) -> InvalidValue:
    with pytest.raises(InvalidValue) as info:
        call()
    error = info.value
    assert isinstance(error, FlightlogError)
    for needle in needles:
        assert needle in str(error), (needle, str(error))
    return error


def test_lengths_that_differ_are_named_with_both_lengths(iris: Any) -> None:
    _raises(lambda: fp.roc_curve(iris.y[:-1], iris.proba), "y_true", "y_probas",
            str(iris.y.size - 1), str(iris.y.size))
    _raises(lambda: fp.pr_curve([0, 1, 1], [0.2, 0.9]), "y_true", "3", "y_probas", "2")
    _raises(lambda: fp.line_series([0, 1, 2], [[1, 2, 3], [1, 2]]), "series 1", "2 y values",
            "3 x values")
    _raises(lambda: fp.line_series([[0, 1], [0, 1]], [[1, 2], [1, 2], [1, 2]]), "xs", "2", "3")
    _raises(lambda: fp.line_series([0, 1], [[1, 2]], keys=["a", "b"]), "keys", "2", "1")
    _raises(lambda: fp.predicted_vs_true([1.0, 2.0], [1.0]), "y_true", "y_pred", "2", "1")
    _raises(lambda: fp.residual_histogram([1.0, 2.0], [1.0, 2.0, 3.0]), "y_pred", "3")
    _raises(lambda: fp.feature_importance(["a"], [0.1, 0.2]), "names", "importances")
    _raises(lambda: fp.confusion_matrix(y_true=[0, 1], preds=[0, 1, 1]), "y_true", "preds")
    _raises(lambda: fp.line({"x": [1, 2], "y": [1]}, "x", "y"), "'x' has 2", "'y' has 1")


def test_probs_and_preds_exactly_one(iris: Any) -> None:
    _raises(lambda: fp.confusion_matrix(probs=iris.proba, y_true=iris.y, preds=iris.y),
            "probs", "preds", "both")
    _raises(lambda: fp.confusion_matrix(y_true=iris.y), "probs", "preds", "neither")


def test_labels_that_do_not_match_the_classes(iris: Any) -> None:
    _raises(lambda: fp.roc_curve(iris.y, iris.proba, labels=["a", "b"]), "labels", "2 names",
            "3 classes")
    _raises(lambda: fp.pr_curve(iris.y + 1, iris.proba), "y_true", "outside", "[3]")
    _raises(lambda: fp.roc_curve([0, 2, 1], [0.1, 0.9, 0.3]), "y_true", "outside", "[2]")
    _raises(lambda: fp.roc_curve(["x", "y"], [0.1, 0.9]), "y_true", "labels=")
    _raises(lambda: fp.roc_curve(["x", "q"], [0.1, 0.9], labels=["x", "y"]), "y_true", "'q'")
    _raises(lambda: fp.roc_curve(iris.y, iris.proba, classes_to_plot=["dog"]),
            "classes_to_plot", "'dog'")
    _raises(lambda: fp.confusion_matrix(probs=iris.proba, y_true=iris.y, class_names=["a"]),
            "class_names", "1 names", "3 classes")
    _raises(lambda: fp.confusion_matrix(y_true=[0, 5], preds=[0, 1], class_names=["a", "b"]),
            "y_true", "[5]")
    some = iris.y != 2  # no virginica at all: its curve is undefined
    _raises(lambda: fp.roc_curve(iris.y[some], iris.proba[some], labels=iris.names,
                                 classes_to_plot=["virginica"]), "y_true", "'virginica'")
    drawn = fp.roc_curve(iris.y[some], iris.proba[some], labels=iris.names)  # left out
    assert set(drawn.table.column("class").to_pylist()) == {"setosa", "versicolor"}
    _raises(lambda: fp.roc_curve(np.zeros(4, int), np.linspace(0, 1, 4)), "y_true",
            "no class")


def test_nan_is_named(binary: Any, diabetes: Any) -> None:
    proba = binary.proba.copy()
    proba[7, 1] = np.nan
    for plot in (fp.roc_curve, fp.pr_curve, fp.lift_curve, fp.cumulative_gains,
                 fp.calibration_curve):
        _raises(lambda plot=plot: plot(binary.y, proba), "y_probas", "NaN", "(7, 1)")
    pred = diabetes.pred.copy()
    pred[3] = np.nan
    _raises(lambda: fp.predicted_vs_true(diabetes.y, pred), "y_pred", "NaN", "3")
    _raises(lambda: fp.residual_histogram(diabetes.y, pred), "y_pred", "NaN")
    _raises(lambda: fp.line_series([0, 1], [[1.0, float("nan")]]), "ys[0]", "NaN")
    _raises(lambda: fp.roc_curve([0.0, np.nan], [0.1, 0.2]), "y_true", "NaN")
    _raises(lambda: fp.confusion_matrix(probs=proba, y_true=binary.y), "probs", "NaN")
    _raises(lambda: fp.feature_importance(["a", "b"], [np.inf, 1]), "importances", "infinite")


def test_other_bad_input_is_invalid_value(binary: Any) -> None:
    table = {"step": [1, 2], "loss": [0.5, 0.4]}
    _raises(lambda: fp.line(table, "step", "acc"), "y='acc'", "['step', 'loss']")
    _raises(lambda: fp.scatter(table, "epoch", "loss"), "x='epoch'")
    _raises(lambda: fp.bar(table, "name", "loss"), "label='name'")
    _raises(lambda: fp.histogram(table, "lr"), "value='lr'")
    _raises(lambda: fp.line([1, 2, 3], "x", "y"), "list")
    _raises(lambda: fp.calibration_curve(binary.y, binary.proba * 2), "y_probas", "[0, 1]")
    _raises(lambda: fp.calibration_curve(binary.y, binary.proba, n_bins=0), "n_bins")
    _raises(lambda: fp.roc_curve(binary.y, "scores"), "y_probas")
    _raises(lambda: fp.roc_curve(binary.y, [[0.1, 0.2], [0.3]]), "y_probas")
    _raises(lambda: fp.roc_curve(binary.y, binary.proba, max_points=2), "max_points")
    _raises(lambda: fp.feature_importance(["a", "a"], [1, 2]), "names", "duplicates")
    _raises(lambda: fp.line_series([0, 1], [1, 2]), "ys", "list of series")
    _raises(lambda: fp.residual_histogram([1.0], [1.0], bins=0), "bins")


def test_importing_plot_imports_no_optional_dependency() -> None:
    code = ("import sys, flightlog.plot\n"
            "bad = [m for m in ('sklearn', 'scipy', 'matplotlib', 'plotly', 'vl_convert') "
            "if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
