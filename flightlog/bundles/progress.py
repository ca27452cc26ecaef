"""Progress bars of long bundles and imports: tqdm on stderr, only when stderr is a
terminal (never in logs, pipes or tests) and not turned off by ``FLIGHTLOG_PROGRESS=0``."""

from __future__ import annotations

import os
import sys
from typing import Any


def progress_enabled() -> bool:
    """Bars are drawn only on a terminal's stderr, unless ``FLIGHTLOG_PROGRESS=0``."""
    return sys.stderr.isatty() and os.environ.get("FLIGHTLOG_PROGRESS") != "0"


class Progress:
    """Bytes done out of a known total; a no-op when off."""

    def __init__(self, total: int, what: str) -> None:
        self._bar: Any = None
        if total > 0 and progress_enabled():
            try:
                from tqdm import tqdm
            except ImportError:  # a core dependency; an environment without it shows none
                return
            self._bar = tqdm(total=total, desc=what, unit="B", unit_scale=True,
                             unit_divisor=1024, file=sys.stderr, leave=False)

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


__all__ = ["Progress", "progress_enabled"]
