"""Canonical JSON text of a record value (SPEC.md §1.1).

A history or table column whose values are of mixed types is read as a string column of
each value's JSON text. The text is fixed to the byte so that every reader, in any
language, writes the same strings: no whitespace, keys in stored order, floats in their
shortest round-trip form, NaN and infinities as ``null``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def json_text(value: Any) -> str:
    """The canonical JSON text of a msgpack-subset value (SPEC.md §1.1).

    Example:
        >>> json_text({"a": [1, 2.5, None, True, "x\\n"], "b": float("nan")})
        '{"a":[1,2.5,null,true,"x\\\\n"],"b":null}'
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        # Python's repr is the shortest round-trip form, fixed notation for decimal
        # exponents -4..15 (with ".0" when integral), else d.ddde±XX: SPEC.md §1.1.
        return repr(float(value)) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return '"' + bytes(value).hex() + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{json_text(str(k))}:{json_text(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    item = getattr(value, "item", None)
    if callable(item):  # a numpy scalar
        return json_text(item())
    # Not a value of the record subset (a date of an Arrow table, say): its text.
    return json.dumps(str(value), ensure_ascii=False)
