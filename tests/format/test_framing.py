"""Byte-literal tests of every field of the file header and frame header (SPEC.md §1,
§3.1, §4.1). CRCs are checked against a bitwise CRC-32C written here from the spec's
definition, not against the library's own CRC."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from flightlog.format._constants import (
    FILE_HEADER_SIZE,
    FRAME_HEADER_SIZE,
    MAX_PAYLOAD,
)
from flightlog.format._crc import crc32c, mask, masked_crc32c
from flightlog.format._framing import encode_frame, scan_frames
from flightlog.format.segment import SegmentTail, encode_file_header, parse_file_header

from flightlog.errors import (
    BadFileHeader,
    CorruptRecord,
    RecordTooLarge,
    TruncatedRecord,
    UnsupportedVersion,
)

SPEC = Path(__file__).resolve().parents[2] / "SPEC.md"


def ref_crc32c(data: bytes) -> int:
    """CRC-32C from SPEC.md §1: reflected polynomial 0x82F63B78, init and xorout ~0."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def ref_mask(crc: int) -> int:
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    return (rotated + 0xA282EAD8) & 0xFFFFFFFF


def le32(value: int) -> bytes:
    return struct.pack("<I", value)


# ---------------------------------------------------------------- CRC-32C and its mask


def test_crc32c_check_value_of_123456789() -> None:
    assert ref_crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"123456789") == 0xE3069283


def test_crc32c_of_32_zero_bytes() -> None:
    assert ref_crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(bytes(32)) == 0x8A9136AA


@pytest.mark.parametrize(("data", "want"), [
    # RFC 3720 §B.4 iSCSI test patterns.
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (b"", 0x00000000),
])
def test_crc32c_iscsi_vectors(data: bytes, want: int) -> None:
    assert ref_crc32c(data) == want
    assert crc32c(data) == want
    assert crc32c(memoryview(data)) == want
    assert crc32c(bytearray(data)) == want


def test_mask_of_check_value_computed_by_hand() -> None:
    crc = 0xE3069283
    # rotate right by 15: the low 15 bits move to the top.
    rotated = (crc >> 15) | ((crc & 0x7FFF) << 17)
    assert rotated == 0x2507C60D
    assert (rotated + 0xA282EAD8) % 2**32 == 0xC78AB0E5
    assert mask(crc) == ref_mask(crc) == 0xC78AB0E5
    assert masked_crc32c(b"123456789") == 0xC78AB0E5


def test_spec_stated_mask_example_is_right() -> None:
    text = SPEC.read_text(encoding="utf-8")
    stated = int(text.split("Example: `mask(0xE3069283) = ")[1].split("`")[0], 16)
    assert mask(0xE3069283) == stated


@pytest.mark.parametrize("crc", [0, 1, 0x7FFF, 0x8000, 0xFFFF8000, 0xFFFFFFFF, 0x12345678])
def test_mask_is_rotate_right_15_plus_delta_mod_2_32(crc: int) -> None:
    assert mask(crc) == ref_mask(crc)
    assert 0 <= mask(crc) <= 0xFFFFFFFF


def test_mask_edge_values() -> None:
    assert mask(0) == 0xA282EAD8
    assert mask(0x8000) == 0xA282EAD9  # bit 15 rotates to bit 0
    assert mask(1) == (1 << 17) + 0xA282EAD8
    assert mask(0xFFFFFFFF) == (0xFFFFFFFF + 0xA282EAD8) % 2**32  # wraps


# ---------------------------------------------------------------- file header (§3.1)


FILE_HEADER_V1_0 = bytes.fromhex("89464c5345470d0a 0100 0000 b2d8e277")
FILE_HEADER_V1_1 = bytes.fromhex("89464c5345470d0a 0100 0100 77b53488")
FILE_HEADER_V1_2 = bytes.fromhex("89464c5345470d0a 0100 0200 288e0657")
FILE_HEADER_V1_3 = bytes.fromhex("89464c5345470d0a 0100 0300 ed6ef026")


def test_file_header_bytes() -> None:
    head = encode_file_header()
    assert len(head) == FILE_HEADER_SIZE == 16
    assert head[0:8] == b"\x89FLSEG\r\n" == bytes.fromhex("89464C5345470D0A")
    assert head[8:10] == b"\x01\x00"  # major 1, little-endian u16
    assert head[10:12] == b"\x03\x00"  # minor 3 (SPEC.md 1.3)
    assert head[12:16] == le32(ref_mask(ref_crc32c(head[:12])))
    assert head == FILE_HEADER_V1_3
    assert encode_file_header(1, 2) == FILE_HEADER_V1_2
    assert encode_file_header(1, 1) == FILE_HEADER_V1_1
    assert encode_file_header(1, 0) == FILE_HEADER_V1_0


def test_file_header_version_fields_are_little_endian_u16() -> None:
    head = encode_file_header(0x0102, 0x0304)
    assert head[8:12] == bytes.fromhex("0201 0403")
    assert head[12:16] == le32(ref_mask(ref_crc32c(head[:12])))


def test_parse_file_header_reads_version() -> None:
    assert parse_file_header(FILE_HEADER_V1_0) == (1, 0)
    newer_minor = encode_file_header(1, 7)
    assert parse_file_header(newer_minor) == (1, 7)


@pytest.mark.parametrize("index", range(8))
def test_every_magic_byte_is_checked(index: int) -> None:
    head = bytearray(FILE_HEADER_V1_0)
    head[index] ^= 0x20
    head[12:16] = le32(ref_mask(ref_crc32c(bytes(head[:12]))))  # valid CRC: magic alone
    with pytest.raises(CorruptRecord) as info:
        parse_file_header(bytes(head), "seg")
    assert info.value.offset == 0 and info.value.path == "seg"


@pytest.mark.parametrize("index", range(16))
def test_header_crc_covers_bytes_0_to_11_and_is_stored_at_12(index: int) -> None:
    head = bytearray(FILE_HEADER_V1_0)
    head[index] ^= 0x01
    with pytest.raises(CorruptRecord) as info:
        parse_file_header(bytes(head))
    assert type(info.value) is BadFileHeader
    assert info.value.offset == 0 and info.value.skipped == (0, 16)


@pytest.mark.parametrize("major", [0, 2, 0xFFFF])
def test_unknown_major_version_is_unsupported(major: int) -> None:
    with pytest.raises(UnsupportedVersion) as info:
        parse_file_header(encode_file_header(major, 3), "seg")
    assert info.value.found == (major, 3)
    assert info.value.supported == (1, 3)
    assert info.value.offset == 8


@pytest.mark.parametrize("size", range(16))
def test_short_file_header_is_torn_not_corrupt(size: int) -> None:
    with pytest.raises(TruncatedRecord):
        parse_file_header(FILE_HEADER_V1_0[:size])


def test_newer_minor_version_segment_is_read(tmp_path: Path) -> None:
    path = tmp_path / "seg"
    path.write_bytes(encode_file_header(1, 9) + encode_frame(b"\x92\x04\x80", first_seq=0,
                                                             record_count=1))
    tail = SegmentTail(path)
    assert [f.first_seq for f in tail.poll()] == [0]
    assert tail.version == (1, 9)


# ---------------------------------------------------------------- frame header (§4.1)

PAYLOAD = b"\x92\x04\x81\xa1k\x01"


def test_frame_header_fields_at_their_offsets() -> None:
    frame = encode_frame(PAYLOAD, first_seq=0x0102030405060708, record_count=0x0A0B, flags=1)
    assert len(frame) == FRAME_HEADER_SIZE + len(PAYLOAD) == 28 + 6
    assert frame[0:4] == bytes.fromhex("D9464C52")  # sync
    assert frame[8:12] == bytes.fromhex("06000000")  # payload_len, u32 LE
    assert frame[12:20] == bytes.fromhex("0807060504030201")  # first_seq, u64 LE
    assert frame[20:22] == bytes.fromhex("0B0A")  # record_count, u16 LE
    assert frame[22] == 0x01  # flags
    assert frame[23] == 0x00  # reserved
    assert frame[24:28] == le32(ref_mask(ref_crc32c(PAYLOAD)))  # payload_crc, masked
    assert frame[4:8] == le32(ref_mask(ref_crc32c(frame[8:28])))  # header_crc of 8..27
    assert frame[28:] == PAYLOAD


def test_frame_literal() -> None:
    frame = encode_frame(PAYLOAD, first_seq=5, record_count=1)
    assert frame.hex() == (
        "d9464c52" + le32(ref_mask(ref_crc32c(frame[8:28]))).hex() + "06000000"
        + "0500000000000000" + "0100" + "00" + "00" + le32(ref_mask(ref_crc32c(PAYLOAD))).hex()
        + PAYLOAD.hex())


def _hand_header(payload: bytes, *, first_seq: int, count: int, flags: int = 0,
                 reserved: int = 0, length: int | None = None) -> bytes:
    body = struct.pack("<IQHBBI", len(payload) if length is None else length, first_seq,
                       count, flags, reserved, ref_mask(ref_crc32c(payload)))
    return b"\xd9FLR" + le32(ref_mask(ref_crc32c(body))) + body


def test_reader_takes_each_field_from_its_offset() -> None:
    payload = bytes(range(1, 40))
    data = b"xx" + _hand_header(payload, first_seq=0x1122334455667788, count=0x0304,
                                flags=1) + payload
    result = scan_frames(data, 2, base=100)
    (frame,) = result.frames
    assert frame.offset == 102
    assert frame.first_seq == 0x1122334455667788
    assert frame.record_count == 0x0304
    assert frame.flags == 1
    assert frame.payload == payload
    assert frame.end == 102 + 28 + len(payload)
    assert frame.last_seq == 0x1122334455667788 + 0x0304 - 1
    assert result.position == 100 + len(data) and result.torn is False


@pytest.mark.parametrize("index", range(28))
def test_every_frame_header_byte_is_checked(index: int) -> None:
    frame = bytearray(encode_frame(PAYLOAD, first_seq=3, record_count=1))
    frame[index] ^= 0x40
    with pytest.raises(CorruptRecord) as info:
        scan_frames(bytes(frame), 0, path="p", base=16)
    assert info.value.offset == 16 and info.value.path == "p"


@pytest.mark.parametrize("index", range(len(PAYLOAD)))
def test_every_payload_byte_is_covered_by_payload_crc(index: int) -> None:
    frame = bytearray(encode_frame(PAYLOAD, first_seq=3, record_count=1))
    frame[28 + index] ^= 0x01
    found: list[Exception] = []
    result = scan_frames(bytes(frame), 0, on_corruption=found.append)
    assert result.frames == []
    assert [type(e).__name__ for e in found] == ["ChecksumMismatch"]


def test_payload_len_bounds_when_encoding() -> None:
    assert len(encode_frame(b"x" * MAX_PAYLOAD, first_seq=0, record_count=1)) == 28 + 65536
    with pytest.raises(RecordTooLarge):
        encode_frame(b"x" * (MAX_PAYLOAD + 1), first_seq=0, record_count=1)
    with pytest.raises(RecordTooLarge):
        encode_frame(b"", first_seq=0, record_count=1)


def test_record_count_bounds_when_encoding() -> None:
    assert encode_frame(b"x", first_seq=0, record_count=0xFFFF)[20:22] == b"\xff\xff"
    with pytest.raises(RecordTooLarge):
        encode_frame(b"x", first_seq=0, record_count=0)
    with pytest.raises(RecordTooLarge):
        encode_frame(b"x", first_seq=0, record_count=0x10000)


def test_payload_len_65536_is_read_and_65537_is_too_large() -> None:
    payload = b"\x00" * MAX_PAYLOAD
    ok = _hand_header(payload, first_seq=0, count=1) + payload
    assert [len(f.payload) for f in scan_frames(ok, 0).frames] == [MAX_PAYLOAD]
    big = payload + b"\x00"
    bad = _hand_header(big, first_seq=0, count=1) + big
    with pytest.raises(RecordTooLarge) as info:
        scan_frames(bad, 0, base=16)
    assert info.value.offset == 16


@pytest.mark.parametrize("bit", range(1, 8))
def test_reserved_flag_bits_make_a_frame_corrupt(bit: int) -> None:
    data = _hand_header(PAYLOAD, first_seq=0, count=1, flags=1 << bit) + PAYLOAD
    with pytest.raises(CorruptRecord) as info:
        scan_frames(data, 0)
    assert type(info.value) is CorruptRecord


@pytest.mark.parametrize("reserved", [1, 0x80, 0xFF])
def test_reserved_byte_must_be_zero(reserved: int) -> None:
    data = _hand_header(PAYLOAD, first_seq=0, count=1, reserved=reserved) + PAYLOAD
    with pytest.raises(CorruptRecord):
        scan_frames(data, 0)


def test_frame_of_max_first_seq_is_read() -> None:
    frame = encode_frame(PAYLOAD, first_seq=2**64 - 1, record_count=1)
    assert frame[12:20] == b"\xff" * 8
    assert scan_frames(frame, 0).frames[0].first_seq == 2**64 - 1
