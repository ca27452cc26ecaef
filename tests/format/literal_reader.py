"""SPEC.md followed to the letter, in plain Python: a second reader of run directories
written from the text alone, to check ``open_run`` against on the vectors and on real
runs. It imports nothing of flightlog: its CRC-32C, frame rules (§3-§5), msgpack subset
(§7), history chunks (§9), bad records (§8, §10.1), derived state (§11), the records
of §19 and the prune mark (§18.7) are all here. Libraries stand in only for what the
text names as another standard: ``zstandard`` for RFC 8878 frames (§6) and ``pyarrow``
for Arrow IPC files (§10.3; the limits of §10.4 are checked here, from the file's footer
and message headers, before pyarrow reads a buffer).

:func:`derive` returns the state in the form of a vector's ``state`` (SPEC.md §16,
tests/vectors/README.md), plus ``records`` (seq, type, segment, offset) and ``torn``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import struct
from itertools import pairwise
from pathlib import Path
from typing import Any

import zstandard

# ---------------------------------------------------------------- §1 CRC-32C, masking


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283 and crc32c(bytes(32)) == 0x8A9136AA

# ---------------------------------------------------------------- §7 msgpack subset


class Corrupt(Exception):
    """A payload that breaks §6 or §7 (CorruptPayload)."""


class _Unpacker:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Corrupt("value runs past the payload")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def value(self, depth: int) -> Any:
        b = self.uint(1)
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0xA0 <= b <= 0xBF:
            return self._str(b & 0x1F)
        if 0x90 <= b <= 0x9F:
            return self._array(b & 0x0F, depth)
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, depth)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b]
        if 0xCC <= b <= 0xCF:
            return self.uint(1 << (b - 0xCC))
        if 0xD0 <= b <= 0xD3:
            n = 1 << (b - 0xD0)
            return int.from_bytes(self.take(n), "big", signed=True)
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0]
        if b in (0xD9, 0xDA, 0xDB):
            return self._str(self.uint(1 << (b - 0xD9)))
        if b in (0xC4, 0xC5, 0xC6):
            return self.take(self.uint(1 << (b - 0xC4)))
        if b in (0xDC, 0xDD):
            return self._array(self.uint(2 if b == 0xDC else 4), depth)
        if b in (0xDE, 0xDF):
            return self._map(self.uint(2 if b == 0xDE else 4), depth)
        raise Corrupt(f"msgpack byte {b:#04x} is not of the subset (ext or unused)")

    def _str(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Corrupt("str is not UTF-8") from exc

    def _array(self, n: int, depth: int) -> list[Any]:
        if depth + 1 > 32:
            raise Corrupt("nested deeper than 32 levels")
        return [self.value(depth + 1) for _ in range(n)]

    def _map(self, n: int, depth: int) -> dict[str, Any]:
        if depth + 1 > 32:
            raise Corrupt("nested deeper than 32 levels")
        out: dict[str, Any] = {}
        for _ in range(n):
            key = self.value(depth + 1)
            if type(key) is not str or key in out:
                raise Corrupt("map key not a str, or twice")
            out[key] = self.value(depth + 1)
        return out


def records_of(payload: bytes, count: int) -> list[tuple[int, dict[str, Any]]]:
    """§7: exactly ``count`` records ``[type: uint, body: map]``, no byte left over."""
    u = _Unpacker(payload)
    out = []
    for _ in range(count):
        record = u.value(0)  # the record array is level 1
        if (type(record) is not list or len(record) != 2 or type(record[0]) is not int
                or record[0] < 0 or type(record[1]) is not dict):
            raise Corrupt("record is not [type, body]")
        out.append((record[0], record[1]))
    if u.pos != len(payload):
        raise Corrupt("bytes left over after the records")
    return out


def _decompress(stored: bytes) -> bytes:
    """§6: one zstd frame with Frame_Content_Size present, at most 65536 bytes."""
    try:
        params = zstandard.get_frame_parameters(stored)
        if params.content_size == zstandard.CONTENTSIZE_UNKNOWN or params.content_size > 65536:
            raise Corrupt("Frame_Content_Size absent or over 65536")
        out = zstandard.ZstdDecompressor().decompress(stored, max_output_size=65536)
    except zstandard.ZstdError as exc:
        raise Corrupt(f"zstd: {exc}") from exc
    if len(out) != params.content_size:
        raise Corrupt("decompressed size differs from Frame_Content_Size")
    return out


# ---------------------------------------------------------------- §3-§5 frames

MAGIC, SYNC = b"\x89FLSEG\r\n", b"\xd9FLR"
MAX_PAYLOAD = 65536


def _finding(kind: str, segment: int, offset: int, *, seq: int | None = None,
             skipped: tuple[int, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "segment": segment, "offset": offset}
    if seq is not None:
        out["seq"] = seq
    if skipped is not None:
        out["skipped"] = list(skipped)
    return out


class UnsupportedMajor(Exception):
    pass


def _header(data: bytes, q: int) -> tuple[str | None, tuple[int, int, int, int, int]]:
    """§4.1 at ``q`` (28 bytes present): (the finding kind or None, fields)."""
    crc, length, first_seq, count, flags, reserved, pcrc = struct.unpack_from(
        "<IIQHBBI", data, q + 4)
    fields = (length, first_seq, count, flags, pcrc)
    if data[q:q + 4] != SYNC or masked(data[q + 8:q + 28]) != crc:
        return "CorruptRecord", fields
    if length > MAX_PAYLOAD:
        return "RecordTooLarge", fields
    if length == 0 or count == 0 or flags & 0xFE or reserved:
        return "CorruptRecord", fields
    return None, fields


def _resync(data: bytes, p: int) -> int:
    """§5.1: the first offset q > p to read on at."""
    q = data.find(SYNC, p + 1)
    while q >= 0:
        if len(data) - q < 28:
            return q
        problem, (length, _, _, _, pcrc) = _header(data, q)
        if problem is None:
            end = q + 28 + length
            if end > len(data) or masked(data[q + 28:end]) == pcrc:
                return q
        q = data.find(SYNC, q + 1)
    for k in (3, 2, 1):  # the file ends in the first k bytes of the sync marker
        if len(data) - k > p and data.endswith(SYNC[:k]):
            return len(data) - k
    return len(data)


def read_segment(data: bytes, index: int
                 ) -> tuple[list[tuple[int, int, list[tuple[int, dict[str, Any]]]]],
                            list[dict[str, Any]], int | None]:
    """(frames as (offset, first_seq, records), findings, torn tail offset or None)."""
    frames: list[tuple[int, int, list[tuple[int, dict[str, Any]]]]] = []
    findings: list[dict[str, Any]] = []
    if len(data) < 16:
        return frames, findings, 0  # §3.1 rule 1: an empty segment being created
    major = struct.unpack_from("<H", data, 8)[0]
    if data[:8] != MAGIC or masked(data[:12]) != struct.unpack_from("<I", data, 12)[0]:
        findings.append(_finding("BadFileHeader", index, 0, skipped=(0, 16)))
    elif major != 1:
        raise UnsupportedMajor(f"segment {index}: format {major}")
    p = 16
    while True:
        n = len(data) - p
        if n == 0:
            return frames, findings, None
        if n < 28 or not any(data[p:]):
            return frames, findings, p  # rule 2
        problem, (length, first_seq, count, flags, pcrc) = _header(data, p)
        if problem is not None:  # rules 3 and 4
            q = _resync(data, p)
            findings.append(_finding(problem, index, p, skipped=(p, q)))
            p = q
            continue
        end = p + 28 + length
        if end > len(data):
            return frames, findings, p  # rule 4: torn
        stored = data[p + 28:end]
        if masked(stored) != pcrc:  # rule 5
            findings.append(_finding("ChecksumMismatch", index, p, skipped=(p, end)))
        else:
            try:  # rule 6
                raw = _decompress(stored) if flags & 1 else stored
                frames.append((p, first_seq, records_of(raw, count)))
            except Corrupt:
                findings.append(_finding("CorruptPayload", index, p, skipped=(p, end)))
        p = end


# ---------------------------------------------------------------- §8, §10.1 bad records

_NAME = re.compile(r"[0-9a-f]{64}")


def _is_name(v: Any) -> bool:
    return type(v) is str and _NAME.fullmatch(v) is not None


def _uint(v: Any) -> bool:
    return type(v) is int and v >= 0


def _f64(v: Any) -> bool:
    return type(v) in (int, float)


def _str(v: Any) -> bool:
    return type(v) is str


def _key(v: Any) -> bool:
    return type(v) is str and v != ""


def _map(v: Any) -> bool:
    return type(v) is dict


def _strs(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _tags(v: Any) -> bool:
    return type(v) is dict and all(x is None or type(x) is str for x in v.values())


def _any(v: Any) -> bool:
    return True


# §8's table of record types: field → its type; "!" marks what a reader requires.
FIELDS: dict[int, dict[str, Any]] = {
    1: {"run": _str, "index": _uint, "writer": _map},
    2: {"id": _str, "project": _str, "!name": _str, "created": _f64, "config": _map,
        "tags": _tags, "resumed": lambda v: type(v) is bool, "host": _str,
        "pid": lambda v: type(v) is int},
    3: {"!rows": _uint, "!step": lambda v: type(v) is bytes,
        "!time": lambda v: type(v) is bytes, "!columns": _map},
    4: {"!key": _key, "!value": _any, "time": _f64, "description": _str},
    5: {"!key": _key, "!values": lambda v: type(v) is list, "time": _f64,
        "description": _str},
    6: {"!key": _key, "!row": _map, "time": _f64},
    7: {"!key": _key, "!sha256": _str, "rows": _uint, "time": _f64, "step": _uint,
        "replace": lambda v: type(v) is bool, "blobs": _strs},
    8: {"set": _map, "delete": _strs},
    9: {"!set": _map},
    10: {"!set": _tags},
    11: {"!name": _str, "!sha256": _str, "!size": _uint, "time": _f64},
    12: {"!exit_code": lambda v: type(v) is int, "time": _f64},
    13: {"!records": _uint, "reason": _str},
    14: {"!key": _key, "!sha256": _str, "rows": _uint, "!spec": _str, "kind": _str,
         "step": _uint, "time": _f64},
    15: {"!key": _key, "!kind": _str, "!mime": _str, "!sha256": _str, "!size": _uint,
         "caption": _str, "width": _uint, "height": _uint, "step": _uint, "time": _f64},
    16: {"!stream": lambda v: v in ("stdout", "stderr"), "!lines": _strs,
         "!times": lambda v: type(v) is list and all(_f64(x) for x in v),
         "overwritten": lambda v: type(v) is list and all(_uint(x) for x in v)},
    17: {"!time": _f64, "!values": lambda v: _map(v) and all(_f64(x) for x in v.values())},
    18: {"time": _f64, "!facts": _map},
    19: {"!sha256": _str, "blobs": _strs, "files": _uint, "bytes": _uint, "time": _f64},
}


def _spec_depth(text: str) -> int:
    """§10.4: brackets outside strings."""
    depth = deepest = 0
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', text, flags=re.DOTALL):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _not_json(token: str) -> Any:
    raise ValueError(token)


def bad_kind(rtype: int, body: dict[str, Any], first_run: bool) -> str | None:
    """BadAttachedName (§10.1, any type), BadRecord (§8, §10.4, §19.1), or None."""
    if "sha256" in body and not _is_name(body["sha256"]):
        return "BadAttachedName"
    if "blobs" in body and (type(body["blobs"]) is not list
                            or not all(_is_name(b) for b in body["blobs"])):
        return "BadAttachedName"
    fields = FIELDS.get(rtype)
    if fields is None:
        return None
    for spec, check in fields.items():
        name = spec.lstrip("!")
        required = spec.startswith("!") or (
            first_run and rtype == 2 and name in ("id", "project", "created"))
        value = body.get(name)
        if value is None:
            if required and not (name == "value" and "value" in body):
                return "BadRecord"
        elif not check(value):
            return "BadRecord"
    if rtype == 14:  # §10.4: the spec is JSON text of an object, at most 64 deep
        if _spec_depth(body["spec"]) > 64:
            return "BadRecord"
        try:  # RFC 8259 JSON: NaN and Infinity are not; a repeated key, the last counts
            if not isinstance(json.loads(body["spec"], parse_constant=_not_json), dict):
                return "BadRecord"
        except ValueError:
            return "BadRecord"
    if rtype == 3 and not _chunk_ok(body):
        return "BadRecord"
    if rtype == 16:  # §19.1: as many times as lines; overwritten increasing, in range
        marked = body.get("overwritten") or []
        if (len(body["times"]) != len(body["lines"])
                or any(i >= len(body["lines"]) for i in marked)
                or any(a >= b for a, b in pairwise(marked))):
            return "BadRecord"
    return None


# ---------------------------------------------------------------- §9 history chunks


def _chunk_ok(body: dict[str, Any]) -> bool:
    """§9: a malformed chunk makes a bad record."""
    n = body["rows"]
    if n == 0 or len(body["step"]) != 8 * n or len(body["time"]) != 8 * n:
        return False
    for column in body["columns"].values():
        if type(column) is not list or len(column) != 3 or type(column[0]) is not str:
            return False
        kind, present, values = column
        if present is not None:
            if type(present) is not bytes or len(present) % 4:
                return False
            rows = struct.unpack(f"<{len(present) // 4}I", present)
            if any(a >= b for a, b in pairwise(rows)) or (rows and rows[-1] >= n):
                return False
            m = len(rows)
        else:
            m = n
        if kind in ("f64", "i64") and (type(values) is not bytes or len(values) != 8 * m):
            return False
        if kind == "bool" and (type(values) is not bytes or len(values) != m
                               or any(b > 1 for b in values)):
            return False
        if kind == "any" and (type(values) is not list or len(values) != m):
            return False
    return True



def _unshuffle(data: bytes, fmt: str) -> list[Any]:
    m = len(data) // 8  # stored byte k*m + i is byte k of element i
    return [struct.unpack("<" + fmt, bytes(data[k * m + i] for k in range(8)))[0]
            for i in range(m)]


def _chunk(body: dict[str, Any]) -> tuple[list[int], list[float], dict[str, Any]]:
    steps, times = _unshuffle(body["step"], "q"), _unshuffle(body["time"], "d")
    columns = {}
    for key, (kind, present, raw) in body["columns"].items():
        if kind == "f64":
            values, classes = _unshuffle(raw, "d"), ["float"] * (len(raw) // 8)
        elif kind == "i64":
            values, classes = _unshuffle(raw, "q"), ["int"] * (len(raw) // 8)
        elif kind == "bool":
            values, classes = [b == 1 for b in raw], ["bool"] * len(raw)
        elif kind == "any":
            values, classes = list(raw), [_class(v) for v in raw]
        else:
            continue  # §11.2: a kind the reader does not know is left out
        rows = (list(range(body["rows"])) if present is None
                else list(struct.unpack(f"<{len(present) // 4}I", present)))
        columns[key] = list(zip(rows, values, classes, strict=True))
    return steps, times, columns


I64 = (-(2**63), 2**63 - 1)


def _class(v: Any) -> str:
    if v is None:
        return "nil"
    if type(v) is bool:
        return "bool"
    if type(v) is int:
        return "int" if I64[0] <= v <= I64[1] else "bigint"
    if type(v) is float:
        return "float"
    if type(v) is str:
        return "str"
    return "other"


def json_text(v: Any) -> str:
    """§1.1, from its table."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if type(v) is int:
        return str(v)
    if type(v) is float:
        return repr(v) if math.isfinite(v) else "null"
    if type(v) is str:
        out = []
        for ch in v:
            escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                       "\f": "\\f", "\r": "\\r"}
            if ch in escapes:
                out.append(escapes[ch])
            elif ord(ch) < 0x20:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if type(v) is bytes:
        return '"' + v.hex() + '"'
    if type(v) is list:
        return "[" + ",".join(json_text(x) for x in v) + "]"
    if type(v) is dict:
        return "{" + ",".join(f"{json_text(k)}:{json_text(x)}" for k, x in v.items()) + "}"
    return json_text(str(v))  # an Arrow cell of another type: a JSON string of its text


def _column_type(classes: set[str]) -> str:
    found = classes - {"nil"}
    if not found:
        return "null"
    if found == {"int"}:
        return "int64"
    if found <= {"int", "float"}:
        return "float64"
    if found == {"bool"}:
        return "bool"
    if found == {"str"}:
        return "string"
    return "json"


def _cell(value: Any, ctype: str) -> Any:
    if value is None or ctype == "null":
        return None
    if ctype == "float64":
        return float(value)
    if ctype == "json":
        return json_text(value)
    return value


def _typed(name: str, values: list[Any], ctype: str) -> dict[str, Any]:
    return {"name": name, "type": "string" if ctype == "json" else ctype,
            "values": [_cell(v, ctype) for v in values]}


def _histogram(value: dict[str, Any], step: int) -> dict[str, Any] | None:
    """§9.1's table, or None for a map that breaks it."""
    bins, counts, nonfinite = value.get("bins"), value.get("values"), value.get("nonfinite", 0)
    if type(bins) is not list or type(counts) is not list or not 1 <= len(counts) <= 512:
        return None
    if len(bins) != len(counts) + 1 or not all(_f64(v) for v in bins + counts):
        return None
    if not all(math.isfinite(v) for v in bins + counts) or any(v < 0 for v in counts):
        return None
    if any(a >= b for a, b in pairwise(bins)) or (
            nonfinite is not None and not _uint(nonfinite)):
        return None
    return {"step": step, "bins": [float(v) for v in bins],
            "values": [float(v) for v in counts], "nonfinite": nonfinite or 0}


# ---------------------------------------------------------------- §10, §11.5 Arrow pieces


def _arrow_name(t: Any) -> str:
    import pyarrow as pa

    names = {pa.null(): "null", pa.int64(): "int64", pa.float64(): "float64",
             pa.bool_(): "bool", pa.string(): "string"}
    return names.get(t, str(t))


class Unreadable(Exception):
    """§10.4: an attached Arrow file a reader refuses; ``args[0]`` is the rule's reason."""


#: §10.4: (rows, bytes, fixed values allowance, values per file byte) of each kind.
LIMITS = {"table": (10_000_000, 2 << 30, 1_000_000, 8), "chart": (1_000_000, 64 << 20,
                                                                  1_000_000, 0)}


class _Flat:
    """A flatbuffer (the Arrow file's footer or a message header), every read checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def num(self, fmt: str, pos: int) -> int:
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.data):
            raise Unreadable("format")
        return int(struct.unpack_from("<" + fmt, self.data, pos)[0])

    def slot(self, table: int, field_id: int) -> int | None:
        vtable = table - self.num("i", table)
        if 4 + 2 * field_id >= self.num("H", vtable):
            return None
        offset = self.num("H", vtable + 4 + 2 * field_id)
        return table + offset if offset else None

    def scalar(self, table: int, field_id: int, fmt: str) -> int:
        pos = self.slot(table, field_id)
        return 0 if pos is None else self.num(fmt, pos)

    def sub(self, table: int, field_id: int) -> int | None:
        pos = self.slot(table, field_id)
        return None if pos is None else pos + self.num("I", pos)

    def structs(self, table: int, field_id: int, size: int) -> list[int]:
        start = self.sub(table, field_id)
        if start is None:
            return []
        count = self.num("I", start)
        if start + 4 + count * size > len(self.data):
            raise Unreadable("format")
        return [start + 4 + i * size for i in range(count)]


def _check_arrow(data: bytes, kind: str) -> None:
    """§10.4 from the metadata alone (the footer, each message header), before pyarrow
    reads any buffer. Raises Unreadable with the reason of the rule broken."""
    max_rows, max_bytes, free, per_byte = LIMITS[kind]
    size = len(data)
    if size > max_bytes:
        raise Unreadable("size")
    if size < 18 or data[:6] != b"ARROW1" or data[-6:] != b"ARROW1":
        raise Unreadable("format")
    footer_len = struct.unpack_from("<i", data, size - 10)[0]
    if footer_len <= 0 or size - 10 - footer_len < 8:
        raise Unreadable("format")
    footer_at = size - 10 - footer_len
    footer = _Flat(data[footer_at:size - 10])
    root = footer.num("I", 0)
    schema = footer.sub(root, 1)
    if footer.scalar(root, 0, "h") < 4 or schema is None or footer.scalar(schema, 0, "h"):
        raise Unreadable("format")  # before metadata V5 (Arrow 1.0.0), no schema, big-endian
    rows = values = 0
    for header_type, blocks in ((2, footer.structs(root, 2, 24)),
                                (3, footer.structs(root, 3, 24))):
        for block in blocks:
            offset, meta_len, body_len = (footer.num("q", block), footer.num("i", block + 8),
                                          footer.num("q", block + 16))
            if offset < 8 or meta_len < 8 or body_len < 0 or (
                    offset + meta_len + body_len > footer_at):
                raise Unreadable("format")
            meta = data[offset:offset + meta_len]
            start = 8 if meta[:4] == b"\xff\xff\xff\xff" else 4
            length = struct.unpack_from("<i", meta, start - 4)[0]
            if length <= 0 or start + length > len(meta):
                raise Unreadable("format")
            msg = _Flat(meta[start:start + length])
            top = msg.num("I", 0)
            header = msg.sub(top, 2)
            if (msg.scalar(top, 1, "B") != header_type or msg.scalar(top, 3, "q") != body_len
                    or header is None):
                raise Unreadable("format")
            batch = header if header_type == 3 else msg.sub(header, 1)
            if batch is None or msg.slot(batch, 3) is not None:  # compression: refused
                raise Unreadable("format")
            if header_type == 3:
                rows += msg.scalar(batch, 0, "q")
            for node in msg.structs(batch, 1, 16):
                length, nulls = msg.num("q", node), msg.num("q", node + 8)
                if length < 0 or not 0 <= nulls <= length:
                    raise Unreadable("format")
                values += length
            for buf in msg.structs(batch, 2, 16):
                at, n = msg.num("q", buf), msg.num("q", buf + 8)
                if at < 0 or n < 0 or at + n > body_len:
                    raise Unreadable("format")
    if rows > max_rows:
        raise Unreadable("rows")
    if values > free + per_byte * size:
        raise Unreadable("values")


def _read_ipc(run_dir: Path, sha: str, kind: str) -> Any:
    """The attached Arrow file's table, or Unreadable (§10.4)."""
    import pyarrow as pa

    path = run_dir / "files" / "sha256" / sha[:2] / sha[2:]
    try:
        data = path.read_bytes()
    except OSError:
        raise Unreadable("absent") from None
    if len(data) <= LIMITS[kind][1] and hashlib.sha256(data).hexdigest() != sha:
        raise Unreadable("digest")  # §10.1, §10.4: size first, then the digest
    _check_arrow(data, kind)
    try:
        table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        table.validate(full=True)
        pending = [(f, 1) for f in table.schema]
        while pending:  # names are UTF-8, types nest at most 32 deep
            f, depth = pending.pop()
            if depth > 32 or not isinstance(f.name, str):
                raise Unreadable("format")
            pending.extend((f.type.field(i), depth + 1)
                           for i in range(getattr(f.type, "num_fields", 0)))
    except (pa.ArrowException, ValueError):
        raise Unreadable("format") from None
    return table


def _piece_of_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    out = []
    for name in names:
        values = [row.get(name) for row in rows]
        out.append(_typed(name, values, _column_type({_class(v) for v in values})))
    return [dict(c, rows=len(rows)) for c in out] or [{"rows": len(rows)}]


def _piece_of_arrow(table: Any) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": _arrow_name(f.type),
             "values": table.column(f.name).to_pylist(), "rows": table.num_rows,
             "numeric": _is_number_type(f.type)} for f in table.schema] or [
        {"rows": table.num_rows}]


def _is_number_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def _combine(pieces: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """§11.5: the pieces one after the other; a column's type is its type in the
    pieces, float64 when they disagree and all are numbers, else JSON text."""
    if len(pieces) == 1:
        return [{k: c[k] for k in ("name", "type", "values")} for c in pieces[0] if "name" in c]
    names: dict[str, None] = {}
    for piece in pieces:
        names.update(dict.fromkeys(c["name"] for c in piece if "name" in c))
    out = []
    for name in names:
        found = [next((c for c in piece if c.get("name") == name), None) for piece in pieces]
        types = {c["type"] for c in found if c is not None} - {"null"}
        values: list[Any] = []
        for piece, c in zip(pieces, found, strict=True):
            values.extend(c["values"] if c is not None else [None] * piece[0]["rows"])
        if len(types) <= 1:
            out.append({"name": name, "type": types.pop() if types else "null",
                        "values": values})
        elif all(c is None or c["type"] == "null" or c["type"] in ("int64", "float64")
                 or c.get("numeric") for c in found):
            out.append(_typed(name, values, "float64"))
        else:
            out.append(_typed(name, values, "json"))
    return out


def _json_safe(v: Any) -> Any:
    if type(v) is float:
        return v if math.isfinite(v) else None
    if type(v) is bytes:
        return v.hex()
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def _inline(node: Any, rows: list[dict[str, Any]]) -> Any:
    """§10.2: every ``data`` object naming the table replaced by its rows."""
    if isinstance(node, dict):
        return {k: ({"values": rows} if k == "data" and isinstance(x, dict)
                    and x.get("name") == "table" else _inline(x, rows))
                for k, x in node.items()}
    if isinstance(node, list):
        return [_inline(x, rows) for x in node]
    return node


# ---------------------------------------------------------------- §19.4 code manifest


def _manifest(run_dir: Path, sha: str) -> list[dict[str, Any]] | None:
    """The snapshot's entries, or None: a damaged snapshot is refused whole."""
    try:
        return _manifest_entries(run_dir, sha)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _manifest_entries(run_dir: Path, sha: str) -> list[dict[str, Any]]:
    data = (run_dir / "files" / "sha256" / sha[:2] / sha[2:]).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha or len(data) > 64 * 2**20:
        raise ValueError("damaged snapshot")
    doc = json.loads(data.decode("utf-8"))
    files = []
    for entry in doc["files"]:
        path = entry["path"]
        parts = path.split("/")
        if (not path or path.startswith("/") or len(path) > 4096 or "\0" in path
                or "\\" in path or any(p in ("", ".", "..") for p in parts)
                or not _is_name(entry["sha256"]) or not _uint(entry["size"])):
            raise ValueError(f"unsafe or malformed entry {entry!r}")
        files.append({"mode": entry.get("mode", 0o644) & 0o777, "path": path,
                      "sha256": entry["sha256"], "size": entry["size"]})
    return files


# ---------------------------------------------------------------- §11 the run's state


def _writer_alive(run_dir: Path) -> bool:
    try:
        fd = os.open(run_dir / "writer.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def prune_mark(run_dir: Path) -> dict[str, Any] | None:
    """§18.7: pruned.json, when it is a JSON object (at most 1 MiB) whose project and id
    are names of §2 and whose segments and next_seq are integers >= 1; else none."""
    try:
        data = (run_dir / "pruned.json").read_bytes()
        doc = json.loads(data.decode("utf-8")) if len(data) <= 1 << 20 else None
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    names = all(type(doc.get(k)) is str
                and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", doc[k]) is not None
                for k in ("project", "id"))
    counts = all(type(doc.get(k)) is int and doc[k] >= 1 for k in ("segments", "next_seq"))
    return doc if names and counts else None


def read_records(run_dir: Path) -> tuple[list[tuple[int, int, int, int, dict[str, Any]]],
                                         list[dict[str, Any]], dict[int, int]]:
    """Every record of the run in sequence order, each once: (seq, type, segment, frame
    offset, body); the findings of reading (§5.2, SequenceError included); torn tails."""
    segments = sorted((int(p.stem), p) for p in (run_dir / "log").glob("*.flseg")
                      if re.fullmatch(r"\d{8}", p.stem))
    out: list[tuple[int, int, int, int, dict[str, Any]]] = []
    findings: list[dict[str, Any]] = []
    torn: dict[int, int] = {}
    highest = -1
    mark = prune_mark(run_dir)
    for index, path in segments:
        frames, found, torn_at = read_segment(path.read_bytes(), index)
        if torn_at is not None:
            torn[index] = torn_at
        by_offset: list[dict[str, Any]] = list(found)
        for offset, first_seq, records in frames:
            if highest == -1 and mark is not None and first_seq <= mark["next_seq"]:
                highest = first_seq - 1  # §18.7: the records before it were pruned
            if first_seq != highest + 1:  # §4.2
                by_offset.append(_finding("SequenceError", index, offset))
            for i, (rtype, body) in enumerate(records):
                if first_seq + i > highest:
                    out.append((first_seq + i, rtype, index, offset, body))
                    highest = first_seq + i
        findings.extend(sorted(by_offset, key=lambda f: f["offset"]))
    return out, findings, torn


def derive(run_dir: Path, *, attached: bool = True) -> dict[str, Any]:
    """The run's state. ``attached=False``: tables and charts are not read from their
    attached files (they are reported empty)."""
    records, findings, torn = read_records(run_dir)
    ident: dict[str, Any] = {"id": None, "project": None, "name": None, "created": None,
                             "host": None}
    config: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    metric_values: dict[str, list[Any]] = {}
    lists: dict[str, Any] = {}
    rows: list[tuple[int, float, dict[str, Any]]] = []
    first_appearance: dict[str, None] = {}
    histogram_keys: dict[str, None] = {}
    finish: dict[str, Any] | None = None
    table_parts: dict[str, list[tuple[str, Any]]] = {}
    charts: dict[str, dict[str, Any]] = {}
    media: dict[str, list[dict[str, Any]]] = {}
    files: dict[str, dict[str, Any]] = {}
    dropped = 0
    console: list[dict[str, Any]] = []
    system: list[tuple[float, dict[str, float]]] = []
    environment: dict[str, Any] | None = None
    code: dict[str, Any] | None = None
    seen_run = False
    for seq, rtype, segment, offset, body in records:
        kind = bad_kind(rtype, body, first_run=not seen_run)
        if kind is not None:
            findings.append(_finding(kind, segment, offset, seq=seq))
            continue
        if rtype == 2:
            if not seen_run:
                ident.update(id=body["id"], project=body["project"],
                             created=float(body["created"]), host=body.get("host"))
                seen_run = True
            else:
                finish = None  # §11.7: a run record after a finish: it no longer stands
            ident["name"] = body["name"]
            config.update(body.get("config") or {})
            tags.update(body.get("tags") or {})
        elif rtype == 9:
            config.update(body["set"])
        elif rtype == 10:
            tags.update(body["set"])
        elif rtype == 3:
            steps, times, columns = _chunk(body)
            chunk_rows: list[dict[str, Any]] = [{} for _ in steps]
            for key, cells in columns.items():
                first_appearance.setdefault(key)
                if any(type(v) is dict and v.get("_type") == "histogram" for _, v, _ in cells):
                    histogram_keys.setdefault(key)  # §9.1: in order of the first chunk
                for row, value, cls in cells:
                    chunk_rows[row][key] = (value, cls)
                summary[key] = cells[-1][1]  # §11.3: the chunk's last value of the key
            rows.extend(zip(steps, times, chunk_rows, strict=True))
        elif rtype == 4:
            metric_values.setdefault(body["key"], []).append(body["value"])
            summary[body["key"]] = body["value"]
        elif rtype == 5:
            lists[body["key"]] = body["values"]
        elif rtype == 6:
            table_parts.setdefault(body["key"], []).append(("row", body["row"]))
        elif rtype == 7:
            parts = table_parts.setdefault(body["key"], [])
            if body.get("replace") is True:
                parts.clear()
            parts.append(("file", body["sha256"]))
        elif rtype == 8:
            summary.update(body.get("set") or {})
            for key in body.get("delete") or []:
                summary.pop(key, None)
        elif rtype == 11:
            files[body["name"]] = {"sha256": body["sha256"], "size": body["size"],
                                   "time": float(body.get("time", 0.0))}
        elif rtype == 12:
            finish = body
        elif rtype == 13:
            dropped += body["records"]
        elif rtype == 14:
            charts[body["key"]] = body
        elif rtype == 15:
            media.setdefault(body["key"], []).append(
                {k: body.get(k) for k in ("kind", "mime", "sha256", "size", "caption",
                                          "step", "width", "height")})
        elif rtype == 16:
            marked = set(body.get("overwritten") or [])
            console.extend({"time": float(t), "stream": body["stream"], "text": text,
                            "overwritten": i in marked}
                           for i, (t, text) in enumerate(zip(body["times"], body["lines"],
                                                             strict=True)))
        elif rtype == 17:
            system.append((float(body["time"]),
                           {k: float(v) for k, v in body["values"].items()}))
        elif rtype == 18:
            environment = body["facts"]
        elif rtype == 19:
            code = body
    # §11.2: consecutive rows of equal step merge; the last value of each key wins.
    merged: list[tuple[int, float, dict[str, Any]]] = []
    classes: dict[str, set[str]] = {}
    for step, time, values in rows:
        for key, (_, cls) in values.items():
            classes.setdefault(key, set()).add(cls)
        if merged and merged[-1][0] == step:
            merged[-1] = (step, time, {**merged[-1][2], **values})
        else:
            merged.append((step, time, dict(values)))
    history: list[dict[str, Any]] = [
        {"name": "_step", "type": "int64", "values": [s for s, _, _ in merged]},
        {"name": "_timestamp", "type": "float64", "values": [t for _, t, _ in merged]}]
    metrics: dict[str, list[Any]] = {}
    for key in first_appearance:
        history.append(_typed(key, [values[key][0] if key in values else None
                                    for _, _, values in merged],
                              _column_type(classes[key])))
        metrics[key] = [values[key][0] for _, _, values in merged if key in values]
    for key, logged in metric_values.items():
        metrics.setdefault(key, []).extend(logged)
    out_metrics: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in metrics.items()}
    out_metrics.update(lists)
    # §11.5 tables: runs of consecutive row records, and Arrow files, as pieces.
    tables: dict[str, list[dict[str, Any]]] = {}
    unreadable: list[dict[str, Any]] = []  # §10.4: in place of that table or chart
    for key, parts in table_parts.items() if attached else ():
        pieces: list[list[dict[str, Any]]] = []
        pending: list[dict[str, Any]] = []
        try:
            for what, value in parts:
                if what == "row":
                    pending.append(value)
                    continue
                if pending:
                    pieces.append(_piece_of_rows(pending))
                    pending = []
                try:
                    pieces.append(_piece_of_arrow(_read_ipc(run_dir, value, "table")))
                except Unreadable as exc:
                    unreadable.append({"record": "table", "key": key, "sha256": value,
                                       "reason": exc.args[0]})
                    raise
        except Unreadable:
            continue  # the whole table, never a part of it
        if pending:
            pieces.append(_piece_of_rows(pending))
        if pieces:
            tables[key] = _combine(pieces)
            out_metrics[key] = {c["name"]: c["values"] for c in tables[key]}
    inlined = {}
    for key, body in charts.items() if attached else ():
        try:
            table = _read_ipc(run_dir, body["sha256"], "chart")
        except Unreadable as exc:
            unreadable.append({"record": "chart", "key": key, "sha256": body["sha256"],
                               "reason": exc.args[0]})
            continue
        inlined[key] = _inline(json.loads(body["spec"]), _json_safe(table.to_pylist()))
    # §19.2: the system table.
    names: dict[str, None] = {}
    for _, values in system:
        names.update(dict.fromkeys(values))
    system_table = [{"name": "_timestamp", "type": "float64",
                     "values": [t for t, _ in system]}]
    system_table += [{"name": n, "type": "float64", "values": [v.get(n) for _, v in system]}
                     for n in names]
    # §9.1: per merged row that has the key, the kept value when it is a histogram map.
    histograms: dict[str, dict[str, Any]] = {}
    for key in histogram_keys:
        found, left_out = [], 0
        for step, _, values in merged:
            value = values.get(key, (None,))[0]
            if not (type(value) is dict and value.get("_type") == "histogram"):
                continue
            parsed = _histogram(value, step)
            if parsed is None:
                left_out += 1
            else:
                found.append(parsed)
        histograms[key] = {"histograms": found, "left_out": left_out}
    mark = prune_mark(run_dir)
    if ident["id"] is None and mark is not None:  # §11.1: no readable run record
        ident.update(id=mark["id"], project=mark["project"])
    elif ident["id"] is None:
        ident.update(id=run_dir.name, project=run_dir.parent.name)
    if ident["name"] is None:
        ident["name"] = ident["id"]
    if _writer_alive(run_dir):
        status = "running"
    elif finish is not None and finish["exit_code"] == 0:
        status = "finished"
    else:
        status = "crashed"
    signal = finish.get("signal") if finish is not None else None
    return {
        **ident, "config": config, "tags": tags, "summary": summary, "status": status,
        "exit_code": None if finish is None else finish["exit_code"], "history": history,
        "metrics": out_metrics, "tables": tables, "charts": inlined, "media": media,
        "files": files, "dropped": dropped,
        "findings": sorted(findings, key=lambda f: (f["segment"], f["offset"])),
        "unreadable": unreadable,
        "pruned": None if mark is None else {"segments": mark["segments"],
                                             "next_seq": mark["next_seq"]},
        "console": sorted(console, key=lambda ln: ln["time"]), "system": system_table,
        "environment": environment,
        "code": None if code is None else {"sha256": code["sha256"],
                                           "files": _manifest(run_dir, code["sha256"])},
        "signal": signal if type(signal) is str else None, "histograms": histograms,
        "records": [(seq, rtype, segment, offset) for seq, rtype, segment, offset, _ in records],
        "torn": torn}
