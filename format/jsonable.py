"""Values as flightlog answers them in JSON (the HTTP API, the report's inlined data):
NaN and infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has
no such numbers; msgpack answers keep them exact), bytes as lowercase hex, dates as ISO
text."""

from __future__ import annotations

import math
from typing import Any


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
