"""The sync loop: find runs under the roots, ship each, retry (policy: retry.py).

``sync_once`` (``flightlog sync``) ships what is there and returns per-run outcomes;
``follow`` (``flightlog syncd``) keeps going as runs grow until told to stop. Both use
the same :class:`Syncer`.

What a round reads grows with what changed, not with how many runs exist:

- A run is *dirty* when filesystem events named a path in it (or, polling, at every
  poll while it is not finished); a round ships the dirty runs, the ones whose retry is
  due, and, at each full rescan (``rescan_interval``, the truth when events were
  missed), every run not yet finished.
- A run is *quiet* once its writer has gone, the server was told so, and every record is
  acknowledged: it is not read again until its directory changes (an event under it, or
  at a rescan its ``log/`` directory's mtime: a resumed writer starts a new segment).
- Discovery (discovery.py) lists only directories whose mtime changed.
- Due runs are shipped by up to ``concurrency`` threads at once while the server answers
  (each run by one thread at a time; outcomes are handled here, in the loop's thread),
  and one at a time while it does not (one probe: retry.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.format.rundir import is_run_dir

from flightlog.errors import ServerRejected, SyncError

from .client import SyncClient
from .discovery import RunDirScanner, log_dir_stamp
from .positions import PositionStore
from .retry import (
    Backoff,
    Reachability,
    asked_wait,
    describe,
    is_retryable,
    is_unreachable,
)
from .shipper import LocalReadError, RunShipper, run_identity
from .status import DaemonStatus, StatusFile
from .watch import Watcher, needs_polling

#: Seconds between discoveries prompted by events while a run directory has no readable
#: identity yet (a bound on rescans when such a directory stays unreadable).
_IDENTIFY_INTERVAL = 0.1
#: Runs read in one round at most: the rest stay due for the next rounds, which follow at
#: once, so that events (a live run's new records) are looked at between them and not
#: only after a pass over thousands of runs.
ROUND_RUNS = 256


@dataclass
class RunSlot:
    shipper: RunShipper
    backoff: Backoff = field(default_factory=Backoff)
    error: str = ""
    set_aside: bool = False
    shipped: bool = False  # "finished shipping" was said (again after a resume)
    dirty: bool = True  # something may have changed since it was last read
    quiet: bool = False  # finished and all acknowledged: read again only on a change
    quiet_stamp: int | None = None  # log_dir_stamp when it went quiet


@dataclass
class _Outcome:
    progressed: bool = False
    error: SyncError | None = None
    delivered_before: int = 0
    had_error: bool = False
    stamp: int | None = None


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
                 verbose: bool = False, concurrency: int = 4) -> None:
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
        self._round_turn = 0
        self.more_due = False  # the last round left due runs for the next one
        self._identities: dict[Path, tuple[str, str]] = {}
        # A run directory seen before its first records were written: the writer's next
        # write (an event) prompts another discovery, not the next periodic rescan.
        self._unidentified = False
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.concurrency = max(1, concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._scanner = RunDirScanner()
        self._by_dir: dict[str, RunSlot] = {}  # absolute run dir -> its slot
        self.status = DaemonStatus()
        self._status_file = StatusFile(positions.dir)

    def discover(self) -> None:
        unidentified, self._unidentified = self._unidentified, False
        for root in self.roots:
            run_dirs, changed = self._scanner.scan(root)
            if not changed and not unidentified:
                continue  # the same runs as at the last scan: nothing to look up
            for run_dir in run_dirs:
                identity = self._identities.get(run_dir) or run_identity(run_dir)
                if identity is not None:
                    self._identities[run_dir] = identity  # a run's identity never changes
                if identity is None:
                    self._unidentified = True
                    continue  # not written yet: at the next event or rescan
                project, run_id = identity
                slot = self.slots.get(run_id)
                if slot is None:
                    slot = self.slots[run_id] = RunSlot(RunShipper(
                        run_dir, run_id, project, self.client, self.positions))
                    self._by_dir[os.path.abspath(run_dir)] = slot
                    self.log(f"{project}/{run_id}: found at {run_dir}")
                elif slot.shipper.dir != run_dir and not is_run_dir(slot.shipper.dir):
                    self._by_dir.pop(os.path.abspath(slot.shipper.dir), None)
                    self._scanner.forget(slot.shipper.dir)
                    slot.shipper.relocate(run_dir)  # moved while we follow it
                    self._by_dir[os.path.abspath(run_dir)] = slot
                    slot.set_aside, slot.error = False, ""
                    self._wake_slot(slot)
                    self.log(f"{project}/{run_id}: moved to {run_dir}")
        self.status.runs = len(self.slots)

    def _wake_slot(self, slot: RunSlot) -> None:
        if slot.quiet:
            self.status.woken += 1
        slot.dirty, slot.quiet = True, False

    def mark_changed(self, paths: Iterable[str]) -> bool:
        """Make dirty the runs holding ``paths`` (filesystem events). True when a path
        lies in no known run (a new run, perhaps: discover)."""
        unknown = False
        for path in paths:
            probe = os.path.abspath(path)
            while True:
                slot = self._by_dir.get(probe)
                if slot is not None:
                    self._wake_slot(slot)
                    break
                parent = os.path.dirname(probe)
                if parent == probe:
                    unknown = True
                    break
                probe = parent
        return unknown

    def check_quiet(self) -> None:
        """Wake the quiet runs whose ``log/`` directory changed since they went quiet
        (one stat each: the rescan's "truth" for finished runs)."""
        for slot in self.slots.values():
            if slot.quiet and log_dir_stamp(slot.shipper.dir) != slot.quiet_stamp:
                self._wake_slot(slot)

    def ship_round(self, deadline: float | None = None, *, full: bool = True) -> bool:
        """Ship every run that is due, until ``deadline`` (monotonic) or a stop: with a
        server that never answers each run costs a timeout, and there may be hundreds.
        Due: not quiet, not set aside, its retry due, and dirty or in error (``full``
        makes every such run dirty first); at most ROUND_RUNS of them (``more_due``).
        While the server is unreachable the round stops at the first unanswered request
        (the probe), and each round starts at the next run, so that one run's failure
        does not hold the others back. True when anything moved."""
        moved = False
        live = [s for s in self.slots.values() if not s.quiet and not s.set_aside]
        if full:
            for slot in live:
                slot.dirty = True
        slots = [s for s in live if s.dirty or s.error]
        self.more_due = False
        if self.reach.down and slots:
            if not self.reach.ready():
                return False
            turn = self._probe_turn % len(slots)
            self._probe_turn += 1
            slots = slots[turn:] + slots[:turn]
        slots = [s for s in slots if s.backoff.ready()]
        if len(slots) > ROUND_RUNS:  # the rest in the next rounds, from where this ends
            turn = self._round_turn % len(slots)
            slots = (slots[turn:] + slots[:turn])[:ROUND_RUNS]
            self._round_turn = turn + ROUND_RUNS
            self.more_due = True
        if slots:
            self.status.rounds += 1
        if self.reach.down or self.concurrency == 1 or len(slots) == 1:
            for slot in slots:
                if not self._may_start(deadline):
                    break
                moved |= self._handle(slot, self._ship_one(slot))
        elif slots:
            pool = self._pool or ThreadPoolExecutor(self.concurrency,
                                                    thread_name_prefix="flightlog-ship")
            self._pool = pool
            futures = [(slot, pool.submit(self._ship_if_may, slot, deadline))
                       for slot in slots]
            for slot, future in futures:
                outcome = future.result()
                if outcome is not None:
                    moved |= self._handle(slot, outcome)
        if self.reach.down and self.reach.ready():
            # No run was due to ask (each idle or in its own backoff): look again one
            # probe delay later, not in a busy loop.
            self.reach.failed()
        self.status.quiet = sum(1 for s in self.slots.values() if s.quiet)
        return moved

    def _may_start(self, deadline: float | None) -> bool:
        """A run may be shipped now: no stop, the deadline not passed, and the server
        answering or due for its probe."""
        return (not self.stop_event.is_set()
                and (deadline is None or time.monotonic() < deadline)
                and self.reach.ready())

    def _ship_if_may(self, slot: RunSlot, deadline: float | None) -> _Outcome | None:
        # A pool thread: reads shared state, changes only this run's shipper.
        return self._ship_one(slot) if self._may_start(deadline) else None

    def _ship_one(self, slot: RunSlot) -> _Outcome:
        """Ship one run (in the loop's thread or a pool's): only its shipper changes."""
        # The stamp before the read: a change during it wakes the run again.
        outcome = _Outcome(delivered_before=slot.shipper.delivered,
                           had_error=bool(slot.error), stamp=log_dir_stamp(slot.shipper.dir))
        try:
            outcome.progressed = slot.shipper.ship()
        except SyncError as exc:
            outcome.error = exc
        return outcome

    def _handle(self, slot: RunSlot, outcome: _Outcome) -> bool:
        """The loop's side of a shipped run: reachability, backoff, lines, quiet."""
        self.status.runs_read += 1
        slot.dirty = False
        if outcome.error is not None:
            moved = slot.shipper.delivered > outcome.delivered_before
            if moved:
                # It got somewhere before failing: backoff counts failures in a row.
                slot.backoff.succeeded()
            self._failed(slot, outcome.error)
            return moved
        if outcome.progressed or outcome.had_error:
            # The server answered (a run after an error asks it again first); an idle
            # run may have sent nothing, which says nothing.
            self.reach.answered()
        slot.backoff.succeeded()
        if slot.error:
            self.log(f"{self._name(slot)}: shipping again")
        slot.error = ""
        self._progress_lines(slot, outcome.progressed)
        if slot.shipped:  # finished and all acknowledged: not read until it changes
            slot.quiet, slot.quiet_stamp = True, outcome.stamp
        return outcome.progressed

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
            asked = asked_wait(exc)  # the server's Retry-After, bounded by the backoff
            delay = slot.backoff.failed(retry_after=asked)
            if first:
                told = "" if asked is None else f"; the server's Retry-After asked {asked:g} s"
                self.log(f"{self._name(slot)}: {slot.error} (retrying in {delay:.1f} s"
                         f"{told}, and on)")
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
        try:
            full = True
            while True:
                self.ship_round(deadline, full=full)
                full = False  # then the runs not yet read, and the retries
                if (self.caught_up() and not self.more_due) or time.monotonic() >= deadline:
                    return self.slots
                if not self.more_due:
                    self.stop_event.wait(min(self._retry_wait(default=0.05),
                                             max(0.0, deadline - time.monotonic())))
        finally:
            self._finish()

    def _finish(self) -> None:
        """Save the positions that moved since their last save; stop the pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for slot in self.slots.values():
            slot.shipper.save_position()

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
        last_scan = -interval
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                unknown = watcher is not None and self.mark_changed(watcher.take_changed())
                appeared = watcher is not None and (
                    watcher.new_paths.is_set() or unknown
                    or (self._unidentified and now - last_scan >= _IDENTIFY_INTERVAL))
                full = now - last_scan >= interval
                if appeared or full:
                    if watcher is not None:
                        watcher.new_paths.clear()
                    self.discover()  # a new run ships now, not at the next rescan
                if full:
                    self.check_quiet()
                    self.status.rescans += 1
                    last_scan = now
                # Every unfinished run is read at each rescan (polling: each poll), and
                # between them the ones events named and the retries due.
                self.ship_round(full=full)
                self._status_file.write(self.status)
                if not self.more_due:
                    self.wake.wait(self._next_wait(interval - (time.monotonic() - last_scan)))
                self.wake.clear()
        finally:
            if watcher is not None:
                watcher.stop()
            self._finish()
            self._status_file.write(self.status)

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
