"""``flightlog.plot``: charts to log with ``run.log({"name": chart})``.

Each function returns a :class:`flightlog.charts.Chart` (a data table and a Vega-Lite
v6 spec drawing it). Table charts (W&B's ``wandb.plot``): :func:`line`, :func:`scatter`,
:func:`bar`, :func:`histogram`, :func:`line_series`. Classifier evaluation:
:func:`roc_curve`, :func:`pr_curve`, :func:`confusion_matrix`, and Azure automated ML's
:func:`lift_curve`, :func:`cumulative_gains`, :func:`calibration_curve`. Regression:
:func:`predicted_vs_true`, :func:`residual_histogram`; :func:`feature_importance`.
Custom charts: :func:`plot_table` with a preset of :data:`PRESETS` or your own template.

Curves are computed with numpy only (scikit-learn is not needed) and stored with at most
1000 points per class; the rule is in :mod:`flightlog.plot._curves`.
"""

from __future__ import annotations

from .basic import bar, histogram, line, line_series, scatter
from .classification import (
    calibration_curve,
    confusion_matrix,
    cumulative_gains,
    lift_curve,
    pr_curve,
    roc_curve,
)
from .custom import PRESETS, placeholders, plot_table, register_preset
from .importance import feature_importance
from .regression import predicted_vs_true, residual_histogram

__all__ = [
    "PRESETS",
    "bar",
    "calibration_curve",
    "confusion_matrix",
    "cumulative_gains",
    "feature_importance",
    "histogram",
    "lift_curve",
    "line",
    "line_series",
    "placeholders",
    "plot_table",
    "pr_curve",
    "predicted_vs_true",
    "register_preset",
    "residual_histogram",
    "roc_curve",
    "scatter",
]
