"""Admission: a replica takes at most N frame batches at once, and each run at most R
requests/s (:class:`RunRate`), and says so (429).

Each commit holds a worker thread and, on the scaled backend, a database connection and
object-store calls; past the bound a replica would queue work it cannot finish in the
client's timeout. It answers ``429 Too Many Requests`` with ``Retry-After`` instead, at
once, before reading the body: the client (syncd's Backoff) retries later, or the load
balancer's next pick takes the batch. The bound: ``FLIGHTLOG_MAX_COMMITS`` (default 32 on
the scaled backend; none on the embedded one, whose behaviour is unchanged).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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


#: Requests/s per run a scaled replica takes on a run's sync routes (``.../sync``,
#: ``.../frames``, ``.../writer``; the burst: twice that): ``FLIGHTLOG_RUN_RATE``,
#: ``FLIGHTLOG_RUN_BURST`` (README "Running at scale"). A daemon sends one batch of a run
#: at a time, a few per second at most; past this, a client is misbehaving or a run is
#: shared by far too many writers.
SCALED_RUN_RATE = 20.0
#: Runs whose buckets are kept (the least recently used is forgotten: it starts full).
MAX_RATED_RUNS = 100_000


class RateLimited(Overloaded):
    """One run's requests/s over the replica's per-run limit (HTTP 429 + Retry-After)."""

    code = "rate-limited"

    def __init__(self, message: str, retry_after: int, **context: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **context)


class RunRate:
    """A token bucket per run (thread-safe): ``rate`` requests/s, ``burst`` at once.

    Invariant: a run is answered at most ``burst + rate * t`` requests in any ``t``
    seconds by this replica; a refused request takes no token, so a client that waits
    the ``Retry-After`` it was given is then admitted."""

    def __init__(self, rate: float | None, burst: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._guard = threading.Lock()
        # run -> (tokens, when counted); ordered by last use.
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    @classmethod
    def for_backend(cls, scaled: bool) -> RunRate:
        """From ``FLIGHTLOG_RUN_RATE`` (0: no limit) and ``FLIGHTLOG_RUN_BURST`` (default
        twice the rate); without them, the scaled backend's defaults and no limit on the
        embedded one (its behaviour unchanged)."""
        rate_text = os.environ.get("FLIGHTLOG_RUN_RATE", "")
        burst_text = os.environ.get("FLIGHTLOG_RUN_BURST", "")
        try:
            rate = float(rate_text) if rate_text else (SCALED_RUN_RATE if scaled else 0.0)
            burst = int(burst_text) if burst_text else max(1, math.ceil(2 * rate))
            if not (0 <= rate < 1e9 and burst >= 1):
                raise ValueError
        except ValueError:
            raise SystemExit(f"FLIGHTLOG_RUN_RATE={rate_text!r} FLIGHTLOG_RUN_BURST="
                             f"{burst_text!r}: give requests/s >= 0 (0: no limit) and a "
                             f"whole number >= 1") from None
        return cls(rate or None, burst)

    def admit(self, project: str, run_id: str) -> None:
        """Take one request of the run, or raise RateLimited naming the wait."""
        if self.rate is None:
            return
        key = (project, run_id)
        with self._guard:
            now = self._clock()
            tokens, then = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1 - tokens) / self.rate))
                raise RateLimited(f"run {project}/{run_id} sent more than {self.rate:g} "
                                  f"requests/s (burst {self.burst}), this server's limit "
                                  f"per run (FLIGHTLOG_RUN_RATE): retry in {wait} s",
                                  retry_after=wait, key=f"{project}/{run_id}")
            self._buckets[key] = (tokens - 1, now)
            while len(self._buckets) > MAX_RATED_RUNS:
                self._buckets.popitem(last=False)
