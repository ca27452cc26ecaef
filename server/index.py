"""The server's query index: one SQLite row per run, derived from its run directory.

It holds what listing, filtering and ordering need (identity, status, config, summary,
tags as JSON). It is never the truth: ``Storage`` rebuilds any row from the run
directory. Each row keeps the ``stamp`` of the run directory it was built from (a cheap
summary of its segment files, ``storage.run_stamp``): at start the index is trusted and a
row is rebuilt only when its stamp differs from the directory's (changed while the server
was down, or a crash between a commit and its row). What a row holds, and answers, is
indexrow.py's (shared with the PostgreSQL index).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flightlog.format.state import RunState

from flightlog.errors import FlightlogError

from .indexrow import STATUS_SQL, row_answer, row_values, select_columns, upsert_sql
from .runfields import SECTIONS, json_paths, known_fields, unknown_field_message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    name TEXT,
    created REAL,
    updated REAL,
    exit_code INTEGER,
    writer_alive INTEGER,
    steps INTEGER,
    records INTEGER,
    next_seq INTEGER,
    config TEXT,
    summary TEXT,
    tags TEXT,
    stamp TEXT,
    PRIMARY KEY (project, run_id)
);
CREATE INDEX IF NOT EXISTS runs_by_project_created ON runs (project, created);
"""

_FILTER = re.compile(r"^\s*([A-Za-z_][\w.\-/ ]*?)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")
_FIELDS = {"name", "created", "updated", "status", "steps", "id", "duration", "last_update"}
#: The row (indexrow.py) and the embedded store's run-directory stamp.
_UPSERT = upsert_sql("?", extra=("stamp",))


class BadQuery(FlightlogError, ValueError):
    """A filter or ordering the index cannot answer (HTTP 400)."""


class RunIndex:
    def __init__(self, path: Path) -> None:
        #: False when the file was made now (first start, or the index was lost): then
        #: no row can be trusted and the caller rebuilds them all.
        self.existed = path.is_file()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "stamp" not in columns:  # an index from before stamps: every row is stale
            self._db.execute("ALTER TABLE runs ADD COLUMN stamp TEXT")
        for added in ("duration", "last_update"):  # runs table columns (runfields.py)
            if added not in columns:
                self._db.execute(f"ALTER TABLE runs ADD COLUMN {added} REAL")
        self._guard = threading.Lock()

    def upsert(self, project: str, run_id: str, state: RunState, *, next_seq: int,
               writer_alive: bool | None, stamp: str | None = None) -> None:
        row = (*row_values(project, run_id, state, next_seq=next_seq,
                           writer_alive=writer_alive), stamp)
        with self._guard:
            self._db.execute(_UPSERT, row)

    def stamps(self) -> dict[tuple[str, str], str | None]:
        """Each row's run-directory stamp (None: a row from before stamps)."""
        with self._guard:
            rows = self._db.execute("SELECT project, run_id, stamp FROM runs").fetchall()
        return {(p, r): s for p, r, s in rows}

    def stamp(self, project: str, run_id: str) -> str | None:
        with self._guard:
            row = self._db.execute("SELECT stamp FROM runs WHERE project = ? AND run_id = ?",
                                   (project, run_id)).fetchone()
        return None if row is None else row[0]

    def positions(self) -> dict[tuple[str, str], int]:
        with self._guard:
            rows = self._db.execute("SELECT project, run_id, next_seq FROM runs").fetchall()
        return {(p, r): n for p, r, n in rows}

    def projects(self) -> list[dict[str, Any]]:
        with self._guard:
            rows = self._db.execute("SELECT project, COUNT(*), MAX(updated) FROM runs "
                                    "GROUP BY project ORDER BY project").fetchall()
        return [{"project": p, "runs": n, "updated": u} for p, n, u in rows]

    def get(self, project: str, run_id: str) -> dict[str, Any] | None:
        rows = self._select("WHERE project = ? AND run_id = ?", [project, run_id], "", 1, 0)
        return rows[0] if rows else None

    def query(self, project: str | None, filters: list[str], order: str | None, limit: int,
              offset: int) -> list[dict[str, Any]]:
        """Runs matching every filter (``summary.rmse<58``, ``config.alpha=0.1``,
        ``tags.baseline``, ``status=finished``), ordered by ``order`` (``-`` for
        descending; default newest first)."""
        where, params = _where_sql(project, filters)
        order_sql = _order_sql(order)
        rows = self._select(where, params, order_sql, limit, offset)
        if not rows and filters and offset == 0:
            self.check_fields(project, filters)
        return rows

    def check_fields(self, project: str | None, filters: Sequence[str]) -> None:
        """BadQuery naming the first filter field no run (of ``project``) has, with close
        matches: such a filter is a typo, not a question whose answer is no runs."""
        wanted = [f for f in map(_filter_field, filters) if f.partition(".")[0] in SECTIONS]
        if not wanted:
            return
        where, params = _where_sql(project, ())
        with self._guard:
            found = self._db.execute(f"SELECT config, summary, tags FROM runs {where}",
                                     params).fetchall()
        known = known_fields({"config": json.loads(c or "{}"), "summary": json.loads(s or "{}"),
                              "tags": json.loads(t or "{}")} for c, s, t in found)
        place = f"in project {project!r}" if project is not None else "on this server"
        for field in wanted:
            message = unknown_field_message(field, known, place)
            if message:
                raise BadQuery(message, key=field)

    def count(self, project: str | None, filters: Sequence[str] = ()) -> int:
        """How many runs :meth:`query` pages through: the same project and filters.

        Raises:
            BadQuery: a filter the index cannot answer.
        """
        where, params = _where_sql(project, filters)
        with self._guard:
            return int(self._db.execute(f"SELECT COUNT(*) FROM runs {where}",
                                        params).fetchone()[0])

    def _select(self, where: str, params: list[Any], order: str, limit: int,
                offset: int) -> list[dict[str, Any]]:
        sql = f"SELECT {select_columns()} FROM runs {where} {order} LIMIT ? OFFSET ?"
        with self._guard:
            rows = self._db.execute(sql, [*params, limit, offset]).fetchall()
        return [row_answer(r, json.loads) for r in rows]


def _where_sql(project: str | None, filters: Sequence[str]) -> tuple[str, list[Any]]:
    """The WHERE clause of a project and filters (shared by query and count)."""
    where, params = ["1=1"], []
    if project is not None:
        where.append("project = ?")
        params.append(project)
    for text in filters:
        clause, values = _filter_sql(text)
        where.append(clause)
        params.extend(values)
    return "WHERE " + " AND ".join(where), params


def _path_sql(key: str) -> tuple[str, list[Any]]:
    """SQL for a field: ``name``, ``status``, ``config.a/b``, ``summary.x``, ``tags.t``."""
    if key in _FIELDS:
        column = {"status": STATUS_SQL, "id": "run_id"}.get(key, key)
        return column, []
    section, _, sub = key.partition(".")
    if section not in ("config", "summary", "tags") or not sub:
        raise BadQuery(f"unknown field {key!r}; use name, status, created, steps, or "
                       f"config.KEY, summary.KEY, tags.KEY", key=key)
    if section == "config":  # config.arch.layers: a dotted key, or a nested one
        paths = json_paths(sub)
        extracts = ", ".join("json_extract(config, ?)" for _ in paths)
        return (f"COALESCE({extracts})" if len(paths) > 1 else extracts), paths
    return f"json_extract({section}, ?)", ['$."' + sub.replace('"', '""') + '"']


def _filter_field(text: str) -> str:
    """The field a filter names (``config.a.b`` of ``config.a.b>=3``, ``tags.t``)."""
    match = _FILTER.match(text)
    return (match.group(1) if match else text).strip()


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _filter_sql(text: str) -> tuple[str, list[Any]]:
    match = _FILTER.match(text)
    if match is None:
        if text.startswith("tags."):  # bare tag: present
            column, params = _path_sql(text.strip())
            return "json_type(tags, ?) IS NOT NULL", params
        raise BadQuery(f"filter {text!r} is not FIELD OP VALUE (OP one of = != < <= > >=)")
    key, op, value = match.groups()
    column, params = _path_sql(key)
    return f"{column} {'<>' if op == '!=' else op} ?", [*params, _literal(value)]


def _order_sql(order: str | None) -> str:
    if not order:
        return "ORDER BY created DESC"
    desc = order.startswith("-")
    column, params = _path_sql(order.lstrip("-+"))
    # Parameters cannot go in ORDER BY through executescript-less paths portably: inline
    # the JSON path, escaped as an SQL string literal.
    for p in params:
        column = column.replace("?", "'" + p.replace("'", "''") + "'", 1)
    return f"ORDER BY {column} IS NULL, {column} {'DESC' if desc else 'ASC'}"
