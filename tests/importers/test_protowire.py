"""The protobuf wire decoder against messages protobuf itself encoded, and on hostile bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightlog.errors import ForeignFormatError
from flightlog.importers._protowire import (
    ProtoWireError,
    as_double,
    as_float,
    as_int32,
    as_int64,
    fields_by_number,
    iter_fields,
    packed_doubles,
    packed_varints,
    zigzag,
)


def test_decodes_what_protobuf_encoded() -> None:
    from tensorboard.compat.proto import event_pb2, histogram_pb2, summary_pb2

    histo = histogram_pb2.HistogramProto(min=-1.5, max=2.0, num=3, bucket_limit=[0.0, 2.0],
                                         bucket=[1.0, 2.0])
    event = event_pb2.Event(wall_time=1234.5678, step=-7, summary=summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag="a", simple_value=0.25),
        summary_pb2.Summary.Value(tag="h", histo=histo)]))
    fields = fields_by_number(event.SerializeToString())
    assert as_double(fields[1][0]) == 1234.5678  # type: ignore[arg-type]
    assert as_int64(fields[2][0]) == -7  # type: ignore[arg-type]
    values = fields_by_number(fields[5][0])[1]  # type: ignore[arg-type]
    first = fields_by_number(values[0])  # type: ignore[arg-type]
    assert first[1] == [b"a"] and as_float(first[2][0]) == 0.25  # type: ignore[arg-type]
    h = fields_by_number(fields_by_number(values[1])[5][0])  # type: ignore[arg-type]
    assert packed_doubles(h[6][0]) == [0.0, 2.0]  # type: ignore[arg-type]
    assert as_double(h[1][0]) == -1.5  # type: ignore[arg-type]


def test_number_helpers() -> None:
    assert [zigzag(n) for n in (0, 1, 2, 3, 4294967294)] == [0, -1, 1, -2, 2147483647]
    assert as_int32((1 << 64) - 1) == -1 and as_int64(1 << 63) == -(1 << 63)
    assert packed_varints(bytes([0x96, 0x01, 0x05])) == [150, 5]
    assert as_float(struct.unpack("<I", struct.pack("<f", 1.5))[0]) == 1.5


@pytest.mark.parametrize(("data", "offset", "words"), [
    (b"\x08", 1, "past the end"),                       # varint field without its value
    (b"\x08" + b"\xff" * 10 + b"\x01", 1, "longer than 10"),
    (b"\x08" + b"\xff" * 9 + b"\x7f", 1, "over 64 bits"),
    (b"\x12\x05abc", 0, "declares 5 bytes, 3 remain"),
    (b"\x0b", 0, "group"),
    (b"\x0e", 0, "unknown wire type 6"),
    (b"\x00\x01", 0, "field number 0"),
    (b"\x09\x00\x00", 0, "fixed64"),
    (b"\x0d\x00", 0, "fixed32"),
])
def test_malformed_input_names_the_offset(data: bytes, offset: int, words: str) -> None:
    with pytest.raises(ProtoWireError) as caught:
        list(iter_fields(data))
    assert isinstance(caught.value, ForeignFormatError)
    assert caught.value.offset == offset and words in caught.value.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_proto_wire_error(data: bytes) -> None:
    try:
        fields = list(iter_fields(data))
    except ProtoWireError:
        return
    # never more fields than bytes, and no value longer than the buffer
    assert len(fields) <= len(data)
    assert all(len(v) <= len(data) for _, _, v in fields if isinstance(v, bytes))
