"""Shipping one run: read its complete frames past the server's mark, upload the files
they name, send the frames, advance.

Invariant: ``self.acked`` is the server's high-water mark as last answered. It is set
from the server at start and after every error (never from a cached position), and only
frames with records at or above it are sent, so a repeated or lost answer costs at most
one repeated batch, which the server skips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flightlog.format._framing import Frame, encode_frame
from flightlog.format.reader import decode_frame
from flightlog.format.records import RecordType
from flightlog.format.rundir import blob_path, writer_alive
from flightlog.format.segment import SegmentTail, list_segments

from flightlog.errors import FormatError, SyncError

from .client import SyncClient
from .positions import Position, PositionStore

#: Largest batch of frames in one request.
BATCH_BYTES = 8 * 1024 * 1024


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
        self.corruption: list[FormatError] = []
        self.finished = False

    # ------------------------------------------------------------ reading

    def _read_new_frames(self) -> list[Pending]:
        out: list[Pending] = []
        for index, path in list_segments(self.dir):
            tail = self._tails.get(index)
            if tail is None:
                tail = self._tails[index] = SegmentTail(path, self.corruption.append)
            frames = tail.poll()
            if frames:
                out.append(Pending(index, frames))
        return out

    def local_seq(self) -> int:
        """One past the last complete record read locally."""
        last = -1
        for pending in self._backlog:
            last = max(last, pending.frames[-1].last_seq)
        return max(last + 1, self.position.local_seq)

    # ------------------------------------------------------------ shipping

    def resync(self) -> None:
        """Forget local reading state and ask the server where it stands."""
        self.acked = self.client.position(self.project, self.run_id)
        self._tails = {}
        self._backlog = []
        self.position.acked_seq = self.acked

    def ship(self) -> bool:
        """Send everything complete that the server lacks. True when something was sent
        or the server state changed. Raises SyncError (the caller retries or sets aside);
        after an error the next call asks the server again."""
        try:
            return self._ship()
        except SyncError as exc:
            self.acked = None  # never trust a position after an error
            self.position.last_error = str(exc)
            self.positions.save(self.position)
            raise

    def _ship(self) -> bool:
        if self.acked is None:
            self.resync()
        assert self.acked is not None
        self._backlog.extend(self._read_new_frames())
        progressed = False
        gap_ok = bool(self.corruption)
        alive = writer_alive(self.dir)
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
            progressed = True
            self.finished = self.finished or _has_finish(batch)
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
                if record.type in (RecordType.FILE, RecordType.TABLE):
                    sha = record.body.get("sha256")
                    if isinstance(sha, str):
                        self.client.upload_blob(sha, blob_path(self.dir, sha))

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


def _has_finish(frames: list[Frame]) -> bool:
    for frame in frames:
        try:
            if any(r.type == RecordType.FINISH for r in decode_frame(frame)):
                return True
        except FormatError:
            pass
    return False


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


__all__ = ["RunShipper", "run_identity"]
