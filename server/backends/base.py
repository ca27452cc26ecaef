"""The storage interface the HTTP API is written against, and what each backend shares.

Two implementations satisfy it:

- :class:`flightlog.server.storage.Storage` (``embedded.py``): SQLite + run directories
  under ``--data``; one server process owns the data. The default.
- :class:`flightlog.server.backends.scaled.ScaledStorage`: PostgreSQL (each run's committed
  mark, declared gaps, the query index) + an S3-compatible object store (frames and
  attached files); any number of stateless replicas behind one URL.

Both keep the exactly-once rules of storage.py (the committed high-water mark, batches
validated in full, repeats below the mark byte-compared, gaps declared exactly); only
where the committed bytes and the mark live differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from flightlog.format.localrun import LocalRun
from flightlog.format.state import RunState

from flightlog.errors import FlightlogError

T = TypeVar("T")


class BackendUnavailable(FlightlogError):
    """The database or the object store did not answer (HTTP 503 + Retry-After):
    nothing was committed, so the client retries the same batch. Recoverable."""


class Overloaded(FlightlogError):
    """This replica has as many commits in flight as it takes, or the run sent more
    requests/s than it takes (HTTP 429 + Retry-After). Recoverable: retry later."""

    #: Whole seconds the client is told to wait (``Retry-After``).
    retry_after: int = 1
    #: The answer's ``error`` field.
    code: str = "overloaded"


@runtime_checkable
class QueryIndex(Protocol):
    """The query index (one row per run): SQLite in index.py, PostgreSQL in pgindex.py.

    ``existed``, ``stamp`` and ``stamps`` serve the embedded store's start-up check of
    rows against run directories (storage.py); the scaled index writes its rows in the
    commit's own transaction, so it has no stamps (None) and nothing to check."""

    existed: bool

    def upsert(self, project: str, run_id: str, state: RunState, *, next_seq: int,
               writer_alive: bool | None, stamp: str | None = None) -> None: ...

    def stamp(self, project: str, run_id: str) -> str | None: ...

    def stamps(self) -> dict[tuple[str, str], str | None]: ...

    def positions(self) -> dict[tuple[str, str], int]: ...

    def projects(self) -> list[dict[str, Any]]: ...

    def get(self, project: str, run_id: str) -> dict[str, Any] | None: ...

    def query(self, project: str | None, filters: list[str], order: str | None, limit: int,
              offset: int) -> list[dict[str, Any]]: ...

    def count(self, project: str | None, filters: Sequence[str] = ()) -> int: ...


@runtime_checkable
class StorageBackend(Protocol):
    """What app.py, ui.py and chartdata.py use of a storage."""

    index: QueryIndex

    def exists(self, project: str, run_id: str) -> bool: ...

    def position(self, project: str, run_id: str) -> dict[str, Any]: ...

    def commit(self, project: str, run_id: str, segment: int, body: bytes, *,
               gaps: Sequence[tuple[int, int]] = (), writer_alive: bool | None = None
               ) -> Any: ...

    def set_writer_alive(self, project: str, run_id: str, alive: bool) -> None: ...

    def read(self, project: str, run_id: str, fn: Callable[[LocalRun], T]) -> T: ...

    def blob_state(self, sha: str) -> tuple[bool, int]: ...

    def blob_path(self, sha: str) -> Path: ...

    def append_blob(self, sha: str, offset: int, chunks: Iterable[bytes], final: bool,
                    max_bytes: int) -> tuple[bool, int]: ...
