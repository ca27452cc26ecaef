"""The sync loop: find runs under the roots, ship each, retry (policy: retry.py).

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

from flightlog.errors import ServerRejected, SyncError

from .client import SyncClient
from .positions import PositionStore
from .retry import Backoff, Reachability, describe, is_retryable, is_unreachable
from .shipper import LocalReadError, RunShipper, run_identity
from .watch import Watcher, needs_polling

#: Seconds between discoveries prompted by events while a run directory has no readable
#: identity yet (a bound on rescans when such a directory stays unreadable).
_IDENTIFY_INTERVAL = 0.1


@dataclass
class RunSlot:
    shipper: RunShipper
    backoff: Backoff = field(default_factory=Backoff)
    error: str = ""
    set_aside: bool = False
    shipped: bool = False  # "finished shipping" was said (again after a resume)


class Syncer:
    """Ships every run under ``roots`` through ``client``.

    Args:
        rescan_interval: seconds between full rescans (the truth; events only hint).
        log: called with a line for each run that starts failing, is set aside, or
            recovers (the daemon's stderr).
        on_unreachable: called with the error each time the server stops answering
            (answered, then not), once per such change.
        verbose: also log a line for each shipping round that sent something (else one
            line per run found, per run finished shipping, per error and recovery).
    """

    def __init__(self, roots: list[Path], client: SyncClient, positions: PositionStore, *,
                 rescan_interval: float = 2.0, log: Callable[[str], None] | None = None,
                 on_unreachable: Callable[[str], None] | None = None,
                 verbose: bool = False) -> None:
        self.roots = roots
        self.client = client
        self.positions = positions
        self.rescan_interval = rescan_interval
        self.log = log or (lambda line: None)
        self.on_unreachable = on_unreachable or (lambda error: None)
        self.verbose = verbose
        self.slots: dict[str, RunSlot] = {}
        self.reach = Reachability()  # the server's, shared by every run
        self._probe_turn = 0
        self._identities: dict[Path, tuple[str, str]] = {}
        # A run directory seen before its first records were written: the writer's next
        # write (an event) prompts another discovery, not the next periodic rescan.
        self._unidentified = False
        self.wake = threading.Event()
        self.stop_event = threading.Event()

    def discover(self) -> None:
        self._unidentified = False
        for root in self.roots:
            for run_dir in find_run_dirs(root):
                identity = self._identities.get(run_dir) or run_identity(run_dir)
                if identity is not None:
                    self._identities[run_dir] = identity  # a run's identity never changes
                if identity is None:
                    self._unidentified = True
                    continue  # not written yet: at the next event or rescan
                project, run_id = identity
                slot = self.slots.get(run_id)
                if slot is None:
                    self.slots[run_id] = RunSlot(RunShipper(
                        run_dir, run_id, project, self.client, self.positions))
                    self.log(f"{project}/{run_id}: found at {run_dir}")
                elif slot.shipper.dir != run_dir and not is_run_dir(slot.shipper.dir):
                    slot.shipper.relocate(run_dir)  # moved while we follow it
                    slot.set_aside, slot.error = False, ""
                    self.log(f"{project}/{run_id}: moved to {run_dir}")

    def ship_round(self, deadline: float | None = None) -> bool:
        """Ship every run that is due, until ``deadline`` (monotonic) or a stop: with a
        server that never answers each run costs a timeout, and there may be hundreds.
        While the server is unreachable the round stops at the first unanswered request
        (the probe), and each round starts at the next run, so that one run's failure
        does not hold the others back. True when anything moved."""
        moved = False
        slots = list(self.slots.values())
        if self.reach.down and slots:
            if not self.reach.ready():
                return False
            turn = self._probe_turn % len(slots)
            self._probe_turn += 1
            slots = slots[turn:] + slots[:turn]
        for slot in slots:
            if self.stop_event.is_set() or (deadline is not None
                                            and time.monotonic() >= deadline):
                break
            if not self.reach.ready():
                break  # the probe went unanswered: the others wait for the next one
            if slot.set_aside or not slot.backoff.ready():
                continue
            delivered = slot.shipper.delivered
            had_error = bool(slot.error)
            try:
                progressed = slot.shipper.ship()
                moved |= progressed
                if progressed or had_error:
                    # The server answered (a run after an error asks it again first);
                    # an idle run may have sent nothing, which says nothing.
                    self.reach.answered()
                slot.backoff.succeeded()
                if slot.error:
                    self.log(f"{self._name(slot)}: shipping again")
                slot.error = ""
                self._progress_lines(slot, progressed)
            except SyncError as exc:
                if slot.shipper.delivered > delivered:
                    # It got somewhere before failing: backoff counts failures in a row.
                    slot.backoff.succeeded()
                    moved = True
                self._failed(slot, exc)
        if self.reach.down and self.reach.ready():
            # No run was due to ask (each idle or in its own backoff): look again one
            # probe delay later, not in a busy loop.
            self.reach.failed()
        return moved

    def _failed(self, slot: RunSlot, exc: SyncError) -> None:
        first = not slot.error
        slot.error = describe(exc)
        if isinstance(exc, ServerRejected):
            self.reach.answered()
        if is_unreachable(exc):
            if not self.reach.down:
                self.on_unreachable(slot.error)
            delay = self.reach.failed()
            if first:
                self.log(f"{self._name(slot)}: {slot.error} (the server does not answer: "
                         f"asking again every {self.reach.cap:g} s or sooner)")
        elif (is_retryable(exc) or isinstance(exc, LocalReadError)
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

    def _progress_lines(self, slot: RunSlot, progressed: bool) -> None:
        shipper = slot.shipper
        if progressed and self.verbose:
            self.log(f"{self._name(slot)}: sent; {shipper.acked} records acknowledged")
        done = shipper.caught_up and shipper.writer_gone
        if done and not slot.shipped:
            self.log(f"{self._name(slot)}: finished shipping: all {shipper.acked} records "
                     f"acknowledged, the writer has finished")
        slot.shipped = done

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
            self.stop_event.wait(min(self._retry_wait(default=0.05),
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
                appeared = watcher is not None and (
                    watcher.new_paths.is_set()
                    or (self._unidentified and now - last_scan >= _IDENTIFY_INTERVAL))
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
        return max(0.01, min(until_scan, self._retry_wait(default=until_scan)))

    def _retry_wait(self, default: float) -> float:
        """Seconds until a failed run is due again (at least 0.01): the next probe while
        the server is unreachable, else the nearest run's backoff; ``default`` when
        nothing waits."""
        now = time.monotonic()
        if self.reach.down:
            return max(0.01, self.reach.not_before - now)
        waits = [s.backoff.not_before - now for s in self.slots.values()
                 if not s.set_aside and s.error]
        return max(0.01, min(waits, default=default))

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
