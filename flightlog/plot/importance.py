"""Feature importance (Azure automated ML's explanation chart, W&B's
``plot_feature_importances``): one bar per feature, most important first."""

from __future__ import annotations

from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from ._inputs import arrow_columns, check_same_length, float_array
from ._specs import base_spec, channel, tooltip

__all__ = ["feature_importance"]


def feature_importance(names: Any, importances: Any, title: str = "Feature importance",
                       max_features: int | None = None) -> Chart:
    """Horizontal bars of ``importances``, sorted from the largest down.

    Args:
        names: a name per feature (unique).
        importances: a number per feature (e.g. ``model.feature_importances_``,
            ``abs(coef_)`` or permutation importances; negative values are kept).
        title: chart title.
        max_features: draw only the this many most important (default all).

    Returns:
        A Chart (kind ``"feature_importance"``) with columns feature, importance, rank
        (1 = most important), sorted by rank.

    Raises:
        InvalidValue: lengths differ (both named), duplicate names, NaN, bad max_features.
    """
    values = float_array("importances", importances)
    if names is None or isinstance(names, (str, bytes)):
        raise InvalidValue("names must be a list of feature names", key="names")
    labels = [str(n) for n in (names.tolist() if hasattr(names, "tolist") else list(names))]
    check_same_length("names", len(labels), "importances", values.size)
    if len(set(labels)) != len(labels):
        duplicated = sorted({n for n in labels if labels.count(n) > 1})
        raise InvalidValue(f"names has duplicates: {duplicated[:5]}", key="names")
    if max_features is not None and (not isinstance(max_features, int)
                                     or isinstance(max_features, bool) or max_features < 1):
        raise InvalidValue(f"max_features must be a positive integer or None, got "
                           f"{max_features!r}", key="max_features")
    # Stable: equal importances keep the caller's feature order.
    order = np.argsort(-values, kind="stable")[:max_features]
    table = {"feature": [labels[i] for i in order], "importance": values[order].tolist(),
             "rank": list(range(1, order.size + 1))}
    encoding = {"y": channel("feature", "nominal", "Feature",
                             sort={"field": "rank", "order": "ascending"}),
                "x": channel("importance", "quantitative", "Importance"),
                "tooltip": tooltip(("feature", "nominal"), ("importance", "quantitative", ".4g"),
                                   ("rank", "quantitative"))}
    spec = base_spec(title, mark={"type": "bar"}, encoding=encoding)
    spec["height"] = max(120, min(16 * order.size, 1200))
    return Chart(arrow_columns(table), spec, kind="feature_importance")
