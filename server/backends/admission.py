"""Admission: a replica takes at most N frame batches at once, and says so (429).

Each commit holds a worker thread and, on the scaled backend, a database connection and
object-store calls; past the bound a replica would queue work it cannot finish in the
client's timeout. It answers ``429 Too Many Requests`` with ``Retry-After`` instead, at
once, before reading the body: the client (syncd's Backoff) retries later, or the load
balancer's next pick takes the batch. The bound: ``FLIGHTLOG_MAX_COMMITS`` (default 32 on
the scaled backend; none on the embedded one, whose behaviour is unchanged).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from .base import Overloaded

#: Commits in flight per replica on the scaled backend (README "Running at scale").
SCALED_MAX_COMMITS = 32
#: Seconds a refused client is told to wait.
RETRY_AFTER = 1


class CommitGate:
    """A counter of commits in flight (used on the event loop's thread only)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_flight = 0

    @classmethod
    def for_backend(cls, scaled: bool) -> CommitGate:
        text = os.environ.get("FLIGHTLOG_MAX_COMMITS", "")
        if text:
            if not text.isdigit() or int(text) < 1:
                raise SystemExit(f"FLIGHTLOG_MAX_COMMITS={text!r}: give a whole number >= 1")
            return cls(int(text))
        return cls(SCALED_MAX_COMMITS if scaled else None)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Raises Overloaded when ``limit`` commits are in flight already."""
        if self.limit is not None and self.in_flight >= self.limit:
            raise Overloaded(f"this server has {self.in_flight} batches in flight, its "
                             f"limit (FLIGHTLOG_MAX_COMMITS={self.limit}): retry in "
                             f"{RETRY_AFTER} s")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
