"""Segment files: their header (SPEC.md §3.1) and a resumable reader of their frames."""

from __future__ import annotations

import os
from pathlib import Path

from flightlog.errors import BadFileHeader, TruncatedRecord, UnsupportedVersion

from ._constants import (
    FILE_HEADER,
    FILE_HEADER_SIZE,
    FILE_MAGIC,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    SEGMENT_DIR,
    SEGMENT_SUFFIX,
)
from ._crc import masked_crc32c
from ._framing import Frame, OnCorruption, scan_frames


def encode_file_header(major: int = FORMAT_MAJOR, minor: int = FORMAT_MINOR) -> bytes:
    head = FILE_HEADER.pack(FILE_MAGIC, major, minor, 0)[:12]
    return head + masked_crc32c(head).to_bytes(4, "little")


def parse_file_header(data: bytes, path: str | None = None) -> tuple[int, int]:
    """(major, minor) of a segment's header.

    Raises:
        TruncatedRecord: fewer than 16 bytes (a segment being created).
        BadFileHeader: wrong magic or header checksum (SPEC.md §3.1); its ``skipped``
            is the header's 16 bytes.
        UnsupportedVersion: a major version this reader does not know.
    """
    if len(data) < FILE_HEADER_SIZE:
        raise TruncatedRecord("segment header not complete yet", path=path, offset=0)
    magic, major, minor, crc = FILE_HEADER.unpack_from(data, 0)
    if magic != FILE_MAGIC:
        raise _bad_header(f"not a flightlog segment (magic {magic!r})", path)
    if masked_crc32c(data[:12]) != crc:
        raise _bad_header("segment header checksum mismatch", path)
    if major != FORMAT_MAJOR:
        raise UnsupportedVersion(
            f"segment format {major}.{minor}; this flightlog reads {FORMAT_MAJOR}.x "
            f"(upgrade flightlog to read it)", found=(major, minor),
            supported=(FORMAT_MAJOR, FORMAT_MINOR), path=path, offset=8)
    return major, minor


def _bad_header(message: str, path: str | None) -> BadFileHeader:
    error = BadFileHeader(message, path=path, offset=0)
    error.skipped = (0, FILE_HEADER_SIZE)
    return error


def segment_name(index: int) -> str:
    return f"{index:08d}{SEGMENT_SUFFIX}"


def segment_path(run_dir: str | os.PathLike[str], index: int) -> Path:
    return Path(run_dir) / SEGMENT_DIR / segment_name(index)


def list_segments(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(index, path) of the run's segment files in index order; other names ignored."""
    log_dir = Path(run_dir) / SEGMENT_DIR
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        stem = name[: -len(SEGMENT_SUFFIX)]
        if name.endswith(SEGMENT_SUFFIX) and len(stem) == 8 and stem.isdigit():
            out.append((int(stem), log_dir / name))
    return sorted(out)


class SegmentTail:
    """Reads the frames of one segment file, resuming where it stopped.

    Each :meth:`poll` returns the frames completed since the last call. A torn tail is
    kept for later: ``position`` stays at its start and ``torn`` is True.

    Example:
        >>> tail = SegmentTail(path)                          # doctest: +SKIP
        >>> frames = tail.poll()   # later, as the file grows: tail.poll() again
    """

    def __init__(self, path: str | os.PathLike[str], on_corruption: OnCorruption = None) -> None:
        self.path = str(path)
        self.on_corruption = on_corruption
        self.position = 0
        self.torn = False
        self.version: tuple[int, int] | None = None
        self.size = 0
        self.frames_read = 0

    def poll(self) -> list[Frame]:
        """Frames completed since the last call.

        Raises:
            UnsupportedVersion: always, whatever ``on_corruption`` is.
            BadFileHeader, CorruptRecord, ChecksumMismatch, RecordTooLarge: in strict
                mode.
        """
        with open(self.path, "rb") as f:
            if self.version is None:
                head = f.read(FILE_HEADER_SIZE)
                try:
                    self.version = parse_file_header(head, self.path)
                except TruncatedRecord:
                    self.torn = True  # being created: even 0 bytes is "no frame yet"
                    self.size = len(head)
                    return []
                except UnsupportedVersion:
                    raise
                except BadFileHeader as exc:
                    # A damaged header costs only itself (SPEC.md §3.1): its version
                    # fields are not trusted, and the frames are read as the newest 1.x
                    # minor version this reader knows.
                    if self.on_corruption is None:
                        raise
                    self.on_corruption(exc)
                    self.version = (FORMAT_MAJOR, FORMAT_MINOR)
                self.position = FILE_HEADER_SIZE
            f.seek(self.position)
            data = f.read()
        self.size = self.position + len(data)
        result = scan_frames(data, 0, path=self.path, base=self.position,
                             on_corruption=self.on_corruption)
        self.position = result.position
        self.torn = result.torn
        self.frames_read += len(result.frames)
        return result.frames
