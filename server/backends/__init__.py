"""Storage backends of the server: one interface (base.py), two implementations.

- embedded (default): ``flightlog server --data DIR``: SQLite + run directories (storage.py).
- scaled: ``flightlog server --db postgresql://... --store s3://bucket/prefix?endpoint=...
  [--data CACHE]``: PostgreSQL + an S3-compatible object store, any number of stateless
  replicas behind one URL (scaled.py). Needs the ``scale`` extra.

This package imports no database or object-store client until a scaled storage is opened.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from .base import BackendUnavailable, Overloaded, QueryIndex, StorageBackend

if TYPE_CHECKING:
    from ..storage import Storage

#: Seconds between a replica's orphan collections (scaled.py's ORPHAN_AGE is the grace).
ORPHAN_SWEEP = 900.0

__all__ = ["BackendUnavailable", "Overloaded", "QueryIndex", "StorageBackend", "open_storage"]


def open_storage(data_dir: str | None, *, db: str | None = None, store: str | None = None,
                 partial_ttl: float, collect_every: float | None = None,
                 defer_check: bool = False) -> Storage:
    """The storage a server was started with: embedded under ``data_dir`` unless ``db``
    and ``store`` are given (then ``data_dir`` is the replica's disposable cache; a
    temporary directory when None). ``defer_check``: the embedded index check begins at
    ``start_index_check()`` (storage.py; the scaled backend has none)."""
    from flightlog.errors import FlightlogError

    if (db is None) != (store is None):
        raise FlightlogError("give both --db and --store (the scaled backend), or neither "
                             "(the embedded one under --data)")
    if db is None or store is None:
        if data_dir is None:
            raise FlightlogError("give --data DIR (or --db and --store)")
        from ..storage import Storage

        return Storage(data_dir, partial_ttl=partial_ttl, defer_check=defer_check)
    from .scaled import ScaledStorage

    cache = data_dir or tempfile.mkdtemp(prefix="flightlog-cache-")
    os.makedirs(cache, exist_ok=True)
    return ScaledStorage(cache, db, store, partial_ttl=partial_ttl,
                         collect_every=ORPHAN_SWEEP if collect_every is None else collect_every)
