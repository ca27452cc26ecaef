"""The Arrow tables of the Parquet dataset (docs/parquet-layout.md): a run's history in
long form, its row of the ``runs`` dataset, and the small per-run tables. Pure functions
of a run's accessors; no I/O here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flightlog.format.jsontext import json_text

#: Named in every file's key/value metadata (``flightlog.schema``); bumped on a change of
#: the layout: minor when columns are added, major when a column changes meaning.
SCHEMA_VERSION = "flightlog-parquet/1.0"

#: The long-form history columns, in order. Exactly one ``value_*`` is non-null on a row
#: that holds a value; a row whose ``key`` is null marks a step at which no key has one.
HISTORY_SCHEMA = pa.schema([
    ("step", pa.int64()), ("timestamp", pa.float64()), ("key", pa.string()),
    ("value_double", pa.float64()), ("value_int", pa.int64()),
    ("value_str", pa.string()), ("value_bool", pa.bool_()),
])

#: history() column type -> the long-form column holding its values.
_VALUE_COLUMN = {pa.float64(): "value_double", pa.int64(): "value_int",
                 pa.string(): "value_str", pa.large_string(): "value_str",
                 pa.bool_(): "value_bool"}

_I64 = (-(1 << 63), (1 << 63) - 1)


def type_name(dtype: Any) -> str:
    """The column type as docs/parquet-layout.md names it."""
    return {"double": "float64", "large_string": "string"}.get(str(dtype), str(dtype))


def history_columns(history: Any) -> list[list[str]]:
    """[[key, type], ...] of a run's history, in column order (its ``runs`` row keeps
    them, so that the wide table can be rebuilt with every key, all-null ones too)."""
    return [[f.name, type_name(f.type)] for f in history.schema
            if f.name not in ("_step", "_timestamp")]


def new_rows(history: Any, after_step: int | None, hold_last: bool) -> Any:
    """The rows of ``history`` with a step above ``after_step``; without the last row when
    ``hold_last`` (a live run may still merge more keys into its last step, SPEC.md §11.2,
    so it is exported once a later step exists or the run has ended)."""
    table = history
    if after_step is not None and table.num_rows:
        table = table.filter(pc.greater(table["_step"], after_step))
    if hold_last and table.num_rows:
        table = table.slice(0, table.num_rows - 1)
    return table


def long_form(wide: Any) -> Any:
    """``wide`` (rows of ``history()``) as the long-form table: one row per non-null cell,
    grouped by key in column order and by step within a key, then one ``key`` null row per
    step without any value.

    Vectorised: a key's rows are its column's valid cells (all of them, with no copy, when
    the column has no null); ``key`` is a dictionary array of the run's keys (indexes
    only, nothing hashed per row), which Parquet stores as its dictionary encoding and
    every reader reads back as a string column (HISTORY_SCHEMA)."""
    steps, times = wide["_step"], wide["_timestamp"]
    fields = [f for f in wide.schema if f.name not in ("_step", "_timestamp")
              and not pa.types.is_null(f.type)]  # an all-nil key has no rows
    names = pa.array([f.name for f in fields], pa.string())
    pieces = []
    covered = None  # rows that hold a value, while no key covers every row
    every_row = False
    for index, field in enumerate(fields):
        column = wide[field.name]
        target = _VALUE_COLUMN.get(field.type)
        if target is None:
            column, target = column.cast(pa.string()), "value_str"
        if column.null_count == 0:
            every_row = True
            pieces.append(_key_piece(names, index, target, steps, times, column))
            continue
        valid = pc.is_valid(column)
        if not every_row:
            covered = valid if covered is None else pc.or_(covered, valid)
        pieces.append(_key_piece(names, index, target, steps.filter(valid),
                                 times.filter(valid), column.filter(valid)))
    if wide.num_rows and not every_row:
        empty = pc.invert(covered) if covered is not None else None
        if empty is None:
            pieces.append(_key_piece(names, None, None, steps, times, None))
        elif pc.any(empty).as_py():
            pieces.append(_key_piece(names, None, None, steps.filter(empty),
                                     times.filter(empty), None))
    if not pieces:
        return _BUILT_SCHEMA.empty_table()
    return pa.concat_tables(pieces)


#: The long form as :func:`long_form` builds it: ``key`` dictionary-encoded.
_BUILT_SCHEMA = pa.schema([
    pa.field(f.name, pa.dictionary(pa.int32(), pa.string())) if f.name == "key" else f
    for f in HISTORY_SCHEMA])


def _key_piece(names: Any, index: int | None, target: str | None, steps: Any, times: Any,
               values: Any) -> Any:
    n = len(steps)
    codes = (pa.nulls(n, pa.int32()) if index is None
             else pa.array(np.full(n, index, dtype=np.int32)))
    columns: dict[str, Any] = {"step": steps, "timestamp": times,
                               "key": pa.DictionaryArray.from_arrays(codes, names)}
    for field in HISTORY_SCHEMA:
        if field.name.startswith("value_"):
            columns[field.name] = (values.cast(field.type) if field.name == target
                                   else pa.nulls(n, field.type))
    return pa.table(columns, schema=_BUILT_SCHEMA)


def flatten(prefix: str, mapping: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(``prefix.a.b``, value) for each leaf of ``mapping``; a map value is descended
    into, anything else is a leaf."""
    for key, value in mapping.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict) and value:
            yield from flatten(name, value)
        else:
            yield name, value


def _typed(value: Any) -> tuple[Any, Any] | None:
    """(Arrow type, cell) of a flattened leaf; None for a nil leaf (no column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return pa.bool_(), value
    if isinstance(value, int):
        if _I64[0] <= value <= _I64[1]:
            return pa.int64(), value
        return pa.string(), json_text(value)
    if isinstance(value, float):
        return pa.float64(), value
    if isinstance(value, str):
        return pa.string(), value
    return pa.string(), json_text(value)


def runs_row(run: Any, history: Any) -> Any:
    """The run's one-row table of the ``runs`` dataset."""
    config, summary, tags = run.config, run.summary, run.tags
    updated = None
    if history.num_rows:
        updated = history["_timestamp"][-1].as_py()
    columns: dict[str, tuple[Any, Any]] = {
        "id": (pa.string(), run.id), "name": (pa.string(), run.name),
        "status": (pa.string(), run.status),
        "exit_code": (pa.int64(), getattr(run, "exit_code", None)),
        "created": (pa.float64(), getattr(run, "created", None)),
        "updated": (pa.float64(), updated),
        "steps": (pa.int64(), history.num_rows),
        "config_json": (pa.string(), json_text(config)),
        "summary_json": (pa.string(), json_text(summary)),
        "tags_json": (pa.string(), json_text(tags)),
        "labels": (pa.list_(pa.string()), list(run.labels)),
        "history_columns_json": (pa.string(), json_text(history_columns(history))),
    }
    for name, value in [*flatten("config", config), *flatten("summary", summary)]:
        typed = _typed(value)
        if typed is not None and name not in columns:
            columns[name] = typed
    return pa.table({name: pa.array([cell], dtype) for name, (dtype, cell) in
                     columns.items()})


def files_table(entries: list[dict[str, Any]]) -> Any:
    return pa.table({"name": pa.array([e["name"] for e in entries], pa.string()),
                     "size": pa.array([e["size"] for e in entries], pa.int64()),
                     "sha256": pa.array([e["sha256"] for e in entries], pa.string())})


def console_table(lines: list[Any]) -> Any:
    return pa.table({"time": pa.array([ln.time for ln in lines], pa.float64()),
                     "stream": pa.array([ln.stream for ln in lines], pa.string()),
                     "text": pa.array([ln.text for ln in lines], pa.string()),
                     "overwritten": pa.array([ln.overwritten for ln in lines], pa.bool_())})
