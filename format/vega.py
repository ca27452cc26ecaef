"""Chart data and Vega-Lite specs as SPEC.md §10.2 stores them.

A logged chart is a data table (an attached Arrow IPC file) and a Vega-Lite spec that
refers to that table by the data name :data:`DATA_NAME`. :func:`inline_data` turns the
pair into one self-contained spec that any Vega-Lite renderer draws.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from flightlog.errors import FormatError

#: The Vega-Lite version flightlog's own presets are written for and validated against.
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
#: The data name a stored spec uses for its table (``"data": {"name": "table"}``).
DATA_NAME = "table"
#: SPEC.md §10.4: the deepest nesting of objects and arrays a chart spec may have. Real
#: specs (layers of encodings) stay far below; every reader of a spec recurses.
MAX_SPEC_DEPTH: Final = 64

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_text_depth(text: str) -> int:
    """How deep objects and arrays nest in the JSON ``text`` (0 for a scalar), counted
    without parsing, so that no recursion depends on the input."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def value_depth(value: Any, limit: int = MAX_SPEC_DEPTH) -> int:
    """How deep dicts, lists and tuples nest in ``value``, looked at down to
    ``limit + 1`` levels only (without recursion, so a cycle counts as too deep)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, (dict, list, tuple)):
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            break
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def check_spec_text(spec: Any) -> dict[str, Any]:
    """A stored spec parsed, if it is what SPEC.md §10.4 allows: JSON text of an object
    nested at most :data:`MAX_SPEC_DEPTH` deep.

    Raises:
        FormatError: anything else (a reader keeps that chart record out).
    """
    if type(spec) is not str:
        raise FormatError("spec is not a str")
    depth = json_text_depth(spec)
    if depth > MAX_SPEC_DEPTH:
        raise FormatError(f"spec nests {depth} levels deep, over the {MAX_SPEC_DEPTH} "
                          f"SPEC.md §10.4 allows")
    try:
        # RFC 8259: NaN and Infinity, which some encoders write, are not JSON (a viewer's
        # JSON.parse refuses them); of a key given twice the last counts, as parsers do.
        parsed = json.loads(spec, parse_constant=_not_json)
    except ValueError as exc:
        raise FormatError(f"spec is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise FormatError(f"spec is a JSON {type(parsed).__name__}, not an object")
    return parsed


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
