"""Chart data and Vega-Lite specs as SPEC.md §10.2 stores them.

A logged chart is a data table (an attached Arrow IPC file) and a Vega-Lite spec that
refers to that table by the data name :data:`DATA_NAME`. :func:`inline_data` turns the
pair into one self-contained spec that any Vega-Lite renderer draws.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: The Vega-Lite version flightlog's own presets are written for and validated against.
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
#: The data name a stored spec uses for its table (``"data": {"name": "table"}``).
DATA_NAME = "table"


def json_safe(value: Any) -> Any:
    """A cell as JSON can carry it: NaN and infinities become null (Vega-Lite treats
    null as missing), bytes become hex, nested containers are converted recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def table_rows(table: Any) -> list[dict[str, Any]]:
    """A ``pyarrow.Table`` as a list of JSON-safe row dicts."""
    return [json_safe(row) for row in table.to_pylist()]


def _replace_named_data(node: Any, values: list[dict[str, Any]]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, child in node.items():
            if key == "data" and isinstance(child, dict) and child.get("name") == DATA_NAME:
                out[key] = {"values": values}
            else:
                out[key] = _replace_named_data(child, values)
        return out
    if isinstance(node, list):
        return [_replace_named_data(child, values) for child in node]
    return node


def inline_data(spec: dict[str, Any] | str, table: Any) -> dict[str, Any]:
    """``spec`` (a dict or its JSON text) with every ``{"name": "table"}`` data reference
    replaced by the rows of ``table`` (a ``pyarrow.Table``): a self-contained spec."""
    parsed = json.loads(spec) if isinstance(spec, str) else spec
    result: dict[str, Any] = _replace_named_data(parsed, table_rows(table))
    return result
