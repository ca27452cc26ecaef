"""Write the frozen test vectors of SPEC.md §16 (run once; vectors never change).

    python tests/vectors/generate.py            # writes missing vectors; refuses to change one
    python tests/vectors/generate.py --force    # only for a vector not yet released
    python tests/vectors/generate.py --out DIR  # write somewhere else (tests use this)

It writes every vector of tests/vectors: the segment and run vectors of SPEC.md §16
(below), and the bundle vectors of §18.8, whose bytes ``generate_bundles.py`` assembles.

Each case is ``<section>/<case>.bin`` (a segment file) and ``<case>.json`` beside it, or
for a whole run directory ``run/<case>/`` (``log/``, ``files/``) and ``run/<case>.json``.
Since format 1.2 each case's JSON also states the derived run state (SPEC.md §11) an
independent reader must compute, written by hand here. The bytes are assembled by
hand: file header, frame headers and payloads come from the library's lowest-level
encoders (``encode_file_header``, ``encode_frame``,
``pack_record``, ``pack_payload``, ``masked_crc32c``) fed explicit values, and history
columns are byte-shuffled here with :mod:`struct`, not by the library's column code.
Attached Arrow IPC files are written by pyarrow's IPC writer, PNG files by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

from flightlog.format._compression import pack_payload
from flightlog.format._constants import FLAG_ZSTD
from flightlog.format._crc import masked_crc32c
from flightlog.format._framing import encode_frame
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.segment import encode_file_header

HERE = Path(__file__).resolve().parent
RUN_ID = "8c2kq0zd"  # the run id of SPEC.md §15
T0 = 1_700_000_000.0
FILE_HEADER_SIZE = 16
FRAME_HEADER_SIZE = 28

Rec = tuple[int, dict[str, Any]]


# ---------------------------------------------------------------- JSON forms


def jsonable(value: Any) -> Any:
    """Bodies as JSON: bin as lowercase hex; NaN/±Infinity as strings (as `dump`)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


class Segment:
    """A segment being assembled, with the JSON facts a reader must reproduce."""

    def __init__(self, header: bytes | None = None) -> None:
        self.data = bytearray(encode_file_header(1, 0) if header is None else header)
        self.frames: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []

    def frame(self, records: list[Rec], first_seq: int, *, zstd: bool = False,
              intact: bool = True) -> tuple[int, bytes]:
        """Append one frame; returns (its offset, its bytes). ``intact=False``: the caller
        will damage it, so its records are not expected."""
        raw = b"".join(pack_record(t, b) for t, b in records)
        if zstd:
            stored, flags = pack_payload(raw)
            if flags != FLAG_ZSTD:
                raise SystemExit("zstd vector payload did not compress")
        else:
            stored, flags = raw, 0
        data = encode_frame(stored, first_seq=first_seq, record_count=len(records),
                            flags=flags)
        offset = len(self.data)
        self.data += data
        if intact:
            self.frames.append({"offset": offset, "first_seq": first_seq,
                                "record_count": len(records), "flags": flags,
                                "payload_len": len(stored)})
            for i, (rtype, body) in enumerate(records):
                self.records.append({"seq": first_seq + i, "type": rtype, "offset": offset,
                                     "body": jsonable(body)})
                if isinstance(body, HistoryBody):  # since 1.2 vectors: decoded too
                    self.records[-1]["decoded"] = body.decoded
        return offset, data


def segment_record() -> Rec:
    # Exactly the segment record of SPEC.md §15: writer is an empty map.
    return (1, {"run": RUN_ID, "index": 0, "writer": {}})


def base_frames(seg: Segment, *, damaged: int | None = None) -> list[int]:
    """The frames most cases share; returns their offsets. ``damaged``: index of a frame
    whose records are not expected (the caller corrupts it)."""
    groups: list[list[Rec]] = [
        [segment_record()],
        [(4, {"key": "loss", "value": 0.5, "time": T0})],
        [(4, {"key": "loss", "value": 0.25, "time": T0 + 1.0}),
         (4, {"key": "acc", "value": 1, "time": T0 + 1.0})],
        [(12, {"exit_code": 0, "time": T0 + 2.0})],
    ]
    offsets, seq = [], 0
    for i, group in enumerate(groups):
        offsets.append(seg.frame(group, seq, intact=i != damaged)[0])
        seq += len(group)
    return offsets


def case(seg: Segment, *, section: str, description: str,
         findings: list[dict[str, Any]] | None = None, torn_offset: int | None = None,
         fatal: dict[str, Any] | None = None, version: list[int] | None = None,
         unknown_types: list[int] | None = None) -> tuple[bytes, dict[str, Any]]:
    minor = 1 if version == [1, 1] else 0
    return bytes(seg.data), {
        "format": f"flightlog segment 1.{minor} test vector (SPEC.md §16)",
        "section": section,
        "description": description,
        "file_size": len(seg.data),
        "version": [1, 0] if version is None else version,
        "frames": seg.frames if fatal is None else [],
        "records": seg.records if fatal is None else [],
        "findings": findings or [],
        "torn": torn_offset is not None,
        "torn_offset": torn_offset,
        "fatal": fatal,
        "unknown_types": unknown_types or [],
    }


# ---------------------------------------------------------------- cases


def ok_3_records() -> tuple[bytes, dict[str, Any]]:
    # The worked example of SPEC.md §15, with its open values filled in.
    seg = Segment()
    seg.frame([segment_record()], 0)
    seg.frame([(12, {"exit_code": 0, "time": T0}), (8, {"set": {"loss": 0.5}})], 1)
    return case(seg, section="§4, §15", description=(
        "SPEC.md §15 worked example: file header v1.0; a frame with the segment record "
        "(seq 0); a frame of two records (finish, summary) with first_seq 1. No "
        "compression."))


def torn_tail() -> tuple[bytes, dict[str, Any]]:
    seg = Segment()
    base_frames(seg)
    offset, data = seg.frame([(4, {"key": "loss", "value": 0.125, "time": T0 + 3.0})], 5,
                             intact=False)
    payload_len = len(data) - FRAME_HEADER_SIZE
    del seg.data[offset + FRAME_HEADER_SIZE + payload_len // 2:]
    return case(seg, section="§5 rule 2", torn_offset=offset, description=(
        f"Four intact frames, then a frame whose 28-byte header is complete and valid but "
        f"whose payload stops after {payload_len // 2} of {payload_len} bytes: a torn "
        f"tail, not corruption. A live reader keeps its position at {offset}."))


def bad_length_crc() -> tuple[bytes, dict[str, Any]]:
    seg = Segment()
    offsets = base_frames(seg, damaged=2)
    seg.data[offsets[2] + 8] += 1  # payload_len low byte; header_crc no longer matches
    return case(seg, section="§5 rule 3, resynchronisation", findings=[
        {"kind": "CorruptRecord", "offset": offsets[2]},
        {"kind": "SequenceError", "offset": offsets[3]},
    ], description=(
        f"The payload_len low byte of the frame at {offsets[2]} was incremented, so its "
        f"header_crc fails: CorruptRecord at {offsets[2]}. Resynchronisation finds the "
        f"next frame at {offsets[3]}, whose first_seq 4 after seq 1 is a sequence gap "
        f"(§4.2): SequenceError at {offsets[3]}. Records 0, 1 and 4 are read."))


def bad_payload_crc() -> tuple[bytes, dict[str, Any]]:
    seg = Segment()
    offsets = base_frames(seg, damaged=2)
    seg.data[offsets[3] - 1] ^= 0x01  # last payload byte of frame 2
    return case(seg, section="§5 rule 5", findings=[
        {"kind": "ChecksumMismatch", "offset": offsets[2]},
        {"kind": "SequenceError", "offset": offsets[3]},
    ], description=(
        f"One bit of the last payload byte of the frame at {offsets[2]} flipped: "
        f"ChecksumMismatch at {offsets[2]}. The header is trusted, so the reader skips "
        f"exactly this frame and continues at {offsets[3]} (a sequence gap there)."))


def unknown_type() -> tuple[bytes, dict[str, Any]]:
    seg = Segment()
    seg.frame([segment_record()], 0)
    seg.frame([(200, {"future": "field", "n": 7, "blob": b"\x00\xff"}),
               (4, {"key": "loss", "value": 0.5, "time": T0})], 1)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], 3)
    return case(seg, section="§8", unknown_types=[200], description=(
        "A record of type 200 (not in §8) followed by a metric in the same frame. Readers "
        "return it with its seq but skip it when deriving the run; it is not "
        "corruption. The blob field shows bin as hex."))


def zstd_payload() -> tuple[bytes, dict[str, Any]]:
    seg = Segment()
    seg.frame([segment_record()], 0)
    seg.frame([(5, {"key": "xs", "values": [1.5] * 64, "time": T0}),
               (6, {"key": "preds", "row": {"x": 1, "y": "a" * 40}, "time": T0}),
               (5, {"key": "ys", "values": [2.5] * 64, "time": T0})], 1, zstd=True)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], 4)
    return case(seg, section="§6", description=(
        "A frame with flags = 1: its payload is one zstd frame with Frame_Content_Size "
        "present, which decompresses to three records."))


def future_major() -> tuple[bytes, dict[str, Any]]:
    head = struct.pack("<8sHH", b"\x89FLSEG\r\n", 2, 0)
    seg = Segment(encode_file_header(2, 0))
    assert seg.data[:12] == head
    base_frames(seg)
    return case(seg, section="§3.1, §14", version=[2, 0],
                fatal={"kind": "UnsupportedVersion", "offset": 8}, description=(
                    "A file header of format 2.0 with a valid header_crc, followed by "
                    "frames a 1.x reader could parse. A 1.x reader MUST refuse the "
                    "segment with UnsupportedVersion (found 2.0, supported 1.0) rather "
                    "than guess, even when salvaging; the offset is that of the major "
                    "field."))


# -- history


def _shuffle(elements: list[bytes]) -> bytes:
    """SPEC.md §9 byte shuffle: stored byte k*m + i = byte k of element i."""
    return bytes(e[k] for k in range(8) for e in elements)


def _f64(values: list[float | int]) -> bytes:
    # an int here is the raw IEEE bit pattern (to write a NaN with payload bits)
    return _shuffle([struct.pack("<Q", v) if isinstance(v, int) else struct.pack("<d", v)
                     for v in values])


def _i64(values: list[int]) -> bytes:
    return _shuffle([struct.pack("<q", v) for v in values])


NAN_WITH_PAYLOAD = 0x7FF8000000000ABC


def history_chunk() -> tuple[bytes, dict[str, Any]]:
    times = [T0, T0 + 0.5, T0 + 1.0]
    body = {
        "rows": 3,
        "step": _i64([0, 1, 2]),
        "time": _f64(times),
        "columns": {
            "loss": ["f64", None, _f64([0.5, NAN_WITH_PAYLOAD, -math.inf])],
            "epoch": ["i64", None, _i64([-(2**63), 0, 2**63 - 1])],
            "ok": ["bool", None, bytes([1, 0, 1])],
            "note": ["any", None, ["a", None, 2**64 - 1]],
            "lr": ["f64", struct.pack("<II", 0, 2), _f64([0.1, 0.001])],
        },
    }
    decoded = {
        "rows": 3, "step": [0, 1, 2], "time": times,
        "columns": {
            "loss": {"kind": "f64", "present": None, "values": [0.5, "NaN", "-Infinity"]},
            "epoch": {"kind": "i64", "present": None, "values": [-(2**63), 0, 2**63 - 1]},
            "ok": {"kind": "bool", "present": None, "values": [True, False, True]},
            "note": {"kind": "any", "present": None, "values": ["a", None, 2**64 - 1]},
            "lr": {"kind": "f64", "present": [0, 2], "values": [0.1, 0.001]},
        },
    }
    seg = Segment()
    seg.frame([segment_record()], 0)
    seg.frame([(3, body)], 1)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 2.0})], 2)
    seg.records[1]["decoded"] = decoded
    return case(seg, section="§9", description=(
        "A history record of 3 rows (steps 0..2): f64 column 'loss' holding 0.5, a NaN "
        "with payload bits 0x7ff8000000000abc and -Infinity; i64 column 'epoch' with "
        "both extremes; bool column 'ok'; any column 'note' (str, nil, uint64 max); "
        "sparse f64 column 'lr' present in rows 0 and 2. 'decoded' gives the columns "
        "as `flightlog dump` prints them (NaN and infinities as strings; the exact "
        "bits are in the body's hex)."))


def chart_and_media() -> tuple[bytes, dict[str, Any]]:
    # Format 1.1 (SPEC.md §8, §10): a chart, an image and a table with media cells.
    data_sha = hashlib.sha256(b"chart data").hexdigest()
    png_sha = hashlib.sha256(b"png").hexdigest()
    table_sha = hashlib.sha256(b"table").hexdigest()
    spec = ('{"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "mark": "line", '
            '"encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", '
            '"type": "quantitative"}}, "data": {"name": "table"}}')
    seg = Segment(encode_file_header(1, 1))
    seg.frame([segment_record()], 0)
    seg.frame([
        (14, {"key": "curve", "sha256": data_sha, "rows": 3, "spec": spec, "kind": "line",
              "time": T0, "step": 0}),
        (15, {"key": "sample", "kind": "image", "mime": "image/png", "sha256": png_sha,
              "size": 3, "time": T0, "caption": "a cat", "width": 1, "height": 1,
              "step": 0}),
        (7, {"key": "predictions", "sha256": table_sha, "rows": 1, "time": T0,
             "replace": True, "blobs": [png_sha], "step": 0}),
    ], 1)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], 4)
    data, facts = case(seg, section="§8, §10", version=[1, 1], description=(
        "Format 1.1: a chart record (Vega-Lite spec as JSON text, data named 'table' in "
        "the attached Arrow file of its sha256), a media record (a PNG image with caption "
        "and size), and a table record that replaces its key and names the file of a "
        "media cell in 'blobs'. The attached files are not part of the vector; readers "
        "derive charts = {curve}, media = {sample: [1 image]}. 'attached' gives the "
        "contents (hex) of the files the records name, for a run directory that verifies."))
    facts["attached"] = {hashlib.sha256(content).hexdigest(): content.hex()
                         for content in (b"chart data", b"png", b"table")}
    return data, facts


# ---------------------------------------------------------------- format 1.2 vectors
#
# Each 1.2 case also states the run's derived state (SPEC.md §11) as an independent
# reader must compute it: "state" below is written by hand from the records the case
# assembles, never computed by flightlog's reader (the tests compare the two).

PROJECT = "vectors"
SEGMENT_1_2 = "flightlog segment 1.2 test vector (SPEC.md §16)"
RUN_DIR_1_2 = "flightlog run directory 1.2 test vector (SPEC.md §16)"


def run_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": RUN_ID, "project": PROJECT, "name": "demo", "created": T0,
                            "config": {}, "tags": {}, "resumed": False, "host": "host0",
                            "pid": 1}
    body.update(changes)
    return body


def col(name: str, ctype: str, values: list[Any]) -> dict[str, Any]:
    """One expected history or table column: name, SPEC.md §11.2 type, cell values."""
    return {"name": name, "type": ctype, "values": jsonable(values)}


def state(**given: Any) -> dict[str, Any]:
    """An expected derived state; what is not given is the empty run's, finished."""
    out: dict[str, Any] = {
        "id": RUN_ID, "project": PROJECT, "name": "demo", "created": T0, "host": "host0",
        "config": {}, "tags": {}, "summary": {}, "status": "finished", "exit_code": 0,
        "history": [col("_step", "int64", []), col("_timestamp", "float64", [])],
        "metrics": {}, "tables": {}, "charts": {}, "media": {}, "files": {}, "dropped": 0,
        "findings": []}
    out.update({k: (v if k in ("history", "tables", "findings") else jsonable(v))
                for k, v in given.items()})
    return out


def finding(kind: str, offset: int, *, segment: int = 0, seq: int | None = None,
            skipped: tuple[int, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "segment": segment, "offset": offset}
    if seq is not None:
        out["seq"] = seq
    if skipped is not None:
        out["skipped"] = list(skipped)
    return out


def frame_header(payload_len: int, first_seq: int, record_count: int, payload_crc: int,
                 flags: int = 0) -> bytes:
    """A frame header assembled field by field (SPEC.md §4.1), for lengths the encoder
    refuses to write."""
    tail = struct.pack("<IQHBBI", payload_len, first_seq, record_count, flags, 0,
                       payload_crc)
    return b"\xd9FLR" + struct.pack("<I", masked_crc32c(tail)) + tail


def case12(seg: Segment, *, section: str, description: str, expected: dict[str, Any],
           version: list[int] | None = None, torn_offset: int | None = None,
           unknown_types: list[int] | None = None, verify_exit: int | None = None,
           attached: dict[str, bytes] | None = None, fmt: str = SEGMENT_1_2
           ) -> tuple[bytes, dict[str, Any]]:
    reading = [f for f in expected["findings"]
               if f["kind"] not in ("BadRecord", "BadAttachedName")]
    facts: dict[str, Any] = {
        "format": fmt, "section": section, "description": description,
        "file_size": len(seg.data), "version": version or [1, 2], "frames": seg.frames,
        "records": seg.records, "findings": reading, "torn": torn_offset is not None,
        "torn_offset": torn_offset, "fatal": None, "unknown_types": unknown_types or [],
        "state": expected,
        "verify_exit": (1 if expected["findings"] else 0) if verify_exit is None
        else verify_exit,
    }
    if attached:
        facts["attached"] = {hashlib.sha256(c).hexdigest(): c.hex() for c in attached.values()}
    return bytes(seg.data), facts


def started(**run: Any) -> tuple[Segment, int]:
    """A 1.2 segment 0 with its segment record and run record; returns it and the next
    sequence number."""
    seg = Segment(encode_file_header(1, 2))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body(**run))], 1)
    return seg, 2


def bad_file_header() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    seg.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], seq)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 1)
    seg.data[12] ^= 0x01  # a bit of header_crc
    return case12(seg, section="§3.1 rule 2, §5.2", description=(
        "A 1.2 file header whose header_crc has one bit flipped: BadFileHeader at offset 0 "
        "with skipped range 0..16. The version fields are not trusted; a salvaging reader "
        "reads every frame from offset 16 as frames of its newest 1.x minor version "
        "(1.2 here, the 'version' below) and loses no record. A strict reader raises "
        "BadFileHeader."), expected=state(
            summary={"loss": 0.5}, metrics={"loss": 0.5},
            findings=[finding("BadFileHeader", 0, skipped=(0, 16))]))


def corrupt_payload() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    # A frame whose payload_crc is right but whose payload holds 1 record of the 2 its
    # header counts: SPEC.md §5 rule 6.
    raw = pack_record(4, {"key": "loss", "value": 0.5, "time": T0})
    bad = encode_frame(raw, first_seq=seq, record_count=2)
    bad_at = len(seg.data)
    seg.data += bad
    after, _ = seg.frame([(4, {"key": "loss", "value": 0.25, "time": T0 + 1.0})], seq + 2)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 2.0})], seq + 3)
    return case12(seg, section="§5 rule 6, §5.2", description=(
        f"The frame at {bad_at} has a valid header and payload_crc, but its header counts 2 "
        f"records and its payload holds 1: CorruptPayload at {bad_at}, skipped range "
        f"{bad_at}..{bad_at + len(bad)} (exactly the frame). The next frame, at {after}, "
        f"starts at seq 4 where 2 was expected: SequenceError at {after}."),
        expected=state(summary={"loss": 0.25}, metrics={"loss": 0.25}, findings=[
            finding("CorruptPayload", bad_at, skipped=(bad_at, bad_at + len(bad))),
            finding("SequenceError", after)]))


def resync_skipped_range() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    garbage_at = len(seg.data)
    seg.data += bytes(range(0x40, 0x40 + 40))  # 40 bytes holding no sync marker
    after, _ = seg.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], seq)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 1)
    return case12(seg, section="§5 rule 3, §5.1", description=(
        f"40 bytes that are no frame sit between two frames, at {garbage_at}: "
        f"CorruptRecord at {garbage_at} (no sync bytes). Resynchronisation finds the next "
        f"valid frame at {after}, so the skipped range is {garbage_at}..{after}. No record "
        f"was lost: the frame after the garbage has the expected first_seq, so there is no "
        f"SequenceError."), expected=state(
            summary={"loss": 0.5}, metrics={"loss": 0.5},
            findings=[finding("CorruptRecord", garbage_at, skipped=(garbage_at, after))]))


def oversized_at_end() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq)
    big_at = len(seg.data)
    seg.data += frame_header(70000, seq + 1, 1, 0) + b"\x55" * 12
    end = len(seg.data)
    return case12(seg, section="§4.1, §5 rule 4", description=(
        f"At {big_at}, the last bytes of the file: a frame header with a valid header_crc "
        f"and payload_len 70000, followed by 12 payload bytes. The §4.1 constraints come "
        f"before the torn-tail rule: RecordTooLarge at {big_at}, not a torn tail. "
        f"Resynchronisation finds nothing, so the skipped range runs to the end of the "
        f"file: {big_at}..{end}."), expected=state(findings=[
            finding("RecordTooLarge", big_at, skipped=(big_at, end))]))


class HistoryBody(dict[str, Any]):
    """A history record body that also knows its decoded form (as `flightlog dump`
    prints it, the "decoded" of its record's facts)."""

    decoded: dict[str, Any]


def history_body(steps: list[int], times: list[float],
                 columns: dict[str, tuple[str, list[int] | None, Any]]) -> HistoryBody:
    """A chunk from (kind, present rows or None, values) per key: f64/i64 values are
    byte-shuffled, bool values packed one byte each, any values kept; a kind SPEC.md §9
    does not define takes its values as bytes and is not decoded."""
    encoders = {"f64": _f64, "i64": _i64, "bool": lambda vs: bytes(int(v) for v in vs),
                "any": list}
    body = HistoryBody(rows=len(steps), step=_i64(steps), time=_f64(times), columns={
        key: [kind, None if present is None else _u32(present),
              encoders[kind](values) if kind in encoders else values]
        for key, (kind, present, values) in columns.items()})
    body.decoded = jsonable({"rows": len(steps), "step": steps, "time": times, "columns": {
        key: {"kind": kind, "present": present, "values": values}
        for key, (kind, present, values) in columns.items() if kind in encoders}})
    return body


def _u32(rows: list[int]) -> bytes:
    return struct.pack(f"<{len(rows)}I", *rows)


def history_column_types() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    quoted = 'é\n"q'
    first = history_body([0, 1, 2], [T0, T0 + 1.0, T0 + 2.0], {
        "mixed_num": ("any", None, [1, 2.5, 3]),
        "count": ("i64", None, [1, 2, 3]),
        "flag": ("bool", None, [True, False, True]),
        "label": ("any", None, ["a", None, "c"]),
        "nothing": ("any", None, [None, None, None]),
        "mixed": ("any", None, ["a", 1, True]),
        "big": ("any", None, [2**64 - 1, 1, None]),
        "fmt": ("any", None, ["x", 1e16, 1e-05]),
        "lr": ("f64", [0, 2], [0.1, 1e16]),
    })
    second = history_body([2, 3], [T0 + 2.5, T0 + 3.0], {
        "count": ("f64", None, [2.5, 4.0]),
        "flag": ("i64", None, [5, 6]),
        "label": ("any", None, [None, "d"]),
        "mixed": ("any", None, [math.nan, quoted]),
        "later": ("f64", [1], [1e-05]),
        "future": ("u128", None, b"\x00" * 32),  # a kind 1.2 does not define: left out
    })
    seg.frame([(3, first)], seq)
    seg.frame([(3, second)], seq + 1)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 4.0})], seq + 2)
    history = [
        col("_step", "int64", [0, 1, 2, 3]),
        col("_timestamp", "float64", [T0, T0 + 1.0, T0 + 2.5, T0 + 3.0]),
        col("mixed_num", "float64", [1.0, 2.5, 3.0, None]),
        col("count", "float64", [1.0, 2.0, 2.5, 4.0]),
        col("flag", "string", ["true", "false", "5", "6"]),
        col("label", "string", ["a", None, None, "d"]),
        col("nothing", "null", [None, None, None, None]),
        col("mixed", "string", ['"a"', "1", "null", '"é\\n\\"q"']),
        col("big", "string", ["18446744073709551615", "1", None, None]),
        col("fmt", "string", ['"x"', "1e+16", "1e-05", None]),
        col("lr", "float64", [0.1, None, 1e16, None]),
        col("later", "float64", [None, None, None, 1e-05]),
    ]
    return case12(seg, section="§11.2, §1.1", description=(
        "Two history chunks; step 2 is in both, so its rows merge (the second chunk's "
        "values and time win, a logged nil included). Column types follow the classes of "
        "every logged value: 'mixed_num' (any: 1, 2.5, 3) is float64; 'count' (i64 then "
        "f64) float64; 'flag' (bool then i64) and 'mixed', 'big' (2^64-1 is outside i64), "
        "'fmt' are string columns of JSON text (strs quoted, NaN as null, floats as in "
        "§1.1); 'label' (str and nil) string; 'nothing' (all nil) null. 'later' first "
        "appears in the second chunk, so it is the last column; the column of kind "
        "'u128' is unknown to 1.2 and left out."), expected=state(
            history=history,
            summary={"mixed_num": 3, "count": 4.0, "flag": 6, "label": "d", "nothing": None,
                     "mixed": quoted, "big": None, "fmt": 1e-05, "lr": 1e16, "later": 1e-05},
            metrics={"mixed_num": [1, 2.5, 3], "count": [1, 2, 2.5, 4.0],
                     "flag": [True, False, 5, 6], "label": ["a", None, None, "d"],
                     "nothing": [None, None, None], "mixed": ["a", 1, math.nan, quoted],
                     "big": [2**64 - 1, 1, None], "fmt": ["x", 1e16, 1e-05],
                     "lr": [0.1, 1e16], "later": 1e-05}))


def histogram_kinds() -> tuple[bytes, dict[str, Any]]:
    """What flightlog's writer writes for histograms (§9.1) and a key whose kind changed
    (§9.2): read by §11.2 like any other values."""
    seg, seq = started()
    h0 = {"_type": "histogram", "bins": [0.0, 0.5, 1.0], "values": [1, 3]}
    h1 = {"_type": "histogram", "bins": [-1.0, 0.0, 1.0, 2.0], "values": [0, 2.5, 1],
          "nonfinite": 2}
    first = history_body([0, 1], [T0, T0 + 1.0], {
        "acc": ("f64", None, [0.5, 0.75]),
        "grads": ("any", None, [h0, h1]),
    })
    second = history_body([2], [T0 + 2.0], {
        "acc:str": ("any", None, ["diverged"]),
    })
    seg.frame([(3, first)], seq)
    seg.frame([(3, second)], seq + 1)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 3.0})], seq + 2)
    history = [
        col("_step", "int64", [0, 1, 2]),
        col("_timestamp", "float64", [T0, T0 + 1.0, T0 + 2.0]),
        col("acc", "float64", [0.5, 0.75, None]),
        col("grads", "string", [
            '{"_type":"histogram","bins":[0.0,0.5,1.0],"values":[1,3]}',
            '{"_type":"histogram","bins":[-1.0,0.0,1.0,2.0],"values":[0,2.5,1],'
            '"nonfinite":2}', None]),
        col("acc:str", "string", [None, None, "diverged"]),
    ]
    return case12(seg, section="§9.1, §9.2, §11.2", description=(
        "Histograms as flightlog writes them: maps of _type 'histogram', bins (n + 1 "
        "edges) and values (n counts) in an any column, read by §11.2 as a string column "
        "of their JSON text. 'acc' was logged 0.5, 0.75 and then the str 'diverged', which "
        "the writer put under the sibling key 'acc:str' (§9.2): 'acc' stays float64."),
        expected=state(
            history=history,
            summary={"acc": 0.75, "grads": h1, "acc:str": "diverged"},
            metrics={"acc": [0.5, 0.75], "grads": [h0, h1], "acc:str": "diverged"}))


def get_metrics_case() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    seg.frame([(3, history_body([0, 1], [T0, T0 + 1.0], {
        "loss": ("f64", None, [0.5, 0.25]),
        "note": ("any", None, [None, "x"])}))], seq)
    seg.frame([(4, {"key": "loss", "value": 0.125, "time": T0 + 1.5}),
               (4, {"key": "acc", "value": 1, "time": T0 + 1.5}),
               (4, {"key": "acc", "value": None, "time": T0 + 1.5}),
               (8, {"set": {"best": 0.1}, "delete": ["note"]})], seq + 1)
    seg.frame([(3, history_body([2], [T0 + 2.0], {"loss": ("f64", None, [0.1])}))],
              seq + 5)
    seg.frame([(5, {"key": "xs", "values": [1, 2, 3], "time": T0 + 2.0}),
               (12, {"exit_code": 0, "time": T0 + 3.0})], seq + 6)
    return case12(seg, section="§11.3, §11.4", description=(
        "'loss' is logged in history (steps 0, 1, then 2 in a later chunk) and as metric "
        "records: get_metrics gives its history values in step order, then its metric "
        "values (0.5, 0.25, 0.1, 0.125). Values are as stored; a logged nil counts "
        "('acc' is [1, null], 'note' [null, 'x']). The summary is the last event per key "
        "in sequence order: the later history chunk sets loss to 0.1 after the metric's "
        "0.125; 'note' was removed by the summary record's delete; 'acc' is nil."),
        expected=state(
            history=[col("_step", "int64", [0, 1, 2]),
                     col("_timestamp", "float64", [T0, T0 + 1.0, T0 + 2.0]),
                     col("loss", "float64", [0.5, 0.25, 0.1]),
                     col("note", "string", [None, "x", None])],
            summary={"loss": 0.1, "acc": None, "best": 0.1},
            metrics={"loss": [0.5, 0.25, 0.1, 0.125], "note": [None, "x"],
                     "acc": [1, None], "xs": [1, 2, 3]}))


def bad_attached_names() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    ok = b"ok"
    ok_sha = hashlib.sha256(ok).hexdigest()
    at, _ = seg.frame([
        (11, {"name": "weights.bin", "sha256": "../../../../etc/passwd", "size": 3,
              "time": T0}),
        (7, {"key": "t", "sha256": ok_sha, "rows": 1, "time": T0,
             "blobs": [ok_sha.upper()]}),
        (201, {"sha256": 42}),
        (11, {"name": "ok.txt", "sha256": ok_sha, "size": 2, "time": T0 + 1.0}),
    ], seq)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 2.0})], seq + 4)
    return case12(seg, section="§10.1, §5.2", unknown_types=[201], description=(
        f"One frame, at {at}, of four records: a file record whose sha256 is a path, a "
        f"table record whose blobs entry is upper-case hex, a record of unknown type 201 "
        f"whose sha256 is an int, and a valid file record. The first three are "
        f"BadAttachedName at {at} (seqs 2, 3, 4, whatever their type); they are left out "
        f"of the state and no path is made of them. 'attached' holds the one valid file."),
        attached={"ok": ok}, expected=state(
            files={"ok.txt": {"sha256": ok_sha, "size": 2, "time": T0 + 1.0}},
            findings=[finding("BadAttachedName", at, seq=seq),
                      finding("BadAttachedName", at, seq=seq + 1),
                      finding("BadAttachedName", at, seq=seq + 2)]))


def bad_record_bodies() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started()
    at, _ = seg.frame([
        (4, {"value": 1, "time": T0}),
        (12, {"exit_code": "0", "time": T0}),
        (4, {"key": "loss", "value": 0.5, "time": "later"}),
        (4, {"key": "loss", "value": 0.25, "time": T0, "unknown": "ignored"}),
    ], seq)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 4)
    return case12(seg, section="§8, §5.2", description=(
        f"One frame, at {at}: a metric without its required 'key', a finish whose "
        f"exit_code is a str, a metric whose optional 'time' is a str, and a valid metric "
        f"with an unknown key (ignored). The first three are BadRecord at {at} with their "
        f"seqs 2, 3, 4 and are left out of the state: only the valid metric and the last "
        f"finish count."), expected=state(
            summary={"loss": 0.25}, metrics={"loss": 0.25},
            findings=[finding("BadRecord", at, seq=seq),
                      finding("BadRecord", at, seq=seq + 1),
                      finding("BadRecord", at, seq=seq + 2)]))


def config_and_tags() -> tuple[bytes, dict[str, Any]]:
    seg, seq = started(config={"opt": {"lr": 0.1, "momentum": 0.9}, "layers": 2},
                       tags={"smoke": None, "owner": "ann"})
    seg.frame([(9, {"set": {"opt": {"lr": 0.2}}}),
               (10, {"set": {"owner": None}}),
               (10, {"set": {"gpu": "a100"}})], seq)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 3)
    return case12(seg, section="§11.1", description=(
        "A config record sets 'opt' to {lr: 0.2}: it replaces the run record's 'opt' "
        "whole (no deep merge: 'momentum' is gone) and leaves 'layers'. Tag values may be "
        "nil (a tag without a value): setting 'owner' to nil keeps the tag 'owner', "
        "without its value; tags are never removed."), expected=state(
            config={"opt": {"lr": 0.2}, "layers": 2},
            tags={"smoke": None, "owner": None, "gpu": "a100"}))


# -- Arrow IPC attached files (SPEC.md §10.3), written by pyarrow


def _arrow_ipc(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _png_1x1() -> bytes:
    """A real 1x1 RGB PNG (one red pixel), assembled here."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00", 9)) + chunk(b"IEND", b""))


MEDIA_CELL_TYPE = ("struct<kind: string, sha256: string, mime: string, caption: string, "
                   "width: int64, height: int64>")


def arrow_chart_media() -> tuple[bytes, dict[str, Any]]:
    import pyarrow as pa

    png = _png_1x1()
    png_sha = hashlib.sha256(png).hexdigest()
    chart_data = _arrow_ipc(pa.table({"x": pa.array([0.0, 0.5, 1.0]),
                                      "y": pa.array([0.0, 0.8, 1.0])}))
    cell_type = pa.struct([("kind", pa.string()), ("sha256", pa.string()),
                           ("mime", pa.string()), ("caption", pa.string()),
                           ("width", pa.int64()), ("height", pa.int64())])
    cell = {"kind": "image", "sha256": png_sha, "mime": "image/png", "caption": "a cat",
            "width": 1, "height": 1}
    schema = pa.schema([pa.field("id", pa.int32()), pa.field("score", pa.float64()),
                        pa.field("tag", pa.int64()),
                        pa.field("image", cell_type, metadata={"flightlog:media": "1"})])
    table_data = _arrow_ipc(pa.table([pa.array([3], pa.int32()), pa.array([0.75]),
                                      pa.array([7]), pa.array([cell], cell_type)],
                                     schema=schema))
    data_sha = hashlib.sha256(chart_data).hexdigest()
    table_sha = hashlib.sha256(table_data).hexdigest()
    spec = ('{"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "mark": "line", '
            '"encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", '
            '"type": "quantitative"}}, "data": {"name": "table"}}')
    seg, seq = started()
    seg.frame([
        (6, {"key": "predictions", "row": {"id": 1, "score": 0.5, "tag": "a"}, "time": T0}),
        (6, {"key": "predictions", "row": {"id": 2, "score": 0.25, "tag": "b", "note": "x"},
             "time": T0}),
        (7, {"key": "predictions", "sha256": table_sha, "rows": 1, "time": T0,
             "blobs": [png_sha]}),
        (14, {"key": "curve", "sha256": data_sha, "rows": 3, "spec": spec, "kind": "line",
              "time": T0, "step": 0}),
        (15, {"key": "sample", "kind": "image", "mime": "image/png", "sha256": png_sha,
              "size": len(png), "time": T0, "caption": "a cat", "width": 1, "height": 1,
              "step": 0}),
    ], seq)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 5)
    predictions = [
        col("id", "float64", [1.0, 2.0, 3.0]),
        col("score", "float64", [0.5, 0.25, 0.75]),
        col("tag", "string", ['"a"', '"b"', "7"]),
        col("note", "string", [None, "x", None]),
        col("image", MEDIA_CELL_TYPE, [None, None, cell]),
    ]
    inlined = json.loads(spec)
    inlined["data"] = {"values": [{"x": 0.0, "y": 0.0}, {"x": 0.5, "y": 0.8},
                                  {"x": 1.0, "y": 1.0}]}
    return case12(seg, section="§10, §11.5, §11.6", description=(
        "Format 1.2 successor of record/chart-media, with real attached files: the chart's "
        "data and the table are Arrow IPC files, the image a real 1x1 PNG ('attached' "
        "holds them). Table 'predictions' has two pieces: two row records (id int, score "
        "float, tag str, note in the second row only), then an Arrow table (id int32, "
        "score float64, tag int64, image a media cell). Combined: 'id' is float64 (the "
        "pieces' integer types differ), 'score' float64, 'tag' the JSON text of each cell "
        "(str and int64 disagree), 'note' and 'image' null where a piece lacks them. "
        "charts() inlines the chart's rows into its spec (§10.2)."),
        attached={"png": png, "chart": chart_data, "table": table_data},
        expected=state(
            tables={"predictions": predictions},
            metrics={"predictions": {"id": [1.0, 2.0, 3.0], "score": [0.5, 0.25, 0.75],
                                     "tag": ['"a"', '"b"', "7"], "note": [None, "x", None],
                                     "image": [None, None, cell]}},
            charts={"curve": inlined},
            media={"sample": [{"kind": "image", "mime": "image/png", "sha256": png_sha,
                               "size": len(png), "caption": "a cat", "step": 0,
                               "width": 1, "height": 1}]}))


# -- format 1.3: what the run ran (SPEC.md §19)

SEGMENT_1_3 = "flightlog segment 1.3 test vector (SPEC.md §16)"


def state13(**given: Any) -> dict[str, Any]:
    """An expected 1.3 state: the 1.2 fields, and those of what the run ran (§19) and
    its histograms (§9.1); what is not given is the empty run's."""
    defaults: dict[str, Any] = {
        "console": [], "system": [col("_timestamp", "float64", [])], "environment": None,
        "code": None, "signal": None, "histograms": {}}
    return state(**{**defaults, **given})


def _text(value: Any) -> str:
    """SPEC.md §1.1 JSON text of a map of strs, ints and finite floats (as json.dumps
    writes them without whitespace)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def histogram_rules() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §9.1 read back: the kept value of each merged row, malformed maps counted."""
    h0 = {"_type": "histogram", "bins": [0.0, 1.0, 2.0], "values": [1, 2]}
    bad_edges = {"_type": "histogram", "bins": [0.0, 2.0, 1.0], "values": [1, 2]}
    h2 = {"_type": "histogram", "bins": [0.0, 1.0], "values": [5]}
    bad_nonfinite = {"_type": "histogram", "bins": [0.0, 1.0], "values": [2], "nonfinite": -1}
    h4 = {"_type": "histogram", "bins": [-1.0, 0.0, 1.0], "values": [0.5, 0], "nonfinite": 3}
    other = {"_type": "other", "x": 1}
    bad_count = {"_type": "histogram", "bins": [0.0, 1.0], "values": [-1]}
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    seg.frame([(3, history_body([0, 1, 2], [T0, T0 + 1, T0 + 2], {
        "h": ("any", None, [h0, bad_edges, h2]),
        "loss": ("f64", None, [0.5, 0.25, 0.125]),
        "k": ("any", [0], [bad_count]),
    }))], 2)
    seg.frame([(3, history_body([2, 3, 4], [T0 + 2.5, T0 + 3, T0 + 4], {
        "h": ("any", None, [None, bad_nonfinite, h4]),
    }))], 3)
    seg.frame([(3, history_body([5], [T0 + 5], {"h": ("any", None, [other])}))], 4)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 6})], 5)
    history = [
        col("_step", "int64", [0, 1, 2, 3, 4, 5]),
        col("_timestamp", "float64", [T0, T0 + 1, T0 + 2.5, T0 + 3, T0 + 4, T0 + 5]),
        col("h", "string", [_text(h0), _text(bad_edges), None, _text(bad_nonfinite),
                            _text(h4), _text(other)]),
        col("loss", "float64", [0.5, 0.25, 0.125, None, None, None]),
        col("k", "string", [_text(bad_count), None, None, None, None, None]),
    ]
    return case12(seg, section="§9.1, §11.2", version=[1, 3], fmt=SEGMENT_1_3, description=(
        "Histograms read back (§9.1): 'h' holds, per merged history row, the value merging "
        "keeps. Step 0: a histogram. Step 1: bins not increasing, left out and counted. "
        "Step 2 was logged a histogram and then nil in the next chunk: the kept value is "
        "nil, so no histogram at step 2. Step 3: nonfinite -1 is not a uint, left out and "
        "counted. Step 4: a histogram with nonfinite 3. Step 5: a map of another _type, "
        "not a histogram. 'k' holds only a malformed histogram (a negative count): a "
        "histogram key with none, one left out. 'loss' is no histogram key."),
        expected=state13(
            history=history,
            summary={"h": other, "loss": 0.125, "k": bad_count},
            metrics={"h": [h0, bad_edges, None, bad_nonfinite, h4, other],
                     "loss": [0.5, 0.25, 0.125], "k": bad_count},
            histograms={
                "h": {"histograms": [
                    {"step": 0, "bins": [0.0, 1.0, 2.0], "values": [1.0, 2.0],
                     "nonfinite": 0},
                    {"step": 4, "bins": [-1.0, 0.0, 1.0], "values": [0.5, 0.0],
                     "nonfinite": 3}], "left_out": 2},
                "k": {"histograms": [], "left_out": 1}}))


def what_ran() -> tuple[bytes, dict[str, Any]]:
    """The records of ``flightlog run`` (SPEC.md §19): environment, a code snapshot in two
    records, console lines of both streams (a redrawn progress bar), system samples, a
    finish with its signal; and one malformed record of each new type."""
    model, train = b"import math\n", b"print('hi')\n"
    model_sha, train_sha = (hashlib.sha256(model).hexdigest(),
                            hashlib.sha256(train).hexdigest())
    entries = [{"mode": 0o644, "path": "src/model.py", "sha256": model_sha,
                "size": len(model)},
               {"mode": 0o755, "path": "train.py", "sha256": train_sha,
                "size": len(train)}]
    manifest = json.dumps({"files": entries, "version": 1}, sort_keys=True,
                          separators=(",", ":")).encode()
    manifest_sha = hashlib.sha256(manifest).hexdigest()
    facts = {"command": ["python", "train.py"], "cwd": "/work", "host": "host0",
             "user": None, "git": None, "env": {"CUDA_VISIBLE_DEVICES": "0"}, "packages": 0}
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    code = {"sha256": manifest_sha, "files": 2, "bytes": len(model) + len(train),
            "time": T0}
    seg.frame([(19, dict(code, blobs=[model_sha])), (19, dict(code, blobs=[train_sha])),
               (18, {"time": T0, "facts": facts})], 2)
    at, _ = seg.frame([
        (16, {"stream": "stdout", "lines": ["epoch 1", "10%", "100%"],
              "times": [T0 + 1, T0 + 3, T0 + 3], "overwritten": [1]}),
        (16, {"stream": "stderr", "lines": ["warn: slow", "late"], "times": [T0 + 2, T0 + 3]}),
        (17, {"time": T0 + 1, "values": {"system/cpu": 12.5, "system/memory_percent": 40}}),
        (17, {"time": T0 + 2, "values": {"system/cpu": 13.0, "system/gpu.0.temp": 55.0}}),
        (16, {"stream": "tty", "lines": ["x"], "times": [T0]}),
        (16, {"stream": "stdout", "lines": ["a", "b"], "times": [T0]}),
        (16, {"stream": "stdout", "lines": ["a"], "times": [T0], "overwritten": [1]}),
        (17, {"time": T0, "values": {"system/cpu": "high"}}),
        (18, {"time": T0, "facts": ["python"]}),
    ], 5)
    seg.frame([(12, {"exit_code": 137, "time": T0 + 4.0, "signal": "SIGKILL"})], 14)
    bad = [finding("BadRecord", at, seq=seq) for seq in range(9, 14)]
    return case12(seg, section="§19, §8", version=[1, 3], fmt=SEGMENT_1_3, description=(
        "Format 1.3, as `flightlog run` writes a run: a code snapshot as two code records "
        "of one manifest (each listing part of the contents in blobs), an environment "
        "record, console records of stdout (a progress bar drawn as '10%' then '100%', "
        "the first marked overwritten) and stderr, two system samples (an int read as "
        "float64; a name missing in a sample is null), and a finish of exit code 137 with "
        "signal SIGKILL: crashed. The console is ordered by time, stably (at T0+3 the "
        "stdout lines come before the stderr line, as in sequence order). At "
        f"{at}, seqs 9..13 are bad records: a console stream 'tty', times shorter than "
        "lines, an overwritten index past the lines, a system value that is a str, "
        "environment facts that are not a map. 'attached' holds the manifest and the "
        "two files."),
        attached={"manifest": manifest, "model": model, "train": train},
        expected=state13(
            status="crashed", exit_code=137, signal="SIGKILL", findings=bad,
            console=[
                {"time": T0 + 1, "stream": "stdout", "text": "epoch 1", "overwritten": False},
                {"time": T0 + 2, "stream": "stderr", "text": "warn: slow",
                 "overwritten": False},
                {"time": T0 + 3, "stream": "stdout", "text": "10%", "overwritten": True},
                {"time": T0 + 3, "stream": "stdout", "text": "100%", "overwritten": False},
                {"time": T0 + 3, "stream": "stderr", "text": "late", "overwritten": False}],
            system=[col("_timestamp", "float64", [T0 + 1, T0 + 2]),
                    col("system/cpu", "float64", [12.5, 13.0]),
                    col("system/memory_percent", "float64", [40.0, None]),
                    col("system/gpu.0.temp", "float64", [None, 55.0])],
            environment=facts,
            code={"sha256": manifest_sha, "files": entries}))


def code_unsafe_path() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §19.4: a manifest naming an unsafe path is a damaged snapshot, refused
    whole; the run is not damaged."""
    content = b"x = 1\n"
    sha = hashlib.sha256(content).hexdigest()
    entries = [{"mode": 0o644, "path": "ok.py", "sha256": sha, "size": len(content)},
               {"mode": 0o644, "path": "../../escape.py", "sha256": sha,
                "size": len(content)}]
    manifest = json.dumps({"files": entries, "version": 1}, sort_keys=True,
                          separators=(",", ":")).encode()
    manifest_sha = hashlib.sha256(manifest).hexdigest()
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    seg.frame([(19, {"sha256": manifest_sha, "blobs": [sha], "files": 2,
                     "bytes": 2 * len(content), "time": T0})], 2)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1})], 3)
    return case12(seg, section="§19.4", version=[1, 3], fmt=SEGMENT_1_3, description=(
        "A code record whose manifest (attached, with a matching SHA-256) lists 'ok.py' "
        "and '../../escape.py'. A path with a '..' component is never used to name a "
        "local file: the reader refuses the snapshot whole (state 'code' has 'files' nil; "
        "restoring it writes nothing), while the run itself is intact: no finding, "
        "verify exits 0."),
        attached={"manifest": manifest, "content": content},
        expected=state13(code={"sha256": manifest_sha, "files": None}))


def bad_history() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §9: each way a chunk can be malformed makes its record a bad record."""
    def chunk(rows: int, step: bytes, time: bytes, columns: dict[str, Any]
              ) -> dict[str, Any]:
        return {"rows": rows, "step": step, "time": time, "columns": columns}

    one_step, one_time = _i64([1]), _f64([T0 + 1])
    good = history_body([0], [T0], {"loss": ("f64", None, [0.5]),
                                    "later": ("u128", None, b"\x01")})
    bad = [
        chunk(0, b"", b"", {}),                                          # rows 0
        chunk(2, one_step, _f64([T0, T0]), {}),                          # 1 step, 2 rows
        chunk(1, one_step, one_time, {"x": ["f64", None]}),              # not 3 elements
        chunk(1, one_step, one_time, {"x": [7, None, _f64([1.0])]}),     # kind not a str
        chunk(1, one_step, one_time, {"x": ["f64", b"\x00\x00\x00", _f64([1.0])]}),
        chunk(2, _i64([1, 2]), _f64([T0, T0]),
              {"x": ["f64", _u32([1, 0]), _f64([1.0, 2.0])]}),           # not increasing
        chunk(1, one_step, one_time, {"x": ["f64", _u32([1]), _f64([1.0])]}),  # >= rows
        chunk(1, one_step, one_time, {"x": ["f64", None, _f64([1.0, 2.0])]}),  # 2 for 1
        chunk(1, one_step, one_time, {"x": ["bool", None, b"\x02"]}),    # not 0 or 1
        chunk(1, one_step, one_time, {"x": ["any", None, []]}),          # 0 for 1
        chunk(1, one_step, one_time, {"x": ["u128", _u32([3]), b""]}),   # unknown kind
    ]
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    at, _ = seg.frame([(3, body) for body in bad], 2)
    seg.frame([(3, good)], 2 + len(bad))
    seg.frame([(12, {"exit_code": 0, "time": T0 + 2})], 3 + len(bad))
    return case12(seg, section="§9, §8", version=[1, 3], fmt=SEGMENT_1_3, description=(
        f"One frame, at {at}, of {len(bad)} malformed history chunks, each a BadRecord "
        "(seqs 2..12), left out whole: rows 0; one step for two rows; a column of two "
        "elements; a kind that is not a str; a present of 3 bytes; present indexes not "
        "increasing; a present index not below rows; two f64 values for one row; a bool "
        "byte 2; an any column of no value for one row; a column of an unknown kind whose "
        "present names row 3 of 1. Then a good chunk whose column of unknown kind 'u128' "
        "is left out, not the chunk."),
        expected=state13(
            history=[col("_step", "int64", [0]), col("_timestamp", "float64", [T0]),
                     col("loss", "float64", [0.5])],
            summary={"loss": 0.5}, metrics={"loss": 0.5},
            findings=[finding("BadRecord", at, seq=2 + i) for i in range(len(bad))]))


def sequence_overlap() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §4.2 and §5 rule 7: frames whose first_seq is lower than the next sequence
    number (a duplicate frame, a frame that overlaps in part). Their records already read
    are ignored, the others read; the order of findings at one offset (§5.2)."""
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    first = [(4, {"key": "loss", "value": 0.5, "time": T0}),
             (4, {"key": "loss", "value": 0.25, "time": T0 + 1.0})]
    seg.frame(first, 2)
    duplicate, _ = seg.frame(first, 2)  # the same frame again: every record already read
    partial, _ = seg.frame([(4, {"key": "loss", "value": 99.0, "time": T0 + 9.0}),
                            (4, {"value": 1, "time": T0 + 2.0}),
                            (4, {"key": "acc", "value": 1, "time": T0 + 2.0})], 3)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 3.0})], 6)
    # What a reader returns: each sequence number once, from the frame read first.
    seg.records = [r for r in seg.records
                   if not (r["offset"] == duplicate or (r["offset"] == partial
                                                        and r["seq"] == 3))]
    return case12(seg, section="§4.2, §5 rule 7, §5.2", version=[1, 3], fmt=SEGMENT_1_3,
                  description=(
        f"Records 2 and 3 (loss 0.5, 0.25), then at {duplicate} the same frame again "
        f"(first_seq 2): a SequenceError (overlap), both of its records ignored. At "
        f"{partial} a frame of first_seq 3 and three records: a SequenceError (overlap); "
        f"its record 3 (loss 99.0) was read already and is ignored, its records 4 and 5 "
        f"are new: 4 is a metric without its key (BadRecord at {partial}, seq 4, listed "
        f"after that offset's SequenceError), 5 sets acc. Then the finish, seq 6. "
        f"Every frame is intact: 'frames' lists them all, 'records' each seq once."),
        expected=state13(
            summary={"loss": 0.25, "acc": 1}, metrics={"loss": [0.5, 0.25], "acc": 1},
            findings=[finding("SequenceError", duplicate), finding("SequenceError", partial),
                      finding("BadRecord", partial, seq=4)]))


def table_versions() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §11.5 with real Arrow IPC files: pieces appended, a replace that discards
    the earlier pieces, and row records after it."""
    import pyarrow as pa

    v0 = _arrow_ipc(pa.table({"a": pa.array([2], pa.int64())}))
    v1 = _arrow_ipc(pa.table({"a": pa.array([10, 11], pa.int64()),
                              "b": pa.array(["x", "y"])}))
    v0_sha, v1_sha = hashlib.sha256(v0).hexdigest(), hashlib.sha256(v1).hexdigest()
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    seg.frame([
        (6, {"key": "t", "row": {"a": 1}, "time": T0}),
        (7, {"key": "t", "sha256": v0_sha, "rows": 1, "time": T0}),
        (7, {"key": "t", "sha256": v1_sha, "rows": 2, "time": T0 + 1.0, "step": 1,
             "replace": True}),
        (6, {"key": "t", "row": {"a": 12, "c": True}, "time": T0 + 2.0}),
        (6, {"key": "other", "row": {"z": 1}, "time": T0 + 2.0}),
        (6, {"key": "t", "row": {"a": 13}, "time": T0 + 2.0}),
    ], 2)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 3.0})], 8)
    t = [col("a", "int64", [10, 11, 12, 13]), col("b", "string", ["x", "y", None, None]),
         col("c", "bool", [None, None, True, None])]
    return case12(seg, section="§11.5, §10.3", version=[1, 3], fmt=SEGMENT_1_3, description=(
        "Table 't': a row record (a=1), a table record appending an Arrow file (a=2), then "
        "a table record with replace true (a new version at step 1: a=10, 11 and b), which "
        "discards both earlier pieces, then two row records (a=12 with c=true, a=13), one "
        "piece though a row of key 'other' comes between them (consecutive among t's own "
        "records). The table is the replacing file's rows and then the rows piece: a "
        "int64, b string, c bool, null where a piece lacks the column. 'attached' holds "
        "both Arrow files."),
        attached={"v0": v0, "v1": v1}, expected=state13(
            tables={"t": t, "other": [col("z", "int64", [1])]},
            metrics={"t": {"a": [10, 11, 12, 13], "b": ["x", "y", None, None],
                           "c": [None, None, True, None]}, "other": {"z": [1]}}))


def chart_specs() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §10.4's rules of a chart's spec, and §10.2's inlining of its rows."""
    import pyarrow as pa

    data = _arrow_ipc(pa.table({"x": pa.array([0.0, 1.0]), "y": pa.array([math.nan, 2.0]),
                                "b": pa.array([b"\x01\xff", None], pa.binary())}))
    data_sha = hashlib.sha256(data).hexdigest()
    chain = "{}"
    for _ in range(61):  # with the top object and "deep", 64 levels: the most allowed
        chain = '{"a": ' + chain + "}"
    ok = ('{"$schema": "https://vega.github.io/schema/vega-lite/v6.json", '
          '"title": "' + "[" * 70 + '", "mark": "point", "mark": "line", '
          '"deep": {"a": ' + chain + '}, "data": {"name": "table"}, '
          '"layer": [{"data": {"name": "table"}}, {"data": {"name": "other"}}]}')
    too_deep = '{"a": ' * 64 + "{}" + "}" * 64  # 65 levels
    bad = {"too-deep": too_deep, "array": '[{"data": {"name": "table"}}]',
           "nan": '{"data": {"name": "table"}, "width": NaN}',
           "infinity": '{"data": {"name": "table"}, "width": -Infinity}',
           "not-json": '{"data": {"name": "table"},}'}
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    at, _ = seg.frame([(14, {"key": key, "sha256": data_sha, "rows": 2, "spec": spec,
                             "kind": "custom", "time": T0}) for key, spec in bad.items()], 2)
    seg.frame([(14, {"key": "ok", "sha256": data_sha, "rows": 2, "spec": ok,
                     "kind": "custom", "time": T0, "step": 0})], 2 + len(bad))
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], 3 + len(bad))
    rows = [{"x": 0.0, "y": None, "b": "01ff"}, {"x": 1.0, "y": 2.0, "b": None}]
    inlined = json.loads(ok)
    inlined["data"] = {"values": rows}
    inlined["layer"][0]["data"] = {"values": rows}
    return case12(seg, section="§10.4, §10.2", version=[1, 3], fmt=SEGMENT_1_3, description=(
        f"At {at}, five chart records whose spec breaks §10.4, each a BadRecord (seqs 2..6): "
        f"objects nested 65 deep; a JSON array, not an object; the non-JSON tokens NaN and "
        f"-Infinity; text that is not JSON (a trailing comma). Then chart 'ok', whose spec "
        f"nests exactly 64 deep (its title's 70 '[' are inside a string and do not count) "
        f"and gives 'mark' twice (the last counts, in the first one's place). Its rows "
        f"(the attached Arrow file: x, y with a NaN, b binary) replace every data object "
        f"named 'table', at any depth, and no other: NaN becomes null, binary lowercase "
        f"hex."), attached={"data": data}, expected=state13(
            charts={"ok": inlined},
            findings=[finding("BadRecord", at, seq=2 + i) for i in range(len(bad))]))


def state14(**given: Any) -> dict[str, Any]:
    """An expected state of the vectors that state unreadable tables and charts
    (SPEC.md §10.4) and a prune mark (§18.7): the 1.3 fields and those two."""
    return state13(**{"unreadable": [], "pruned": None, **given})


def unreadable(record: str, key: str, sha: str, reason: str) -> dict[str, Any]:
    return {"record": record, "key": key, "sha256": sha, "reason": reason}


def table_limits() -> tuple[bytes, dict[str, Any]]:
    """SPEC.md §10.4: each attached file that breaks a limit costs its table or chart
    only, named with its file and the rule; the run's other tables and charts read."""
    import pyarrow as pa

    def rows_only(n: int) -> bytes:  # a batch of n rows and no column: no values at all
        return _arrow_ipc(pa.Table.from_batches(
            [pa.RecordBatch.from_struct_array(pa.nulls(n, pa.struct([])))]))

    good = _arrow_ipc(pa.table({"a": pa.array([1, 2], pa.int64())}))
    too_many_rows = rows_only(10_000_001)
    nulls = _arrow_ipc(pa.table({"n": pa.nulls(2_000_000)}))  # 2e6 values in a few bytes
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, pa.schema([("a", pa.int64())]),
                         options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(pa.table({"a": pa.array([1, 2], pa.int64())}))
    compressed = bytes(sink.getvalue().to_pybytes())
    not_arrow = b"a,b\n1,2\n"  # CSV where an Arrow IPC file should be
    absent_sha = hashlib.sha256(b"never attached").hexdigest()
    # A good Arrow file stored under a name that is not its digest (§10.1, reason digest).
    swapped = _arrow_ipc(pa.table({"a": pa.array([3, 4], pa.int64())}))
    swapped_sha = hashlib.sha256(b"another table's content").hexdigest()
    chart_rows = rows_only(1_000_001)
    chart_ok = _arrow_ipc(pa.table({"x": pa.array([0.0, 1.0])}))
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in (
        ("good", good), ("rows", too_many_rows), ("values", nulls),
        ("compressed", compressed), ("not-arrow", not_arrow), ("chart-rows", chart_rows),
        ("chart-ok", chart_ok))}
    spec = '{"mark": "line", "data": {"name": "table"}}'
    seg = Segment(encode_file_header(1, 3))
    seg.frame([segment_record()], 0)
    seg.frame([(2, run_body())], 1)
    seg.frame([
        (7, {"key": "good", "sha256": sha["good"], "rows": 2, "time": T0}),
        (7, {"key": "rows", "sha256": sha["rows"], "rows": 10_000_001, "time": T0}),
        (7, {"key": "values", "sha256": sha["values"], "rows": 2_000_000, "time": T0}),
        (7, {"key": "compressed", "sha256": sha["compressed"], "rows": 2, "time": T0}),
        (6, {"key": "mixed", "row": {"a": 1}, "time": T0}),
        (7, {"key": "mixed", "sha256": sha["not-arrow"], "rows": 1, "time": T0}),
        (7, {"key": "absent", "sha256": absent_sha, "rows": 1, "time": T0}),
        (7, {"key": "swapped", "sha256": swapped_sha, "rows": 2, "time": T0}),
        (14, {"key": "big", "sha256": sha["chart-rows"], "rows": 1_000_001, "spec": spec,
              "kind": "custom", "time": T0}),
        (14, {"key": "fine", "sha256": sha["chart-ok"], "rows": 2, "spec": spec,
              "kind": "custom", "time": T0}),
    ], 2)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], 12)
    data, facts = case12(seg, section="§10.4", version=[1, 3], fmt=SEGMENT_1_3, verify_exit=1,
                  description=(
        "Eight tables and two charts whose attached files (in 'attached', but for one) "
        "are read under §10.4's limits. 'good' (a: 1, 2) reads. Each other file breaks one "
        "rule, and costs only its own table or chart, reported in 'unreadable' with the "
        "record kind, key, file and the rule's reason: 'rows' has 10,000,001 rows and no "
        "column (rows); 'values' a null column of 2,000,000 rows in a few hundred bytes "
        "(values: over 1,000,000 + 8 x its size); 'compressed' lz4 body compression "
        "(format); 'mixed' a row record and then a CSV file, not Arrow IPC (format: the "
        "whole table, its readable row piece too); 'absent' names a file the run does not "
        "have (absent); 'swapped' a good Arrow file stored under a name that is not its "
        "SHA-256 (digest; 'attached' holds it under that name); chart 'big' 1,000,001 "
        "rows and no column (rows, over a chart's bound). Chart 'fine' reads. Not "
        "findings of reading: findings are empty; verify "
        "exits 1 for the MissingFile of 'absent' and the FileMismatch of 'swapped', and "
        "notes the others as UnreadableFile."),
        attached={k: v for k, v in (("good", good), ("rows", too_many_rows),
                                    ("values", nulls), ("compressed", compressed),
                                    ("not-arrow", not_arrow), ("chart-rows", chart_rows),
                                    ("chart-ok", chart_ok))},
        expected=state14(
            tables={"good": [col("a", "int64", [1, 2])]},
            metrics={"good": {"a": [1, 2]}},
            charts={"fine": {"mark": "line", "data": {"values": [{"x": 0.0}, {"x": 1.0}]}}},
            unreadable=[unreadable("table", "rows", sha["rows"], "rows"),
                        unreadable("table", "values", sha["values"], "values"),
                        unreadable("table", "compressed", sha["compressed"], "format"),
                        unreadable("table", "mixed", sha["not-arrow"], "format"),
                        unreadable("table", "absent", absent_sha, "absent"),
                        unreadable("table", "swapped", swapped_sha, "digest"),
                        unreadable("chart", "big", sha["chart-rows"], "rows")]))
    facts["attached"][swapped_sha] = swapped.hex()
    return data, facts


# -- run directories: several segments, names taken from the directory


def run_dir_case(segments: list[Segment], *, section: str, description: str,
                 expected: dict[str, Any], torn: dict[int, int] | None = None,
                 verify_exit: int | None = None, attached: dict[str, bytes] | None = None,
                 minor: int = 2, indexes: list[int] | None = None,
                 other: dict[str, bytes] | None = None
                 ) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A whole run directory: log/<index>.flseg per segment (and files/ when attached).
    ``indexes``: the segments' indexes, when not 0, 1, ...; ``other``: more files of the
    run directory by path (a prune mark)."""
    numbered = list(zip(indexes or range(len(segments)), segments, strict=True))
    files = {f"log/{i:08d}.flseg": bytes(seg.data) for i, seg in numbered}
    files.update(other or {})
    for content in (attached or {}).values():
        sha = hashlib.sha256(content).hexdigest()
        files[f"files/sha256/{sha[:2]}/{sha[2:]}"] = content
    torn = torn or {}
    facts = {
        "format": RUN_DIR_1_2.replace("1.2", f"1.{minor}"), "section": section,
        "description": description,
        "segments": [{"index": i, "path": f"log/{i:08d}.flseg", "file_size": len(seg.data),
                      "version": [1, minor] if len(seg.data) >= FILE_HEADER_SIZE else None,
                      "frames": seg.frames, "records": seg.records,
                      "torn": i in torn, "torn_offset": torn.get(i)}
                     for i, seg in numbered],
        "state": expected,
        "verify_exit": (1 if expected["findings"] else 0) if verify_exit is None
        else verify_exit,
    }
    return files, facts


def next_segment(index: int, first_seq: int, minor: int = 2) -> Segment:
    seg = Segment(encode_file_header(1, minor))
    seg.frame([(1, {"run": RUN_ID, "index": index, "writer": {}})], first_seq)
    return seg


def resume_config() -> tuple[dict[str, bytes], dict[str, Any]]:
    first, seq = started(name="first", config={"a": 1, "opt": {"lr": 0.1}},
                         tags={"smoke": None})
    first.frame([(3, history_body([0, 1], [T0, T0 + 1.0],
                                  {"loss": ("f64", None, [0.5, 0.4])}))], seq)
    first.frame([(12, {"exit_code": 0, "time": T0 + 2.0})], seq + 1)
    second = next_segment(1, seq + 2)
    second.frame([(2, run_body(name="second", config={"a": 3, "b": 2},
                               tags={"owner": "ann"}, resumed=True, host="host1",
                               pid=2))], seq + 3)
    second.frame([(3, history_body([2], [T0 + 10.0],
                                   {"loss": ("f64", None, [0.3])})),
                  (9, {"set": {"b": 5}})], seq + 4)
    second.frame([(12, {"exit_code": 0, "time": T0 + 11.0})], seq + 6)
    return run_dir_case([first, second], section="§11.1, §11.7, §3.2", description=(
        "A run written, finished, then resumed by a second writer (segment 1) that "
        "finished too. The resumed writer's run record holds only what its init was "
        "given (config a=3, b=2; tag owner; name 'second'): config and tags apply from "
        "every run record, so config is {a: 3, opt: {lr: 0.1}, b: 5} and tags {smoke: "
        "nil, owner: 'ann'}; name is the last run record's; id, project, created and host "
        "the first's. The last finish stands: finished."), expected=state(
            name="second", config={"a": 3, "opt": {"lr": 0.1}, "b": 5},
            tags={"smoke": None, "owner": "ann"}, summary={"loss": 0.3},
            metrics={"loss": [0.5, 0.4, 0.3]},
            history=[col("_step", "int64", [0, 1, 2]),
                     col("_timestamp", "float64", [T0, T0 + 1.0, T0 + 10.0]),
                     col("loss", "float64", [0.5, 0.4, 0.3])]))


def resume_crashed() -> tuple[dict[str, bytes], dict[str, Any]]:
    first, seq = started()
    first.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], seq)
    first.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 1)
    second = next_segment(1, seq + 2)
    second.frame([(2, run_body(resumed=True))], seq + 3)
    second.frame([(4, {"key": "loss", "value": 0.25, "time": T0 + 5.0})], seq + 4)
    torn_at, _ = second.frame([(4, {"key": "loss", "value": 0.125, "time": T0 + 6.0})],
                                 seq + 5, intact=False)
    del second.data[torn_at + 28 + 3:]  # the writer was killed inside this frame
    return run_dir_case([first, second], section="§11.7, §5 rule 2",
                        torn={1: torn_at}, description=(
        f"A finished run resumed by a writer that was killed (SIGKILL) mid-frame: segment "
        f"1 ends in a torn tail at {torn_at} (not corruption: a note, no finding). The "
        f"run record in segment 1 comes after the finish record, so that finish no longer "
        f"stands: with no writer holding the lock the run is crashed, exit_code nil."),
        expected=state(status="crashed", exit_code=None, summary={"loss": 0.25},
                       metrics={"loss": [0.5, 0.25]}))


def no_run_record() -> tuple[dict[str, bytes], dict[str, Any]]:
    seg = Segment(encode_file_header(1, 2))
    seg.frame([segment_record()], 0)
    damaged, data = seg.frame([(2, run_body(name="lost"))], 1, intact=False)
    seg.data[damaged + len(data) - 1] ^= 0x01  # its payload_crc no longer matches
    after, _ = seg.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], 2)
    seg.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], 3)
    return run_dir_case([seg], section="§11.1, §5 rule 5", description=(
        f"The only run record's frame (at {damaged}) fails its payload_crc: "
        f"ChecksumMismatch, and a SequenceError at {after}. With no readable run record, "
        f"id and name are the run directory's name ('no-run-record') and project its "
        f"parent's ('run'); created and host are nil. Config and tags are empty."),
        expected=state(id="no-run-record", project="run", name="no-run-record",
                       created=None, host=None, summary={"loss": 0.5},
                       metrics={"loss": 0.5}, findings=[
                           finding("ChecksumMismatch", damaged,
                                   skipped=(damaged, damaged + len(data))),
                           finding("SequenceError", after)]))


def header_only_segment() -> tuple[dict[str, bytes], dict[str, Any]]:
    first, seq = started()
    first.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], seq)
    first.frame([(12, {"exit_code": 0, "time": T0 + 1.0})], seq + 1)
    second = Segment(encode_file_header(1, 2))  # the header and nothing else
    return run_dir_case([first, second], section="§3.1", description=(
        "Segment 1 is only its 16-byte file header: a resuming writer stopped after "
        "creating it, before its first frame. It is an empty segment, not corruption: no "
        "finding, verify exits 0 with an EmptySegment note. No run record follows the "
        "finish record, so the run is finished."), expected=state(
            summary={"loss": 0.5}, metrics={"loss": 0.5}))


def killed_then_resumed() -> tuple[dict[str, bytes], dict[str, Any]]:
    """SPEC.md §5 rule 2, §3.2, §11.7: a torn tail in a segment that is not the last."""
    first = Segment(encode_file_header(1, 3))
    first.frame([segment_record()], 0)
    first.frame([(2, run_body(name="first", config={"a": 1}))], 1)
    first.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], 2)
    torn_at, _ = first.frame([(4, {"key": "loss", "value": 0.25, "time": T0 + 1.0})], 3,
                             intact=False)
    del first.data[torn_at + 28 + 5:]  # the first writer was killed inside this frame
    second = next_segment(1, 3, minor=3)  # the resumed writer continues at seq 3
    second.frame([(2, run_body(name="second", config={"b": 2}, resumed=True, pid=2))], 4)
    second.frame([(4, {"key": "loss", "value": 0.125, "time": T0 + 10.0})], 5)
    second.frame([(12, {"exit_code": 0, "time": T0 + 11.0})], 6)
    return run_dir_case([first, second], section="§5 rule 2, §3.2, §11.7", minor=3,
                        torn={0: torn_at}, description=(
        f"A writer killed (SIGKILL) mid-frame: segment 0 ends in a torn tail at {torn_at} "
        f"(the record that frame held, loss 0.25, is lost; seq 3 was never read). A second "
        f"writer resumed the run in segment 1, its sequence numbers going on from the "
        f"last record read (its segment record is seq 3), and finished. A torn tail in a "
        f"segment that is not the last is a note (TruncatedRecord), not a finding: no "
        f"finding, verify exits 0. The run record of segment 1 follows no finish; the "
        f"last finish stands: finished."), expected=state13(
            name="second", config={"a": 1, "b": 2}, summary={"loss": 0.125},
            metrics={"loss": [0.5, 0.125]}))


def torn_endings() -> tuple[dict[str, bytes], dict[str, Any]]:
    """SPEC.md §3.1 rule 1, §5 rule 2, §5.1: each way a segment can end torn."""
    zeros = Segment(encode_file_header(1, 3))
    zeros.frame([segment_record()], 0)
    zeros.frame([(2, run_body())], 1)
    zeros.frame([(4, {"key": "loss", "value": 0.5, "time": T0})], 2)
    zeros_at = len(zeros.data)
    zeros.data += bytes(64)  # the OS extended the file; its data never arrived
    garbage = next_segment(1, 3, minor=3)
    garbage.frame([(2, run_body(resumed=True, pid=2))], 4)
    garbage.frame([(4, {"key": "loss", "value": 0.25, "time": T0 + 1.0})], 5)
    garbage_at = len(garbage.data)
    garbage.data += bytes(range(1, 41)) + b"\xd9FL"  # 40 damaged bytes, a sync begun
    sync_at = len(garbage.data) - 3
    short = next_segment(2, 6, minor=3)
    short.frame([(2, run_body(resumed=True, pid=3))], 7)
    short.frame([(12, {"exit_code": 0, "time": T0 + 2.0})], 8)
    short_at = len(short.data)
    short.data += b"\xd9FLR" + bytes(10)  # a frame header being written
    creating = Segment(encode_file_header(1, 3)[:10])  # a file header being written
    return run_dir_case([zeros, garbage, short, creating], minor=3,
                        section="§3.1 rule 1, §5 rule 2, §5.1",
                        torn={0: zeros_at, 1: sync_at, 2: short_at, 3: 0}, description=(
        f"Four segments, each ending torn. Segment 0 ends in 64 zero bytes at {zeros_at} "
        f"(a file the OS extended, its data never written): torn there. Segment 1 ends in "
        f"40 damaged bytes at {garbage_at} and then the first 3 bytes of a sync marker: "
        f"CorruptRecord at {garbage_at}, resynchronised to the partial marker at "
        f"{sync_at} (skipped {garbage_at}..{sync_at}), which is a torn tail. Segment 2 "
        f"ends in a sync marker and fewer than 28 bytes at {short_at}: torn. Segment 3 "
        f"is 10 bytes of a file header: an empty segment being created, torn at 0, no "
        f"records. Torn tails are notes; the only finding is segment 1's CorruptRecord. "
        f"The finish of segment 2 stands: finished."), expected=state13(
            summary={"loss": 0.25}, metrics={"loss": [0.5, 0.25]},
            findings=[finding("CorruptRecord", garbage_at, segment=1,
                              skipped=(garbage_at, sync_at))]))


def _prune_mark(next_seq: int, segments: int) -> bytes:
    """pruned.json as ``flightlog prune`` writes it (SPEC.md §18.7): json.dump's form."""
    return json.dumps({"project": PROJECT, "id": RUN_ID, "next_seq": next_seq,
                       "segments": segments, "receipts": ["ab" * 32]}).encode()


def pruned_run() -> tuple[dict[str, bytes], dict[str, Any]]:
    """SPEC.md §18.7: segments a receipt acknowledged, deleted by flightlog prune."""
    notes = b"kept notes\n"
    kept = next_segment(2, 9, minor=3)  # segments 0 and 1 held records 0..8
    kept.frame([(4, {"key": "loss", "value": 0.125, "time": T0 + 9.0}),
                (11, {"name": "notes.txt", "sha256": hashlib.sha256(notes).hexdigest(),
                      "size": len(notes), "time": T0 + 9.0})], 10)
    last = next_segment(3, 12, minor=3)
    last.frame([(12, {"exit_code": 0, "time": T0 + 10.0})], 13)
    return run_dir_case([kept, last], indexes=[2, 3], minor=3, section="§18.7, §11.1",
                        other={"pruned.json": _prune_mark(9, 2)},
                        attached={"notes": notes}, description=(
        "A run of which flightlog prune deleted segments 0 and 1 (records 0..8, the run "
        "record among them) after a receipt acknowledged them, leaving pruned.json "
        "(segments 2, next_seq 9). Segment 2 starts at seq 9: not a SequenceError, the "
        "records before it were pruned; segments 0 and 1 are not MissingSegment. Not a "
        "finding: the state's 'pruned' says what was pruned. The state is that of the "
        "records kept; with no run record readable, id and project are the mark's "
        "(not the directory's), name the id, created and host nil. verify exits 0 with a "
        "Pruned note."), expected=state14(
            id=RUN_ID, project=PROJECT, name=RUN_ID, created=None, host=None,
            summary={"loss": 0.125}, metrics={"loss": 0.125},
            files={"notes.txt": {"sha256": hashlib.sha256(notes).hexdigest(),
                                 "size": len(notes), "time": T0 + 9.0}},
            pruned={"segments": 2, "next_seq": 9}))


def pruned_interrupted() -> tuple[dict[str, bytes], dict[str, Any]]:
    """SPEC.md §18.7: a prune killed after it deleted segment 0 and the attached files,
    before segment 1: a segment the mark lists is still there."""
    gone = b"pruned model\n"
    gone_sha = hashlib.sha256(gone).hexdigest()
    listed = next_segment(1, 4, minor=3)  # segment 0 held records 0..3
    listed.frame([(11, {"name": "model.bin", "sha256": gone_sha, "size": len(gone),
                        "time": T0 + 4.0}),
                  (4, {"key": "loss", "value": 0.5, "time": T0 + 4.0})], 5)
    last = next_segment(2, 7, minor=3)
    last.frame([(4, {"key": "loss", "value": 0.25, "time": T0 + 5.0})], 8)
    last.frame([(12, {"exit_code": 0, "time": T0 + 6.0})], 9)
    return run_dir_case([listed, last], indexes=[1, 2], minor=3, section="§18.7",
                        other={"pruned.json": _prune_mark(7, 2)}, description=(
        "flightlog prune was killed part way: its mark (segments 2, next_seq 7) is "
        "written, segment 0 and the attached file named only by segment 1's records are "
        "deleted, segment 1 is not. Segment 1 is read as any other: its first frame "
        "starts at seq 4, not above the mark's next_seq, so it is no SequenceError; its "
        "file record counts, though its content is gone (pruned, not MissingFile: verify "
        "notes it and exits 0)."), expected=state14(
            id=RUN_ID, project=PROJECT, name=RUN_ID, created=None, host=None,
            summary={"loss": 0.25}, metrics={"loss": [0.5, 0.25]},
            files={"model.bin": {"sha256": gone_sha, "size": len(gone), "time": T0 + 4.0}},
            pruned={"segments": 2, "next_seq": 7}))


CASES_1_2 = {
    "header/bad-crc": bad_file_header,
    "frame/corrupt-payload": corrupt_payload,
    "frame/resync-skipped": resync_skipped_range,
    "frame/oversized-at-end": oversized_at_end,
    "history/column-types": history_column_types,
    "record/get-metrics": get_metrics_case,
    "record/bad-sha256-name": bad_attached_names,
    "record/bad-body": bad_record_bodies,
    "record/config-tags": config_and_tags,
    "record/arrow-chart-media": arrow_chart_media,
    "history/histogram-kinds": histogram_kinds,
    "record/what-ran": what_ran,
    "history/histogram-rules": histogram_rules,
    "record/bad-history": bad_history,
    "record/code-unsafe-path": code_unsafe_path,
    "frame/sequence-overlap": sequence_overlap,
    "record/table-versions": table_versions,
    "record/chart-specs": chart_specs,
    "record/table-limits": table_limits,
}

RUN_CASES = {
    "run/resume-config": resume_config,
    "run/resume-crashed": resume_crashed,
    "run/no-run-record": no_run_record,
    "run/header-only-segment": header_only_segment,
    "run/killed-then-resumed": killed_then_resumed,
    "run/torn-endings": torn_endings,
    "run/pruned": pruned_run,
    "run/pruned-interrupted": pruned_interrupted,
}


CASES = {
    "frame/ok-3-records": ok_3_records,
    "frame/torn-tail": torn_tail,
    "frame/bad-length-crc": bad_length_crc,
    "frame/bad-payload-crc": bad_payload_crc,
    "frame/unknown-type": unknown_type,
    "frame/zstd-payload": zstd_payload,
    "header/future-major": future_major,
    "history/chunk": history_chunk,
    "record/chart-media": chart_and_media,
}


def build_vectors() -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every segment-file case: ``<name>.bin`` and ``<name>.json``."""
    made = {name: make() for name, make in CASES.items()}
    made.update((name, make()) for name, make in CASES_1_2.items())
    return made


def build_run_vectors() -> dict[str, tuple[dict[str, bytes], dict[str, Any]]]:
    """Every run-directory case: the files of ``<name>/`` and ``<name>.json``."""
    return {name: make() for name, make in RUN_CASES.items()}


def vector_files() -> dict[str, bytes]:
    """Every file of the segment and run vector set, by path relative to this directory
    (SHA256SUMS pins exactly these)."""
    files: dict[str, bytes] = {}
    for name, (data, facts) in build_vectors().items():
        files[f"{name}.bin"] = data
        files[f"{name}.json"] = dump_json(facts).encode()
    for name, (tree, facts) in build_run_vectors().items():
        files.update((f"{name}/{path}", content) for path, content in tree.items())
        files[f"{name}.json"] = dump_json(facts).encode()
    return files


def bundle_files() -> dict[str, bytes]:
    """The bundle and receipt vectors of SPEC.md §18.8 (their bytes are assembled by
    ``generate_bundles.py``, kept apart because its test pins that set on its own) with
    their ``bundle/SHA256SUMS``: this program writes them too, so that it is the one place
    that makes vectors."""
    spec = importlib.util.spec_from_file_location("fl_bundle_vectors",
                                                  HERE / "generate_bundles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files: dict[str, bytes] = module.build()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {Path(name).name}\n"
                   for name, data in files.items())
    return {**files, "bundle/SHA256SUMS": sums.encode()}


def dump_json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing vectors (never for a released one)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    files = {**vector_files(), **bundle_files()}
    # A vector already there with the same bytes is left alone; one whose bytes would
    # change is refused: a released vector never changes.
    existing = [args.out / name for name, content in files.items()
                if (args.out / name).exists() and (args.out / name).read_bytes() != content]
    if existing and not args.force:
        print("generate.py: refusing to overwrite frozen vectors (a released vector never "
              "changes; add a new case instead):", file=sys.stderr)
        for path in existing:
            print(f"  {path}", file=sys.stderr)
        return 1
    for name, content in files.items():
        target = args.out / name
        if target.exists() and target.read_bytes() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        print(f"wrote {target} ({len(content)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
