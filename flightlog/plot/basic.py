"""Basic charts of a table, as ``wandb.plot``: line, scatter, bar, histogram, and
``line_series`` (several y series over shared or own x values).

The table functions fill the built-in presets of :mod:`flightlog.plot.custom` (so
``plot_table("flightlog/line", ...)`` draws the same chart) and then set each axis's
Vega-Lite type from the column's Arrow type (numbers: quantitative, dates and times:
temporal, anything else: nominal).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flightlog.charts import Chart
from flightlog.errors import InvalidValue

from ._inputs import arrow_columns, arrow_table, check_same_length, float_array, require_column
from .custom import PRESETS, fill_template

__all__ = ["bar", "histogram", "line", "line_series", "scatter"]


def _vl_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) \
            or pa.types.is_decimal(arrow_type):
        return "quantitative"
    if pa.types.is_temporal(arrow_type):
        return "temporal"
    return "nominal"


def _preset_chart(preset: str, kind: str, table: Any, what: str, fields: dict[str, Any],
                  title: str, typed: dict[str, str]) -> Chart:
    """Fill ``preset`` with checked columns; ``typed`` maps encoding channel -> field
    placeholder whose column type decides the channel's Vega-Lite type."""
    data = arrow_table(what, table)
    for name, column in fields.items():
        require_column(data, column, name)
    spec = fill_template(PRESETS[preset], fields, {"title": str(title)})
    for channel_name, placeholder in typed.items():
        kind_of = _vl_type(data.schema.field(fields[placeholder]).type)
        spec["encoding"][channel_name]["type"] = kind_of
        for tip in spec["encoding"].get("tooltip", []):
            if tip.get("field") == spec["encoding"][channel_name]["field"]:
                tip["type"] = kind_of
    for tip in spec["encoding"].get("tooltip", []):
        tip.setdefault("type", "nominal")
    return Chart(data, spec, kind=kind)


def line(table: Any, x: str, y: str, stroke: str | None = None, title: str = "") -> Chart:
    """A line through the points ``(x, y)`` of a table, in row order of x.

    Args:
        table: a flightlog Table, pyarrow.Table, DataFrame or dict of columns.
        x: column of the x values; y: column of the y values.
        stroke: optional column whose values split the rows into coloured lines.
        title: chart title.

    Raises:
        InvalidValue: a column the table does not have (named, with the columns there).
    """
    if stroke is None:
        return _preset_chart("flightlog/line", "line", table, "table", {"x": x, "y": y},
                             title, {"x": "x", "y": "y"})
    return _preset_chart("flightlog/multiline", "line", table, "table",
                         {"x": x, "y": y, "stroke": stroke}, title, {"x": "x", "y": "y"})


def scatter(table: Any, x: str, y: str, title: str = "") -> Chart:
    """Points ``(x, y)`` of a table. Raises InvalidValue for a missing column."""
    return _preset_chart("flightlog/scatter", "scatter", table, "table", {"x": x, "y": y},
                         title, {"x": "x", "y": "y"})


def bar(table: Any, label: str, value: str, title: str = "") -> Chart:
    """A bar per row: ``value`` against ``label`` (horizontal bars, in table order).
    Raises InvalidValue for a missing column."""
    return _preset_chart("flightlog/bar", "bar", table, "table",
                         {"label": label, "value": value}, title, {"x": "value"})


def histogram(table: Any, value: str, title: str = "") -> Chart:
    """Counts of the values of column ``value`` in up to 30 equal-width bins (binned by
    Vega-Lite, so the stored table keeps the values). Raises InvalidValue for a missing
    or non-numeric column."""
    chart = _preset_chart("flightlog/histogram", "histogram", table, "table",
                          {"value": value}, title, {})
    if _vl_type(chart.table.schema.field(value).type) != "quantitative":
        raise InvalidValue(f"value={value!r}: a histogram needs a numeric column, the column "
                           f"holds {chart.table.schema.field(value).type}", key="value")
    return chart


def _series_list(name: str, values: Any) -> list[Any]:
    if values is None or isinstance(values, (str, bytes)):
        raise InvalidValue(f"{name} must be a list of numbers or of lists of numbers",
                           key=name)
    if hasattr(values, "tolist"):
        values = values.tolist()
    try:
        return list(values)
    except TypeError as exc:
        raise InvalidValue(f"{name} must be a list, got {type(values).__name__}",
                           key=name) from exc


def _is_nested(values: list[Any]) -> bool:
    return bool(values) and all(hasattr(v, "__len__") and not isinstance(v, (str, bytes))
                                for v in values)


def line_series(xs: Any, ys: Any, keys: Any = None, title: str = "",
                xname: str = "x") -> Chart:
    """Several lines on shared axes, as ``wandb.plot.line_series``.

    Args:
        xs: the x values: one list shared by every series, or one list per series.
        ys: a list of series (lists of numbers), each as long as its x values.
        keys: a name per series (default "series 0", "series 1", ...).
        title: chart title.
        xname: the x axis title.

    Returns:
        A Chart (kind ``"line_series"``) with columns key, x, y.

    Raises:
        InvalidValue: a series whose length differs from its x values (series index and
            both lengths named); a count of keys or of x lists that differs from the
            count of series; NaN or non-numbers.
    """
    series = _series_list("ys", ys)
    if not _is_nested(series):
        raise InvalidValue("ys must be a list of series (lists of numbers); for one series "
                           "pass [values]", key="ys")
    x_list = _series_list("xs", xs)
    per_series = _is_nested(x_list)
    if per_series:
        check_same_length("xs (one list per series)", len(x_list), "ys", len(series))
    names = [f"series {i}" for i in range(len(series))] if keys is None else \
        [str(k) for k in _series_list("keys", keys)]
    check_same_length("keys", len(names), "ys", len(series))
    if len(set(names)) != len(names):
        raise InvalidValue(f"keys are not unique: {names}", key="keys")
    columns: dict[str, list[Any]] = {"key": [], "x": [], "y": []}
    for index, values in enumerate(series):
        y_values = float_array(f"ys[{index}]", values)
        x_name = f"xs[{index}]" if per_series else "xs"
        x_values = float_array(x_name, x_list[index] if per_series else x_list)
        if x_values.size != y_values.size:
            raise InvalidValue(f"series {index} ({names[index]!r}) has {y_values.size} y "
                               f"values but {x_values.size} x values ({x_name}); they must "
                               f"match exactly", key="ys")
        columns["key"] += [names[index]] * y_values.size
        columns["x"] += _plain(x_values)
        columns["y"] += y_values.tolist()
    spec = fill_template(PRESETS["flightlog/multiline"], {"x": "x", "y": "y", "stroke": "key"},
                         {"title": str(title)})
    spec["encoding"]["x"]["title"] = str(xname)
    spec["encoding"]["y"]["title"] = "y"
    spec["encoding"]["color"]["title"] = "series"
    for tip in spec["encoding"]["tooltip"]:
        tip["type"] = "nominal" if tip["field"] == "key" else "quantitative"
    return Chart(arrow_columns(columns), spec, kind="line_series")


def _plain(values: Any) -> list[Any]:
    """Integral float arrays back as ints (steps stay 0, 1, 2 in the table)."""
    if np.all(np.mod(values, 1) == 0) and np.abs(values).max() < 2**53:
        return [int(v) for v in values.tolist()]
    return list(values.tolist())
