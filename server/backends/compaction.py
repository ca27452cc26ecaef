"""Compaction of a run's small committed objects (scaled backend).

Each committed batch is one object (objectstore.py), so a live run that flushes every
few seconds leaves thousands of small objects: a replica's first read of it then costs a
GET each. Compaction merges consecutive batches of one segment into one object, by the
same rules as everything else in the store:

1. The merged object is the old objects' bytes, concatenated in order (verbatim frames,
   each old object checked against its hash), written under the content-range name of
   the mark range it spans, with a conditional put: a retry or two replicas compacting
   at once write the same name with the same content.
2. One PostgreSQL transaction replaces the old rows by one row naming it
   (:meth:`Database.replace_chunks`); rows still tile 0..next_seq. If any old row was
   replaced meanwhile, nothing is written (:class:`Compacted`).
3. Only then are the old objects deleted.

A reader therefore finds, at every moment, either the old rows (whose objects exist until
step 3) or the new one (whose object exists before step 2); a reader that read the old
rows and then found an object gone reads the rows again (scaled.py ``_catch_up``). A crash
between any two steps leaves only objects no row names: orphans, collected after the
grace period. Nothing committed is lost and no record is doubled.

Which rows: runs of consecutive rows of one segment, each object under
:data:`COMPACT_SMALL` bytes, merged up to :data:`COMPACT_TARGET` bytes; an object past
``COMPACT_SMALL`` is never rewritten, which bounds how often a byte is copied. When: a
replica queues a run once ``FLIGHTLOG_COMPACT_EVERY`` (default :data:`COMPACT_EVERY`)
of its commits landed on that replica since the last time, and when the run finishes; a
single background thread per replica does the work, off the commit's path. A run whose
compaction was missed (its replica killed first) is found by the orphan collector's
sweep (``runs_with_small_chunks``) and queued then.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from flightlog.format._framing import scan_frames

from flightlog.errors import FlightlogError

from .objectstore import CorruptObject
from .postgres import Chunk

#: Commits of a run on one replica after which it queues the run for compaction.
COMPACT_EVERY = 32
#: Objects at least this big are left as they are.
COMPACT_SMALL = 1 << 20
#: A merged object grows to at most this many bytes. Invariant: at most storage.py's
#: MAX_BATCH_BYTES, since a reader validates each object as one batch.
COMPACT_TARGET = 16 << 20
#: Runs whose commits a replica counts at once (the least recently committed forgotten).
MAX_COUNTED_RUNS = 100_000


def compact_every_from_env() -> int:
    text = os.environ.get("FLIGHTLOG_COMPACT_EVERY", "")
    if not text:
        return COMPACT_EVERY
    if not text.isdigit():
        raise SystemExit(f"FLIGHTLOG_COMPACT_EVERY={text!r}: give a whole number of "
                         f"commits (0: never compact)")
    return int(text)


def plan(chunks: Sequence[Chunk], size_of: Callable[[Chunk], int]) -> list[list[Chunk]]:
    """Groups of two or more consecutive rows of one segment to merge (see module doc);
    ``size_of`` gives a row's object size (rows from before schema 3 have none)."""
    groups: list[list[Chunk]] = []
    current: list[Chunk] = []
    total = 0
    for chunk in chunks:
        size = chunk.bytes if chunk.bytes is not None else size_of(chunk)
        small = size < COMPACT_SMALL
        if (small and current and chunk.segment == current[-1].segment
                and chunk.start_seq == current[-1].end_seq and total + size <= COMPACT_TARGET):
            current.append(chunk)
            total += size
            continue
        if len(current) >= 2:
            groups.append(current)
        current, total = ([chunk], size) if small else ([], 0)
    if len(current) >= 2:
        groups.append(current)
    return groups


def frames_from(data: bytes, start: int, name: str) -> bytes:
    """The frames of an object holding records ``start`` and later (a compacted object
    read by a copy that has its first records already). ``start`` is a frame boundary:
    it was the mark after one of the batches merged."""
    frames = scan_frames(data, 0, path=name).frames
    if any(f.first_seq < start <= f.last_seq for f in frames):
        raise CorruptObject(f"object {name}: a frame straddles record {start}, which ends "
                            f"a committed batch", key=name)
    return b"".join(data[f.offset:f.end] for f in frames if f.first_seq >= start)


class Compactor:
    """Counts each run's commits on this replica and compacts runs in one background
    thread (``work(project, run_id)``); failures are left for the next time."""

    def __init__(self, every: int, work: Callable[[str, str], object],
                 log: Callable[[str], None]) -> None:
        self.every = every
        self._work = work
        self._log = log
        self._guard = threading.Lock()
        self._counts: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._queued: set[tuple[str, str]] = set()
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        #: Set each time the queue is found empty (tests wait on compactions done).
        self.idle = threading.Event()
        self.idle.set()
        if every > 0:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="scale-compactor")
            self._thread.start()

    def committed(self, project: str, run_id: str, finished: bool) -> None:
        """A commit of the run landed here; queue it when due."""
        if self._thread is None:
            return
        key = (project, run_id)
        with self._guard:
            count = self._counts.pop(key, 0) + 1
            if count < self.every and not finished:
                self._counts[key] = count
                while len(self._counts) > MAX_COUNTED_RUNS:
                    self._counts.popitem(last=False)
                return
        self.queue(project, run_id)

    def queue(self, project: str, run_id: str) -> None:
        """Compact the run soon (once, however often it is asked meanwhile)."""
        if self._thread is None:
            return
        key = (project, run_id)
        with self._guard:
            if key in self._queued:
                return
            self._queued.add(key)
            self.idle.clear()
        self._queue.put(key)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)

    def _loop(self) -> None:
        while True:
            key = self._queue.get()
            if key is None:
                return
            with self._guard:
                self._queued.discard(key)
            try:
                self._work(*key)
            except FlightlogError:
                pass  # the store or the database away, or another replica at it: next time
            except Exception as exc:  # never let the thread die; say why
                self._log(f"compaction of {key[0]}/{key[1]} failed: "
                          f"{type(exc).__name__}: {exc}")
            with self._guard:
                if self._queue.empty() and not self._queued:
                    self.idle.set()
