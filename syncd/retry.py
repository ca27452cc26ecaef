"""Retry policy: which failures are retried, and when.

Two kinds of transient failure, two clocks:

- The server does not answer at all (refused, reset, timed out: ``TransportError``).
  That is the server's or the network's state, not a run's, so it is one
  :class:`Reachability` shared by every run: while it lasts one run's next request is
  the probe (one at a time, whatever the number of runs), spaced by an exponential delay
  from ``base`` up to a low ``cap`` (0.5 s) with equal jitter. A server that comes back
  after any outage is found within ``cap`` of its first answer, and a dead one sees at
  most ``2 / cap`` attempts a second. Nothing here waits longer because the outage was
  long: a refused connection costs the server nothing, and a probe that timed out has
  already waited its timeout (one request at a time, not one per run).
- The server answers but refuses for now (5xx, 408, 429, a 409 conflict, a local read
  error): that run alone waits, with capped exponential backoff and full jitter
  (:class:`Backoff`, up to 10 s), so an overloaded server is not pressed.

Any other 4xx is final for that run (it is set aside and reported while the others go
on).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from flightlog.errors import FlightlogError, ServerRejected, TransportError


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, TransportError):
        return True
    if isinstance(error, ServerRejected):
        return error.retryable
    return False


def is_unreachable(error: BaseException) -> bool:
    """The server gave no answer (the failure is :class:`Reachability`'s, not a run's)."""
    return isinstance(error, TransportError)


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter (delay uniform in [0, min(cap,
    base * 2**attempt)])."""

    base: float = 0.2
    cap: float = 10.0
    attempt: int = 0
    not_before: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def failed(self, now: float | None = None) -> float:
        """Record a failure; returns the delay chosen."""
        now = time.monotonic() if now is None else now
        delay = self.rng.uniform(0, min(self.cap, self.base * (2 ** self.attempt)))
        self.attempt = min(self.attempt + 1, 30)
        self.not_before = now + delay
        return delay

    def succeeded(self) -> None:
        self.attempt = 0
        self.not_before = 0.0

    def ready(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.not_before


@dataclass
class Reachability:
    """Whether the server answers, for every run of one daemon.

    ``down`` from the first unanswered request to the next answered one. While down,
    :meth:`ready` says when the next probe may go: delays ``min(cap, base * 2**n)``
    halved plus a uniform jitter over the other half (equal jitter: spread out, never
    zero, so daemons restarted together do not probe in step and a dead server sees a
    bounded rate).
    """

    base: float = 0.05
    cap: float = 0.5
    attempt: int = 0
    down: bool = False
    not_before: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def failed(self, now: float | None = None) -> float:
        """An unanswered request; returns the delay until the next probe."""
        now = time.monotonic() if now is None else now
        ceiling = min(self.cap, self.base * 2.0 ** self.attempt)
        delay = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        self.attempt = min(self.attempt + 1, 30)
        self.down = True
        self.not_before = now + delay
        return delay

    def answered(self) -> None:
        self.attempt = 0
        self.down = False
        self.not_before = 0.0

    def ready(self, now: float | None = None) -> bool:
        return not self.down or (time.monotonic() if now is None else now) >= self.not_before


def describe(error: BaseException) -> str:
    return str(error) if isinstance(error, FlightlogError) else f"{type(error).__name__}: {error}"
