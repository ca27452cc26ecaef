"""Vega-Lite building blocks shared by the ``flightlog.plot`` charts.

Every spec is Vega-Lite v6 with a fixed size (:data:`WIDTH` x :data:`HEIGHT`; a
``"container"`` width does not render headless), titled axes, tooltips on points, a
legend when several classes are drawn, and reference lines (y = x, y = 1) as layers
with their own two-row inline data, so they never repeat per row of the table.
"""

from __future__ import annotations

from typing import Any

from flightlog.format.vega import VEGA_LITE_SCHEMA

WIDTH = 400
HEIGHT = 300
#: Colour of reference lines (baselines, ideal lines).
REFERENCE_COLOR = "#888888"


def vl_field(column: str) -> str:
    """A column name as a Vega-Lite field: ``.``, ``[`` and ``]`` would otherwise be read
    as nested access, so they are escaped."""
    return column.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[").replace(
        "]", "\\]")


def base_spec(title: str, **rest: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"$schema": VEGA_LITE_SCHEMA}
    if title:
        spec["title"] = title
    spec["width"] = WIDTH
    spec["height"] = HEIGHT
    spec.update(rest)
    return spec


def channel(column: str, kind: str, title: str | None = None, **rest: Any) -> dict[str, Any]:
    """An encoding channel on ``column`` of Vega-Lite type ``kind``."""
    result: dict[str, Any] = {"field": vl_field(column), "type": kind}
    if title is not None:
        result["title"] = title
    result.update(rest)
    return result


def tooltip(*columns: tuple[str, str] | tuple[str, str, str]) -> list[dict[str, Any]]:
    """Tooltip entries from ``(column, type)`` or ``(column, type, d3 format)``."""
    entries = []
    for column in columns:
        entry = {"field": vl_field(column[0]), "type": column[1]}
        if len(column) == 3:
            entry["format"] = column[2]
        entries.append(entry)
    return entries


def reference_line(x_column: str, y_column: str, points: list[tuple[float, float]],
                   label: str) -> dict[str, Any]:
    """A dashed grey line through ``points``, as a layer with its own data; the fields
    are the chart's axis fields so it shares their scales."""
    return {
        "data": {"values": [{x_column: x, y_column: y, "reference": label}
                            for x, y in points]},
        "mark": {"type": "line", "strokeDash": [6, 4], "color": REFERENCE_COLOR,
                 "strokeWidth": 1.5},
        "encoding": {
            "x": {"field": vl_field(x_column), "type": "quantitative"},
            "y": {"field": vl_field(y_column), "type": "quantitative"},
            "tooltip": [{"field": "reference", "type": "nominal"}],
        },
    }


def curve_layer(x: dict[str, Any], y: dict[str, Any], color: dict[str, Any] | None,
                tips: list[dict[str, Any]], *, order_column: str = "index") -> dict[str, Any]:
    """A line per class with a point (and tooltip) at each stored vertex. The ``order``
    channel keeps the curve's own point order (Vega-Lite would sort by x, scrambling
    vertical runs of ROC and PR curves)."""
    encoding: dict[str, Any] = {"x": x, "y": y, "order": channel(order_column, "quantitative"),
                                "tooltip": tips}
    if color is not None:
        encoding["color"] = color
    return {"mark": {"type": "line", "point": {"filled": True, "size": 14},
                     "strokeWidth": 2},
            "encoding": encoding}
