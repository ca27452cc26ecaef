"""The background writer thread: encodes what the training thread logged and writes it.

Every ``interval`` seconds (and when woken) it takes everything the training thread
queued, encodes it (history buffers become columnar chunks), and appends the records
to the log through :class:`~flightlog.writer.segments.SegmentWriter`.

Backpressure keeps the unwritten backlog bounded in time at any log rate (SPEC.md §12):
after each cycle the writer publishes ``due``, the wall-clock time at which the oldest
record it may not have written yet turns ``max_unwritten`` old (flush interval + 150 ms).
A logging call whose timestamp is past ``due`` waits in :meth:`wait_written` until every
record logged before it is written: the training thread can outrun this thread by at
most that long, on a healthy disk. While waiting it releases the GIL, so this thread
catches up at full speed instead of fighting the training loop for the interpreter.

A write that fails (disk full, I/O error) never reaches the training thread: the records
stay in a bounded backlog and the write is retried with capped exponential backoff.
Records that do not fit in the backlog are dropped and counted, and a ``dropped`` record
says how many once writing works again (SPEC.md §12). Any other exception in this
thread is a bug: it is kept in ``error`` and re-raised by the next call of the
training thread, so it can neither hang nor go unseen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from flightlog.format._columns import encode_history
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.records import RecordType

from .history import HistoryBuffer
from .segments import SegmentWriter

log = logging.getLogger("flightlog")

Item = bytes | HistoryBuffer
_ESSENTIAL = frozenset({RecordType.RUN, RecordType.FINISH})


@dataclass
class Taken:
    """What the training thread hands over: queued items in order, and how many history
    rows it had to drop because this thread had fallen too far behind."""

    items: list[Item] = field(default_factory=list)
    dropped: int = 0


def _pack_history(body: dict[str, object]) -> bytes:
    return pack_record(RecordType.HISTORY, body)


class BackgroundWriter:
    MAX_BACKLOG_BYTES = 64 * 1024 * 1024
    MAX_RETRY_DELAY = 5.0
    #: How much longer than the flush interval a record may stay unwritten before the
    #: next logging call waits for this thread.
    BACKPRESSURE_SLACK = 0.15
    #: The longest a logging call waits. A writer that has not caught up by then is stuck
    #: in a write(2) that does not return (a hung disk): logging stops waiting until it
    #: progresses again, as it never waits for a disk that refuses writes.
    MAX_WAIT = 2.0

    def __init__(self, segments: SegmentWriter, take: Callable[[], Taken], *,
                 interval: float = 0.1, path: str = "") -> None:
        self.segments = segments
        self._take = take
        self.interval = interval
        self.path = path
        self.error: BaseException | None = None
        self.dropped_total = 0
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._dropped_unreported = 0
        self._failing_since: float | None = None
        self._retry_at = 0.0
        self._delay = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._give_up_at = float("inf")
        self.max_unwritten = interval + self.BACKPRESSURE_SLACK
        # Invariant: every record handed over before ``written_before`` (monotonic) is
        # written, or was dropped while writes failed; ``due`` (wall clock, the rows'
        # clock) is when the oldest record that may be unwritten turns max_unwritten old.
        # Both only grow, under ``_progress``; the training thread reads ``due`` unlocked
        # (one float comparison per log call).
        self.written_before = time.monotonic()
        self.due = time.time() + self.max_unwritten
        #: Upper bound of how long any record waited to be written (seconds, so far).
        self.worst_unwritten_age = 0.0
        self._progress = threading.Condition()
        self._stalled_at: float | None = None
        self._thread = threading.Thread(target=self._main, name="flightlog-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ training-thread side

    def wake(self) -> None:
        self._wake.set()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Flush everything queued, then stop. Gives up retrying failed writes after
        ``timeout`` seconds. True when every record was written."""
        self._give_up_at = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._thread.join()
        return not self._backlog and self.error is None

    @property
    def backlog_records(self) -> int:
        return len(self._backlog)

    def wait_written(self, logged_before: float) -> None:
        """Backpressure: block the (training) caller until every record handed over
        before ``logged_before`` (``time.monotonic()``) is written.

        Returns at once while writes fail (records then wait in the bounded backlog, or
        are dropped and counted: a refusing disk never blocks training) and when this
        thread has ended. Gives up after ``MAX_WAIT`` seconds, and then does not wait
        again until this thread makes progress."""
        def done() -> bool:
            return (self.written_before >= logged_before or self._failing_since is not None
                    or self.error is not None or not self._thread.is_alive())

        with self._progress:
            if done() or self.written_before == self._stalled_at:
                return
            self._wake.set()
            if not self._progress.wait_for(done, self.MAX_WAIT):
                self._stalled_at = self.written_before
                log.warning("flightlog: writing %s has not progressed for %.0f s; logging "
                            "goes on without waiting for it", self.path, self.MAX_WAIT)

    # ------------------------------------------------------------ thread side

    def _main(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                if not stopping:
                    self._wake.wait(self._wait_time())
                    self._wake.clear()
                taken_mono, taken_wall = time.monotonic(), time.time()
                self._encode(self._take())
                self._flush()
                self._progressed(taken_mono, taken_wall)
                if stopping and (not self._backlog or time.monotonic() >= self._give_up_at):
                    self._abandon_backlog()
                    return
                if stopping and self._backlog:
                    time.sleep(min(self._delay, max(0.0, self._give_up_at - time.monotonic())))
        except BaseException as exc:  # a bug: surfaced by the training thread
            with self._progress:
                self.error = exc
                self._progress.notify_all()  # a waiting log call must not wait for it

    def _progressed(self, taken_mono: float, taken_wall: float) -> None:
        """After a cycle that took everything queued at ``taken_*``: when nothing of it is
        left unwritten, advance ``written_before`` and ``due``. Waiting log calls are
        woken either way (writes failing is also a reason to stop waiting)."""
        with self._progress:
            if not self._backlog:
                age = time.monotonic() - self.written_before
                self.worst_unwritten_age = max(self.worst_unwritten_age, age)
                self.written_before = taken_mono
                self.due = taken_wall + self.max_unwritten
            self._progress.notify_all()

    def _wait_time(self) -> float:
        if self._failing_since is None:
            return self.interval
        return max(0.0, min(self.interval, self._retry_at - time.monotonic())) or self.interval

    def _encode(self, taken: Taken) -> None:
        """Queue what was taken. Dropping happens only while writes fail: a full backlog
        on a healthy disk is written out first. Dropped items are counted in log calls
        (a history row counts one, as any other record)."""
        self._dropped_unreported += taken.dropped
        for item in taken.items:
            if self._backlog_bytes >= self.MAX_BACKLOG_BYTES and self._failing_since is None:
                self._flush()
            full = self._backlog_bytes >= self.MAX_BACKLOG_BYTES
            if isinstance(item, HistoryBuffer):
                if full:
                    self._dropped_unreported += item.rows
                    continue
                for payload in encode_history(item.to_chunk(), _pack_history):
                    self._append(payload)
            # run and finish records are never dropped: without them the run has no
            # identity or reads as crashed. item[1] is the record type ([type, body]).
            elif full and item[1] not in _ESSENTIAL:
                self._dropped_unreported += 1
            else:
                self._append(item)

    def _append(self, payload: bytes) -> None:
        self._backlog.append(payload)
        self._backlog_bytes += len(payload)

    def _flush(self) -> None:
        if not self._backlog or time.monotonic() < self._retry_at:
            return
        if self._dropped_unreported and self._failing_since is None:
            self._report_dropped()
        payloads = list(self._backlog)
        written, error = self.segments.write(payloads)
        for _ in range(written):
            self._backlog_bytes -= len(self._backlog.popleft())
        if error is None:
            self._recovered()
        else:
            self._failed(error)

    def _report_dropped(self) -> None:
        count, self._dropped_unreported = self._dropped_unreported, 0
        self.dropped_total += count
        self._append(pack_record(RecordType.DROPPED, {
            "records": count, "reason": "writer backlog full while writes failed"}))

    def _failed(self, error: OSError) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            self._delay = self.interval
            log.warning("flightlog: cannot write the run log %s (%s); keeping up to %d MiB of "
                        "records in memory and retrying", self.path, error,
                        self.MAX_BACKLOG_BYTES >> 20)
        else:
            self._delay = min(self._delay * 2, self.MAX_RETRY_DELAY)
        self._retry_at = now + self._delay

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        self._failing_since = None
        self._retry_at = 0.0
        dropped = self._dropped_unreported
        log.warning("flightlog: writing %s works again%s", self.path,
                    f"; {dropped} records had to be dropped" if dropped else "")
        if dropped:
            self._report_dropped()
            self._flush()

    def _abandon_backlog(self) -> None:
        if self._backlog:
            log.error("flightlog: gave up writing %d records to %s at finish",
                      len(self._backlog), self.path)
