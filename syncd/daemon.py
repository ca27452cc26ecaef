"""The sync loop: find runs under the roots, ship each, retry with backoff.

``sync_once`` (``flightlog sync``) ships what is there and returns per-run outcomes;
``follow`` (``flightlog syncd``) keeps going as runs grow until told to stop. Both use
the same :class:`Syncer`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.format.rundir import find_run_dirs, is_run_dir

from flightlog.errors import SyncError

from .client import SyncClient
from .positions import PositionStore
from .retry import Backoff, describe, is_retryable
from .shipper import LocalReadError, RunShipper, run_identity
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
        log: called with a line for each run that starts failing, is set aside, or
            recovers (the daemon's stderr).
    """

    def __init__(self, roots: list[Path], client: SyncClient, positions: PositionStore, *,
                 rescan_interval: float = 2.0, log: Callable[[str], None] | None = None
                 ) -> None:
        self.roots = roots
        self.client = client
        self.positions = positions
        self.rescan_interval = rescan_interval
        self.log = log or (lambda line: None)
        self.slots: dict[str, RunSlot] = {}
        self._identities: dict[Path, tuple[str, str]] = {}
        self.wake = threading.Event()
        self.stop_event = threading.Event()

    def discover(self) -> None:
        for root in self.roots:
            for run_dir in find_run_dirs(root):
                identity = self._identities.get(run_dir) or run_identity(run_dir)
                if identity is not None:
                    self._identities[run_dir] = identity  # a run's identity never changes
                if identity is None:
                    continue  # not written yet: next rescan
                project, run_id = identity
                slot = self.slots.get(run_id)
                if slot is None:
                    self.slots[run_id] = RunSlot(RunShipper(
                        run_dir, run_id, project, self.client, self.positions))
                elif slot.shipper.dir != run_dir and not is_run_dir(slot.shipper.dir):
                    slot.shipper.relocate(run_dir)  # moved while we follow it
                    slot.set_aside, slot.error = False, ""

    def ship_round(self, deadline: float | None = None) -> bool:
        """Ship every run that is due, until ``deadline`` (monotonic) or a stop: with a
        server that never answers each run costs a timeout, and there may be hundreds.
        True when anything moved."""
        moved = False
        for slot in self.slots.values():
            if self.stop_event.is_set() or (deadline is not None
                                            and time.monotonic() >= deadline):
                break
            if slot.set_aside or not slot.backoff.ready():
                continue
            delivered = slot.shipper.delivered
            try:
                moved |= slot.shipper.ship()
                slot.backoff.succeeded()
                if slot.error:
                    self.log(f"{self._name(slot)}: shipping again")
                slot.error = ""
            except SyncError as exc:
                if slot.shipper.delivered > delivered:
                    # It got somewhere before failing: backoff counts failures in a row.
                    slot.backoff.succeeded()
                    moved = True
                self._failed(slot, exc)
        return moved

    def _failed(self, slot: RunSlot, exc: SyncError) -> None:
        first = not slot.error
        slot.error = describe(exc)
        if (is_retryable(exc) or isinstance(exc, LocalReadError)
                or getattr(exc, "status_code", 0) == 409):
            delay = slot.backoff.failed()
            if first:
                self.log(f"{self._name(slot)}: {slot.error} (retrying in {delay:.1f} s "
                         f"and on)")
        else:
            slot.set_aside = True
            slot.shipper.position.set_aside = True
            self.positions.save(slot.shipper.position)
            self.log(f"{self._name(slot)}: set aside: {slot.error}")

    @staticmethod
    def _name(slot: RunSlot) -> str:
        return f"{slot.shipper.project}/{slot.shipper.run_id}"

    def caught_up(self) -> bool:
        return all(s.set_aside or (s.shipper.caught_up and not s.error)
                   for s in self.slots.values())

    def sync_once(self, timeout: float = 60.0) -> dict[str, RunSlot]:
        """Ship everything complete now; retry transient failures until ``timeout``."""
        deadline = time.monotonic() + timeout
        self.discover()
        while True:
            self.ship_round(deadline)
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
                appeared = watcher is not None and watcher.new_paths.is_set()
                if appeared or now - last_scan >= interval:
                    if watcher is not None:
                        watcher.new_paths.clear()
                    self.discover()  # a new run ships now, not at the next rescan
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
