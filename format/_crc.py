"""CRC-32C and its mask (SPEC.md §1). Native code: a pure-Python CRC would cost tens of
microseconds per record."""

from __future__ import annotations

import crc32c as _native

_MASK_DELTA = 0xA282EAD8


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """Plain CRC-32C (Castagnoli) of ``data``; ``crc32c(b"123456789") == 0xE3069283``."""
    return int(_native.crc32c(data))


def mask(crc: int) -> int:
    """The masked form stored in files: rotate right by 15 bits, add a constant."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    return mask(crc32c(data))
