"""Frames: encoding one, and finding them again in a byte buffer (SPEC.md §4, §5).

This module knows bytes, lengths and CRCs. It knows nothing of msgpack, zstd or what a
record is: a frame's payload is handed on as stored.

Invariant of :func:`scan_frames`: the position it returns is always the start of a frame
that is not complete yet (a torn tail) or the end of the buffer, so a caller that keeps
the position and calls again when the file grows never reads a byte twice nor skips one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flightlog.errors import (
    ChecksumMismatch,
    CorruptRecord,
    FormatError,
    RecordTooLarge,
)

from ._constants import (
    FRAME_HEADER,
    FRAME_HEADER_CRC_START,
    FRAME_HEADER_SIZE,
    FRAME_SYNC,
    KNOWN_FLAGS,
    MAX_PAYLOAD,
    MAX_RECORD_COUNT,
)
from ._crc import masked_crc32c

#: Called with each corruption finding; ``None`` means strict: raise it.
OnCorruption = Callable[[FormatError], None] | None


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete, checksum-verified frame. ``offset`` is where its header starts."""

    offset: int
    first_seq: int
    record_count: int
    flags: int
    payload: bytes

    @property
    def end(self) -> int:
        return self.offset + FRAME_HEADER_SIZE + len(self.payload)

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.record_count - 1


def encode_frame(payload: bytes, *, first_seq: int, record_count: int, flags: int = 0) -> bytes:
    """Header + payload bytes of one frame.

    Raises:
        RecordTooLarge: ``payload`` is empty or over 64 KiB.
    """
    if not 0 < len(payload) <= MAX_PAYLOAD:
        raise RecordTooLarge(f"frame payload of {len(payload)} bytes; allowed 1..{MAX_PAYLOAD}")
    if not 0 < record_count <= MAX_RECORD_COUNT:
        raise RecordTooLarge(f"frame of {record_count} records; allowed 1..{MAX_RECORD_COUNT}")
    header = bytearray(
        FRAME_HEADER.pack(FRAME_SYNC, 0, len(payload), first_seq, record_count, flags, 0,
                          masked_crc32c(payload))
    )
    crc = masked_crc32c(memoryview(header)[FRAME_HEADER_CRC_START:])
    header[4:8] = crc.to_bytes(4, "little")
    return bytes(header) + payload


@dataclass(frozen=True, slots=True)
class ScanResult:
    frames: list[Frame]
    #: Where reading stopped: the start of a torn tail, or the end of the buffer.
    position: int
    #: True when bytes from ``position`` to the end of the buffer are a torn tail.
    torn: bool


class _HeaderProblem(Exception):
    """Internal: why the header at an offset is not a frame header."""

    def __init__(self, error: FormatError | None) -> None:
        self.error = error  # None: not enough bytes (torn)


def _parse_header(buf: memoryview, pos: int, path: str | None,
                  base: int = 0) -> tuple[int, int, int, int, int]:
    """(payload_len, first_seq, record_count, flags, payload_crc) of a valid header."""
    if len(buf) - pos < FRAME_HEADER_SIZE:
        raise _HeaderProblem(None)
    sync, hcrc, length, first_seq, count, flags, reserved, pcrc = FRAME_HEADER.unpack_from(
        buf, pos)
    if sync != FRAME_SYNC:
        raise _HeaderProblem(CorruptRecord("no frame sync bytes", path=path, offset=base + pos))
    got = masked_crc32c(buf[pos + FRAME_HEADER_CRC_START: pos + FRAME_HEADER_SIZE])
    if got != hcrc:
        raise _HeaderProblem(CorruptRecord(
            f"frame header checksum mismatch (stored {hcrc:#010x}, computed {got:#010x})",
            path=path, offset=base + pos))
    if length > MAX_PAYLOAD:
        raise _HeaderProblem(RecordTooLarge(
            f"frame payload length {length} over the {MAX_PAYLOAD} byte bound",
            path=path, offset=base + pos))
    if length == 0 or count == 0 or reserved != 0 or flags & ~KNOWN_FLAGS:
        raise _HeaderProblem(CorruptRecord(
            f"frame header fields out of range (length={length}, records={count}, "
            f"flags={flags:#04x}, reserved={reserved})", path=path, offset=base + pos))
    return length, first_seq, count, flags, pcrc


def _all_zero(buf: memoryview, pos: int) -> bool:
    return not any(buf[pos:])


def _report(error: FormatError, on_corruption: OnCorruption) -> None:
    if on_corruption is None:
        raise error
    on_corruption(error)


def _resync(buf: memoryview, start: int, path: str | None) -> int:
    """The offset of the next plausible frame at or after ``start``, or ``len(buf)``.

    Plausible: a valid header, and a valid payload CRC if the payload is all present
    (an incomplete one is accepted: it may be a torn tail)."""
    raw = buf.obj if isinstance(buf.obj, bytes) else bytes(buf)
    pos = start
    while True:
        pos = raw.find(FRAME_SYNC, pos)
        if pos < 0:
            return _partial_sync_at_end(raw, start)
        try:
            length, _, _, _, pcrc = _parse_header(buf, pos, path)
        except _HeaderProblem as problem:
            if problem.error is None:
                return pos  # a header that is not all there yet: maybe a torn tail
            pos += 1
            continue
        end = pos + FRAME_HEADER_SIZE + length
        if end > len(buf) or masked_crc32c(buf[pos + FRAME_HEADER_SIZE:end]) == pcrc:
            return pos
        pos += 1


def _partial_sync_at_end(raw: bytes, start: int) -> int:
    """Where the buffer ends in the first 1-3 bytes of a sync marker (a frame whose
    header is still being written), else the end of the buffer."""
    for k in range(len(FRAME_SYNC) - 1, 0, -1):
        if len(raw) - k >= start and raw.endswith(FRAME_SYNC[:k]):
            return len(raw) - k
    return len(raw)


def scan_frames(
    data: bytes,
    start: int,
    *,
    path: str | None = None,
    base: int = 0,
    on_corruption: OnCorruption = None,
) -> ScanResult:
    """Every complete frame in ``data[start:]`` (SPEC.md §5).

    Args:
        data: the bytes of a segment file (or a prefix of it).
        start: where the first frame header starts.
        path: named in errors.
        base: the file offset of ``data[0]``; frames and errors carry file offsets.
        on_corruption: called with each finding; ``None`` raises the first one.

    Raises:
        CorruptRecord, RecordTooLarge, ChecksumMismatch: in strict mode.

    Example:
        >>> scan_frames(encode_frame(b"\\x90", first_seq=0, record_count=1), 0).frames[0].first_seq
        0
    """
    buf = memoryview(data)
    frames: list[Frame] = []
    pos = start
    size = len(buf)
    while pos < size:
        try:
            length, first_seq, count, flags, pcrc = _parse_header(buf, pos, path, base)
        except _HeaderProblem as problem:
            if problem.error is None or _all_zero(buf, pos):
                return ScanResult(frames, base + pos, True)
            resume = _resync(buf, pos + 1, path)
            problem.error.skipped = (base + pos, base + resume)  # SPEC.md §5.1
            _report(problem.error, on_corruption)
            pos = resume
            continue
        end = pos + FRAME_HEADER_SIZE + length
        if end > size:
            return ScanResult(frames, base + pos, True)
        payload = buf[pos + FRAME_HEADER_SIZE:end]
        got = masked_crc32c(payload)
        if got != pcrc:
            mismatch = ChecksumMismatch(
                f"frame payload checksum mismatch (stored {pcrc:#010x}, computed {got:#010x})",
                got=got, want=pcrc, path=path, offset=base + pos)
            mismatch.skipped = (base + pos, base + end)
            _report(mismatch, on_corruption)
        else:
            frames.append(Frame(base + pos, first_seq, count, flags, bytes(payload)))
        pos = end
    return ScanResult(frames, base + pos, False)
