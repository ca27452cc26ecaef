"""Shipping one run: read its complete frames past the server's mark, upload the files
they name, send the frames, advance.

Invariant: ``self.acked`` is the server's high-water mark as last answered. It is set
from the server at start and after every error (never from a cached position), and only
frames with records at or above it are sent, so a repeated or lost answer costs at most
one repeated batch, which the server skips.

Frames are read once, in sequence order, into a backlog; a resync keeps the backlog when
the server's mark lies within what was read, and reads the run again from its start when
the mark is below it (the server lost records). Sequence numbers the local log skips
(records lost to corruption) are kept in ``self.lost``: they are the only gaps sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flightlog.format._framing import Frame, encode_frame
from flightlog.format.reader import decode_frame
from flightlog.format.records import RecordType, attached_blobs
from flightlog.format.rundir import blob_path, writer_alive
from flightlog.format.segment import SegmentTail, list_segments

from flightlog.errors import FormatError, SyncError

from .client import SyncClient
from .positions import Position, PositionStore

#: Largest batch of frames in one request.
BATCH_BYTES = 8 * 1024 * 1024


class LocalReadError(SyncError):
    """The run directory could not be read (moved away, an I/O error): retried."""


@dataclass
class Pending:
    segment: int
    frames: list[Frame]


class RunShipper:
    def __init__(self, run_dir: Path, run_id: str, project: str, client: SyncClient,
                 positions: PositionStore) -> None:
        self.dir = run_dir
        self.run_id = run_id
        self.project = project
        self.client = client
        self.positions = positions
        self.position = positions.load(run_id) or Position(run_id, project)
        self.position.project, self.position.path = project, str(run_dir)
        self.acked: int | None = None  # unknown until the server says
        self._backlog: list[Pending] = []
        self._tails: dict[int, SegmentTail] = {}
        self._sent_writer_alive: bool | None = None
        self._next_read = 0  # one past the last record read into the backlog
        self.corruption: list[FormatError] = []
        self.lost: list[tuple[int, int]] = []  # (first, last) seq ranges the log skips
        self.delivered = 0  # batches and files the server took: progress, for the backoff

    # ------------------------------------------------------------ reading

    def _read_new_frames(self) -> list[Pending]:
        out: list[Pending] = []
        for index, path in list_segments(self.dir):
            tail = self._tails.get(index)
            if tail is None:
                tail = self._tails[index] = SegmentTail(path, self.corruption.append)
            frames = self._in_order(tail.poll())
            if frames:
                out.append(Pending(index, frames))
        return out

    def _in_order(self, frames: list[Frame]) -> list[Frame]:
        """Frames that continue the sequence; a skip is recorded in ``lost``, a frame
        overlapping what was read (a duplicate left by corruption) is not shipped."""
        out = []
        for frame in frames:
            if frame.first_seq < self._next_read:
                continue
            if frame.first_seq > self._next_read:
                self.lost.append((self._next_read, frame.first_seq - 1))
            self._next_read = frame.last_seq + 1
            out.append(frame)
        return out

    def _reset_reading(self) -> None:
        self._tails = {}
        self._backlog = []
        self._next_read = 0
        self.corruption = []
        self.lost = []

    def relocate(self, run_dir: Path) -> None:
        """The run directory moved (same run id): read it from its new place."""
        self.dir = run_dir
        self.position.path = str(run_dir)
        self._reset_reading()
        self.acked = None

    @property
    def lost_records(self) -> int:
        return sum(last - first + 1 for first, last in self.lost)

    def local_seq(self) -> int:
        """One past the last complete record read locally."""
        last = -1
        for pending in self._backlog:
            last = max(last, pending.frames[-1].last_seq)
        return max(last + 1, self.position.local_seq)

    # ------------------------------------------------------------ shipping

    def resync(self) -> None:
        """Ask the server where it stands. Frames read are kept when its mark is within
        them; below them, the run is read again from its start."""
        self.acked = self.client.position(self.project, self.run_id)
        read_from = self._backlog[0].frames[0].first_seq if self._backlog else self._next_read
        if self.acked < read_from:
            self._reset_reading()
        self.position.acked_seq = self.acked

    def ship(self) -> bool:
        """Send everything complete that the server lacks. True when something was sent
        or the server state changed. Raises SyncError (the caller retries or sets aside);
        after an error the next call asks the server again."""
        try:
            return self._ship()
        except (SyncError, OSError, FormatError) as exc:
            self.acked = None  # never trust a position after an error
            self.position.last_error = str(exc)
            self.positions.save(self.position)
            if isinstance(exc, SyncError):
                raise
            if isinstance(exc, OSError):  # the directory moved, a disk hiccup: retried
                raise LocalReadError(f"{self.dir}: {exc}") from exc
            raise SyncError(f"{self.dir}: {exc}") from exc  # e.g. a newer format

    def _ship(self) -> bool:
        if self.acked is None:
            self.resync()
        assert self.acked is not None
        # Liveness first: a writer found gone had written all it ever will before the
        # read below, so "gone" is never sent ahead of the run's last records.
        alive = writer_alive(self.dir)
        self._backlog.extend(self._read_new_frames())
        progressed = False
        gap_ok = bool(self.lost)
        while self._backlog:
            pending = self._backlog[0]
            batch, rest = _take_batch(pending.frames, self.acked)
            if not batch:  # all of it is on the server already
                self._backlog.pop(0)
                continue
            self._upload_blobs(batch)
            data = b"".join(encode_frame(f.payload, first_seq=f.first_seq,
                                         record_count=f.record_count, flags=f.flags)
                            for f in batch)
            # A gap is allowed only when the local reader lost records to corruption.
            self.acked = self.client.send_frames(
                self.project, self.run_id, pending.segment, data,
                allow_gap=gap_ok, writer_alive=alive)
            self._sent_writer_alive = alive
            self.delivered += 1
            progressed = True
            pending.frames = rest
            if not rest:
                self._backlog.pop(0)
        if alive != self._sent_writer_alive and self.acked > 0:
            self.client.set_writer(self.project, self.run_id, alive)
            self._sent_writer_alive = alive
            progressed = True
        self.position.acked_seq = self.acked
        self.position.local_seq = max(self.position.local_seq, self.acked)
        self.position.last_error = ""
        if progressed:
            self.positions.save(self.position)
        return progressed

    def _upload_blobs(self, frames: list[Frame]) -> None:
        for frame in frames:
            if not frame.payload:
                continue
            try:
                records = decode_frame(frame, path=str(self.dir))
            except FormatError:
                continue  # the server refuses it with a clear answer
            for record in records:
                for sha in attached_blobs(record.body):
                    self._upload_blob(record.body, sha)

    def _upload_blob(self, body: dict[str, object], sha: str) -> None:
        path = blob_path(self.dir, sha)
        if not path.is_file():  # the server would refuse the record: not retried
            raise SyncError(f"attached file {body.get('name') or body.get('key')!r} "
                            f"({sha}) is missing from {self.dir}: the run cannot be shipped "
                            f"past record {self.acked}")
        self.client.upload_blob(sha, path)
        self.delivered += 1

    @property
    def caught_up(self) -> bool:
        """Everything complete locally is acknowledged."""
        return self.acked is not None and not self._backlog


def _take_batch(frames: list[Frame], acked: int) -> tuple[list[Frame], list[Frame]]:
    """(frames to send now, frames for later): skips what the server has, and caps the
    batch at BATCH_BYTES."""
    todo = [f for f in frames if f.last_seq >= acked]
    batch: list[Frame] = []
    size = 0
    for i, frame in enumerate(todo):
        if batch and size + len(frame.payload) > BATCH_BYTES:
            return batch, todo[i:]
        batch.append(frame)
        size += len(frame.payload) + 28
    return batch, []


def run_identity(run_dir: Path) -> tuple[str, str] | None:
    """(project, run id) from the run's first records, or None if not written yet."""
    segments = list_segments(run_dir)
    if not segments:
        return None
    try:
        frames = SegmentTail(segments[0][1], lambda e: None).poll()[:2]
        run_id = project = None
        for frame in frames:
            for record in decode_frame(frame):
                if record.type == RecordType.SEGMENT:
                    run_id = record.body.get("run")
                if record.type == RecordType.RUN:
                    project = record.body.get("project")
                    run_id = record.body.get("id", run_id)
    except (FormatError, OSError):
        return None
    if isinstance(run_id, str) and isinstance(project, str):
        return project, run_id
    return None


__all__ = ["LocalReadError", "RunShipper", "run_identity"]
