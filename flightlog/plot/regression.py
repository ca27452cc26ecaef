"""Charts of regression models (Azure automated ML's regression charts): predicted
against true values with the ideal y = x line, and the histogram of residuals
(``y_true - y_pred``, as Azure defines them). Both tables keep one row per sample:
the inputs exactly, and the residual.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from ._inputs import FloatArray, arrow_columns, check_same_length, float_array
from ._specs import base_spec, channel, reference_line, tooltip

__all__ = ["predicted_vs_true", "residual_histogram"]


def _pairs(y_true: Any, y_pred: Any) -> tuple[FloatArray, FloatArray]:
    truth = float_array("y_true", y_true)
    predicted = float_array("y_pred", y_pred)
    check_same_length("y_true", truth.size, "y_pred", predicted.size)
    return truth, predicted


def predicted_vs_true(y_true: Any, y_pred: Any, title: str = "Predicted vs true") -> Chart:
    """A point per sample at (true value, predicted value), with the dashed ideal line
    y = x: the closer the points to it, the better the model.

    Args:
        y_true: the true targets; y_pred: the model's predictions (same length).
        title: chart title.

    Returns:
        A Chart (kind ``"predicted_vs_true"``) with columns true, predicted, residual.

    Raises:
        InvalidValue: lengths differ (both named), NaN or non-numbers (argument named).
    """
    truth, predicted = _pairs(y_true, y_pred)
    low = float(min(truth.min(), predicted.min()))
    high = float(max(truth.max(), predicted.max()))
    table = {"true": truth.tolist(), "predicted": predicted.tolist(),
             "residual": (truth - predicted).tolist()}
    scale = {"scale": {"zero": False, "domain": [low, high]}}
    points = {"mark": {"type": "point", "filled": True, "opacity": 0.6},
              "encoding": {"x": channel("true", "quantitative", "True value", **scale),
                           "y": channel("predicted", "quantitative", "Predicted value",
                                        **scale),
                           "tooltip": tooltip(("true", "quantitative", ".4g"),
                                              ("predicted", "quantitative", ".4g"),
                                              ("residual", "quantitative", ".4g"))}}
    ideal = reference_line("true", "predicted", [(low, low), (high, high)], "ideal (y = x)")
    return Chart(arrow_columns(table), base_spec(title, layer=[points, ideal]),
                 kind="predicted_vs_true")


def residual_histogram(y_true: Any, y_pred: Any, bins: int = 20,
                       title: str = "Residuals") -> Chart:
    """Histogram of the residuals ``y_true - y_pred`` in ``bins`` equal-width bins
    spanning their range, the same bins as ``numpy.histogram(residuals, bins)``
    (Vega-Lite bins the stored residuals with that extent and step). A well-fitted,
    unbiased model gives a bell centred on 0 (drawn as a dashed rule when in range).

    Args:
        y_true: the true targets; y_pred: the predictions (same length).
        bins: number of bins (>= 1).
        title: chart title.

    Returns:
        A Chart (kind ``"residual_histogram"``) with columns true, predicted, residual.

    Raises:
        InvalidValue: lengths differ (both named), NaN, bins not a positive integer.
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise InvalidValue(f"bins must be a positive integer, got {bins!r}", key="bins")
    truth, predicted = _pairs(y_true, y_pred)
    residual = truth - predicted
    edges = np.histogram_bin_edges(residual, bins)
    low, high = float(edges[0]), float(edges[-1])
    step = (high - low) / bins
    binning = {"extent": [low, high], "step": step, "nice": False}
    table = {"true": truth.tolist(), "predicted": predicted.tolist(),
             "residual": residual.tolist()}
    bars = {"mark": {"type": "bar", "opacity": 0.85},
            "encoding": {"x": channel("residual", "quantitative", "Residual (true - predicted)",
                                      bin=binning),
                         "y": {"aggregate": "count", "type": "quantitative",
                               "title": "Samples"},
                         "tooltip": [channel("residual", "quantitative", "residual bin",
                                             bin=binning, format=".4g"),
                                     {"aggregate": "count", "type": "quantitative",
                                      "title": "samples"}]}}
    layers: list[dict[str, Any]] = [bars]
    if low <= 0.0 <= high:
        layers.append({"data": {"values": [{"residual": 0.0}]},
                       "mark": {"type": "rule", "strokeDash": [6, 4], "color": "#888888"},
                       "encoding": {"x": {"field": "residual", "type": "quantitative"}}})
    return Chart(arrow_columns(table), base_spec(title, layer=layers),
                 kind="residual_histogram")
