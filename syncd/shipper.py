"""Shipping one run: read its complete frames past the server's mark, upload the files
they name, send the frames, advance.

Invariant: ``self.acked`` is the server's high-water mark as last answered. It is set
from the server at start and after every error (never from a cached position), and only
frames with records at or above it are sent, so a repeated or lost answer costs at most
one repeated batch, which the server skips. The one exception: a 429 (the server refused
the request unread, at admission) keeps the mark, since nothing moved and asking again
would spend the run's allowance of requests: with a per-run limit of one request per
``Retry-After``, the question would take it and every batch after it be refused, forever.
Were a 429 sent after a commit all the same, the next batch is a repeat, which is skipped.

Frames are read once, in sequence order, into a backlog; a resync keeps the backlog when
the server's mark lies within what was read, and reads the run again from its start when
the mark is below it (the server lost records). Sequence numbers the local log skips
(records lost to corruption) are kept in ``self.lost``: they are the only gaps sent, each
declared exactly with the batch that skips it.

The server is not believed blindly (another client, or a forged request, may have written
to the run): its mark may never exceed the records the local log holds, every gap it
holds must be one the local log has, and after each batch its answer must be exactly one
past the batch's last record. Otherwise the run has diverged: :class:`RunDiverged`, and
nothing local moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from flightlog.format._framing import Frame, encode_frame
from flightlog.format.identity import run_identity
from flightlog.format.reader import decode_frame
from flightlog.format.records import attached_blobs
from flightlog.format.rundir import blob_path, writer_alive
from flightlog.format.segment import SegmentTail, list_segments

from flightlog.errors import (
    FormatError,
    RunDiverged,
    ServerProtocolError,
    ServerRejected,
    SyncError,
)

from .client import ServerMark, SyncClient
from .positions import Position, PositionStore

#: Largest batch of frames in one request.
BATCH_BYTES = 8 * 1024 * 1024
#: Seconds between saves of a live run's position (each one an fsync): a position is a
#: hint (the server's answer counts), so a lagging one costs one re-proved frame after
#: a restart, never a record. A finished run's, or one after an error, is saved at once.
POSITION_SAVE_INTERVAL = 2.0


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
        self.server_gaps: tuple[tuple[int, int], ...] = ()  # as the server last said
        self._backlog: list[Pending] = []
        self._tails: dict[int, SegmentTail] = {}
        self._sent_writer_alive: bool | None = None
        self._next_read = 0  # one past the last record read into the backlog
        self.corruption: list[FormatError] = []
        self.lost: list[tuple[int, int]] = []  # (first, last) seq ranges the log skips
        self.delivered = 0  # batches and files the server took: progress, for the backoff
        # The highest mark this shipper's own batches earned; a server mark above it (and
        # above the saved position) was written by someone else and is checked first.
        self._earned = self.position.acked_seq
        self._check_mark = False
        self._unsaved = False  # progress since the position was last saved
        self._saved_at = 0.0

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
        mark: ServerMark = self.client.position(self.project, self.run_id)
        self.acked, self.server_gaps = mark.next_seq, mark.gaps
        self._check_mark = self.acked > max(self._earned, self.position.acked_seq)
        read_from = self._backlog[0].frames[0].first_seq if self._backlog else self._next_read
        if self.acked < read_from:
            self._reset_reading()
        # self.position moves only at the end of a round that checked this answer.

    def ship(self) -> bool:
        """Send everything complete that the server lacks. True when something was sent
        or the server state changed. Raises SyncError (the caller retries or sets aside);
        after an error the next call asks the server again."""
        try:
            return self._ship()
        except (SyncError, OSError, FormatError) as exc:
            if not (isinstance(exc, ServerRejected) and exc.status_code == 429):
                self.acked = None  # never trust a position after an error (but a 429)
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
        self._check_server_mark()
        if self._check_mark:
            self._prove_mark(alive)
        progressed = False
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
            # A gap is declared only where the local reader lost records to corruption.
            sent_end = batch[-1].last_seq + 1
            try:
                answered = self.client.send_frames(
                    self.project, self.run_id, pending.segment, data,
                    gaps=_holes(batch, self.acked), writer_alive=alive)
            except ServerRejected as exc:
                if exc.code != "diverged":
                    raise
                # The server holds other bytes for records this batch repeats.
                raise self._diverged(exc.message, exc.next_seq or 0) from None
            self._sent_writer_alive = alive
            self.delivered += 1
            progressed = True
            if answered != sent_end:
                self._unexpected_answer(answered, self.acked, sent_end)
                continue  # resynced: the backlog is taken again from the server's mark
            self.acked = self._earned = answered
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
        self._unsaved |= progressed
        if self._unsaved and (not alive or time.monotonic() - self._saved_at
                              >= POSITION_SAVE_INTERVAL):
            self.save_position()
        return progressed

    def save_position(self) -> None:
        """Save the position if it moved since it was last saved."""
        if self._unsaved:
            self.positions.save(self.position)
            self._unsaved = False
            self._saved_at = time.monotonic()

    def _diverged(self, why: str, server_seq: int) -> RunDiverged:
        return RunDiverged(
            f"run {self.project}/{self.run_id} diverged: {why}; the server's copy is not "
            f"this run's records (another client or a forged request wrote to it, or the "
            f"local log was replaced). Nothing was shipped past it",
            url=f"{getattr(self.client, 'url', 'server')}/api/v1/runs/{self.project}/"
                f"{self.run_id}", server_seq=server_seq, local_seq=self._next_read,
            path=str(self.dir))

    def _check_server_mark(self) -> None:
        """The server's mark and gaps against the local log, read up to now: a mark
        above what the log holds, or a gap the log does not have, is a divergence."""
        assert self.acked is not None
        if self.acked > self._next_read:
            raise self._diverged(f"the server claims {self.acked} records committed, the "
                                 f"local log holds {self._next_read}", self.acked)
        for first, last in self.server_gaps:
            if not any(a <= first and last <= b for a, b in self.lost):
                raise self._diverged(
                    f"the server holds a gap of records {first}..{last} that the local log "
                    f"has (its lost records: {self.lost[:5] or 'none'})", self.acked)

    def _prove_mark(self, alive: bool) -> None:
        """A mark this client did not earn (a fresh state directory, a second shipper,
        or records forged ahead of it) is believed only once the server's last frame
        below it is this log's own: the frame is sent again, and the server, which
        compares repeated frames byte for byte, answers 409 ``diverged`` if its copy
        differs. Without this, forged records ahead of the client would be skipped as
        "already committed"."""
        assert self.acked is not None
        self._check_mark = False
        for pending in self._backlog:
            for frame in pending.frames:
                if frame.last_seq == self.acked - 1:
                    data = encode_frame(frame.payload, first_seq=frame.first_seq,
                                        record_count=frame.record_count, flags=frame.flags)
                    try:
                        answered = self.client.send_frames(
                            self.project, self.run_id, pending.segment, data, gaps=(),
                            writer_alive=alive)
                    except ServerRejected as exc:
                        if exc.code != "diverged":
                            self._check_mark = True  # not proven: again (a 429 keeps acked)
                            raise
                        raise self._diverged(exc.message, exc.next_seq or 0) from None
                    if answered != self.acked:
                        self._unexpected_answer(answered, self.acked, self.acked)
                    self._earned = max(self._earned, self.acked)
                    return
                if frame.first_seq < self.acked <= frame.last_seq:
                    raise self._diverged(f"the server's mark {self.acked} falls inside the "
                                         f"local frame of records {frame.first_seq}.."
                                         f"{frame.last_seq}", self.acked)
        # The record below the mark is in a range the local log lost, or was shipped
        # and dropped from the backlog by this process (then it earned it): nothing to
        # compare.

    def _unexpected_answer(self, answered: int, acked: int, sent_end: int) -> None:
        """The server answered a mark other than one past the batch sent."""
        if answered > self._next_read:
            raise self._diverged(f"the server answered {answered} records committed after "
                                 f"records {acked}..{sent_end - 1}, the local log holds "
                                 f"{self._next_read}", answered)
        if answered < sent_end:
            raise ServerProtocolError(
                f"run {self.project}/{self.run_id}: the server took records {acked}.."
                f"{sent_end - 1} but answered next_seq {answered}, not {sent_end}",
                url=f"POST /api/v1/runs/{self.project}/{self.run_id}/frames",
                path=str(self.dir))
        # Ahead of the batch but within the local log: another shipper of this same run
        # directory got there first. Believed only after asking again and checking gaps.
        self.resync()
        # Read on (from the start, if the mark fell below what was read): the other
        # shipper may have read further than this one.
        self._backlog.extend(self._read_new_frames())
        self._check_server_mark()

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
        try:
            self.client.upload_blob(sha, path)
        except ServerProtocolError as exc:
            raise ServerProtocolError(f"attached file {body.get('name') or body.get('key')!r}"
                                      f": {exc.reason}", url=exc.url) from exc
        self.delivered += 1

    @property
    def writer_gone(self) -> bool:
        """The server was last told that the run's writer has gone (it finished or died)."""
        return self._sent_writer_alive is False

    @property
    def caught_up(self) -> bool:
        """Everything complete locally is acknowledged."""
        return self.acked is not None and not self._backlog


def _holes(batch: list[Frame], acked: int) -> list[tuple[int, int]]:
    """The (first, last) sequence ranges that committing ``batch`` on top of ``acked``
    skips: exactly what the batch declares as gaps (the server refuses any other)."""
    holes, expected = [], acked
    for frame in batch:
        if frame.first_seq > expected:
            holes.append((expected, frame.first_seq - 1))
        expected = max(expected, frame.last_seq + 1)
    return holes


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


__all__ = ["LocalReadError", "RunShipper", "run_identity"]
