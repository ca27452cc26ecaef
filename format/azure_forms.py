"""Azure ML's logging forms and how each is drawn (seed 003's "viewing charts" table).

=====================================  =====================  ==========================
logged as                              stored as (SPEC.md)    drawn as
=====================================  =====================  ==========================
``run.log_list('Fibonacci', [...])``   one ``list`` record    one-variable line chart
``run.log('Sigmoid', v)`` repeated     ``metric`` records     one-variable line chart
``run.log_row('Cosine Wave', ...)``    ``row`` records        two-variable line chart
``run.log_table('Sine Wave', {...})``  a ``table`` record     two-variable line chart
=====================================  =====================  ==========================

A *vector* is a ``list`` record's values, or the values of a key's ``metric`` records
when there are two or more of them (one value is a scalar: the summary shows it); it is
drawn with the value's index as x. A *table* is drawn as a line chart when its first
column is numeric and at least one other column is: the first column is x, every other
numeric column a y series (Azure draws ``angle`` against ``cos`` the same way). Other
tables stay tables. The renderer (``server/static/flightlog.js``) applies the same
rule to the rows it shows; this module is its Python side (the server, the offline
report and ``flightlog show``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["LineTable", "Vector", "line_table", "numeric", "vectors"]


@dataclass(frozen=True)
class Vector:
    """A one-variable line chart: ``values[i]`` at x = i (None where not a number)."""

    key: str
    kind: str  # "list" (log_list) or "metric" (run.log repeated)
    values: list[float | None]

    def describe(self) -> str:
        return f"vector of {len(self.values)} (line chart)"


@dataclass(frozen=True)
class LineTable:
    """A two-variable line chart of a table: ``x`` against each of ``ys``."""

    x: str
    ys: list[str]

    def describe(self, rows: int) -> str:
        return f"table of {rows} rows (line chart: {', '.join(self.ys)} over {self.x})"


def numeric(value: Any) -> float | None:
    """``value`` as a finite float when it is a number (bools are not), else None."""
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iuf":  # numpy scalar
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def vectors(metrics: dict[str, list[Any]], lists: dict[str, list[Any]]) -> dict[str, Vector]:
    """The vectors of a run (``RunState.metrics`` and ``RunState.lists``), by key: every
    ``log_list`` with a number in it, every key logged by ``metric`` records at least
    twice with a number among them. A key both listed and logged keeps its list (as
    ``get_metrics`` answers)."""
    out: dict[str, Vector] = {}
    for key, values in metrics.items():
        if len(values) >= 2:
            found = [numeric(v) for v in values]
            if any(v is not None for v in found):
                out[key] = Vector(key, "metric", found)
    for key, values in lists.items():
        found = [numeric(v) for v in values]
        if any(v is not None for v in found):
            out[key] = Vector(key, "list", found)
    return out


def line_table(table: Any) -> LineTable | None:
    """How a ``pyarrow.Table`` is drawn as a line chart, or None when it is not one
    (fewer than two columns, a first column that is not numeric, no other numeric
    column)."""
    import pyarrow as pa

    def is_number(kind: Any) -> bool:
        return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))

    fields = list(table.schema)
    if len(fields) < 2 or not is_number(fields[0].type):
        return None
    ys = [f.name for f in fields[1:] if is_number(f.type)]
    return LineTable(fields[0].name, ys) if ys else None
