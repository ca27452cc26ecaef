"""The type of a derived column from the values logged into it (SPEC.md §11.2).

History columns and the columns of ``row`` tables get their type from the classes of
their values, never from how a library would infer one: every reader gets the same
types. Classes: ``nil``, ``bool``, ``int`` (within i64), ``bigint`` (outside it),
``float``, ``str`` and ``other`` (bin, array, map).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .jsontext import json_text

I64_MIN, I64_MAX = -(2**63), 2**63 - 1

#: The derived column types (SPEC.md §11.2); ``json`` is a string column of JSON text.
NULL, INT64, FLOAT64, BOOL, STRING, JSON = "null", "int64", "float64", "bool", "string", "json"

#: The class a history chunk column's kind gives each of its values (SPEC.md §9).
KIND_CLASS = {"f64": "float", "i64": "int", "bool": "bool"}


def value_class(value: Any) -> str:
    if value is None:
        return "nil"
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int:
        return "int" if I64_MIN <= value <= I64_MAX else "bigint"
    if kind is float:
        return "float"
    if kind is str:
        return "str"
    return "other"


def column_type(classes: Iterable[str]) -> str:
    """The column type of a column whose values have these classes."""
    found = set(classes) - {"nil"}
    if not found:
        return NULL
    if found == {"int"}:
        return INT64
    if found <= {"int", "float"}:
        return FLOAT64
    if found == {"bool"}:
        return BOOL
    if found == {"str"}:
        return STRING
    return JSON


def type_of_values(values: Iterable[Any]) -> str:
    return column_type(value_class(v) for v in values)


def arrow_column(values: list[Any], ctype: str) -> Any:
    """A ``pyarrow.Array`` of ``values`` (Python values, None for a missing cell) as a
    column of type ``ctype``."""
    import pyarrow as pa

    if ctype == NULL:
        return pa.nulls(len(values))
    if ctype == INT64:
        return pa.array(values, pa.int64())
    if ctype == FLOAT64:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if ctype == BOOL:
        return pa.array(values, pa.bool_())
    if ctype == STRING:
        return pa.array(values, pa.string())
    return pa.array([None if v is None else json_text(v) for v in values], pa.string())


def arrow_type_name(arrow_type: Any) -> str:
    """The SPEC.md §11.2 name of an Arrow type of a derived column."""
    import pyarrow as pa

    names = {pa.null(): NULL, pa.int64(): INT64, pa.float64(): FLOAT64, pa.bool_(): BOOL,
             pa.string(): STRING}
    return names.get(arrow_type, str(arrow_type))
