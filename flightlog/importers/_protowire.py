"""A small, bounded decoder of the protobuf wire format, for reading other tools' files.

Importers read TensorBoard ``Event`` records and W&B ``Record`` messages without their
generated code or the ``protobuf`` package: a message is a sequence of
``(field_number, wire_type, value)`` triples, and each importer knows which field numbers
it wants. The encoding is https://protobuf.dev/programming-guides/encoding/ :

    message := field*
    field   := tag value
    tag     := varint                  field_number << 3 | wire_type
    value   := varint                  wire type 0 (int32/64, uint, bool, enum, sint zigzag)
             | 8 bytes little-endian   wire type 1 (fixed64, sfixed64, double)
             | varint length, bytes    wire type 2 (string, bytes, message, packed repeated)
             | 4 bytes little-endian   wire type 5 (fixed32, sfixed32, float)

Wire types 3 and 4 (groups, deprecated since proto2) are rejected, as are 6 and 7.

Bounds, because the input is untrusted: a varint is at most 10 bytes and its value fits in
64 bits; every length is checked against the bytes that remain before anything is sliced,
so the decoder never allocates more than the buffer it was given and every loop advances
by at least one byte. Malformed input raises :class:`ProtoWireError` (a
:class:`flightlog.errors.ForeignFormatError`) naming the offset in the buffer.

API::

    iter_fields(buf) -> Iterator[tuple[int, int, int | bytes]]
        int for wire types 0, 1 and 5 (the raw unsigned bits), bytes (a memoryview-free
        copy of exactly that field) for wire type 2.
    fields_by_number(buf) -> dict[int, list[int | bytes]]   all values of each field, in order
    read_varint(buf, pos) -> (value, new_pos)
    zigzag(n) -> int              sint32/sint64 value of a varint
    as_int64(n) / as_int32(n)     two's-complement view of a varint (int64/int32 fields)
    as_double(bits) / as_float(bits)   fixed64 / fixed32 bits as a float
    packed_varints(b) / packed_doubles(b) / packed_floats(b)   packed repeated fields
    utf8(b, what)                 bytes -> str, ProtoWireError on invalid UTF-8
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from flightlog.errors import ForeignFormatError

__all__ = [
    "WIRE_FIXED32",
    "WIRE_FIXED64",
    "WIRE_LEN",
    "WIRE_VARINT",
    "ProtoWireError",
    "as_double",
    "as_float",
    "as_int32",
    "as_int64",
    "fields_by_number",
    "iter_fields",
    "packed_doubles",
    "packed_floats",
    "packed_varints",
    "read_varint",
    "utf8",
    "zigzag",
]

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LEN = 2
WIRE_FIXED32 = 5

_MAX_VARINT_BYTES = 10
_U64 = (1 << 64) - 1
_MAX_FIELD_NUMBER = (1 << 29) - 1


class ProtoWireError(ForeignFormatError):
    """Bytes that are not a protobuf message: a varint longer than 10 bytes or past the
    end, a length past the end, a group or unknown wire type, field number 0. ``offset`` is
    the position in the buffer being decoded (callers add their own base offset)."""


Buffer = bytes | bytearray | memoryview


def read_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at ``pos``; return (value, position after it)."""
    result = 0
    shift = 0
    end = len(buf)
    start = pos
    while True:
        if pos >= end:
            raise ProtoWireError("varint runs past the end of the message", offset=start)
        if pos - start >= _MAX_VARINT_BYTES:
            raise ProtoWireError("varint longer than 10 bytes", offset=start)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result > _U64:
                raise ProtoWireError("varint value over 64 bits", offset=start)
            return result, pos
        shift += 7


def iter_fields(buf: Buffer) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)`` for each field of one message, in order.

    Raises ProtoWireError at the first malformed field; the fields yielded before it were
    intact (a caller that wants salvage keeps what it got)."""
    pos = 0
    end = len(buf)
    while pos < end:
        at = pos
        tag, pos = read_varint(buf, pos)
        number = tag >> 3
        wire = tag & 7
        if number == 0 or number > _MAX_FIELD_NUMBER:
            raise ProtoWireError(f"invalid field number {number}", offset=at)
        if wire == WIRE_VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire, value
        elif wire == WIRE_FIXED64:
            if end - pos < 8:
                raise ProtoWireError(f"fixed64 field {number} runs past the end", offset=at)
            yield number, wire, int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire == WIRE_LEN:
            length, pos = read_varint(buf, pos)
            if length > end - pos:
                raise ProtoWireError(
                    f"field {number} declares {length} bytes, {end - pos} remain", offset=at)
            yield number, wire, bytes(buf[pos:pos + length])
            pos += length
        elif wire == WIRE_FIXED32:
            if end - pos < 4:
                raise ProtoWireError(f"fixed32 field {number} runs past the end", offset=at)
            yield number, wire, int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        elif wire in (3, 4):
            raise ProtoWireError(f"field {number} is a group (wire type {wire})", offset=at)
        else:
            raise ProtoWireError(f"field {number} has unknown wire type {wire}", offset=at)


def fields_by_number(buf: Buffer) -> dict[int, list[int | bytes]]:
    """All values of each field number, in the order they occur (repeated fields keep
    every element; for a singular field protobuf's rule is that the last one wins)."""
    out: dict[int, list[int | bytes]] = {}
    for number, _wire, value in iter_fields(buf):
        out.setdefault(number, []).append(value)
    return out


def zigzag(n: int) -> int:
    """The signed value of a sint32/sint64 varint."""
    return (n >> 1) ^ -(n & 1)


def as_int64(n: int) -> int:
    """A varint read as int64 (negative numbers are 10-byte two's complement)."""
    n &= _U64
    return n - (1 << 64) if n >> 63 else n


def as_int32(n: int) -> int:
    """A varint read as int32 (protobuf sign-extends negative int32 to 64 bits)."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >> 31 else n


_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
_U64_LE = struct.Struct("<Q")
_U32_LE = struct.Struct("<I")


def as_double(bits: int) -> float:
    """The fixed64 bits of a ``double`` field."""
    return float(_DOUBLE.unpack(_U64_LE.pack(bits & _U64))[0])


def as_float(bits: int) -> float:
    """The fixed32 bits of a ``float`` field (widened exactly to a Python float)."""
    return float(_FLOAT.unpack(_U32_LE.pack(bits & 0xFFFFFFFF))[0])


def packed_varints(buf: Buffer) -> list[int]:
    """A packed repeated varint field (int32/int64/bool/enum...): the raw unsigned values."""
    out: list[int] = []
    pos = 0
    end = len(buf)
    while pos < end:
        value, pos = read_varint(buf, pos)
        out.append(value)
    return out


def packed_doubles(buf: Buffer) -> list[float]:
    """A packed repeated ``double`` field."""
    if len(buf) % 8:
        raise ProtoWireError(f"packed doubles of {len(buf)} bytes (not a multiple of 8)",
                             offset=0)
    return [float(v) for v in struct.unpack(f"<{len(buf) // 8}d", buf)]


def packed_floats(buf: Buffer) -> list[float]:
    """A packed repeated ``float`` field."""
    if len(buf) % 4:
        raise ProtoWireError(f"packed floats of {len(buf)} bytes (not a multiple of 4)",
                             offset=0)
    return [float(v) for v in struct.unpack(f"<{len(buf) // 4}f", buf)]


def utf8(buf: Buffer, what: str) -> str:
    """Decode a ``string`` field; ``what`` names it in the error."""
    try:
        return bytes(buf).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoWireError(f"{what} is not valid UTF-8", offset=exc.start) from None
