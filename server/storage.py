"""Server storage: runs as SPEC.md run directories, committed frame by frame.

Layout under the data directory (``flightlog server --data DIR``)::

    DIR/runs/<project>/<run-id>/     a run directory exactly as SPEC.md specifies: the
                                     client's frames, verbatim, in segments of the same
                                     index; files/ holds hard links into DIR/blobs
    DIR/blobs/sha256/<h[:2]>/<h[2:]> attached files, shared by all runs (uploaded once)
    DIR/blobs/partial/<sha>          uploads in progress (resumable; deleted once
                                     untouched for ``partial_ttl``, collect_partials)
    DIR/index.sqlite                 the query index: derived, rebuilt from runs/ if lost

Start costs the same whatever the number of runs: the index is trusted (a row's stamp
says which state of its run directory it was built from), a run is loaded on first use
(then its row is rebuilt if the stamp differs), and a background pass compares every
run directory's stamp with its row and rebuilds only the stale or missing ones. Only an
index made now (first start, or lost) is rebuilt in full before the server answers.

Exactly once, by construction: a run's committed high-water mark is the sequence number
after the last record in its run directory. A batch of frames is validated in full (the
same reader code as ``open_run``, strict), frames below the mark are skipped (a
repeated batch is a no-op), a batch that starts above it is refused as a gap, and the
rest is appended and fsynced before the answer names the new mark. A crash mid-append
leaves a torn tail in the server's own copy, which is cut off when the run is next
loaded: the server is that copy's only writer.

Gaps (records a client's own log lost to corruption) are never implied: a batch declares
each hole it leaves as an exact (first, last) range, frames past it in the same batch, and
any other hole is refused. Declared gaps stay visible (``StoredRun.gaps``, derived from the
copy's frame headers, answered by ``GET .../sync``), so a gap forged by someone else is seen
by the run's real client, which then fails loudly instead of skipping its records.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flightlog.format._constants import FILE_HEADER_SIZE
from flightlog.format._framing import Frame, scan_frames
from flightlog.format._fsutil import fsync_dir
from flightlog.format.localrun import LocalRun
from flightlog.format.reader import Finding, decode_frame
from flightlog.format.records import Record, RecordType, attached_blobs
from flightlog.format.rundir import blob_path, check_name
from flightlog.format.segment import encode_file_header, list_segments, segment_path
from flightlog.format.state import RunState

from flightlog.errors import (
    CorruptRecord,
    FlightlogError,
    FormatError,
    RunNotFound,
    SequenceError,
)

from .backends.base import QueryIndex
from .index import RunIndex

T = TypeVar("T")

#: Seconds an upload in progress may stay untouched before it is deleted (SPEC.md does
#: not cover uploads; README "Security model" lists this limit).
PARTIAL_TTL = 24 * 3600.0
#: Largest frame batch one request may carry.
MAX_BATCH_BYTES = 32 * 1024 * 1024
# Loaded runs kept in memory; a miss re-reads the run from disk, so this should hold
# every run that is actively syncing (200 at once in bench/sync_many_runs.py).
_RUN_CACHE = 256


class Conflict(FlightlogError):
    """A batch the server cannot take as it is (gap, divergent frames, missing blob).
    Carries the committed position so that the client can resume from it."""

    def __init__(self, message: str, *, next_seq: int, code: str, **context: Any) -> None:
        self.next_seq = next_seq
        self.code = code
        super().__init__(message, **context)


class BadBatch(FlightlogError):
    """A batch that is not valid frames and records (HTTP 400: never retried)."""


@dataclass
class Committed:
    next_seq: int
    segment: int
    accepted: int  # records newly committed by this batch
    skipped: int  # records already committed (a repeated batch)



class StoredRun:
    """One run's server-side copy, loaded: its reader state and the open segment."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.segment = -1
        self.gaps: list[tuple[int, int]] = []  # holes in the copy's sequence, ascending
        self._truncate_torn_tails()
        self.view = LocalRun(run_dir) if (run_dir / "log").is_dir() else None
        segments = list_segments(run_dir)
        if segments:
            self.segment = segments[-1][0]

    def _truncate_torn_tails(self) -> None:
        """Cut the copy back to the last committed batch (the server is its only writer):
        a batch a crash interrupted is not committed, not even its complete frames."""
        mark = read_commit_mark(self.dir)
        expected = 0
        for index, path in list_segments(self.dir):
            if mark is not None and index > mark[0]:
                path.unlink()  # opened by the interrupted batch
                continue
            if mark is not None and index == mark[0] and path.stat().st_size > mark[1]:
                with open(path, "r+b") as f:
                    f.truncate(mark[1])
                    os.fsync(f.fileno())
            data = path.read_bytes()
            if len(data) < FILE_HEADER_SIZE:
                path.unlink()
                continue
            scan = scan_frames(data, FILE_HEADER_SIZE, path=str(path),
                               on_corruption=lambda e: None)
            end = scan.position
            for frame in scan.frames:
                if frame.first_seq > expected:
                    self.gaps.append((expected, frame.first_seq - 1))
                expected = max(expected, frame.last_seq + 1)
            if end < len(data):
                with open(path, "r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())

    @property
    def next_seq(self) -> int:
        return 0 if self.view is None else self.view._reader.next_seq

    def state(self) -> RunState:
        if self.view is None:
            return RunState()
        return self.view.state


class Storage:
    def __init__(self, data_dir: str | os.PathLike[str], *,
                 partial_ttl: float = PARTIAL_TTL,
                 log: Callable[[str], None] | None = None,
                 defer_check: bool = False) -> None:
        """``defer_check``: the background index check begins at
        :meth:`start_index_check`, not now (the server begins it once it listens,
        startup.py); an index made now is rebuilt before this returns either way."""
        self.root = Path(data_dir)
        self.runs_dir = self.root / "runs"
        self.blob_root = self.root / "blobs"
        self.partial_dir = self.blob_root / "partial"
        for d in (self.runs_dir, self.blob_root, self.partial_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.index: QueryIndex = self._open_index()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], StoredRun] = OrderedDict()
        self._cache_guard = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}  # runs being loaded
        self.partial_ttl = partial_ttl
        self._last_sweep = 0.0
        self.log = log or _stderr
        #: Runs read from disk (StoredRun built) since start, and index rows rebuilt
        #: because their stamp differed: what start and the check cost (tests, logs).
        self.runs_loaded = 0
        self.rows_rebuilt = 0
        #: Set once every run directory's stamp was compared with the index.
        #: (After the check's summary line: what is loaded later is not the check's.)
        self.index_checked = threading.Event()
        self._check_started = threading.Lock()
        self._check_pending = self.index.existed
        self.collect_partials()
        if not self.index.existed:
            self.check_index()  # nothing to trust: rebuilt before the first answer
            self.index_checked.set()
        elif not defer_check:
            self.start_index_check()

    def start_index_check(self) -> None:
        """Begin the background index check (once; later calls, and calls when the
        index was rebuilt at start, do nothing)."""
        with self._check_started:
            if not self._check_pending:
                return
            self._check_pending = False
        threading.Thread(target=self._check_index_logged, name="flightlog-index-check",
                         daemon=True).start()

    def _open_index(self) -> QueryIndex:
        return RunIndex(self.root / "index.sqlite")

    # ------------------------------------------------------------ runs

    def run_dir(self, project: str, run_id: str) -> Path:
        return self.runs_dir / check_name(project, "project") / check_name(run_id, "run id")

    def lock(self, project: str, run_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((project, run_id), threading.Lock())

    def load(self, project: str, run_id: str) -> StoredRun:
        key = (project, run_id)
        with self._cache_guard:
            run = self._cache.get(key)
            if run is not None:
                self._cache.move_to_end(key)
                return run
            # One load per run at a time: a request and the background index check asking
            # for the same run at once read it once (the second waits, then finds it).
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._cache_guard:
                run = self._cache.get(key)
                if run is not None:
                    self._cache.move_to_end(key)
                    return run
            try:
                run = StoredRun(self.run_dir(project, run_id))
                self.runs_loaded += 1
                if (run.view is not None
                        and self.index.stamp(project, run_id) != run_stamp(run.dir)):
                    # Changed while the server was down (or a crash came between a commit
                    # and its row): the row is rebuilt before anything is answered from it.
                    self._reindex(project, run_id, run)
                    self.rows_rebuilt += 1
                with self._cache_guard:
                    self._cache[key] = run
                    while len(self._cache) > _RUN_CACHE:
                        self._cache.popitem(last=False)
            finally:
                with self._cache_guard:
                    self._loading.pop(key, None)
        return run

    def exists(self, project: str, run_id: str) -> bool:
        return (self.run_dir(project, run_id) / "log").is_dir()

    def position(self, project: str, run_id: str) -> dict[str, Any]:
        """The committed high-water mark (``GET .../sync``): next_seq, segment, gaps."""
        if not self.exists(project, run_id):
            return {"next_seq": 0, "segment": -1}
        with self.lock(project, run_id):
            run = self.load(project, run_id)
            return {"next_seq": run.next_seq, "segment": run.segment,
                    "gaps": [list(g) for g in run.gaps]}

    def read(self, project: str, run_id: str, fn: Callable[[LocalRun], T]) -> T:
        """``fn(view)`` of a stored run, under the run's lock: a view's reader advances as
        it reads, so queries and commits must take turns on it.

        Raises:
            RunNotFound: the server has no such run.
        """
        if self.exists(project, run_id):
            with self.lock(project, run_id):
                view = self.load(project, run_id).view
                if view is not None:
                    return fn(view)
        raise RunNotFound(f"no run {project}/{run_id}")

    def check_index(self) -> tuple[int, int]:
        """Compare each run directory's stamp with its index row; rebuild the rows that
        are missing or stale (loading only those runs). Returns (runs checked, rows
        rebuilt)."""
        known = self.index.stamps()
        checked = rebuilt = 0
        # Names and str paths, not Path objects: at 10,000 runs, building and sorting
        # Paths was most of the check's CPU (which requests share).
        for project, project_path in _subdir_names(str(self.runs_dir)):
            for run_id, run_dir in _subdir_names(project_path):
                key = (project, run_id)
                checked += 1
                if checked % 200 == 0:
                    time.sleep(0.002)  # in the background: requests come first (the GIL)
                if known.get(key) == run_stamp(run_dir):
                    continue
                with contextlib.suppress(FlightlogError, OSError), self.lock(*key):
                    if self.index.stamp(*key) == run_stamp(run_dir):
                        continue  # committed to meanwhile: the row is current
                    before = self.rows_rebuilt
                    run = self.load(*key)  # a run not in memory is rebuilt by load
                    if run.view is not None and self.rows_rebuilt == before:
                        self._reindex(key[0], key[1], run)
                        self.rows_rebuilt += 1
                    rebuilt += 1
        return checked, rebuilt

    def _check_index_logged(self) -> None:
        begin = time.monotonic()
        try:
            checked, rebuilt = self.check_index()
        except OSError as exc:  # the data directory went away (a test's tmp dir)
            self.log(f"index check stopped: {exc}")
            self.index_checked.set()
            return
        self.log(f"index checked against {checked} run directories in "
                 f"{time.monotonic() - begin:.2f} s: {rebuilt} rows rebuilt (missing or "
                 f"stale); {self.runs_loaded} runs loaded since start")
        self.index_checked.set()

    # ------------------------------------------------------------ committing frames

    def commit(self, project: str, run_id: str, segment: int, body: bytes, *,
               gaps: Sequence[tuple[int, int]] = (), writer_alive: bool | None = None
               ) -> Committed:
        """Validate a batch of frames of one client segment and commit the new ones.

        ``gaps``: the (first, last) ranges the batch skips because the client's log lost
        them; the holes the new frames leave above the committed mark must be exactly
        these (a declared range already below the mark must be a gap the copy has).

        Raises:
            BadBatch: not complete valid frames and records; a declared gap the batch
                does not leave.
            Conflict: an undeclared gap, frames that differ from the committed ones, a
                missing blob.
        """
        frames, records = self._validate(body, project, run_id, segment)
        with self.lock(project, run_id):
            run = self.load(project, run_id)
            start = run.next_seq
            new = [f for f in frames if f.first_seq >= start]
            old = [f for f in frames if f.last_seq < start]
            straddling = len(frames) - len(new) - len(old)
            if straddling:
                raise Conflict("a frame straddles the committed position: the client's "
                               "frames differ from the committed ones", next_seq=start,
                               code="diverged")
            if old:
                _check_repeats(run.dir, segment, old, start)
            if new and segment < run.segment:
                raise Conflict(f"segment {segment} is older than the committed segment "
                               f"{run.segment}", next_seq=start, code="diverged")
            holes = _holes(new, start)
            _check_declared_gaps(holes, gaps, run.gaps, start)
            allow_gap = bool(holes)
            new_records = [r for r in records if r.seq >= start]
            self._check_blobs(new_records, start)
            if new:
                self._check_segment_start(run, segment, new_records, allow_gap)
                self._link_blobs(run, new_records)
                self._append(run, project, run_id, segment,
                             b"".join(body[f.offset:f.end] for f in new), allow_gap)
                run.gaps.extend(holes)
            if new or (writer_alive is not None and run.view is not None):
                self._reindex(project, run_id, run, writer_alive)
            return Committed(run.next_seq, run.segment, len(new_records),
                             sum(f.record_count for f in old))

    def _validate(self, body: bytes, project: str, run_id: str, segment: int
                  ) -> tuple[list[Frame], list[Record]]:
        if len(body) > MAX_BATCH_BYTES:
            raise BadBatch(f"batch of {len(body)} bytes over the {MAX_BATCH_BYTES} limit")
        try:
            scan = scan_frames(body, 0, path="<request body>")
        except FormatError as exc:
            raise BadBatch(f"invalid frame: {exc}") from exc
        if scan.torn:
            raise BadBatch(f"incomplete frame at offset {scan.position} of the request body")
        records: list[Record] = []
        scratch = RunState()
        expected = scan.frames[0].first_seq if scan.frames else 0
        for frame in scan.frames:
            if frame.first_seq < expected:
                raise BadBatch(f"frames out of order at offset {frame.offset}")
            expected = frame.last_seq + 1
            try:
                decoded = decode_frame(frame, path="<request body>", segment=segment)
            except FormatError as exc:
                raise BadBatch(f"invalid frame payload: {exc}") from exc
            for record in decoded:
                scratch.apply(record)
                if record.type == RecordType.SEGMENT and (
                        record.body.get("run") != run_id or record.body.get("index") != segment):
                    raise BadBatch(f"segment record names run {record.body.get('run')!r} "
                                   f"segment {record.body.get('index')!r}, the request "
                                   f"{run_id!r} segment {segment}")
                if record.type == RecordType.RUN and (
                        record.body.get("id") != run_id
                        or record.body.get("project") != project):
                    raise BadBatch(f"run record names {record.body.get('project')!r}/"
                                   f"{record.body.get('id')!r}, the request "
                                   f"{project!r}/{run_id!r}")
            records.extend(decoded)
        if scratch.bad_records:
            seq, why = scratch.bad_records[0]
            raise BadBatch(f"record {seq}: {why}")
        return scan.frames, records

    def _check_blobs(self, records: list[Record], next_seq: int) -> None:
        for record in records:
            for sha in attached_blobs(record.body):
                if not _is_sha256(sha):
                    raise BadBatch(f"record {record.seq} names attached file {sha!r}, which "
                                   f"is not a lowercase hex SHA-256")
                if not self._blob(sha).exists():
                    raise Conflict(f"record {record.seq} names file {sha}, which has not been "
                                   f"uploaded", next_seq=next_seq, code="missing-blob")
            self._check_arrow(record)

    def _check_arrow(self, record: Record) -> None:
        """A table's or chart's file is read by every viewer: it must be an Arrow IPC
        file within SPEC.md §10's limits (uncompressed, bounded rows and values), checked
        whole (offsets, UTF-8) once, here, before any record names it."""
        from flightlog.format.arrowlimits import CHART_LIMITS, TABLE_LIMITS, read_ipc_file

        limits = (TABLE_LIMITS if record.type == RecordType.TABLE
                  else CHART_LIMITS if record.type == RecordType.CHART else None)
        sha = record.body.get("sha256")
        if limits is None or not isinstance(sha, str):
            return
        with open(self._blob(sha), "rb") as f:
            try:
                read_ipc_file(f, limits)
            except FormatError as exc:
                raise BadBatch(f"record {record.seq} ({record.type_name} "
                               f"{record.body.get('key')!r}) names file {sha}: "
                               f"{exc.message}") from None

    def _check_segment_start(self, run: StoredRun, segment: int, records: list[Record],
                             allow_gap: bool) -> None:
        """A batch that starts a segment on the server starts with that segment's
        ``segment`` record (SPEC.md §3.2), unless the client lost records to corruption
        (``allow_gap``: its copy has the same hole). Indexes may skip: a writer killed
        while creating a segment leaves an empty file, and its resume starts the next."""
        if segment == run.segment or allow_gap:
            return
        first = records[0] if records else None
        if first is None or first.type != RecordType.SEGMENT:
            raise BadBatch(f"segment {segment} does not start with its segment record")

    def _append(self, run: StoredRun, project: str, run_id: str, segment: int,
                data: bytes, allow_gap: bool = False) -> None:
        size = self._write_segment(run, segment, data)
        # The commit point: until this mark is in place the batch does not exist.
        write_commit_mark(run.dir, segment, size)
        run.segment = max(run.segment, segment)
        self._read_back(run, project, run_id, allow_gap)

    def _write_segment(self, run: StoredRun, segment: int, data: bytes) -> int:
        """Append ``data`` to the copy's segment file (created with its header), fsynced;
        returns the file's size. Not committed until the caller's commit point."""
        run.dir.mkdir(parents=True, exist_ok=True)
        path = segment_path(run.dir, segment)
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            if created:
                f.write(encode_file_header())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        if created:
            fsync_dir(path.parent)
        return size

    def _read_back(self, run: StoredRun, project: str, run_id: str,
                   allow_gap: bool) -> None:
        """Advance the run's view over what was just appended, strictly."""
        if run.view is None:
            run.view = LocalRun(run.dir)
            findings: list[Finding] = run.view._reader.findings
        else:
            known = len(run.view._reader.findings)
            run.view.refresh()
            findings = run.view._reader.findings[known:]
        # Read back what was just written; a sequence gap is expected when allowed.
        bad = [f for f in findings
               if not (allow_gap and isinstance(f.error, SequenceError))]
        if bad:
            raise CorruptRecord(f"stored copy of {project}/{run_id} reads back corrupt: "
                                f"{bad[0].error}")

    def _link_blobs(self, run: StoredRun, records: list[Record]) -> None:
        """Hard-link attached files into the run directory, so it stands on its own."""
        for record in records:
            for sha in attached_blobs(record.body):
                target = blob_path(run.dir, sha)
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(self._blob(sha), target)
                except OSError:
                    import shutil

                    shutil.copyfile(self._blob(sha), target)

    def _reindex(self, project: str, run_id: str, run: StoredRun,
                 writer_alive: bool | None = None) -> None:
        state = run.state()
        self.index.upsert(project, run_id, state, next_seq=run.next_seq,
                          writer_alive=writer_alive, stamp=run_stamp(run.dir))

    def set_writer_alive(self, project: str, run_id: str, alive: bool) -> None:
        with self.lock(project, run_id):
            run = self.load(project, run_id)
            self._reindex(project, run_id, run, alive)

    # ------------------------------------------------------------ blobs

    def _blob(self, sha: str) -> Path:
        return self.blob_root / "sha256" / sha[:2] / sha[2:]

    def blob_state(self, sha: str) -> tuple[bool, int]:
        """(complete, bytes received so far of a partial upload)."""
        _check_sha(sha)
        if self._blob(sha).exists():
            return True, self._blob(sha).stat().st_size
        partial = self.partial_dir / sha
        return False, partial.stat().st_size if partial.exists() else 0

    def blob_path(self, sha: str) -> Path:
        return self._blob(_check_sha(sha))

    def collect_partials(self) -> int:
        """Delete uploads in progress untouched for ``partial_ttl`` seconds (a client
        that resumes later starts again from byte 0: HEAD says so). Runs when the server
        starts and, at most every ``partial_ttl / 8`` seconds, when an upload chunk
        arrives. Returns how many were deleted."""
        now = time.time()
        self._last_sweep = now
        removed = 0
        for partial in self.partial_dir.iterdir():
            lock = self.lock("blob", partial.name)
            if not lock.acquire(blocking=False):
                continue  # being appended to right now: not stale
            try:
                if now - partial.stat().st_mtime > self.partial_ttl:
                    partial.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
            finally:
                lock.release()
        return removed

    def append_blob(self, sha: str, offset: int, chunks: Any, final: bool,
                    max_bytes: int) -> tuple[bool, int]:
        """Append a chunk of an upload at ``offset``; with ``final``, check the hash and
        store it. Returns (complete, size). Raises Conflict on a wrong offset, BadBatch on
        a hash mismatch (the partial upload is discarded) or an oversized chunk."""
        import hashlib

        _check_sha(sha)
        if time.time() - self._last_sweep > self.partial_ttl / 8:
            self.collect_partials()
        with self.lock("blob", sha):
            complete, size = self.blob_state(sha)
            if complete:
                return True, size
            if offset != size:
                raise Conflict(f"upload of {sha} is at byte {size}, not {offset}",
                               next_seq=size, code="offset")
            partial = self.partial_dir / sha
            received = 0
            with open(partial, "ab") as f:
                for chunk in chunks:
                    received += len(chunk)
                    if received > max_bytes:
                        raise BadBatch(f"chunk over {max_bytes} bytes")
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            size += received
            if not final:
                return False, size
            digest = hashlib.sha256()
            with open(partial, "rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            if digest.hexdigest() != sha:
                partial.unlink()
                raise BadBatch(f"uploaded content does not match SHA-256 {sha}")
            target = self._blob(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, target)
            fsync_dir(target.parent)
            return True, size


def _check_repeats(run_dir: Path, segment: int, repeated: list[Frame], next_seq: int) -> None:
    """Frames a batch repeats below the mark must be, byte for byte, the ones committed.

    The server stores each client segment verbatim under the same index, so a repeated
    frame is found by its first sequence number in that one file. A frame that is not
    there, or differs, means the copy is not this client's records (another client, or a
    forged request, wrote them): 409 ``diverged``, so the real client fails loudly
    instead of having its records skipped as "already committed". Repeats are rare (a
    resend after a lost answer or a restart), so reading the segment then is cheap
    enough; the common path never reads it.

    Raises:
        Conflict: a repeated frame that differs from the committed one.
    """
    path = segment_path(run_dir, segment)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    stored: dict[int, Frame] = {}
    if len(data) >= FILE_HEADER_SIZE:
        for frame in scan_frames(data, FILE_HEADER_SIZE, path=str(path),
                                 on_corruption=lambda e: None).frames:
            stored[frame.first_seq] = frame
    for frame in repeated:
        held = stored.get(frame.first_seq)
        if held is None or (held.record_count, held.flags, held.payload) != (
                frame.record_count, frame.flags, frame.payload):
            raise Conflict(f"records {frame.first_seq}..{frame.last_seq} of segment {segment} "
                           f"differ from the committed ones: the server's copy of this run "
                           f"was written by someone else", next_seq=next_seq, code="diverged")


def _holes(frames: list[Frame], start: int) -> list[tuple[int, int]]:
    """The (first, last) sequence ranges that appending ``frames`` at ``start`` skips."""
    holes, expected = [], start
    for frame in frames:
        if frame.first_seq > expected:
            holes.append((expected, frame.first_seq - 1))
        expected = max(expected, frame.last_seq + 1)
    return holes


def _check_declared_gaps(holes: list[tuple[int, int]], declared: Sequence[tuple[int, int]],
                         known: list[tuple[int, int]], start: int) -> None:
    """Every hole the batch leaves is declared, and every declared gap is a hole the batch
    leaves (or, below the mark, one the copy already has: a client that resent a batch)."""
    above = [g for g in declared if g[1] >= start]
    for gap in declared:
        if gap[0] > gap[1]:
            raise BadBatch(f"declared gap {gap[0]}-{gap[1]} is not a FIRST-LAST range")
        if gap[1] < start and gap not in known:
            raise BadBatch(f"declared gap {gap[0]}-{gap[1]} lies below the committed mark "
                           f"{start} and the run has no such gap")
    if sorted(above) == holes:
        return
    undeclared = [h for h in holes if h not in above]
    if undeclared:
        first, last = undeclared[0]
        raise Conflict(f"gap: the batch skips records {first}..{last} (the server has "
                       f"records up to {start - 1}) without declaring them lost",
                       next_seq=start, code="gap")
    extra = next(g for g in above if g not in holes)
    raise BadBatch(f"declared gap {extra[0]}-{extra[1]} is not a hole the batch leaves "
                   f"above the committed mark {start}: a gap must be followed by the frames "
                   f"that continue past it, in the same batch")


def _check_sha(sha: str) -> str:
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise BadBatch(f"{sha!r} is not a lowercase hex SHA-256")
    return sha



def run_stamp(run_dir: str | os.PathLike[str]) -> str | None:
    """A cheap summary of a run directory's committed state: its segment count and its
    last segment's index, size and mtime (appends go to the last segment; a torn tail
    cut off changes its size). One listdir and one stat; None without segments."""
    segments = list_segments(run_dir)
    if not segments:
        return None
    index, path = segments[-1]
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return f"{len(segments)}:{index}:{info.st_size}:{info.st_mtime_ns}"


def _subdir_names(path: str) -> list[tuple[str, str]]:
    """(name, path) of each directory directly under ``path``, by name; [] when gone."""
    try:
        with os.scandir(path) as entries:
            found = [(e.name, e.path) for e in entries if e.is_dir()]
    except FileNotFoundError:
        return []
    return sorted(found)


def _stderr(line: str) -> None:
    print(f"flightlog server: {line}", file=sys.stderr, flush=True)


_COMMIT_MARK = "server-commit.json"


def write_commit_mark(run_dir: Path, segment: int, size: int) -> None:
    """Record (segment, size) of the last committed batch: temp file, fsync, rename.
    The file is ignored by readers (SPEC.md §2: other names in a run directory)."""
    import json

    tmp = run_dir / f"{_COMMIT_MARK}.tmp"
    with open(tmp, "w") as f:
        json.dump({"segment": segment, "size": size}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, run_dir / _COMMIT_MARK)


def read_commit_mark(run_dir: Path) -> tuple[int, int] | None:
    import json

    try:
        data = json.loads((run_dir / _COMMIT_MARK).read_text())
        return int(data["segment"]), int(data["size"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None  # no batch committed yet, or a copy from before marks: frames decide


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
