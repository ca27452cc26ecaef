"""flightlog.plot._curves: the numpy curve code equals scikit-learn's on tied and untied
scores, and downsampling keeps a million-point curve within its stated bound."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics
from sklearn.calibration import calibration_curve

import flightlog.plot as fp
from flightlog.plot import _curves


@pytest.mark.parametrize("decimals", [None, 1, 3])
def test_curves_equal_sklearn_with_and_without_ties(decimals: int | None) -> None:
    rng = np.random.default_rng(decimals or 0)
    y = rng.random(5000) < 0.2
    scores = rng.random(5000) * 0.7 + y * 0.3
    if decimals is not None:
        scores = np.round(scores, decimals)  # many tied scores
    roc = _curves.roc_points(y, scores)
    fpr, tpr, thresholds = metrics.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_array_equal(roc.fpr, fpr)
    np.testing.assert_array_equal(roc.tpr, tpr)
    np.testing.assert_array_equal(roc.thresholds, thresholds)
    assert abs(roc.auc - metrics.roc_auc_score(y, scores)) < 1e-12
    pr = _curves.pr_points(y, scores)
    precision, recall, thresholds = metrics.precision_recall_curve(y, scores)
    np.testing.assert_array_equal(pr.precision, precision)
    np.testing.assert_array_equal(pr.recall, recall)
    np.testing.assert_array_equal(pr.thresholds, thresholds)
    assert abs(pr.average_precision - metrics.average_precision_score(y, scores)) < 1e-12
    cal = _curves.calibration_points(y, scores, 8)
    prob_true, prob_pred = calibration_curve(y, scores, n_bins=8)
    np.testing.assert_allclose(cal.fraction_positive, prob_true, atol=1e-12)
    np.testing.assert_allclose(cal.mean_predicted, prob_pred, atol=1e-12)


def test_small_curves_are_stored_whole() -> None:
    x = np.linspace(0, 1, 1000)
    np.testing.assert_array_equal(_curves.downsample_curve(x, x**2), np.arange(1000))
    assert _curves.downsample_curve(np.arange(1001.0), np.arange(1001.0)).size <= 1000


@pytest.fixture(scope="module")
def million() -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(7)
    y = rng.random(1_000_000) < 0.1
    scores = rng.normal(size=y.size) + 1.5 * y  # continuous: ~1e6 distinct thresholds
    return y, scores


def test_million_point_roc_is_bounded_keeps_ends_and_shape(million: tuple) -> None:  # type: ignore[type-arg]
    y, scores = million
    chart = fp.roc_curve(y, scores)
    rows = chart.table.to_pydict()
    assert len(rows["fpr"]) <= _curves.DEFAULT_MAX_POINTS
    full = _curves.roc_points(y, scores)
    assert full.fpr.size > 500_000
    keep = _curves.downsample_curve(full.fpr, full.tpr)
    assert rows["fpr"] == full.fpr[keep].tolist() and rows["tpr"] == full.tpr[keep].tolist()
    assert (rows["fpr"][0], rows["tpr"][0]) == (0.0, 0.0)
    assert (rows["fpr"][-1], rows["tpr"][-1]) == (1.0, 1.0)
    # the guarantee of the module docstring, and in practice far below it
    arc = np.sum(np.hypot(np.diff(full.fpr), np.diff(full.tpr)))
    bound = arc / (_curves.DEFAULT_MAX_POINTS - 4 - 1)
    deviation = _curves.polyline_deviation(full.fpr, full.tpr, keep)
    assert deviation <= bound and deviation < 0.003
    # AUC from the full curve: equal to sklearn's, not the stored polyline's
    assert abs(rows["auc"][0] - metrics.roc_auc_score(y, scores)) < 1e-9
    stored_auc = _curves.area_under(np.asarray(rows["fpr"]), np.asarray(rows["tpr"]))
    assert abs(stored_auc - rows["auc"][0]) < 1e-3


def test_million_point_pr_keeps_global_extremes(million: tuple) -> None:  # type: ignore[type-arg]
    y, scores = million
    rows = fp.pr_curve(y, scores, max_points=300).table.to_pydict()
    full = _curves.pr_points(y, scores)
    assert len(rows["precision"]) <= 300
    assert max(rows["precision"]) == full.precision.max()
    assert min(rows["precision"]) == full.precision.min()
    assert rows["recall"][0] == 1.0 and rows["recall"][-1] == 0.0
    keep = _curves.downsample_curve(full.recall, full.precision, 300)
    assert _curves.polyline_deviation(full.recall, full.precision, keep) < 0.02


def test_deviation_bound_holds_on_a_jagged_curve() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.random(200_000))
    y = np.sin(x / 500.0) + rng.normal(scale=0.05, size=x.size)  # noisy, many wiggles
    for budget in (50, 1000):
        keep = _curves.downsample_curve(x, y, budget)
        assert keep.size <= budget and keep[0] == 0 and keep[-1] == x.size - 1
        assert {int(np.argmax(y)), int(np.argmin(y))} <= set(keep.tolist())
        scaled_x = (x - x.min()) / np.ptp(x)
        scaled_y = (y - y.min()) / np.ptp(y)
        arc = np.sum(np.hypot(np.diff(scaled_x), np.diff(scaled_y)))
        assert _curves.polyline_deviation(x, y, keep) <= arc / (budget - 5)
