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
  (:class:`Backoff`, up to 10 s), so an overloaded server is not pressed. When the
  answer carries ``Retry-After`` (429, 503: seconds or an HTTP-date,
  :func:`retry_after_seconds`) the run waits at least that long, bounded: never less
  than ``Backoff.base`` (a ``Retry-After: 0`` is no busy loop) and never more than
  :data:`RETRY_AFTER_CAP` (a hostile or broken server cannot stall a run for an hour),
  spread over up to 10% more (within the cap) so that runs refused together do not
  return together.
  Such an answer is the server's, so it never slows the probe of an unreachable server
  (:class:`Reachability` is reset by any answer).

Any other 4xx is final for that run (it is set aside and reported while the others go
on).
"""

from __future__ import annotations

import datetime
import math
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

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


#: The longest ``Retry-After`` honoured, in seconds: past it the run asks again anyway.
RETRY_AFTER_CAP = 60.0
#: Characters of a ``Retry-After`` value looked at (an HTTP-date is 29).
_RETRY_AFTER_CHARS = 64


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header value asks for (RFC 9110 §10.2.3): a whole
    number of seconds, or an HTTP-date (``now``: wall-clock seconds, default
    ``time.time()``; a date past is 0). None when absent or unreadable (then the
    backoff alone decides). Not bounded here: :meth:`Backoff.failed` bounds it."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _RETRY_AFTER_CHARS or not text.isascii():
        return None
    if text.isdigit():
        return float(min(int(text), 10 ** 9))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime's form has no zone: every HTTP-date is GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter (delay uniform in [0, min(cap,
    base * 2**attempt)]); a server's ``Retry-After`` raises the delay to what it asked,
    within [base, RETRY_AFTER_CAP], plus up to 10% (module docstring)."""

    base: float = 0.2
    cap: float = 10.0
    attempt: int = 0
    not_before: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def failed(self, now: float | None = None, retry_after: float | None = None) -> float:
        """Record a failure; returns the delay chosen. ``retry_after``: the seconds the
        server asked for (:func:`retry_after_seconds`), if it did."""
        now = time.monotonic() if now is None else now
        delay = self.rng.uniform(0, min(self.cap, self.base * (2 ** self.attempt)))
        if retry_after is not None:
            asked = min(RETRY_AFTER_CAP, max(self.base, retry_after))
            delay = max(delay, min(RETRY_AFTER_CAP, asked * (1 + 0.1 * self.rng.random())))
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


def asked_wait(error: BaseException) -> float | None:
    """The seconds the server's answer asked to wait (``Retry-After``), if it did."""
    return error.retry_after if isinstance(error, ServerRejected) else None


def describe(error: BaseException) -> str:
    return str(error) if isinstance(error, FlightlogError) else f"{type(error).__name__}: {error}"
