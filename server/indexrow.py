"""One runs-index row: what a run's state puts in it, and what a row answers (both dialects).

The SQLite index (index.py) and the PostgreSQL one (backends/pgindex.py) store the same
row; only the placeholders, the JSON columns' type and the extra columns (SQLite's
``stamp``) differ. This module owns the mapping both ways, so a column added here is
written and answered by both:

- :func:`row_values`: a run's :class:`RunState` -> the values of :data:`COLUMNS`, in order
  (NaN and infinities of config, summary and tags as JSON null: SQLite's JSON functions
  accept only standard JSON; exact values are served from the run's frames).
- :func:`upsert_sql`: the ``INSERT ... ON CONFLICT DO UPDATE`` of those columns, in which
  a liveness of None keeps the row's known one.
- :func:`row_answer`: a row selected as :data:`COLUMNS` -> the API's dict.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from flightlog.format.state import RunState

from .runfields import run_times

#: The row's columns, in the order of :func:`row_values` (and of every SELECT of a row).
COLUMNS: tuple[str, ...] = (
    "project", "run_id", "name", "created", "updated", "exit_code", "writer_alive",
    "steps", "records", "next_seq", "config", "summary", "tags", "duration", "last_update")
#: Columns holding JSON (SQLite: TEXT; PostgreSQL: JSONB).
JSON_COLUMNS = frozenset({"config", "summary", "tags"})
_KEY = ("project", "run_id")


def status_of(exit_code: int | None, writer_alive: int | None) -> str:
    if exit_code is not None:
        return "finished" if exit_code == 0 else "crashed"
    return "crashed" if writer_alive == 0 else "running"


#: :func:`status_of` in SQL (filters and orderings on ``status``).
STATUS_SQL = ("CASE WHEN exit_code IS NOT NULL THEN (CASE WHEN exit_code = 0 THEN 'finished' "
              "ELSE 'crashed' END) WHEN writer_alive = 0 THEN 'crashed' ELSE 'running' END")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def to_json(value: Any) -> str:
    """Standard JSON of an index value (non-finite floats as null, bytes as hex)."""
    return json.dumps(_clean(value), allow_nan=False, default=str)


def row_values(project: str, run_id: str, state: RunState, *, next_seq: int,
               writer_alive: bool | None, now: float | None = None) -> tuple[Any, ...]:
    """The values of :data:`COLUMNS` for a run in ``state`` (JSON columns as text)."""
    duration, last_update = run_times(state)
    return (project, run_id, state.name or run_id, state.created,
            time.time() if now is None else now, state.exit_code,
            None if writer_alive is None else int(writer_alive), state.steps,
            state.records, next_seq, to_json(state.config), to_json(state.summary()),
            to_json(state.tags), duration, last_update)


def upsert_sql(placeholder: str, *, json_cast: str = "", extra: Sequence[str] = (),
               where: str = "") -> str:
    """``INSERT`` of :data:`COLUMNS` + ``extra`` (values in that order), updating every
    column of an existing row but the key, ``writer_alive`` kept when the new one is
    NULL; ``where`` (SQL, may name ``runs.`` and ``excluded.``) guards the update."""
    columns = (*COLUMNS, *extra)
    values = ", ".join(placeholder + (json_cast if c in JSON_COLUMNS else "") for c in columns)
    updates = ", ".join(
        "writer_alive=COALESCE(excluded.writer_alive, runs.writer_alive)"
        if c == "writer_alive" else f"{c}=excluded.{c}"
        for c in columns if c not in _KEY)
    return (f"INSERT INTO runs ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT (project, run_id) DO UPDATE SET {updates}"
            + (f" WHERE {where}" if where else ""))


def select_columns() -> str:
    return ", ".join(COLUMNS)


def row_answer(row: Sequence[Any], load_json: Callable[[Any], Any]) -> dict[str, Any]:
    """The API's dict of a row selected as :data:`COLUMNS`; ``load_json`` decodes a JSON
    column as the driver returns it (SQLite: text; psycopg: already decoded)."""
    values = dict(zip(COLUMNS, row, strict=True))
    return {
        "project": values["project"], "id": values["run_id"], "name": values["name"],
        "created": values["created"], "updated": values["updated"],
        "exit_code": values["exit_code"],
        "status": status_of(values["exit_code"], values["writer_alive"]),
        "steps": values["steps"], "records": values["records"],
        "next_seq": values["next_seq"],
        **{c: load_json(values[c]) or {} for c in ("config", "summary", "tags")},
        "duration": values["duration"], "last_update": values["last_update"],
    }
