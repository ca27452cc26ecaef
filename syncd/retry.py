"""Retry policy: which failures are retried, and when.

Connection errors, timeouts, 5xx, 408 and 429 are retried with capped exponential
backoff and full jitter; any other 4xx is final for that run (it is set aside and
reported while the others go on).
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


def describe(error: BaseException) -> str:
    return str(error) if isinstance(error, FlightlogError) else f"{type(error).__name__}: {error}"
