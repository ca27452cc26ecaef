"""flightlog.sklearn on the data sets scikit-learn ships: every chart validates against the
Vega-Lite v6 schema, renders, and holds the numbers scikit-learn computes itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import metrics
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.cluster import KMeans
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
)
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import learning_curve, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from vl import assert_valid_vega_lite, render_png

import flightlog
import flightlog.sklearn as fs
from flightlog.charts import Chart


def column(chart: Chart, name: str) -> list[Any]:
    values: list[Any] = chart.table.column(name).to_pylist()
    return values


class Cancer:
    """Binary classification: breast_cancer, a scaled logistic regression and a forest."""

    def __init__(self) -> None:
        data = load_breast_cancer()
        self.names = [str(n) for n in data.target_names]  # malignant, benign
        self.feature_names = [str(n) for n in data.feature_names]
        self.X, self.y = data.data, data.target
        (self.X_train, self.X_test, self.y_train,
         self.y_test) = train_test_split(self.X, self.y, test_size=0.3, random_state=0,
                                         stratify=self.y)
        self.logistic = make_pipeline(StandardScaler(), LogisticRegression()).fit(
            self.X_train, self.y_train)
        self.forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(
            self.X_train, self.y_train)
        self.probas = self.forest.predict_proba(self.X_test)
        self.pred = self.forest.predict(self.X_test)


class Iris:
    """Three classes, named by strings."""

    def __init__(self) -> None:
        data = load_iris()
        self.names = [str(n) for n in data.target_names]
        self.X, self.y = data.data, data.target
        (self.X_train, self.X_test, self.y_train,
         self.y_test) = train_test_split(self.X, self.y, test_size=0.4, random_state=0,
                                         stratify=self.y)
        self.model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
            self.X_train, self.y_train)
        self.probas = self.model.predict_proba(self.X_test)
        self.pred = self.model.predict(self.X_test)
        self.kmeans = KMeans(n_clusters=3, n_init=3, random_state=0).fit(self.X)


class Diabetes:
    def __init__(self) -> None:
        self.X, self.y = load_diabetes(return_X_y=True)
        (self.X_train, self.X_test, self.y_train,
         self.y_test) = train_test_split(self.X, self.y, test_size=0.25, random_state=0)
        self.ridge = Ridge(alpha=0.1).fit(self.X_train, self.y_train)
        self.forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(
            self.X_train, self.y_train)


@pytest.fixture(scope="module")
def cancer() -> Cancer:
    return Cancer()


@pytest.fixture(scope="module")
def iris() -> Iris:
    return Iris()


@pytest.fixture(scope="module")
def diabetes() -> Diabetes:
    return Diabetes()


@pytest.fixture
def run(root: Path) -> Any:
    run = flightlog.init(project="sklearn", dir=root)
    yield run
    run.finish()


# -- every chart: valid Vega-Lite, renders ---------------------------------------------------

CHART_BUILDERS = ["learning_curve", "roc", "precision_recall", "confusion_matrix",
                  "feature_importances", "class_proportions", "calibration_curve",
                  "summary_metrics", "elbow_curve", "silhouette_plot", "outlier_candidates",
                  "residuals"]


def build(name: str, cancer: Cancer, iris: Iris, diabetes: Diabetes) -> Chart:
    c, i, d = cancer, iris, diabetes
    builders = {
        "learning_curve": lambda: fs.build_learning_curve(
            c.logistic, c.X, c.y, cv=3, shuffle=True, random_state=0,
            train_sizes=[0.3, 0.6, 1.0]),
        "roc": lambda: fs.build_roc(i.y_test, i.probas, i.names),
        "precision_recall": lambda: fs.build_precision_recall(c.y_test, c.probas, c.names),
        "confusion_matrix": lambda: fs.build_confusion_matrix(i.y_test, i.pred, i.names),
        "feature_importances": lambda: fs.build_feature_importances(c.forest,
                                                                    c.feature_names),
        "class_proportions": lambda: fs.build_class_proportions(i.y_train, i.y_test,
                                                                i.names),
        "calibration_curve": lambda: fs.build_calibration_curve(c.forest, c.X_train,
                                                                c.y_train, "Forest"),
        "summary_metrics": lambda: fs.build_summary_metrics(d.ridge, d.X_train, d.y_train,
                                                            d.X_test, d.y_test),
        "elbow_curve": lambda: fs.build_elbow_curve(i.kmeans, i.X),
        "silhouette_plot": lambda: fs.build_silhouette(i.kmeans, i.X, i.kmeans.labels_),
        "outlier_candidates": lambda: fs.build_outlier_candidates(d.ridge, d.X_train,
                                                                  d.y_train),
        "residuals": lambda: fs.build_residuals(d.forest, d.X_train, d.y_train, d.X_test,
                                                d.y_test),
    }
    return builders[name]()


@pytest.mark.parametrize("name", CHART_BUILDERS)
def test_chart_is_valid_vega_lite_and_renders(name: str, cancer: Cancer, iris: Iris,
                                              diabetes: Diabetes) -> None:
    chart = build(name, cancer, iris, diabetes)
    assert chart.kind == f"sklearn/{name.replace('_plot', '')}" or \
        chart.kind == f"sklearn/{name}"
    assert chart.spec["data"] == {"name": "table"}
    assert chart.table.num_rows > 0
    assert_valid_vega_lite(chart)
    render_png(chart)


# -- the numbers agree with scikit-learn ------------------------------------------------------

def test_learning_curve_is_sklearns_mean_scores(cancer: Cancer) -> None:
    sizes = [0.3, 0.6, 1.0]
    chart = fs.build_learning_curve(cancer.logistic, cancer.X, cancer.y, cv=3, shuffle=True,
                                    random_state=0, train_sizes=sizes)
    want_sizes, train, test = learning_curve(cancer.logistic, cancer.X, cancer.y, cv=3,
                                             shuffle=True, random_state=0, train_sizes=sizes)
    rows = list(zip(column(chart, "dataset"), column(chart, "train_size"),
                    column(chart, "score"), column(chart, "score_std"), strict=True))
    assert [r[1] for r in rows if r[0] == "train"] == want_sizes.tolist()
    assert [r[1] for r in rows if r[0] == "test"] == want_sizes.tolist()
    np.testing.assert_allclose([r[2] for r in rows if r[0] == "train"], train.mean(axis=1))
    np.testing.assert_allclose([r[2] for r in rows if r[0] == "test"], test.mean(axis=1))
    np.testing.assert_allclose([r[3] for r in rows if r[0] == "test"], test.std(axis=1))


def test_learning_curve_subsamples_large_inputs(cancer: Cancer) -> None:
    chart = fs.build_learning_curve(cancer.logistic, cancer.X, cancer.y, cv=3, shuffle=True,
                                    random_state=0, train_sizes=[1.0], max_samples=150)
    # 3-fold CV of 150 rows trains on 100.
    assert column(chart, "train_size") == [100, 100]


def per_class(chart: Chart, value: str) -> dict[str, float]:
    """The one value of column ``value`` of each class's curve."""
    found: dict[str, set[float]] = {}
    for name, number in zip(column(chart, "class"), column(chart, value), strict=True):
        found.setdefault(name, set()).add(number)
    assert all(len(v) == 1 for v in found.values()), found
    return {name: v.pop() for name, v in found.items()}


def test_roc_and_pr_summaries_are_sklearns(cancer: Cancer, iris: Iris) -> None:
    for data in (cancer, iris):
        roc = per_class(fs.build_roc(data.y_test, data.probas, data.names), "auc")
        pr = per_class(fs.build_precision_recall(data.y_test, data.probas, data.names),
                       "average_precision")
        for index, name in enumerate(data.names):
            positive = data.y_test == index
            assert roc[name] == pytest.approx(
                metrics.roc_auc_score(positive, data.probas[:, index]))
            assert pr[name] == pytest.approx(
                metrics.average_precision_score(positive, data.probas[:, index]))
    assert per_class(fs.build_roc(cancer.y_test, cancer.probas), "auc")["1"] < 1.0


def test_roc_takes_class_values_that_are_not_indices(iris: Iris) -> None:
    names = np.array(iris.names)
    chart = fs.build_roc(names[iris.y_test], iris.probas)  # sorted names = probas columns
    assert set(column(chart, "class")) == set(iris.names)
    assert per_class(chart, "auc")["virginica"] == pytest.approx(
        metrics.roc_auc_score(iris.y_test == 2, iris.probas[:, 2]))


def test_confusion_matrix_is_sklearns(iris: Iris) -> None:
    chart = fs.build_confusion_matrix(iris.y_test, iris.pred, iris.names)
    want = metrics.confusion_matrix(iris.y_test, iris.pred)
    got = np.zeros_like(want)
    for actual, predicted, count in zip(column(chart, "actual"), column(chart, "predicted"),
                                        column(chart, "count"), strict=True):
        got[iris.names.index(actual), iris.names.index(predicted)] = count
    np.testing.assert_array_equal(got, want)


def test_feature_importances_of_trees_and_linear_models(cancer: Cancer) -> None:
    chart = fs.build_feature_importances(cancer.forest, cancer.feature_names)
    order = np.argsort(-cancer.forest.feature_importances_, kind="stable")
    assert column(chart, "feature") == [cancer.feature_names[i] for i in order]
    np.testing.assert_allclose(column(chart, "importance"),
                               cancer.forest.feature_importances_[order])
    linear = fs.build_feature_importances(cancer.logistic, cancer.feature_names,
                                          max_num_features=5)
    magnitude = np.abs(cancer.logistic[-1].coef_[0])
    top = np.argsort(-magnitude, kind="stable")[:5]
    assert column(linear, "feature") == [cancer.feature_names[i] for i in top]
    np.testing.assert_allclose(column(linear, "importance"), magnitude[top])


def test_class_proportions_are_bincounts(iris: Iris) -> None:
    chart = fs.build_class_proportions(iris.y_train, iris.y_test, iris.names)
    for dataset, labels in (("train", iris.y_train), ("test", iris.y_test)):
        counts = [n for d, n in zip(column(chart, "dataset"), column(chart, "count"),
                                    strict=True) if d == dataset]
        assert counts == np.bincount(labels).tolist()
    assert column(chart, "class")[::2] == iris.names


def test_calibration_curve_is_sklearns(cancer: Cancer) -> None:
    chart = fs.build_calibration_curve(cancer.forest, cancer.X_train, cancer.y_train,
                                       "Forest")
    assert list(dict.fromkeys(column(chart, "model"))) == [
        "Logistic", "Forest", "Forest + Isotonic", "Forest + Sigmoid"]
    X_fit, X_eval, y_fit, y_eval = train_test_split(
        cancer.X_train, cancer.y_train, test_size=0.5, random_state=42,
        stratify=cancer.y_train)
    references = {
        "Logistic": make_pipeline(StandardScaler(), LogisticRegression()),
        "Forest": RandomForestClassifier(n_estimators=10, random_state=0),
        "Forest + Sigmoid": CalibratedClassifierCV(
            RandomForestClassifier(n_estimators=10, random_state=0), cv=2,
            method="sigmoid"),
    }
    for name, model in references.items():
        probability = model.fit(X_fit, y_fit).predict_proba(X_eval)[:, 1]
        fraction, mean = calibration_curve(y_eval, probability, n_bins=10)
        rows = [i for i, m in enumerate(column(chart, "model")) if m == name]
        np.testing.assert_allclose([column(chart, "fraction_of_positives")[i] for i in rows],
                                   fraction)
        np.testing.assert_allclose([column(chart, "mean_predicted_value")[i] for i in rows],
                                   mean)
        assert sum(column(chart, "count")[i] for i in rows) == len(y_eval)


def test_summary_metrics_are_sklearns(cancer: Cancer, diabetes: Diabetes) -> None:
    chart = fs.build_summary_metrics(cancer.forest, cancer.X_train, cancer.y_train,
                                     cancer.X_test, cancer.y_test)
    got = {(d, m): v for d, m, v in zip(column(chart, "dataset"),
                                        column(chart, "metric_name"),
                                        column(chart, "metric_value"), strict=True)}
    pred = cancer.forest.predict(cancer.X_test)
    assert got[("test", "accuracy_score")] == pytest.approx(
        metrics.accuracy_score(cancer.y_test, pred))
    assert got[("test", "precision")] == pytest.approx(
        metrics.precision_score(cancer.y_test, pred, average="weighted"))
    assert got[("test", "recall")] == pytest.approx(
        metrics.recall_score(cancer.y_test, pred, average="weighted"))
    assert got[("test", "f1_score")] == pytest.approx(
        metrics.f1_score(cancer.y_test, pred, average="weighted"))
    train_pred = cancer.forest.predict(cancer.X_train)
    assert got[("train", "accuracy_score")] == pytest.approx(
        metrics.accuracy_score(cancer.y_train, train_pred))
    assert set(column(chart, "model_name")) == {"RandomForestClassifier"}

    chart = fs.build_summary_metrics(diabetes.ridge, diabetes.X_train, diabetes.y_train,
                                     diabetes.X_test, diabetes.y_test)
    got = {(d, m): v for d, m, v in zip(column(chart, "dataset"),
                                        column(chart, "metric_name"),
                                        column(chart, "metric_value"), strict=True)}
    pred = diabetes.ridge.predict(diabetes.X_test)
    assert got == pytest.approx({
        ("test", "mae"): metrics.mean_absolute_error(diabetes.y_test, pred),
        ("test", "mse"): metrics.mean_squared_error(diabetes.y_test, pred),
        ("test", "r2_score"): metrics.r2_score(diabetes.y_test, pred),
        ("train", "mae"): metrics.mean_absolute_error(
            diabetes.y_train, diabetes.ridge.predict(diabetes.X_train)),
        ("train", "mse"): metrics.mean_squared_error(
            diabetes.y_train, diabetes.ridge.predict(diabetes.X_train)),
        ("train", "r2_score"): metrics.r2_score(
            diabetes.y_train, diabetes.ridge.predict(diabetes.X_train)),
    })


def test_elbow_curve_is_kmeans_inertia_per_k(iris: Iris) -> None:
    chart = fs.build_elbow_curve(iris.kmeans, iris.X, cluster_ranges=[5, 1, 2, 3])
    assert column(chart, "cluster_ranges") == [1, 2, 3, 5]
    inertia = [KMeans(n_clusters=k, n_init=3, random_state=0).fit(iris.X).inertia_
               for k in (1, 2, 3, 5)]
    np.testing.assert_allclose(column(chart, "errors"), inertia, rtol=1e-9)
    total = ((iris.X - iris.X.mean(axis=0)) ** 2).sum()
    np.testing.assert_allclose(column(chart, "explained_variance"),
                               1 - np.array(inertia) / total, rtol=1e-9)
    assert column(chart, "explained_variance")[0] == pytest.approx(0.0, abs=1e-12)
    assert all(t >= 0 for t in column(chart, "clustering_time"))
    assert iris.kmeans.n_clusters == 3  # the model itself is not refitted


def test_silhouette_is_silhouette_samples(iris: Iris) -> None:
    labels = iris.kmeans.labels_
    chart = fs.build_silhouette(iris.kmeans, iris.X, labels, labels=["a", "b", "c"])
    want = metrics.silhouette_samples(iris.X, labels)
    index = np.array(column(chart, "sample_index"))
    assert sorted(index.tolist()) == list(range(len(iris.X)))
    np.testing.assert_allclose(column(chart, "silhouette"), want[index])
    names = np.array(["a", "b", "c"])
    assert column(chart, "cluster") == names[labels[index]].tolist()
    # Sorted within each cluster, as the plot stacks them.
    for name in "abc":
        values = [s for c, s in zip(column(chart, "cluster"), column(chart, "silhouette"),
                                    strict=True) if c == name]
        assert values == sorted(values)
    assert metrics.silhouette_score(iris.X, labels) == pytest.approx(want.mean())
    assert f"{want.mean():.3f}" in chart.spec["title"]["subtitle"]


def test_silhouette_takes_cluster_names_as_the_seed_calls_it(iris: Iris) -> None:
    # Seeds 000/001: plot_silhouette(model, X_train, ['spam', 'not spam']).
    chart = fs.build_silhouette(iris.kmeans, iris.X, ["setosa-ish", "mixed", "big"])
    names = np.array(["setosa-ish", "mixed", "big"])
    index = np.array(column(chart, "sample_index"))
    assert column(chart, "cluster") == names[iris.kmeans.labels_[index]].tolist()
    # One label per sample stays an assignment (W&B's plot_clusterer passes those).
    with pytest.raises(flightlog.InvalidValue, match="cluster_labels"):
        fs.build_silhouette(iris.kmeans, iris.X, ["a", "b"])


def test_silhouette_subsamples_large_inputs() -> None:
    X, _ = load_digits(return_X_y=True)
    kmeans = KMeans(n_clusters=10, n_init=1, random_state=0).fit(X)
    chart = fs.build_silhouette(kmeans, X, max_samples=300)  # labels_ by default
    index = np.array(column(chart, "sample_index"))
    assert len(index) == 300 and len(set(index.tolist())) == 300
    rows = np.sort(index)
    want = metrics.silhouette_samples(X[rows], kmeans.labels_[rows])
    got = dict(zip(index.tolist(), column(chart, "silhouette"), strict=True))
    np.testing.assert_allclose([got[i] for i in rows.tolist()], want)


def test_outlier_candidates_are_cooks_distance(diabetes: Diabetes) -> None:
    X, y = diabetes.X, diabetes.y
    model = LinearRegression().fit(X, y)
    chart = fs.build_outlier_candidates(model, X, y)
    distance = np.array(column(chart, "distance"))
    assert column(chart, "instance_index") == list(range(len(y)))
    # Cook's definition: how far every prediction moves when sample i is left out.
    full = model.predict(X)
    parameters = X.shape[1] + 1
    mse = ((y - full) ** 2).sum() / (len(y) - parameters)
    keep = np.ones(len(y), dtype=bool)
    want = []
    for i in range(len(y)):
        keep[i] = False
        moved = LinearRegression().fit(X[keep], y[keep]).predict(X)
        keep[i] = True
        want.append(((full - moved) ** 2).sum() / (parameters * mse))
    np.testing.assert_allclose(distance, want, rtol=1e-6)
    threshold = 4 / len(y)
    assert column(chart, "influence_threshold")[0] == pytest.approx(threshold)
    assert column(chart, "outlier_percentage")[0] == pytest.approx(
        100 * np.mean(np.array(want) >= threshold))


def test_outlier_candidates_keep_the_largest_distances() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=20_000)
    y[[5, 17_000]] += 40  # two gross outliers
    model = LinearRegression().fit(X, y)
    chart = fs.build_outlier_candidates(model, X, y, max_points=100)
    index = column(chart, "instance_index")
    assert len(index) == 100 and index == sorted(index)
    assert {5, 17_000} <= set(index)
    full = fs.cooks_distance(X, y - model.predict(X))
    assert min(column(chart, "distance")) == pytest.approx(np.sort(full)[-100])


def test_residuals_are_y_minus_prediction(diabetes: Diabetes) -> None:
    d = diabetes
    chart = fs.build_residuals(d.forest, d.X_train, d.y_train, d.X_test, d.y_test)
    for dataset, X, y in (("train", d.X_train, d.y_train), ("test", d.X_test, d.y_test)):
        rows = [i for i, s in enumerate(column(chart, "dataset")) if s == dataset]
        index = [column(chart, "index")[i] for i in rows]
        assert index == list(range(len(y)))
        pred = d.forest.predict(X)
        np.testing.assert_allclose([column(chart, "y_pred")[i] for i in rows], pred)
        np.testing.assert_allclose([column(chart, "residual")[i] for i in rows], y - pred)
        r2 = metrics.r2_score(y, pred)
        assert f"{dataset} R² = {r2:.3f}" in chart.spec["title"]["subtitle"]
    small = fs.build_residuals(d.forest, d.X_train, d.y_train, max_points=50)
    assert small.table.num_rows == 50 and set(column(small, "dataset")) == {"train"}


# -- logging ------------------------------------------------------------------------------

def test_plot_logs_under_wandbs_key_and_returns_the_chart(run: Any, iris: Iris) -> None:
    chart = fs.plot_confusion_matrix(iris.y_test, iris.pred, iris.names)
    assert isinstance(chart, Chart) and chart.kind == "sklearn/confusion_matrix"
    run.finish()
    stored = flightlog.open_run(run.dir).charts()
    assert list(stored) == ["confusion_matrix"]
    assert stored["confusion_matrix"]["data"]["values"] == \
        chart.vega_lite()["data"]["values"]


@pytest.mark.parametrize(("function", "key"), [
    ("plot_learning_curve", "learning_curve"), ("plot_roc", "roc"),
    ("plot_precision_recall", "precision_recall"),
    ("plot_feature_importances", "feature_importances"),
    ("plot_class_proportions", "class_proportions"),
    ("plot_calibration_curve", "calibration_curve"),
    ("plot_summary_metrics", "summary_metrics"), ("plot_elbow_curve", "elbow_curve"),
    ("plot_silhouette", "silhouette_plot"), ("plot_outlier_candidates", "outlier_candidates"),
    ("plot_residuals", "residuals")])
def test_each_plot_function_logs_its_key(function: str, key: str, run: Any, cancer: Cancer,
                                         iris: Iris, diabetes: Diabetes) -> None:
    c, i, d = cancer, iris, diabetes
    arguments: dict[str, tuple[Any, ...]] = {
        "plot_learning_curve": (d.ridge, d.X, d.y),
        "plot_roc": (c.y_test, c.probas, c.names),
        "plot_precision_recall": (i.y_test, i.probas, i.names),
        "plot_feature_importances": (c.forest, c.feature_names),
        "plot_class_proportions": (c.y_train, c.y_test, c.names),
        "plot_calibration_curve": (c.logistic, c.X_train, c.y_train, "LR"),
        "plot_summary_metrics": (c.logistic, c.X_train, c.y_train, c.X_test, c.y_test),
        "plot_elbow_curve": (i.kmeans, i.X, [2, 3]),
        "plot_silhouette": (i.kmeans, i.X, i.kmeans.labels_),
        "plot_outlier_candidates": (d.ridge, d.X_train, d.y_train),
        "plot_residuals": (d.ridge, d.X_test, d.y_test),
    }
    chart = getattr(fs, function)(*arguments[function])
    run.finish()
    stored = flightlog.open_run(run.dir).charts()
    assert list(stored) == [key]
    assert stored[key]["data"]["values"] == chart.vega_lite()["data"]["values"]
    assert_valid_vega_lite(stored[key])


def test_plot_classifier_logs_every_chart(run: Any, cancer: Cancer) -> None:
    c = cancer
    charts = fs.plot_classifier(c.forest, c.X_train, c.X_test, c.y_train, c.y_test, c.pred,
                                c.probas, c.names, model_name="Forest",
                                feature_names=c.feature_names)
    expected = {"feature_importances", "confusion_matrix", "summary_metrics",
                "class_proportions", "calibration_curve", "roc", "precision_recall"}
    assert set(charts) == expected
    run.finish()
    stored = flightlog.open_run(run.dir).charts()
    assert set(stored) == expected
    for key, chart in charts.items():
        assert stored[key]["data"]["values"] == chart.vega_lite()["data"]["values"]
    assert "Forest" in stored["calibration_curve"]["title"]


def test_plot_classifier_multiclass_without_importances(run: Any, iris: Iris) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    model = KNeighborsClassifier().fit(iris.X_train, iris.y_train)
    charts = fs.plot_classifier(model, iris.X_train, iris.X_test, iris.y_train, iris.y_test,
                                model.predict(iris.X_test), model.predict_proba(iris.X_test),
                                iris.names, log_learning_curve=True)
    # No importances (k-NN has none); no calibration curve (three classes).
    expected = {"learning_curve", "confusion_matrix", "summary_metrics",
                "class_proportions", "roc", "precision_recall"}
    assert set(charts) == expected
    run.finish()
    assert set(flightlog.open_run(run.dir).charts()) == expected


def test_plot_regressor_and_clusterer_log_every_chart(run: Any, diabetes: Diabetes,
                                                      iris: Iris) -> None:
    d = diabetes
    regressor = fs.plot_regressor(d.ridge, d.X_train, d.X_test, d.y_train, d.y_test,
                                  model_name="Ridge")
    clusterer = fs.plot_clusterer(iris.kmeans, iris.X, iris.kmeans.labels_,
                                  model_name="KMeans")
    assert set(regressor) == {"summary_metrics", "learning_curve", "outlier_candidates",
                              "residuals"}
    assert set(clusterer) == {"elbow_curve", "silhouette_plot"}
    run.finish()
    stored = flightlog.open_run(run.dir).charts()
    assert set(stored) == set(regressor) | set(clusterer)
    assert stored["residuals"]["data"]["values"] == \
        regressor["residuals"].vega_lite()["data"]["values"]


def test_no_current_run_raises_writer_error(iris: Iris) -> None:
    assert flightlog.run is None
    with pytest.raises(flightlog.WriterError, match=r"flightlog\.init\(\)"):
        fs.plot_class_proportions(iris.y_train, iris.y_test)
    with pytest.raises(flightlog.WriterError, match=r"flightlog\.init\(\)"):
        fs.plot_clusterer(iris.kmeans, iris.X, None)


# -- bad input -----------------------------------------------------------------------------

def test_bad_input_names_the_argument_and_writes_nothing(run: Any, cancer: Cancer,
                                                         diabetes: Diabetes) -> None:
    c, d = cancer, diabetes
    with pytest.raises(flightlog.InvalidValue, match=r"X has 398.*y has 397"):
        fs.plot_learning_curve(c.logistic, c.X_train, c.y_train[:-1])
    with pytest.raises(flightlog.InvalidValue, match=r"y_true has 171.*y_pred has 170"):
        fs.plot_confusion_matrix(c.y_test, c.pred[:-1])
    with pytest.raises(flightlog.InvalidValue, match=r"labels has 3 names.*2 columns"):
        fs.plot_roc(c.y_test, c.probas, ["a", "b", "c"])
    with pytest.raises(flightlog.InvalidValue, match=r"labels has 1 names.*2 classes"):
        fs.plot_class_proportions(c.y_train, c.y_test, ["only"])
    with pytest.raises(flightlog.InvalidValue, match=r"KNeighborsClassifier.*neither "
                                                     r"feature_importances_ nor coef_"):
        from sklearn.neighbors import KNeighborsClassifier

        fs.plot_feature_importances(KNeighborsClassifier().fit(c.X_train, c.y_train))
    with pytest.raises(flightlog.InvalidValue, match=r"feature_names has 2 names.*30"):
        fs.plot_feature_importances(c.forest, ["a", "b"])
    bad_X = d.X_train.copy()
    bad_X[3, 2] = np.nan
    with pytest.raises(flightlog.InvalidValue, match=r"X contains NaN") as caught:
        fs.plot_residuals(d.ridge, bad_X, d.y_train)
    assert caught.value.key == "X"
    bad_y = d.y_train.astype(float)
    bad_y[0] = np.nan
    with pytest.raises(flightlog.InvalidValue, match=r"y contains NaN"):
        fs.plot_outlier_candidates(d.ridge, d.X_train, bad_y)
    bad_probas = c.probas.copy()
    bad_probas[1, 1] = np.nan
    with pytest.raises(flightlog.InvalidValue, match=r"y_probas contains NaN"):
        fs.plot_precision_recall(c.y_test, bad_probas)
    with pytest.raises(flightlog.InvalidValue, match=r"regressor \(Ridge\) is not fitted"):
        fs.plot_residuals(Ridge(), d.X_train, d.y_train)
    with pytest.raises(flightlog.InvalidValue, match=r"model \(RandomForestClassifier\) is "
                                                     r"not fitted"):
        fs.plot_summary_metrics(RandomForestClassifier(), c.X_train, c.y_train, c.X_test,
                                c.y_test)
    with pytest.raises(flightlog.InvalidValue, match=r"clf \(LogisticRegression\) is not "
                                                     r"fitted"):
        fs.plot_calibration_curve(LogisticRegression(), c.X_train, c.y_train)
    with pytest.raises(flightlog.InvalidValue, match=r"binary.*3 classes"):
        iris = load_iris()
        fs.plot_calibration_curve(make_pipeline(StandardScaler(), LogisticRegression()).fit(
            iris.data, iris.target), iris.data, iris.target)
    with pytest.raises(flightlog.InvalidValue, match=r"X_test.*features"):
        fs.plot_summary_metrics(d.ridge, d.X_train, d.y_train, d.X_test[:, :4], d.y_test)
    with pytest.raises(flightlog.InvalidValue, match=r"n_clusters"):
        from sklearn.cluster import DBSCAN

        fs.plot_elbow_curve(DBSCAN(), d.X)
    with pytest.raises(flightlog.InvalidValue, match=r"plot_classifier|y_true has"):
        fs.plot_classifier(c.forest, c.X_train, c.X_test, c.y_train, c.y_test, c.pred[:5],
                           c.probas, c.names)
    # None of it was written, and the run goes on.
    fs.plot_class_proportions(c.y_train, c.y_test, c.names)
    run.finish()
    assert list(flightlog.open_run(run.dir).charts()) == ["class_proportions"]


# -- the optional extra ----------------------------------------------------------------------

def _python(code: str) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)


def test_without_scikit_learn_raises_missing_extra() -> None:
    result = _python(
        "import sys; sys.modules['sklearn'] = None\n"
        "import flightlog, flightlog.sklearn\n"
        "try:\n"
        "    flightlog.sklearn.build_class_proportions([0, 1], [1, 0])\n"
        "except flightlog.MissingExtra as exc:\n"
        "    print('MISSING', exc)\n")
    assert result.returncode == 0, result.stderr
    assert "MISSING" in result.stdout
    assert "pip install 'flightlog[sklearn]'" in result.stdout


def test_import_flightlog_does_not_import_sklearn() -> None:
    result = _python("import sys, flightlog, flightlog.sklearn\n"
                     "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                     "('sklearn', 'scipy', 'matplotlib')))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_labels_given_as_class_values_keep_their_order(iris: Iris) -> None:
    names = np.array(iris.names)
    order = ["virginica", "setosa", "versicolor"]  # not sorted
    chart = fs.build_confusion_matrix(names[iris.y_test], names[iris.pred], order)
    assert column(chart, "actual")[::3] == order
    want = metrics.confusion_matrix(names[iris.y_test], names[iris.pred], labels=order)
    np.testing.assert_array_equal(np.array(column(chart, "count")).reshape(3, 3), want)
    proportions = fs.build_class_proportions(names[iris.y_train], names[iris.y_test], order)
    assert column(proportions, "class")[::2] == order
    assert column(proportions, "count")[::2] == [
        int((names[iris.y_train] == n).sum()) for n in order]
