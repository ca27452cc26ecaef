"""Numbers fixed by SPEC.md. This module is the one place code takes them from."""

from __future__ import annotations

import struct
from typing import Final

#: SPEC.md §3.1: segment file header.
FILE_MAGIC: Final = b"\x89FLSEG\r\n"
FORMAT_MAJOR: Final = 1
FORMAT_MINOR: Final = 3
FILE_HEADER = struct.Struct("<8sHHI")
FILE_HEADER_SIZE: Final = FILE_HEADER.size  # 16

#: SPEC.md §4.1: frame header. Field order: sync, header_crc, payload_len, first_seq,
#: record_count, flags, reserved, payload_crc.
FRAME_SYNC: Final = b"\xd9FLR"
FRAME_HEADER = struct.Struct("<4sIIQHBBI")
FRAME_HEADER_SIZE: Final = FRAME_HEADER.size  # 28
#: Offset of the first byte covered by header_crc (everything after the CRC field).
FRAME_HEADER_CRC_START: Final = 8
MAX_PAYLOAD: Final = 65536
FLAG_ZSTD: Final = 0x01
KNOWN_FLAGS: Final = FLAG_ZSTD
MAX_RECORD_COUNT: Final = 0xFFFF

#: SPEC.md §7.
MAX_NESTING: Final = 32

#: SPEC.md §2.
SEGMENT_DIR: Final = "log"
SEGMENT_SUFFIX: Final = ".flseg"
FILES_DIR: Final = "files"
LOCK_FILE: Final = "writer.lock"
DEFAULT_SEGMENT_BYTES: Final = 8 * 1024 * 1024
