"""Downsampling for charts (flightlog.server.series): few points, every extreme kept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from flightlog.server.series import downsample, metric_columns, series_of


def test_a_range_within_budget_comes_back_whole() -> None:
    x = np.arange(100, dtype=float)
    y = np.sin(x)
    got = downsample(x, y, points=100)
    assert not got.downsampled and got.total == 100
    assert np.array_equal(got.x, x) and np.array_equal(got.y, y)


def test_every_bucket_keeps_its_extremes_and_the_ends() -> None:
    rng = np.random.default_rng(1)
    n, points = 1_000_003, 2000
    x = np.arange(n, dtype=float)
    y = rng.normal(size=n)
    y[123_457] = 50.0
    y[987_001] = -50.0
    got = downsample(x, y, points)
    assert got.downsampled and got.total == n
    assert len(got.x) <= points
    assert got.x[0] == 0 and got.x[-1] == n - 1  # the line's ends are exact
    assert 123_457 in got.x and 987_001 in got.x  # the spikes survive
    assert np.all(np.diff(got.x) > 0)
    # Per bucket the kept min and max are the true ones.
    size = -(-n // (points // 4))
    for b in (0, 17, 499):
        lo, hi = b * size, min((b + 1) * size, n)
        kept = got.y[(got.x >= lo) & (got.x < hi)]
        assert kept.min() == y[lo:hi].min() and kept.max() == y[lo:hi].max()
    assert np.array_equal(got.y, y[got.x.astype(int)])  # real points, not averages


def test_a_zoomed_range_is_every_point_plus_one_either_side() -> None:
    x = np.arange(10_000, dtype=float)
    y = x * 2
    got = downsample(x, y, 2000, start=500.5, end=700)
    assert not got.downsampled
    assert got.x[0] == 500 and got.x[-1] == 701
    assert np.array_equal(got.y, got.x * 2)


def test_steps_that_did_not_log_the_metric_are_skipped() -> None:
    x = np.arange(6, dtype=float)
    y = np.array([1.0, np.nan, 3.0, np.nan, np.inf, 6.0])
    got = downsample(x, y, 4)
    assert got.x.tolist() == [0, 2, 5] and got.y.tolist() == [1, 3, 6]


def test_unordered_x_is_sorted_first() -> None:
    got = downsample(np.array([3.0, 1.0, 2.0]), np.array([30.0, 10.0, 20.0]), 4)
    assert got.x.tolist() == [1, 2, 3] and got.y.tolist() == [10, 20, 30]


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="x has 3 values but y has 2"):
        downsample(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="at least 4"):
        downsample(np.zeros(3), np.zeros(3), points=3)


def test_history_columns_a_chart_can_draw() -> None:
    table = pa.table({"_step": [0, 1, 2], "_timestamp": [1.0, 2.0, 3.0],
                      "loss": [0.5, None, 0.25], "ok": [True, False, True],
                      "phase": ["a", "b", "c"]})
    assert metric_columns(table) == ["loss", "ok"]
    got = series_of(table, "loss")
    assert got.x.tolist() == [0, 2] and got.y.tolist() == [0.5, 0.25]
    assert series_of(table, "ok", x="_timestamp").y.tolist() == [1, 0, 1]
    with pytest.raises(KeyError):
        series_of(table, "nope")
