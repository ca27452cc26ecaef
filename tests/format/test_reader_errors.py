"""One test per error path of the reader (SPEC.md §3.1, §4, §5, §6, §7).

Every damaged segment here is the same five frames (seq 0 | 1 | 2-3 | 4-5 | 6) with the
third frame damaged, so each test shows both halves of §5: a strict reader raises the
right error class at the exact offset, and a salvaging reader records a finding there and
still returns every intact frame before AND after the damage.
"""

from __future__ import annotations

import struct
from pathlib import Path

import msgpack
import pytest
import zstandard
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.reader import RunLogReader
from mutation import (
    append,
    fix_file_header_crc,
    fix_header_crc,
    increment_byte,
    set_byte,
    set_u8,
    set_u16,
    set_u32,
    shrink,
)
from segbuild import (
    COUNT_AT,
    FLAGS_AT,
    HCRC_AT,
    LEN_AT,
    RESERVED_AT,
    Built,
    BuiltFrame,
    append_frame,
    build_segment,
    make_run_dir,
    raw_frame,
    standard_groups,
)

from flightlog import FlightlogWarning, open_run
from flightlog.errors import (
    BadFileHeader,
    ChecksumMismatch,
    CorruptPayload,
    CorruptRecord,
    FormatError,
    RecordTooLarge,
    SequenceError,
    UnsupportedVersion,
)

ALL_SEQS = [0, 1, 2, 3, 4, 5, 6]
WITHOUT_FRAME_2 = [0, 1, 4, 5, 6]


@pytest.fixture
def built() -> Built:
    return build_segment(standard_groups(), compress={3})


@pytest.fixture
def run(tmp_path: Path, built: Built) -> Path:
    return make_run_dir(tmp_path, [built.data])


def seg_path(run: Path, index: int = 0) -> Path:
    return run / "log" / f"{index:08d}.flseg"


def expect_strict(run: Path, cls: type[FormatError], offset: int, index: int = 0) -> None:
    with pytest.raises(cls) as info:
        RunLogReader(run, strict=True).poll()
    assert type(info.value) is cls, info.value
    assert info.value.offset == offset
    assert info.value.path == str(seg_path(run, index))


def salvage(run: Path) -> tuple[list[int], list[tuple[str, int | None]], RunLogReader]:
    reader = RunLogReader(run)
    records = reader.poll()
    for finding in reader.findings:
        assert finding.path == str(seg_path(run, 0))
        assert finding.error.offset == finding.offset
    return ([r.seq for r in records], [(f.kind, f.offset) for f in reader.findings], reader)


def expect_frame_2_lost(run: Path, built: Built, kind: str) -> None:
    """Salvage: the finding at frame 2, a sequence gap at frame 3, every other record."""
    seqs, findings, reader = salvage(run)
    assert seqs == WITHOUT_FRAME_2
    assert findings == [(kind, built.frames[2].offset),
                        ("SequenceError", built.frames[3].offset)]
    assert reader.torn_tails() == []
    records = RunLogReader(run).poll()
    want = {s: (t, b) for s, t, b in built.records()}
    assert [(r.type, r.body) for r in records] == [want[s] for s in WITHOUT_FRAME_2]


def with_bad_frame(tmp_path: Path, payload: bytes, *, flags: int = 0,
                   record_count: int = 2) -> tuple[Path, Built]:
    """The standard segment with frame 2 replaced by a frame around ``payload`` whose
    CRCs are valid (so only payload decoding can fail)."""
    groups = standard_groups()
    built = build_segment(groups[:2])
    bad = raw_frame(payload, first_seq=2, record_count=record_count, flags=flags)
    built.frames.append(BuiltFrame(len(built.data), 2, groups[2], flags, len(payload)))
    built.data += bad
    append_frame(built, groups[3], 4, compress=True)
    append_frame(built, groups[4], 6)
    return make_run_dir(tmp_path, [built.data], name="bad"), built


GOOD_RECORD = pack_record(4, {"key": "acc", "value": 1, "time": 0.0})


# ---------------------------------------------------------------- torn tails (§5 rule 2)


def test_intact_segment_reads_every_record(run: Path, built: Built) -> None:
    seqs, findings, reader = salvage(run)
    assert seqs == ALL_SEQS and findings == [] and reader.torn_tails() == []
    records = RunLogReader(run, strict=True).poll()
    assert [(r.seq, r.type, r.body) for r in records] == built.records()
    assert [r.offset for r in records] == [f.offset for f in built.frames
                                           for _ in f.records]


@pytest.mark.parametrize("keep", [1, 4, 27])
def test_torn_tail_is_not_corruption(run: Path, built: Built, keep: int) -> None:
    # The last frame's header is not all there (< 28 bytes).
    last = built.frames[-1]
    shrink(seg_path(run), len(built.data) - last.offset - keep)
    seqs, findings, reader = salvage(run)
    assert seqs == [0, 1, 2, 3, 4, 5]
    assert findings == []
    assert reader.torn_tails() == [(str(seg_path(run)), last.offset)]
    assert len(RunLogReader(run, strict=True).poll()) == 6


@pytest.mark.parametrize("missing", [1, 5])
def test_torn_payload_is_not_corruption(run: Path, built: Built, missing: int) -> None:
    # The header is whole and valid, the payload is short.
    shrink(seg_path(run), missing)
    seqs, findings, reader = salvage(run)
    assert seqs == [0, 1, 2, 3, 4, 5]
    assert findings == []
    assert reader.torn_tails() == [(str(seg_path(run)), built.frames[-1].offset)]


def test_torn_tail_of_a_compressed_frame(tmp_path: Path) -> None:
    built = build_segment(standard_groups()[:4], compress={3})
    run = make_run_dir(tmp_path, [built.data])
    shrink(seg_path(run), 3)
    seqs, findings, reader = salvage(run)
    assert seqs == [0, 1, 2, 3] and findings == []
    assert reader.torn_tails() == [(str(seg_path(run)), built.frames[3].offset)]


@pytest.mark.parametrize("zeros", [1, 28, 29, 4096])
def test_all_zero_tail_is_torn_not_corruption(run: Path, built: Built, zeros: int) -> None:
    append(seg_path(run), bytes(zeros))
    seqs, findings, reader = salvage(run)
    assert seqs == ALL_SEQS and findings == []
    assert reader.torn_tails() == [(str(seg_path(run)), len(built.data))]
    assert len(RunLogReader(run, strict=True).poll()) == 7


def test_short_nonzero_tail_is_torn(run: Path, built: Built) -> None:
    append(seg_path(run), b"\x01" * 27)
    seqs, findings, reader = salvage(run)
    assert seqs == ALL_SEQS and findings == []
    assert reader.torn_tails() == [(str(seg_path(run)), len(built.data))]


def test_nonzero_garbage_tail_of_28_bytes_is_corruption(run: Path, built: Built) -> None:
    append(seg_path(run), b"\x00" * 27 + b"\x01")
    expect_strict(run, CorruptRecord, len(built.data))
    seqs, findings, _ = salvage(run)
    assert seqs == ALL_SEQS
    assert findings == [("CorruptRecord", len(built.data))]


@pytest.mark.parametrize("size", [1, 8, 15])
def test_torn_file_header_is_an_empty_segment(tmp_path: Path, built: Built, size: int
                                             ) -> None:
    run = make_run_dir(tmp_path, [built.data[:size]])
    seqs, findings, reader = salvage(run)
    assert seqs == [] and findings == []
    assert reader.torn_tails() == [(str(seg_path(run)), 0)]
    assert RunLogReader(run, strict=True).poll() == []


def test_torn_tail_of_a_closed_segment_is_skipped_and_the_next_segment_read(
        tmp_path: Path) -> None:
    first = build_segment(standard_groups()[:3])
    torn = first.data + raw_frame(b"\x92\x04\x80", first_seq=4, record_count=1)[:20]
    second = build_segment([[(1, {"run": "testrun0", "index": 1, "writer": {}})],
                            [(12, {"exit_code": 0, "time": 1.0})]], first_seq=4)
    run = make_run_dir(tmp_path, [torn, second.data])
    reader = RunLogReader(run)
    records = reader.poll()
    assert [(r.seq, r.segment) for r in records] == [(0, 0), (1, 0), (2, 0), (3, 0),
                                                    (4, 1), (5, 1)]
    assert reader.findings == []
    assert reader.torn_tails() == [(str(seg_path(run, 0)), len(first.data))]


# ---------------------------------------------------------------- corrupt headers (§5 rules 3-4)


@pytest.mark.parametrize("index", [0, 3])
def test_bad_sync_raises_corrupt_record(run: Path, built: Built, index: int) -> None:
    increment_byte(seg_path(run), built.frames[2].offset + index)
    expect_strict(run, CorruptRecord, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptRecord")


def test_bad_header_crc_raises_corrupt_record(run: Path, built: Built) -> None:
    increment_byte(seg_path(run), built.frames[2].offset + HCRC_AT + 2, 0x10)
    expect_strict(run, CorruptRecord, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptRecord")


@pytest.mark.parametrize("delta", [1, -1, 0x80])
def test_bad_length_crc_raises_corrupt_record(run: Path, built: Built, delta: int) -> None:
    # A changed payload_len byte is caught by header_crc before the length is used.
    increment_byte(seg_path(run), built.frames[2].offset + LEN_AT, delta)
    expect_strict(run, CorruptRecord, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptRecord")


@pytest.mark.parametrize("length", [65537, 2**32 - 1])
def test_payload_len_over_64k_with_valid_crc_raises_record_too_large(
        run: Path, built: Built, length: int) -> None:
    offset = built.frames[2].offset
    set_u32(seg_path(run), offset + LEN_AT, length)
    fix_header_crc(seg_path(run), offset)
    expect_strict(run, RecordTooLarge, offset)
    expect_frame_2_lost(run, built, "RecordTooLarge")


@pytest.mark.parametrize(("field", "write", "value"), [
    ("payload_len 0", LEN_AT, 0),
    ("record_count 0", COUNT_AT, 0),
    ("reserved byte", RESERVED_AT, 1),
    ("flags bit 1", FLAGS_AT, 0x02),
    ("flags bit 7", FLAGS_AT, 0x80),
])
def test_header_constraint_violation_with_valid_crc_raises_corrupt_record(
        run: Path, built: Built, field: str, write: int, value: int) -> None:
    offset = built.frames[2].offset
    path = seg_path(run)
    if write == COUNT_AT:
        set_u16(path, offset + write, value)
    elif write == LEN_AT:
        set_u32(path, offset + write, value)
    else:
        set_u8(path, offset + write, value)
    fix_header_crc(path, offset)
    expect_strict(run, CorruptRecord, offset)
    expect_frame_2_lost(run, built, "CorruptRecord")


# ---------------------------------------------------------------- payload CRC (§5 rule 5)


def test_bad_payload_crc_raises_checksum_mismatch(run: Path, built: Built) -> None:
    frame = built.frames[2]
    increment_byte(seg_path(run), frame.payload_offset + 5)
    with pytest.raises(ChecksumMismatch) as info:
        RunLogReader(run, strict=True).poll()
    assert info.value.offset == frame.offset
    assert info.value.got != info.value.want
    expect_frame_2_lost(run, built, "ChecksumMismatch")


def test_bad_payload_crc_trusts_the_header_and_skips_exactly_the_frame(tmp_path: Path
                                                                       ) -> None:
    # Frame 2's payload carries a complete valid frame (seq 99) inside a bin field. A
    # reader that trusts the header jumps over it; one that resynchronised would find it.
    inner = raw_frame(pack_record(4, {"key": "ghost", "value": 1, "time": 0.0}),
                      first_seq=99, record_count=1)
    groups = standard_groups()
    groups[2] = [(4, {"key": "blob", "value": inner, "time": 0.0}), groups[2][1]]
    built = build_segment(groups)
    run = make_run_dir(tmp_path, [built.data])
    increment_byte(seg_path(run), built.frames[2].payload_offset + 2)  # before the blob
    seqs, findings, _ = salvage(run)
    assert seqs == WITHOUT_FRAME_2
    assert findings == [("ChecksumMismatch", built.frames[2].offset),
                        ("SequenceError", built.frames[3].offset)]


# ---------------------------------------------------------------- payloads (§5 rule 6, §6, §7)


def _zstd(data: bytes, *, content_size: bool = True) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=content_size).compress(data)


def _two_records() -> bytes:
    return GOOD_RECORD + GOOD_RECORD


@pytest.mark.parametrize("payload", [
    b"not zstd at all",
    b"\x28\xb5\x2f\xfd" + b"\x00" * 12,  # zstd magic, then garbage
], ids=["garbage", "bad-frame"])
def test_zstd_payload_that_does_not_decompress_is_corrupt(tmp_path: Path,
                                                          payload: bytes) -> None:
    run, built = with_bad_frame(tmp_path, payload, flags=1)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


def test_zstd_payload_truncated_inside_is_corrupt(tmp_path: Path) -> None:
    z = _zstd(_two_records() * 20)
    run, built = with_bad_frame(tmp_path, z[:-4], flags=1)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


def test_zstd_content_size_over_64k_is_corrupt(tmp_path: Path) -> None:
    z = _zstd(b"\x90" * 70000)
    assert len(z) < 100
    run, built = with_bad_frame(tmp_path, z, flags=1)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


def test_zstd_without_content_size_is_corrupt(tmp_path: Path) -> None:
    run, built = with_bad_frame(tmp_path, _zstd(_two_records(), content_size=False), flags=1)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


def test_zstd_payload_of_exactly_64k_is_read(tmp_path: Path) -> None:
    record = pack_record(4, {"key": "k", "value": "x" * 10, "time": 0.0})
    pad = 65536 - len(record) - len(pack_record(5, {"key": "f", "values": [], "pad": ""}))
    filler = pack_record(5, {"key": "f", "values": [], "pad": "y" * (pad - 2)})  # str16
    raw = record + filler
    assert len(raw) == 65536, len(raw)
    run, _ = with_bad_frame(tmp_path, _zstd(raw), flags=1)
    seqs, findings, _ = salvage(run)
    assert seqs == ALL_SEQS and findings == []


@pytest.mark.parametrize("extra", [b"junk", "second-frame"])
def test_zstd_payload_with_bytes_after_its_frame_is_corrupt(tmp_path: Path,
                                                            extra: bytes | str) -> None:
    z = _zstd(_two_records())
    payload = z + (z if extra == "second-frame" else extra)  # type: ignore[operator]
    run, built = with_bad_frame(tmp_path, payload, flags=1)
    expect_strict(run, CorruptPayload, built.frames[2].offset)


@pytest.mark.parametrize(("payload", "count"), [
    (GOOD_RECORD, 2),
    (GOOD_RECORD * 3, 2),
    (GOOD_RECORD * 2, 1),
], ids=["fewer", "more", "more-than-1"])
def test_payload_with_wrong_record_count_is_corrupt(tmp_path: Path, payload: bytes,
                                                    count: int) -> None:
    run, built = with_bad_frame(tmp_path, payload, record_count=count)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    seqs, findings, _ = salvage(run)
    assert seqs[:2] == [0, 1] and seqs[-3:] == [4, 5, 6]
    assert findings[0] == ("CorruptPayload", built.frames[2].offset)


@pytest.mark.parametrize("tail", [
    pytest.param(b"\x92", id="partial-array"),
    pytest.param(b"\xc1", id="never-used-byte"),
    pytest.param(b"\x92\x04", id="partial-record"),
    pytest.param(b"\x92\x04\x81", id="partial-body"),
    pytest.param(b"\x92\x04\x81\xa1k\xcb\x00", id="partial-float"),
    pytest.param(b"\xa5ab", id="partial-str"),
])
def test_trailing_bytes_after_the_last_record_are_corrupt(tmp_path: Path,
                                                          tail: bytes) -> None:
    run, built = with_bad_frame(tmp_path, _two_records() + tail)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


@pytest.mark.parametrize("item", [
    None, 4, [4], [4, {}, 1], ["4", {}], [-1, {}], [4, []], [True, {}], {"type": 4},
    [4.0, {}], [4, None],
], ids=repr)
def test_record_that_is_not_type_and_body_is_corrupt(tmp_path: Path, item: object) -> None:
    payload = msgpack.packb(item, use_bin_type=True) + GOOD_RECORD
    run, built = with_bad_frame(tmp_path, payload)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


def test_ext_type_is_corrupt(tmp_path: Path) -> None:
    payload = pack_record(4, {"value": msgpack.ExtType(5, b"x")}) + GOOD_RECORD
    run, built = with_bad_frame(tmp_path, payload)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


def test_timestamp_ext_type_is_corrupt(tmp_path: Path) -> None:
    payload = (msgpack.packb([4, {"value": msgpack.Timestamp(1, 0)}]) + GOOD_RECORD)
    assert b"\xd6\xff" in payload  # fixext 4, type -1
    run, built = with_bad_frame(tmp_path, payload)
    expect_strict(run, CorruptPayload, built.frames[2].offset)


@pytest.mark.parametrize("body", [
    b"\x81\x01\x02",  # {1: 2}
    b"\x81\xc4\x01k\x02",  # {b"k": 2}
    b"\x81\xc0\x02",  # {nil: 2}
    b"\x81\x91\x01\x02",  # {[1]: 2}
    b"\x81\xa1a\x81\x05\x06",  # {"a": {5: 6}}: nested
], ids=["int", "bin", "nil", "array", "nested"])
def test_non_str_map_key_is_corrupt(tmp_path: Path, body: bytes) -> None:
    run, built = with_bad_frame(tmp_path, b"\x92\x04" + body + GOOD_RECORD)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


@pytest.mark.parametrize("body", [
    b"\x82\xa1a\x01\xa1a\x02",
    b"\x81\xa1s\x82\xa1a\x01\xa1a\x01",  # nested, same value twice
])
def test_duplicate_map_key_is_corrupt(tmp_path: Path, body: bytes) -> None:
    run, built = with_bad_frame(tmp_path, b"\x92\x04" + body + GOOD_RECORD)
    expect_strict(run, CorruptPayload, built.frames[2].offset)
    expect_frame_2_lost(run, built, "CorruptPayload")


@pytest.mark.parametrize("text", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80"],
                         ids=["ff", "bad-continuation", "surrogate"])
def test_invalid_utf8_is_corrupt(tmp_path: Path, text: bytes) -> None:
    for body in (b"\x81\xa1k" + bytes([0xA0 | len(text)]) + text,  # in a value
                 b"\x81" + bytes([0xA0 | len(text)]) + text + b"\x01"):  # in a key
        run, built = with_bad_frame(tmp_path / str(len(body)), b"\x92\x04" + body
                                    + GOOD_RECORD)
        expect_strict(run, CorruptPayload, built.frames[2].offset)
        expect_frame_2_lost(run, built, "CorruptPayload")


def _nested(depth: int) -> bytes:
    return b"\x92\x04\x81\xa1v" + b"\x91" * depth + b"\x00"


def test_nesting_within_the_bound_is_read(tmp_path: Path) -> None:
    run, _ = with_bad_frame(tmp_path, _nested(20) + GOOD_RECORD)
    seqs, findings, _ = salvage(run)
    assert seqs == ALL_SEQS and findings == []


def test_nesting_deeper_than_32_is_corrupt(tmp_path: Path) -> None:
    run, built = with_bad_frame(tmp_path, _nested(40) + GOOD_RECORD)
    expect_strict(run, CorruptPayload, built.frames[2].offset)


def test_float32_is_read(tmp_path: Path) -> None:
    body = b"\x81\xa1v\xca" + struct.pack(">f", 1.5)
    run, _ = with_bad_frame(tmp_path, b"\x92\x04" + body + GOOD_RECORD)
    records = RunLogReader(run, strict=True).poll()
    assert records[2].body == {"v": 1.5} and type(records[2].body["v"]) is float


def test_every_int_width_is_read(tmp_path: Path) -> None:
    # 7 as positive fixint, uint8, uint16, uint32, uint64, int8, int16, int32, int64.
    encodings = [b"\x07", b"\xcc\x07", b"\xcd\x00\x07", b"\xce\x00\x00\x00\x07",
                 b"\xcf" + (7).to_bytes(8, "big"), b"\xd0\x07", b"\xd1\x00\x07",
                 b"\xd2\x00\x00\x00\x07", b"\xd3" + (7).to_bytes(8, "big")]
    array = bytes([0x90 | len(encodings)]) + b"".join(encodings)
    run, _ = with_bad_frame(tmp_path, b"\x92\x04\x81\xa1v" + array + GOOD_RECORD)
    records = RunLogReader(run, strict=True).poll()
    assert records[2].body == {"v": [7] * 9}


# ---------------------------------------------------------------- file header (§3.1)


def test_bad_file_magic_is_corrupt_and_salvage_still_reads_frames(run: Path) -> None:
    set_byte(seg_path(run), 1, ord("X"))
    fix_file_header_crc(seg_path(run))
    expect_strict(run, BadFileHeader, 0)
    seqs, findings, _ = salvage(run)
    assert seqs == ALL_SEQS
    assert findings == [("BadFileHeader", 0)]


@pytest.mark.parametrize("offset", [10, 12, 15])
def test_bad_file_header_crc_is_corrupt_and_salvage_still_reads_frames(
        run: Path, offset: int) -> None:
    increment_byte(seg_path(run), offset)
    expect_strict(run, BadFileHeader, 0)
    seqs, findings, _ = salvage(run)
    assert seqs == ALL_SEQS
    assert findings == [("BadFileHeader", 0)]


@pytest.mark.parametrize("major", [0, 2, 255])
def test_future_major_version_is_unsupported_even_when_salvaging(run: Path,
                                                                 major: int) -> None:
    set_u16(seg_path(run), 8, major)
    fix_file_header_crc(seg_path(run))
    expect_strict(run, UnsupportedVersion, 8)
    with pytest.raises(UnsupportedVersion) as info:
        RunLogReader(run).poll()
    assert info.value.found == (major, 3) and info.value.supported == (1, 3)
    assert info.value.offset == 8
    with pytest.raises(UnsupportedVersion):
        open_run(run)


def test_unsupported_second_segment_is_refused(tmp_path: Path) -> None:
    good = build_segment(standard_groups()[:2])
    newer = build_segment([[(1, {"run": "testrun0", "index": 1, "writer": {}})]],
                          first_seq=2)
    run = make_run_dir(tmp_path, [good.data, newer.data])
    set_u16(seg_path(run, 1), 8, 2)
    fix_file_header_crc(seg_path(run, 1))
    with pytest.raises(UnsupportedVersion) as info:
        RunLogReader(run).poll()
    assert info.value.path == str(seg_path(run, 1))


# ---------------------------------------------------------------- sequence numbers (§4.2)


def test_sequence_gap_is_a_finding_and_records_are_kept(tmp_path: Path) -> None:
    groups = standard_groups()
    built = build_segment(groups[:2])
    append_frame(built, groups[2], 5)  # expected 2
    append_frame(built, groups[3], 7)
    run = make_run_dir(tmp_path, [built.data])
    expect_strict(run, SequenceError, built.frames[2].offset)
    seqs, findings, _ = salvage(run)
    assert seqs == [0, 1, 5, 6, 7, 8]
    assert findings == [("SequenceError", built.frames[2].offset)]


def test_first_frame_not_at_seq_0_is_a_gap(tmp_path: Path) -> None:
    built = build_segment(standard_groups()[:2], first_seq=3)
    run = make_run_dir(tmp_path, [built.data])
    seqs, findings, _ = salvage(run)
    assert seqs == [3, 4]
    assert findings == [("SequenceError", 16)]


def test_sequence_overlap_is_a_finding_and_records_are_deduplicated(tmp_path: Path) -> None:
    groups = standard_groups()
    built = build_segment(groups[:3])  # seqs 0 | 1 | 2-3
    dup = append_frame(built, groups[2], 2)  # the same frame again
    partial = append_frame(built, [(4, {"key": "x", "value": 3, "time": 0.0}),
                                   (4, {"key": "x", "value": 4, "time": 0.0})], 3)
    run = make_run_dir(tmp_path, [built.data])
    expect_strict(run, SequenceError, dup.offset)
    reader = RunLogReader(run)
    records = reader.poll()
    assert [r.seq for r in records] == [0, 1, 2, 3, 4]
    assert records[4].body["value"] == 4  # seq 3 of the overlapping frame was dropped
    assert records[3].offset == built.frames[2].offset  # the first copy wins
    assert [(f.kind, f.offset) for f in reader.findings] == [
        ("SequenceError", dup.offset), ("SequenceError", partial.offset)]


def test_sequence_continues_across_segments(tmp_path: Path) -> None:
    first = build_segment(standard_groups()[:2])
    second = build_segment([[(1, {"run": "testrun0", "index": 1, "writer": {}})]],
                           first_seq=5)
    run = make_run_dir(tmp_path, [first.data, second.data])
    reader = RunLogReader(run)
    assert [r.seq for r in reader.poll()] == [0, 1, 5]
    assert [(f.kind, f.path, f.offset) for f in reader.findings] == [
        ("SequenceError", str(seg_path(run, 1)), 16)]


# ---------------------------------------------------------------- open_run in salvage mode


def test_open_run_warns_per_finding_and_keeps_reading(run: Path, built: Built) -> None:
    increment_byte(seg_path(run), built.frames[2].payload_offset)
    with pytest.warns(FlightlogWarning) as warned:
        local = open_run(run)
    assert len(warned) == 2  # checksum mismatch, sequence gap
    assert [f.kind for f in local.findings] == ["ChecksumMismatch", "SequenceError"]
    assert local.summary["loss"] == 0.5  # frame 2 (loss 0.25) lost; frame 1 kept
    assert local.summary["best"] == 0.25  # frame 3 read after the damage
    assert local.config == {"lr": 0.1}
    assert local.exit_code == 0


def test_an_absent_attached_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    # SPEC.md §10.4: an attached file that is absent is unreadable, reported in place of
    # what needs it by a FlightlogError naming the file: never an OSError.
    import flightlog
    from flightlog.errors import FormatError

    run = flightlog.init(project="p", id="gone", dir=tmp_path, flush_interval=3600,
                         system_metrics=False)
    run.log_table("t", {"x": [1, 2]})
    notes = tmp_path / "notes.txt"
    notes.write_text("n")
    sha = run.upload_file("notes.txt", notes)
    run.finish()
    read = flightlog.open_run(run.dir)
    for blob in (Path(run.dir) / "files").rglob("*"):
        if blob.is_file():
            blob.unlink()
    with pytest.warns(flightlog.FlightlogWarning, match="'t'"):
        assert read.tables() == {}  # reported in place of the table (§10.4)
    with pytest.raises(FormatError, match="'t'") as info:
        read.table_page("t")
    assert info.value.key == "t" and info.value.path is not None
    assert [(w, e.key, e.reason) for w, e in read.unreadable()] == [("table", "t", "absent")]
    with pytest.raises(FormatError, match=sha) as info:
        read.download_file("notes.txt", tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
