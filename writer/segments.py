"""Appending frames to a run's segment files (SPEC.md §3, §4, §12).

:class:`SegmentWriter` owns the open segment's file descriptor, the sequence counter
and rotation. It is used by one thread only (the background writer).

Invariant: ``self._good`` is the end of the last complete frame in the open segment. A
failed or short write is undone by truncating back to it, so the file never holds a
partial frame followed by a complete one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from flightlog.format._compression import pack_payload
from flightlog.format._constants import (
    DEFAULT_SEGMENT_BYTES,
    FRAME_HEADER_SIZE,
    MAX_PAYLOAD,
    MAX_RECORD_COUNT,
    SEGMENT_DIR,
)
from flightlog.format._framing import encode_frame
from flightlog.format._fsutil import fsync_dir
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.records import RecordType
from flightlog.format.segment import encode_file_header, segment_path


def group_into_frames(payloads: Sequence[bytes]) -> list[list[bytes]]:
    """Consecutive records packed into frames of at most 64 KiB (before compression)."""
    frames: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for payload in payloads:
        if current and (size + len(payload) > MAX_PAYLOAD or len(current) >= MAX_RECORD_COUNT):
            frames.append(current)
            current, size = [], 0
        current.append(payload)
        size += len(payload)
    if current:
        frames.append(current)
    return frames


class SegmentWriter:
    """Writes frames of records; assigns sequence numbers; rotates segments.

    Args:
        run_dir: the run directory (``log/`` is created if missing).
        run_id: named in every segment record.
        next_seq: sequence number of the next record (0 for a new run).
        next_segment: index of the next segment to create (a resume never appends to an
            old one).
        segment_bytes: size bound of one segment.
    """

    def __init__(self, run_dir: Path, run_id: str, *, next_seq: int = 0, next_segment: int = 0,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES, version: str = "") -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.next_seq = next_seq
        self.segment_bytes = max(segment_bytes, 4096)
        self._next_segment = next_segment
        self._version = version
        self._fd: int | None = None
        self._good = 0
        self._has_data = False
        (run_dir / SEGMENT_DIR).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ segments

    def _segment_record(self, index: int) -> bytes:
        return pack_record(RecordType.SEGMENT, {
            "run": self.run_id, "index": index,
            "writer": {"name": "flightlog", "version": self._version,
                       "host": socket.gethostname(), "pid": os.getpid()}})

    def _open_segment(self) -> None:
        """Create the next segment with its header and segment record, all or nothing."""
        index = self._next_segment
        path = segment_path(self.run_dir, index)
        data = encode_file_header() + self._frame([self._segment_record(index)], self.next_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.ftruncate(fd, 0)  # a previous attempt that failed part-way left bytes
            self._write_all(fd, data)
        except OSError:
            os.close(fd)
            raise
        self._fd, self._good, self._has_data = fd, len(data), False
        self._next_segment = index + 1
        self.next_seq += 1
        fsync_dir(path.parent)

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------ frames

    @staticmethod
    def _frame(records: list[bytes], first_seq: int) -> bytes:
        stored, flags = pack_payload(b"".join(records))
        return encode_frame(stored, first_seq=first_seq, record_count=len(records),
                            flags=flags)

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write: {written} of {len(data)} bytes")

    def write(self, payloads: Sequence[bytes]) -> tuple[int, OSError | None]:
        """Append these records, in order, one frame per group of up to 64 KiB.

        Returns (records written, the OSError that stopped it or None). Records after
        the failure are not written and ``next_seq`` stays at the first of them, so the
        caller retries exactly those. A failed frame leaves no bytes behind.
        """
        written = 0
        for group in group_into_frames(payloads):
            try:
                self._append(group)
            except OSError as exc:
                return written, exc
            written += len(group)
        return written, None

    def _append(self, group: list[bytes]) -> None:
        if self._fd is None:
            self._open_segment()
        upper_bound = FRAME_HEADER_SIZE + sum(map(len, group))
        if self._has_data and self._good + upper_bound > self.segment_bytes:
            self._close_segment()
            self._open_segment()
        assert self._fd is not None
        frame = self._frame(group, self.next_seq)
        try:
            self._write_all(self._fd, frame)
        except OSError:
            self._undo_partial_write()
            raise
        self._good += len(frame)
        self._has_data = True
        self.next_seq += len(group)

    def _undo_partial_write(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._good)
        except OSError:
            # Cannot cut the partial frame off: leave it as this segment's torn tail and
            # go on in a new segment, where it reads as a writer's end, not corruption.
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """fsync and close the open segment (``finish``)."""
        self._close_segment()
        fsync_dir(self.run_dir / SEGMENT_DIR)

    def fsync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
