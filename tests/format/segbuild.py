"""Hand-assembled segment files for tests (SPEC.md §3, §4).

Everything here builds bytes with the library's low-level encoders (``encode_file_header``,
``encode_frame``, ``pack_record``, ``pack_payload``) or by hand with :mod:`struct`, so
a test controls every frame boundary, sequence number and flag.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightlog.format._compression import pack_payload
from flightlog.format._framing import encode_frame
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.segment import encode_file_header

RUN_ID = "testrun0"
T0 = 1_700_000_000.0

# SPEC.md §4.1, field offsets inside a frame header.
SYNC_AT, HCRC_AT, LEN_AT, SEQ_AT, COUNT_AT, FLAGS_AT, RESERVED_AT, PCRC_AT = (
    0, 4, 8, 12, 20, 22, 23, 24)
HEADER = 28
FILE_HEADER = 16

Rec = tuple[int, dict[str, Any]]


@dataclass
class BuiltFrame:
    offset: int
    first_seq: int
    records: list[Rec]
    flags: int
    payload_len: int

    @property
    def end(self) -> int:
        return self.offset + HEADER + self.payload_len

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER


@dataclass
class Built:
    data: bytes = b""
    frames: list[BuiltFrame] = field(default_factory=list)

    def add_raw(self, raw: bytes) -> None:
        self.data += raw

    def records(self) -> list[tuple[int, int, dict[str, Any]]]:
        """(seq, type, body) of every record, in order."""
        return [(f.first_seq + i, t, b) for f in self.frames for i, (t, b) in
                enumerate(f.records)]

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path


def segment_record(index: int = 0, run: str = RUN_ID) -> Rec:
    return (1, {"run": run, "index": index, "writer": {"name": "tests"}})


def frame_bytes(records: list[Rec], first_seq: int, *, compress: bool = False,
                flags: int | None = None) -> tuple[bytes, int, int]:
    """(frame bytes, flags, payload_len). ``compress`` asks for zstd and checks it was used."""
    raw = b"".join(pack_record(t, b) for t, b in records)
    if compress:
        stored, used = pack_payload(raw)
        assert used == 1, "payload did not compress; make it more repetitive"
    else:
        stored, used = raw, 0
    if flags is not None:
        used = flags
    return encode_frame(stored, first_seq=first_seq, record_count=len(records),
                        flags=used), used, len(stored)


def build_segment(groups: list[list[Rec]], *, first_seq: int = 0,
                  compress: set[int] | None = None, header: bytes | None = None) -> Built:
    """A segment whose frame ``i`` holds ``groups[i]``; frames listed in ``compress``
    are zstd-compressed. Sequence numbers are gap-free from ``first_seq``."""
    built = Built(encode_file_header() if header is None else header)
    seq = first_seq
    for i, group in enumerate(groups):
        data, flags, plen = frame_bytes(group, seq, compress=i in (compress or set()))
        built.frames.append(BuiltFrame(len(built.data), seq, group, flags, plen))
        built.data += data
        seq += len(group)
    return built


def append_frame(built: Built, records: list[Rec], first_seq: int, *,
                 compress: bool = False) -> BuiltFrame:
    data, flags, plen = frame_bytes(records, first_seq, compress=compress)
    frame = BuiltFrame(len(built.data), first_seq, records, flags, plen)
    built.frames.append(frame)
    built.data += data
    return frame


def raw_frame(payload: bytes, *, first_seq: int, record_count: int, flags: int = 0) -> bytes:
    """A frame around any payload bytes (valid CRCs), for payload-level corruption."""
    return encode_frame(payload, first_seq=first_seq, record_count=record_count, flags=flags)


def standard_groups() -> list[list[Rec]]:
    """Five frames (seq 0 | 1 | 2-3 | 4-5 | 6): segment record, metrics, summary and
    config (repetitive enough to compress), finish."""
    return [
        [segment_record()],
        [(4, {"key": "loss", "value": 0.5, "time": T0})],
        [(4, {"key": "loss", "value": 0.25, "time": T0 + 1}),
         (4, {"key": "acc", "value": 1, "time": T0 + 1})],
        [(8, {"set": {"best": 0.25, "note": "same words " * 8}}), (9, {"set": {"lr": 0.1}})],
        [(12, {"exit_code": 0, "time": T0 + 2})],
    ]


def multi_frame_segment() -> Built:
    """A small segment of several raw and zstd frames and all common record types."""
    groups = [
        [segment_record()],
        [(2, {"id": RUN_ID, "project": "p", "name": "n", "created": T0,
              "config": {"alpha": 0.1}, "tags": {"a": None}, "resumed": False,
              "host": "h", "pid": 1})],
        [(4, {"key": "m", "value": float(i), "time": T0 + i}) for i in range(12)],
        [(5, {"key": "xs", "values": [1.5] * 40, "time": T0}),
         (6, {"key": "tbl", "row": {"a": 1, "b": "x"}, "time": T0})],
        [(10, {"set": {"t": "v"}}), (13, {"records": 3, "reason": "disk"})],
        [(11, {"name": "f.txt", "sha256": "ab" * 32, "size": 5, "time": T0})],
        [(12, {"exit_code": 0, "time": T0 + 20})],
    ]
    return build_segment(groups, compress={2, 3})


def header_fields(data: bytes, offset: int) -> tuple[Any, ...]:
    """(sync, hcrc, len, first_seq, count, flags, reserved, pcrc) of a frame header."""
    return struct.unpack_from("<4sIIQHBBI", data, offset)


def make_run_dir(root: Path, segments: list[bytes | Path], name: str = "run") -> Path:
    """A run directory ``root/name`` whose ``log/`` holds these segment files."""
    run = root / name
    log = run / "log"
    log.mkdir(parents=True, exist_ok=True)
    for index, seg in enumerate(segments):
        target = log / f"{index:08d}.flseg"
        if isinstance(seg, Path):
            shutil.copyfile(seg, target)
        else:
            target.write_bytes(seg)
    return run
