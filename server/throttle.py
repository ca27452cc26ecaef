"""Guessing the server token is throttled: failed authentications per client address.

Invariants (README "Security model"):

- At most ``limit`` failed authentications (a wrong bearer token, a wrong token typed into
  ``/login``, a forged or revoked session cookie) from one client address within any
  ``window`` seconds. Past that, every request from that address that needs
  authentication is answered 429 with ``Retry-After`` — even one carrying the right
  token, so a blocked guesser learns nothing from the answer — until its oldest failure
  in the window ages out.
- A request carrying no credential at all is not a guess and is never counted (a browser
  on its way to the login form, a health check).
- Memory is bounded: at most ``max_clients`` addresses are tracked; the one whose latest
  failure is oldest is forgotten first.

The cost: a legitimate client behind the same address as a guesser (one NAT, one proxy)
is refused too while the guesser keeps failing. That is the usual trade (sshd's
MaxStartups, fail2ban); a proxy in front should pass the real address to the server.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["GuessThrottle"]


class GuessThrottle:
    """Failed authentications per client address, in a sliding window (thread-safe)."""

    def __init__(self, limit: int = 10, window: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window <= 0 or max_clients < 1:
            raise ValueError("limit and max_clients must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        # address -> times of its failures within the window, oldest first; the mapping is
        # ordered by latest failure, so the first entry is the one to forget first.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @classmethod
    def from_env(cls) -> GuessThrottle:
        """``FLIGHTLOG_AUTH_FAILURES`` (default 10) per ``FLIGHTLOG_AUTH_WINDOW`` seconds
        (default 60)."""
        texts = (os.environ.get("FLIGHTLOG_AUTH_FAILURES") or "10",
                 os.environ.get("FLIGHTLOG_AUTH_WINDOW") or "60")
        try:
            limit, window = int(texts[0]), float(texts[1])
            return cls(limit, window)
        except ValueError:
            raise SystemExit(f"FLIGHTLOG_AUTH_FAILURES={texts[0]!r} FLIGHTLOG_AUTH_WINDOW="
                             f"{texts[1]!r}: give a whole number >= 1 and seconds > 0") from None

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try again; 0 when it is not blocked."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if times is None or len(times) < self.limit:
                return 0
            # Blocked until the failure that keeps it at the limit ages out.
            return max(1, math.ceil(times[-self.limit] + self.window - now))

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if times is None:
                times = self._failures[address] = deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(address)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
