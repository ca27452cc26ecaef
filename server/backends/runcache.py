"""The bound of a scaled replica's read-through cache: which run directories stay on disk.

A replica materialises each run it serves into ``--data`` (scaled.py); without a bound
that directory grows with every run ever read. :class:`DiskLru` keeps the runs in order of
last use with their size on disk (segment files + attached files), and names the least
recently used once the cache holds more than ``FLIGHTLOG_CACHE_RUNS`` runs (default
:data:`CACHE_RUNS`) or ``FLIGHTLOG_CACHE_BYTES`` bytes (default :data:`CACHE_BYTES`).

Invariants (enforced by scaled.py, which evicts):

- The cache is derived: an evicted run is materialised again from PostgreSQL + the
  object store on its next use; nothing is lost.
- A run is evicted only under its lock, taken without waiting: a run being read or
  committed to is skipped, and so is the caller's own run. One run bigger than the byte
  bound therefore still works (the bound is then exceeded by that run alone).
- Attached files in the replica's blob cache that no cached run links any more are
  deleted with the last run linking them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from flightlog.format._constants import FILES_DIR
from flightlog.format.segment import list_segments

#: Runs a replica keeps on disk, and their bytes (segments + attached files).
CACHE_RUNS = 10_000
CACHE_BYTES = 20 << 30


def _bound(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SystemExit(f"{name}={text!r}: give a whole number >= 1")
    return int(text)


def limits_from_env() -> tuple[int, int]:
    """(runs, bytes) from ``FLIGHTLOG_CACHE_RUNS`` and ``FLIGHTLOG_CACHE_BYTES``."""
    return _bound("FLIGHTLOG_CACHE_RUNS", CACHE_RUNS), _bound("FLIGHTLOG_CACHE_BYTES",
                                                               CACHE_BYTES)


def run_bytes(run_dir: Path) -> int:
    """Bytes of a cached run directory: its segments and its attached files."""
    total = 0
    for _, path in list_segments(run_dir):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    for folder, _, names in os.walk(run_dir / FILES_DIR):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


class DiskLru:
    """Cached runs in order of last use, with their bytes (thread-safe)."""

    def __init__(self, max_runs: int, max_bytes: int) -> None:
        self.max_runs = max_runs
        self.max_bytes = max_bytes
        self.total = 0
        self._sizes: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._sizes)

    def touch(self, key: tuple[str, str], size: int | None = None) -> None:
        """The run was used now; ``size``: its bytes, measured (None: as known)."""
        with self._guard:
            known = self._sizes.pop(key, 0)
            size = known if size is None else size
            self._sizes[key] = size
            self.total += size - known

    def grow(self, key: tuple[str, str], added: int) -> None:
        """Bytes written to a cached run (an append, an attached file linked)."""
        with self._guard:
            if key in self._sizes:
                self._sizes[key] += added
                self.total += added

    def forget(self, key: tuple[str, str]) -> None:
        with self._guard:
            self.total -= self._sizes.pop(key, 0)

    def over(self) -> bool:
        with self._guard:
            return len(self._sizes) > self.max_runs or self.total > self.max_bytes

    def oldest(self) -> list[tuple[str, str]]:
        """The runs, least recently used first (a snapshot)."""
        with self._guard:
            return list(self._sizes)
