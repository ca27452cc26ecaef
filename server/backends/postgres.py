"""PostgreSQL: each run's committed mark, its committed batches, declared gaps, the index.

``--db postgresql://USER@HOST:PORT/DB`` (any libpq connection string). The schema is the
numbered SQL files in ``migrations/``, applied in order at start under an advisory lock
(replicas starting together apply each once) and recorded in ``schema_migrations``.

The commit of a batch is one short transaction (:meth:`Database.commit_batch`): a
conditional ``UPDATE marks ... WHERE next_seq = <the mark the batch was validated
against>``, the batch's ``chunks`` row, its declared gaps, and the run's index row. Two
replicas committing the same or overlapping batches at once both validate against the
same mark; the row lock makes the second wait, its condition then fails (0 rows), it rolls
back and :class:`StaleMark` sends it to validate again against the new mark, where its
frames are below the mark and are byte-compared and skipped. No home-made locking
between replicas: the database's row lock is the only arbiter.

Why psycopg 3 with psycopg_pool: the maintained PostgreSQL driver (libpq-based, typed,
server-side parameter binding), and its pool checks connections before handing them out
and replaces broken ones, so a database restart costs the requests in flight (503, the
client retries), not the replica.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from flightlog.format.state import RunState

from flightlog.errors import FlightlogError, MissingExtra

from .base import BackendUnavailable

#: Advisory lock keys (pg_advisory_lock's one bigint space, shared with nothing else of
#: ours): migrations at start; the orphan collector (exclusive) vs commits that reuse an
#: object already in the store (shared).
MIGRATION_LOCK = 0x666C_0001
COLLECTOR_LOCK = 0x666C_0002
POOL_TIMEOUT = 5.0


class StaleMark(FlightlogError):
    """The run's mark moved between validation and commit (another replica committed):
    validate the batch again against the new mark."""


class ObjectVanished(FlightlogError):
    """A batch's object, found already stored, was collected before the commit: put it
    again."""


@dataclass(frozen=True)
class Mark:
    next_seq: int
    segment: int


class Compacted(FlightlogError):
    """Rows a compaction meant to replace were replaced meanwhile (another replica
    compacted them): nothing was written."""


@dataclass(frozen=True)
class Chunk:
    start_seq: int
    end_seq: int
    segment: int
    object_key: str
    holes: list[tuple[int, int]]
    #: The object's size; None for rows written before schema version 3.
    bytes: int | None = None


class Database:
    """A connection pool and the statements of the scaled backend; every psycopg error
    becomes :class:`BackendUnavailable` here (HTTP 503), nowhere else."""

    def __init__(self, conninfo: str, *, max_size: int = 16) -> None:
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise MissingExtra(f"--db needs the 'scale' extra: pip install "
                               f"'flightlog[scale]' ({exc.name} is not installed)") from exc
        #: The ``--db`` it was opened with.
        self.conninfo = conninfo
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=max_size,
                                    timeout=POOL_TIMEOUT, open=False,
                                    check=ConnectionPool.check_connection,
                                    kwargs={"autocommit": True, "connect_timeout": 3})
        self._pool.open(wait=False)
        self.migrate()

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise BackendUnavailable(f"database unavailable: {type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else ''}"
                                     ) from None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as conn, conn.transaction():
            yield conn

    def migrate(self) -> list[int]:
        """Apply the numbered files of migrations/ not applied yet; returns those applied."""
        folder = resources.files(__package__).joinpath("migrations")
        files = sorted((int(f.name.split("_", 1)[0]), f) for f in folder.iterdir()
                       if f.name.endswith(".sql"))
        applied: list[int] = []
        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                             "PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                for version, file in files:
                    if version in done:
                        continue
                    with conn.transaction():
                        conn.execute(file.read_text())
                        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)",
                                     (version,))
                    applied.append(version)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        return applied

    # ------------------------------------------------------------ marks and batches

    def mark(self, project: str, run_id: str) -> Mark | None:
        with self.connection() as conn:
            row = conn.execute("SELECT next_seq, segment FROM marks WHERE project = %s AND "
                               "run_id = %s", (project, run_id)).fetchone()
        return None if row is None else Mark(int(row[0]), int(row[1]))

    def gaps(self, project: str, run_id: str) -> list[tuple[int, int]]:
        with self.connection() as conn:
            rows = conn.execute("SELECT first_seq, last_seq FROM gaps WHERE project = %s AND "
                                "run_id = %s ORDER BY first_seq", (project, run_id)).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def chunks_from(self, project: str, run_id: str, start_seq: int) -> list[Chunk]:
        """The committed batches holding records from ``start_seq`` on, in order (the
        first may start before ``start_seq``: a compacted row spanning it)."""
        with self.connection() as conn:
            rows = conn.execute("SELECT start_seq, end_seq, segment, object_key, holes, bytes "
                                "FROM chunks WHERE project = %s AND run_id = %s AND "
                                "end_seq > %s ORDER BY start_seq",
                                (project, run_id, start_seq)).fetchall()
        return [Chunk(int(a), int(b), int(s), str(k), [(int(x), int(y)) for x, y in h],
                      None if n is None else int(n))
                for a, b, s, k, h, n in rows]

    def replace_chunks(self, project: str, run_id: str, old: list[Chunk], object_key: str,
                       size: int, object_present: Callable[[], bool] | None = None) -> None:
        """Compaction's commit: the consecutive rows ``old`` (one segment) become one row
        naming ``object_key`` (their frames, in order), in one transaction; readers see
        either all the old rows or the new one. ``object_present`` as in commit_batch.

        Raises:
            Compacted: one of ``old`` was replaced meanwhile; nothing was written.
            ObjectVanished: the object was collected; put it again.
        """
        holes = [list(h) for chunk in old for h in chunk.holes]
        with self.transaction() as conn:
            if object_present is not None:
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (COLLECTOR_LOCK,))
                if not object_present():
                    raise ObjectVanished(f"object {object_key} was collected", key=object_key)
            gone = conn.execute(
                "DELETE FROM chunks WHERE project = %s AND run_id = %s AND (start_seq, "
                "object_key) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
                (project, run_id, [c.start_seq for c in old],
                 [c.object_key for c in old])).rowcount
            if gone != len(old):
                raise Compacted(f"{project}/{run_id}: rows {old[0].start_seq}.."
                                f"{old[-1].end_seq} were compacted meanwhile")
            conn.execute("INSERT INTO chunks (project, run_id, start_seq, end_seq, segment, "
                         "object_key, holes, bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (project, run_id, old[0].start_seq, old[-1].end_seq, old[0].segment,
                          object_key, json.dumps(holes), size))

    def commit_batch(self, project: str, run_id: str, *, start: int, end: int, segment: int,
                     object_key: str, holes: list[tuple[int, int]], state: RunState,
                     writer_alive: bool | None, upsert: Callable[..., None],
                     object_present: Callable[[], bool] | None = None,
                     size: int | None = None) -> None:
        """Move the run's mark from ``start`` to ``end``, atomically with the batch's row,
        its gaps and index row (``upsert(conn, ...)``).

        ``object_present``: given when the batch's object was found already stored (not
        written by this call); checked under the collector's lock, shared, so the object
        cannot be collected between this check and the commit.

        Raises:
            StaleMark: the mark is no longer ``start``; nothing was written.
            ObjectVanished: the object was collected; put it again.
        """
        with self.transaction() as conn:
            if object_present is not None:
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (COLLECTOR_LOCK,))
                if not object_present():
                    raise ObjectVanished(f"object {object_key} was collected", key=object_key)
            if start == 0:
                moved = conn.execute("INSERT INTO marks VALUES (%s, %s, %s, %s) ON CONFLICT "
                                     "DO NOTHING", (project, run_id, end, segment)).rowcount
            else:
                moved = conn.execute("UPDATE marks SET next_seq = %s, segment = GREATEST("
                                     "segment, %s) WHERE project = %s AND run_id = %s AND "
                                     "next_seq = %s",
                                     (end, segment, project, run_id, start)).rowcount
            if moved != 1:
                raise StaleMark(f"{project}/{run_id}: mark moved from {start}")
            conn.execute("INSERT INTO chunks (project, run_id, start_seq, end_seq, segment, "
                         "object_key, holes, bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (project, run_id, start, end, segment, object_key,
                          json.dumps([list(h) for h in holes]), size))
            for first, last in holes:
                conn.execute("INSERT INTO gaps VALUES (%s, %s, %s, %s)",
                             (project, run_id, first, last))
            upsert(project, run_id, state, next_seq=end, writer_alive=writer_alive,
                   conn=conn)

    @staticmethod
    def committed_keys(conn: Any, keys: list[str]) -> set[str]:
        """Which of ``keys`` a committed batch names (on the collector's connection)."""
        rows = conn.execute("SELECT object_key FROM chunks WHERE object_key = ANY(%s)",
                            (keys,)).fetchall()
        return {str(r[0]) for r in rows}

    def runs_with_small_chunks(self, at_least: int, small: int, limit: int = 1000
                               ) -> list[tuple[str, str]]:
        """Runs with ``at_least`` rows whose objects are under ``small`` bytes (or of
        unknown size): due for compaction."""
        with self.connection() as conn:
            rows = conn.execute("SELECT project, run_id FROM chunks WHERE bytes IS NULL OR "
                                "bytes < %s GROUP BY project, run_id HAVING count(*) >= %s "
                                "LIMIT %s", (small, at_least, limit)).fetchall()
        return [(str(p), str(r)) for p, r in rows]

    @staticmethod
    def collector_cursor(conn: Any) -> str:
        """The key after which the collector's next sweep lists (on its connection)."""
        row = conn.execute("SELECT after_key FROM collector_cursor WHERE id = 1").fetchone()
        return "" if row is None else str(row[0])

    @staticmethod
    def set_collector_cursor(conn: Any, after: str) -> None:
        conn.execute("UPDATE collector_cursor SET after_key = %s WHERE id = 1", (after,))

    @contextmanager
    def collector_lock(self) -> Iterator[Any]:
        """The orphan collector's exclusive hold (commits reusing an object wait)."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (COLLECTOR_LOCK,))
            yield conn
