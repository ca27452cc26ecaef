"""Charts for clusterers: the elbow curve and the silhouette plot."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from . import _inputs as inputs

#: Rows the elbow curve clusters at most: it fits one clone per cluster count, so a
#: larger X is subsampled (a fixed seed) first.
ELBOW_MAX_SAMPLES = 10_000
#: Samples the silhouette plot uses at most: silhouette coefficients cost O(n²) time,
#: so a larger X is subsampled (a fixed seed; ``sample_index`` names the rows used).
SILHOUETTE_MAX_SAMPLES = 2_000


def _timed_score(clusterer: Any, X: Any, n_clusters: int) -> tuple[float, float]:
    from sklearn.base import clone

    start = time.perf_counter()
    model = clone(clusterer).set_params(n_clusters=n_clusters)
    model.fit(X)
    # score() is -inertia for KMeans (W&B charts its absolute value); inertia_ otherwise.
    error = abs(float(model.score(X))) if hasattr(model, "score") else float(model.inertia_)
    return error, time.perf_counter() - start


def build_elbow_curve(clusterer: Any, X: Any, cluster_ranges: Any = None, n_jobs: int = 1,
                      show_cluster_time: bool = True,
                      max_samples: int | None = ELBOW_MAX_SAMPLES) -> Chart:
    """The elbow curve chart, without logging it (see ``plot_elbow_curve``).

    For each number of clusters in ``cluster_ranges`` (default 1, 3, 5, 7, 9 as W&B)
    a clone of ``clusterer`` with that ``n_clusters`` is fitted on X; the chart shows the
    share of variance it explains (``1 - SSE / total sum of squares``) and the time the
    fit took. The table also holds the sum of squared errors (KMeans' inertia).

    Args:
        clusterer: a clusterer with an ``n_clusters`` parameter (KMeans, ...).
        X: features; more than ``max_samples`` rows are subsampled first.
        n_jobs: clones fitted in parallel (joblib).
        show_cluster_time: draw the fitting time on a second axis.

    Raises:
        InvalidValue: a clusterer without ``n_clusters``; bad X; a cluster count outside
            1..number of samples.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from sklearn.utils.parallel import Parallel, delayed

    inputs.check_model("clusterer", clusterer)
    if "n_clusters" not in clusterer.get_params():
        raise InvalidValue(f"clusterer ({inputs.model_name(clusterer)}) has no n_clusters "
                           f"parameter: the elbow curve varies it", key="clusterer")
    X = inputs.matrix("X", X)
    rows = inputs.subsample_indices(X.shape[0], max_samples)
    if len(rows) < X.shape[0]:
        X = inputs.take(X, rows)
    n = X.shape[0]
    counts = sorted(int(k) for k in (range(1, 10, 2) if cluster_ranges is None
                                     else cluster_ranges))
    if not counts or counts[0] < 1 or counts[-1] > n:
        raise InvalidValue(f"cluster_ranges must be cluster counts in 1..{n} (the number of "
                           f"samples), got {counts}", key="cluster_ranges")
    results = inputs.call_model("plot_elbow_curve", Parallel(n_jobs=n_jobs),
                                (delayed(_timed_score)(clusterer, X, k) for k in counts))
    numbers = np.asarray(X.toarray() if inputs._is_sparse(X) else X, dtype=float)
    total = float(((numbers - numbers.mean(axis=0)) ** 2).sum())
    errors = [error for error, _ in results]
    table = {
        "cluster_ranges": counts,
        "errors": errors,
        "explained_variance": [1.0 - e / total if total > 0 else 0.0 for e in errors],
        "clustering_time": [seconds for _, seconds in results],
    }
    x = {"field": "cluster_ranges", "type": "quantitative", "title": "Number of clusters",
         "axis": {"tickMinStep": 1}}
    tooltip = [{"field": "cluster_ranges", "title": "clusters"},
               {"field": "explained_variance", "format": ".3f"},
               {"field": "errors", "title": "sum of squared errors", "format": ".4g"},
               {"field": "clustering_time", "title": "seconds", "format": ".3f"}]
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "line", "point": True, "color": "#1f77b4"},
         "encoding": {"x": x, "tooltip": tooltip,
                      "y": {"field": "explained_variance", "type": "quantitative",
                            "title": "Explained variance",
                            "axis": {"titleColor": "#1f77b4"}}}},
    ]
    if show_cluster_time:
        layers.append(
            {"mark": {"type": "line", "point": True, "color": "green", "strokeDash": [4, 3],
                      "opacity": 0.75},
             "encoding": {"x": x, "tooltip": tooltip,
                          "y": {"field": "clustering_time", "type": "quantitative",
                                "title": "Clustering time (s)",
                                "axis": {"titleColor": "green"}}}})
    spec = {
        "title": f"Elbow Plot ({inputs.model_name(clusterer)})",
        "width": 400, "height": 300,
        "layer": layers,
        "resolve": {"scale": {"y": "independent"}},
    }
    return Chart(table, spec, kind="sklearn/elbow_curve")


def _assignments(clusterer: Any, X: Any, cluster_labels: Any) -> Any:
    if cluster_labels is not None:
        return inputs.vector("cluster_labels", cluster_labels)
    fitted = getattr(clusterer, "labels_", None)
    if fitted is not None and len(fitted) == X.shape[0]:
        return np.asarray(fitted)
    if hasattr(clusterer, "predict"):
        return np.asarray(inputs.call_model("X", clusterer.predict, X))
    raise InvalidValue(f"cluster_labels is required: clusterer "
                       f"({inputs.model_name(clusterer)}) cannot predict X",
                       key="cluster_labels")


def _are_cluster_names(cluster_labels: Any, n_samples: int, clusterer: Any) -> bool:
    if cluster_labels is None or isinstance(cluster_labels, str):
        return False
    try:
        values = list(cluster_labels)
    except TypeError:
        return False
    n_clusters = getattr(clusterer, "n_clusters", None)
    return (len(values) != n_samples and len(values) == n_clusters
            and all(isinstance(v, str) for v in values))


def build_silhouette(clusterer: Any, X: Any, cluster_labels: Any = None, labels: Any = None,
                     metric: str = "euclidean",
                     max_samples: int | None = SILHOUETTE_MAX_SAMPLES) -> Chart:
    """The silhouette chart, without logging it (see ``plot_silhouette``).

    The silhouette coefficient of each sample (``sklearn.metrics.silhouette_samples``),
    sorted within its cluster, with the mean over all samples as a red line; beside it the
    samples on their first two features, coloured by cluster (and the cluster centres of
    a clusterer with ``cluster_centers_``).

    Args:
        clusterer: the fitted clusterer.
        X: features.
        cluster_labels: the cluster of each sample of X (W&B's argument); default the
            clusterer's ``labels_`` (when fitted on X) or ``predict(X)``.
        labels: display names of the clusters, in sorted cluster order.
        metric: the distance, as ``silhouette_samples``.
        max_samples: more samples than this are subsampled first (a fixed seed).

    Raises:
        InvalidValue: unfitted clusterer; bad X; cluster_labels not one per sample; fewer
            than 2 clusters or every sample its own cluster; labels of the wrong length.
        MissingExtra: scikit-learn is not installed.
    """
    inputs.require_sklearn()
    from sklearn.metrics import silhouette_samples

    inputs.check_fitted("clusterer", clusterer)
    X = inputs.matrix("X", X)
    if labels is None and _are_cluster_names(cluster_labels, X.shape[0], clusterer):
        # W&B's docs (seeds 000/001) call plot_silhouette(model, X, ["spam", "not spam"]):
        # names of the clusters where the signature says cluster_labels. One name per
        # cluster of the fitted model, not one per sample: take them as the names.
        labels, cluster_labels = cluster_labels, None
    assigned = _assignments(clusterer, X, cluster_labels)
    inputs.same_length(X=X, cluster_labels=assigned)
    clusters = np.unique(assigned)
    names = inputs.class_names(clusters, labels)
    rows = inputs.subsample_indices(X.shape[0], max_samples)
    sample = inputs.take(X, rows) if len(rows) < X.shape[0] else X
    assigned = assigned[rows]
    present = np.unique(assigned)
    if not 2 <= len(present) <= len(rows) - 1:
        raise InvalidValue(f"the silhouette needs 2 to n_samples - 1 clusters; "
                           f"cluster_labels has {len(present)} among {len(rows)} samples",
                           key="cluster_labels")
    values = np.asarray(inputs.call_model("X", silhouette_samples, sample, assigned,
                                          metric=metric), dtype=float)
    average = float(values.mean())
    numbers = np.asarray(sample.toarray() if inputs._is_sparse(sample) else sample)
    try:
        points = numbers[:, :2].astype(float)
    except (TypeError, ValueError):
        points = np.full((len(rows), 2), np.nan)
    if points.shape[1] == 1:
        points = np.column_stack([points[:, 0], np.zeros(len(rows))])
    centres = getattr(clusterer, "cluster_centers_", None)
    centre_of: dict[Any, tuple[float | None, float | None]] = {}
    if centres is not None and len(centres) == len(clusters) and np.ndim(centres) == 2:
        for cluster, centre in zip(clusters.tolist(), np.asarray(centres), strict=True):
            first = [float(v) for v in centre[:2]] + [0.0]
            centre_of[cluster] = (first[0], first[1])
    table: dict[str, list[Any]] = {"sample_index": [], "cluster": [], "silhouette": [],
                                   "y_sil": [], "x": [], "y": [], "centerx": [],
                                   "centery": []}
    # W&B's layout: each cluster's sorted coefficients stacked, 10 empty rows between.
    position = 10
    for cluster, name in zip(clusters.tolist(), names, strict=True):
        members = np.flatnonzero(assigned == cluster)
        members = members[np.argsort(values[members], kind="stable")]
        centre = centre_of.get(cluster, (None, None))
        for member in members.tolist():
            table["sample_index"].append(int(rows[member]))
            table["cluster"].append(name)
            table["silhouette"].append(float(values[member]))
            table["y_sil"].append(position)
            table["x"].append(float(points[member, 0]))
            table["y"].append(float(points[member, 1]))
            table["centerx"].append(centre[0])
            table["centery"].append(centre[1])
            position += 1
        position += 10
    color = {"field": "cluster", "type": "nominal", "title": "Cluster", "sort": names}
    scatter: list[dict[str, Any]] = [
        {"mark": {"type": "point", "opacity": 0.6, "tooltip": True},
         "encoding": {"x": {"field": "x", "type": "quantitative", "title": "Feature 0",
                            "scale": {"zero": False}},
                      "y": {"field": "y", "type": "quantitative", "title": "Feature 1",
                            "scale": {"zero": False}},
                      "color": color}},
    ]
    if centre_of:
        scatter.append(
            {"transform": [{"aggregate": [{"op": "min", "field": "centerx", "as": "cx"},
                                          {"op": "min", "field": "centery", "as": "cy"}],
                            "groupby": ["cluster"]}],
             "mark": {"type": "point", "shape": "cross", "size": 200, "filled": True,
                      "stroke": "black", "strokeWidth": 1},
             "encoding": {"x": {"field": "cx", "type": "quantitative"},
                          "y": {"field": "cy", "type": "quantitative"},
                          "color": color}})
    spec = {
        "title": {"text": f"Silhouette Analysis ({inputs.model_name(clusterer)})",
                  "subtitle": f"mean silhouette coefficient {average:.3f} over "
                              f"{len(rows)} samples"},
        "hconcat": [
            {"width": 300, "height": 300,
             "transform": [{"calculate": "0", "as": "zero"}],
             "layer": [
                 {"mark": {"type": "rule", "tooltip": True},
                  "encoding": {"y": {"field": "y_sil", "type": "quantitative",
                                     "title": "Samples by cluster", "axis": None},
                               "x": {"field": "silhouette", "type": "quantitative",
                                     "title": "Silhouette coefficient",
                                     "scale": {"domain": [min(-0.1, float(values.min())),
                                                          1]}},
                               "x2": {"field": "zero"},
                               "color": color}},
                 {"mark": {"type": "rule", "color": "red", "strokeDash": [6, 4]},
                  "encoding": {"x": {"datum": average}}},
             ]},
            {"width": 300, "height": 300, "layer": scatter},
        ],
    }
    return Chart(table, spec, kind="sklearn/silhouette_plot")
