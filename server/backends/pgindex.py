"""The query index in PostgreSQL: index.py's table and query language, in JSONB.

The same filters and orderings as the SQLite index (``summary.rmse<58``,
``config.alpha=0.1``, ``tags.baseline``, ``status=finished``, ``-summary.acc``) with the
same meaning: a config, summary or tag value is compared as JSON (numbers numerically,
strings as text). NaN and infinities are stored as null, as in index.py; exact values
are served from the run's frames.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from flightlog.format.state import RunState

from ..index import _FIELDS, _FILTER, BadQuery, _literal
from ..indexrow import STATUS_SQL, row_answer, row_values, select_columns, upsert_sql
from ..runfields import run_times
from .postgres import Database

#: indexrow.py's row; a row already at a later mark is kept (two replicas' answers may
#: arrive out of order: the index only moves forward).
_UPSERT = upsert_sql("%s", json_cast="::jsonb", where="runs.next_seq <= excluded.next_seq")
#: Fills the times of a row written before they were columns (migration 0002).
_FILL_TIMES = ("UPDATE runs SET duration = %s, last_update = %s WHERE project = %s AND "
               "run_id = %s AND next_seq = %s AND last_update IS NULL")


class PgIndex:
    """:class:`~.base.QueryIndex` over the ``runs`` table."""

    #: Nothing to check at start (storage.py's check_index): rows are written with the
    #: mark they describe, in one transaction.
    existed = False

    def __init__(self, db: Database) -> None:
        self._db = db

    def stamp(self, project: str, run_id: str) -> str | None:
        return None

    def stamps(self) -> dict[tuple[str, str], str | None]:
        return {}

    def upsert(self, project: str, run_id: str, state: RunState, *, next_seq: int,
               writer_alive: bool | None, stamp: str | None = None, conn: Any = None
               ) -> None:
        """Insert or update the run's row; a row already at a later mark is kept (two
        replicas' answers may arrive out of order: the index only moves forward).
        ``stamp`` is the embedded store's and is not kept."""
        row = row_values(project, run_id, state, next_seq=next_seq,
                         writer_alive=writer_alive)
        sql = _UPSERT
        if conn is not None:
            conn.execute(sql, row)
            return
        with self._db.connection() as own:
            own.execute(sql, row)

    def fill_times(self, project: str, run_id: str, state: RunState, next_seq: int) -> None:
        """Give a row written before migration 0002 its duration and last update (from
        the run's state at ``next_seq``, read by a replica); a no-op on any other row."""
        duration, last_update = run_times(state)
        if last_update is None:
            return
        with self._db.connection() as conn:
            conn.execute(_FILL_TIMES, (duration, last_update, project, run_id, next_seq))

    def set_writer_alive(self, project: str, run_id: str, alive: bool) -> None:
        with self._db.connection() as conn:
            conn.execute("UPDATE runs SET writer_alive = %s, updated = %s WHERE project = %s "
                         "AND run_id = %s", (int(alive), time.time(), project, run_id))

    def positions(self) -> dict[tuple[str, str], int]:
        with self._db.connection() as conn:
            rows = conn.execute("SELECT project, run_id, next_seq FROM runs").fetchall()
        return {(p, r): int(n) for p, r, n in rows}

    def projects(self) -> list[dict[str, Any]]:
        with self._db.connection() as conn:
            rows = conn.execute("SELECT project, COUNT(*), MAX(updated) FROM runs "
                                "GROUP BY project ORDER BY project").fetchall()
        return [{"project": p, "runs": int(n), "updated": u} for p, n, u in rows]

    def get(self, project: str, run_id: str) -> dict[str, Any] | None:
        rows = self._select("WHERE project = %s AND run_id = %s", [project, run_id], "", 1, 0)
        return rows[0] if rows else None

    def query(self, project: str | None, filters: list[str], order: str | None, limit: int,
              offset: int) -> list[dict[str, Any]]:
        where, params = _where_sql(project, filters)
        return self._select(where, params, _order_sql(order), limit, offset)

    def count(self, project: str | None, filters: Sequence[str] = ()) -> int:
        where, params = _where_sql(project, filters)
        with self._db.connection() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM runs {where}",
                                    params).fetchone()[0])

    def _select(self, where: str, params: list[Any], order: str, limit: int,
                offset: int) -> list[dict[str, Any]]:
        sql = f"SELECT {select_columns()} FROM runs {where} {order} LIMIT %s OFFSET %s"
        with self._db.connection() as conn:
            rows = conn.execute(sql, [*params, limit, offset]).fetchall()
        return [row_answer(r, lambda value: value) for r in rows]


def _where_sql(project: str | None, filters: Sequence[str]) -> tuple[str, list[Any]]:
    where, params = ["TRUE"], []
    if project is not None:
        where.append("project = %s")
        params.append(project)
    for text in filters:
        clause, values = _filter_sql(text)
        where.append(clause)
        params.extend(values)
    return "WHERE " + " AND ".join(where), params


def _path_sql(key: str) -> tuple[str, list[Any], bool]:
    """(SQL, parameters, is JSONB) of a field."""
    if key in _FIELDS:
        return {"status": STATUS_SQL, "id": "run_id"}.get(key, key), [], False
    section, _, sub = key.partition(".")
    if section not in ("config", "summary", "tags") or not sub:
        raise BadQuery(f"unknown field {key!r}; use name, status, created, steps, or "
                       f"config.KEY, summary.KEY, tags.KEY", key=key)
    return f"({section} -> %s)", [sub], True


def _filter_sql(text: str) -> tuple[str, list[Any]]:
    match = _FILTER.match(text)
    if match is None:
        if text.startswith("tags."):  # bare tag: present
            column, params, _ = _path_sql(text.strip())
            return f"{column} IS NOT NULL", params
        raise BadQuery(f"filter {text!r} is not FIELD OP VALUE (OP one of = != < <= > >=)")
    key, op, value = match.groups()
    column, params, is_json = _path_sql(key)
    literal = _literal(value)
    sql_op = "<>" if op == "!=" else op
    if is_json:
        return f"{column} {sql_op} %s::jsonb", [*params, json.dumps(literal)]
    if isinstance(literal, (int, float)) and not isinstance(literal, bool) and \
            key in ("created", "updated", "steps", "duration", "last_update"):
        return f"{column} {sql_op} %s", [*params, literal]
    return f"{column}::text {sql_op} %s", [*params, str(literal)]


def _order_sql(order: str | None) -> str:
    if not order:
        return "ORDER BY created DESC"
    desc = order.startswith("-")
    column, params, _ = _path_sql(order.lstrip("-+"))
    for p in params:  # the key inlined as an escaped SQL string literal
        literal = "'" + p.replace("'", "''").replace("%", "%%") + "'"
        column = column.replace("%s", literal, 1)
    return f"ORDER BY {column} IS NULL, {column} {'DESC' if desc else 'ASC'}"
