"""The progress bar of ``flightlog sync``: runs caught up out of runs found, and records
acknowledged, on a terminal's stderr only (the rule of flightlog/bundles/progress.py).

The bar is drawn by a thread of its own that reads the syncer's counts (runs found, each
shipper's ``caught_up`` and ``acked``) every tenth of a second: shipping never waits on
drawing, and the syncer needs no hook for it.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any

from flightlog.bundles.progress import progress_enabled

#: Seconds between redraws.
REDRAW = 0.1


class SyncProgress:
    """``with SyncProgress(syncer): syncer.sync_once(...)``; a no-op when off."""

    def __init__(self, syncer: Any) -> None:
        self._syncer = syncer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None

    def __enter__(self) -> SyncProgress:
        if progress_enabled():
            try:
                from tqdm import tqdm
            except ImportError:  # a core dependency; without it, no bar
                return self
            self._bar = tqdm(total=0, desc="sync", unit="run", file=sys.stderr, leave=False)
            self._thread = threading.Thread(target=self._draw, name="flightlog-sync-bar",
                                            daemon=True)
            self._thread.start()
        return self

    def _counts(self) -> tuple[int, int, int]:
        slots = list(self._syncer.slots.values())  # a copy: discovery may add runs
        done = sum(1 for s in slots if s.set_aside or s.shipper.caught_up)
        acked = sum(s.shipper.acked or 0 for s in slots)
        return len(slots), done, acked

    def _draw(self) -> None:
        while not self._stop.wait(REDRAW):
            self._update()

    def _update(self) -> None:
        total, done, acked = self._counts()
        bar = self._bar
        bar.total, bar.n = total, done
        bar.set_postfix_str(f"{acked} records acknowledged", refresh=False)
        bar.refresh()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._update()
            self._bar.close()
