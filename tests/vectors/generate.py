"""Write the frozen test vectors of SPEC.md §16 (run once; vectors never change).

    python tests/vectors/generate.py            # refuses to overwrite existing vectors
    python tests/vectors/generate.py --force    # only for a vector not yet released
    python tests/vectors/generate.py --out DIR  # write somewhere else (tests use this)

Each case is ``<section>/<case>.bin`` (a segment file) and ``<case>.json`` beside it. The
bytes are assembled by hand: file header, frame headers and payloads come from the
library's lowest-level encoders (``encode_file_header``, ``encode_frame``,
``pack_record``, ``pack_payload``) fed explicit values, and history columns are
byte-shuffled here with :mod:`struct`, not by the library's column code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

from flightlog.format._compression import pack_payload
from flightlog.format._constants import FLAG_ZSTD
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
    return {name: make() for name, make in CASES.items()}


def dump_json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing vectors (never for a released one)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    vectors = build_vectors()
    targets = [args.out / f"{name}{ext}" for name in vectors for ext in (".bin", ".json")]
    existing = [t for t in targets if t.exists()]
    if existing and not args.force:
        print("generate.py: refusing to overwrite frozen vectors (a released vector never "
              "changes; add a new case instead):", file=sys.stderr)
        for path in existing:
            print(f"  {path}", file=sys.stderr)
        return 1
    for name, (data, facts) in vectors.items():
        base = args.out / name
        base.parent.mkdir(parents=True, exist_ok=True)
        base.with_name(base.name + ".bin").write_bytes(data)
        base.with_name(base.name + ".json").write_text(dump_json(facts), encoding="utf-8")
        print(f"wrote {base}.bin ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
