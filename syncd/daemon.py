"""The sync loop: find runs under the roots, ship each, retry with backoff.

``sync_once`` (``flightlog sync``) ships what is there and returns per-run outcomes;
``follow`` (``flightlog syncd``) keeps going as runs grow until told to stop. Both use
the same :class:`Syncer`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.format.rundir import find_run_dirs

from flightlog.errors import SyncError

from .client import SyncClient
from .positions import PositionStore
from .retry import Backoff, describe, is_retryable
from .shipper import RunShipper, run_identity
from .watch import Watcher, needs_polling


@dataclass
class RunSlot:
    shipper: RunShipper
    backoff: Backoff = field(default_factory=Backoff)
    error: str = ""
    set_aside: bool = False


class Syncer:
    """Ships every run under ``roots`` through ``client``.

    Args:
        rescan_interval: seconds between full rescans (the truth; events only hint).
    """

    def __init__(self, roots: list[Path], client: SyncClient, positions: PositionStore, *,
                 rescan_interval: float = 2.0, log: object = None) -> None:
        self.roots = roots
        self.client = client
        self.positions = positions
        self.rescan_interval = rescan_interval
        self.slots: dict[str, RunSlot] = {}
        self.wake = threading.Event()
        self.stop_event = threading.Event()

    def discover(self) -> None:
        for root in self.roots:
            for run_dir in find_run_dirs(root):
                identity = run_identity(run_dir)
                if identity is None:
                    continue  # not written yet: next rescan
                project, run_id = identity
                if run_id not in self.slots:
                    self.slots[run_id] = RunSlot(RunShipper(
                        run_dir, run_id, project, self.client, self.positions))

    def ship_round(self) -> bool:
        """Ship every run that is due. True when anything moved."""
        moved = False
        for slot in self.slots.values():
            if slot.set_aside or not slot.backoff.ready():
                continue
            try:
                moved |= slot.shipper.ship()
                slot.backoff.succeeded()
                slot.error = ""
            except SyncError as exc:
                slot.error = describe(exc)
                if is_retryable(exc) or getattr(exc, "status_code", 0) == 409:
                    slot.backoff.failed()
                else:
                    slot.set_aside = True
                    slot.shipper.position.set_aside = True
                    self.positions.save(slot.shipper.position)
        return moved

    def caught_up(self) -> bool:
        return all(s.set_aside or (s.shipper.caught_up and not s.error)
                   for s in self.slots.values())

    def sync_once(self, timeout: float = 60.0) -> dict[str, RunSlot]:
        """Ship everything complete now; retry transient failures until ``timeout``."""
        deadline = time.monotonic() + timeout
        self.discover()
        while True:
            self.ship_round()
            if self.caught_up() or time.monotonic() >= deadline:
                return self.slots
            waits = [s.backoff.not_before - time.monotonic() for s in self.slots.values()
                     if not s.set_aside and s.error]
            self.stop_event.wait(min(max(0.01, min(waits, default=0.05)),
                                     max(0.0, deadline - time.monotonic())))

    def follow(self, poll: float | None = None) -> None:
        """Ship as runs grow until ``stop_event`` is set. ``poll``: seconds between scans
        without filesystem events (NFS/Lustre); None: inotify hints plus rescans, or
        polling every second where inotify cannot see (automatic)."""
        watcher = None
        if poll is None and not any(needs_polling(r) for r in self.roots):
            watcher = Watcher(self.roots, self.wake)
            if not watcher.start():
                watcher, poll = None, 1.0
        interval = poll if poll is not None else self.rescan_interval
        if watcher is None and poll is None:
            interval = 1.0
        last_scan = 0.0
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now - last_scan >= interval:
                    self.discover()
                    last_scan = now
                self.ship_round()
                self.wake.wait(self._next_wait(interval - (time.monotonic() - last_scan)))
                self.wake.clear()
        finally:
            if watcher is not None:
                watcher.stop()

    def _next_wait(self, until_scan: float) -> float:
        waits = [s.backoff.not_before - time.monotonic() for s in self.slots.values()
                 if not s.set_aside and s.error]
        return max(0.01, min([until_scan, *waits]))

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
