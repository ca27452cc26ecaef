"""In-place damage to segment files, in the manner of LevelDB's ``log_test``.

Each helper changes a file on disk; ``fix_header_crc`` and friends recompute a CRC after
a field was changed on purpose so that only the intended check fails.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from flightlog.format._crc import masked_crc32c


def read_byte(path: Path, offset: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        got = f.read(1)
    if not got:
        raise IndexError(f"offset {offset} is past the end of {path}")
    return got[0]


def set_byte(path: Path, offset: int, value: int) -> None:
    if not 0 <= offset < os.path.getsize(path):
        raise IndexError(f"offset {offset} is outside {path}")
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes([value & 0xFF]))


def increment_byte(path: Path, offset: int, delta: int = 1) -> None:
    set_byte(path, offset, read_byte(path, offset) + delta)


def write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def set_u8(path: Path, offset: int, value: int) -> None:
    write_at(path, offset, struct.pack("<B", value))


def set_u16(path: Path, offset: int, value: int) -> None:
    write_at(path, offset, struct.pack("<H", value))


def set_u32(path: Path, offset: int, value: int) -> None:
    write_at(path, offset, struct.pack("<I", value))


def set_u64(path: Path, offset: int, value: int) -> None:
    write_at(path, offset, struct.pack("<Q", value))


def shrink(path: Path, nbytes: int) -> None:
    """Drop the last ``nbytes`` bytes of the file."""
    size = os.path.getsize(path)
    if not 0 <= nbytes <= size:
        raise ValueError(f"cannot drop {nbytes} of {size} bytes")
    os.truncate(path, size - nbytes)


def truncate_to(path: Path, length: int) -> None:
    os.truncate(path, length)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def fix_header_crc(path: Path, frame_offset: int) -> None:
    """Recompute the masked header CRC of the frame at ``frame_offset`` (bytes 8..27)."""
    with open(path, "r+b") as f:
        f.seek(frame_offset + 8)
        covered = f.read(20)
        if len(covered) != 20:
            raise ValueError(f"no complete frame header at {frame_offset}")
        f.seek(frame_offset + 4)
        f.write(struct.pack("<I", masked_crc32c(covered)))


def fix_payload_crc(path: Path, frame_offset: int) -> None:
    """Recompute payload CRC (then header CRC) of the frame at ``frame_offset``."""
    with open(path, "rb") as f:
        f.seek(frame_offset + 8)
        (length,) = struct.unpack("<I", f.read(4))
        f.seek(frame_offset + 28)
        payload = f.read(length)
    write_at(path, frame_offset + 24, struct.pack("<I", masked_crc32c(payload)))
    fix_header_crc(path, frame_offset)


def fix_file_header_crc(path: Path) -> None:
    """Recompute the segment file header's CRC (of bytes 0..11)."""
    with open(path, "r+b") as f:
        head = f.read(12)
        f.seek(12)
        f.write(struct.pack("<I", masked_crc32c(head)))
