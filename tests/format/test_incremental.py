"""Reading a run while it grows (SPEC.md §5: a torn tail is "no complete frame yet").

A real run's segments are copied to a growing file in random-size pieces, with a poll
after each piece: everything polled, concatenated, is the full record list, each record
exactly once, and each record arrives as soon as its frame is complete.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.reader import RunLogReader
from flightlog.format.segment import SegmentTail, encode_file_header, list_segments
from segbuild import make_run_dir, multi_frame_segment, raw_frame

from flightlog import open_run


def _pieces(data: bytes, rng: random.Random, largest: int) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        step = rng.randint(1, largest)
        out.append(data[pos: pos + step])
        pos += step
    return out


def _segments(run_dir: Path) -> list[tuple[Path, bytes, list[int]]]:
    """(name, bytes, end offset of each frame's records...) per segment: ends[i] is the
    file length at which the i-th record becomes readable."""
    out = []
    for _, path in list_segments(run_dir):
        frames = SegmentTail(path).poll()
        ready = [f.end for f in frames for _ in range(f.record_count)]
        out.append((Path(path.name), path.read_bytes(), ready))
    return out


def _grow(src_run: Path, dst_run: Path, rng: random.Random, largest: int,
          after_each: object) -> None:
    for name, data, _ in _segments(src_run):
        target = dst_run / "log" / name
        for piece in _pieces(data, rng, largest):
            with open(target, "ab") as f:
                f.write(piece)
            after_each(name, target.stat().st_size)  # type: ignore[operator]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_poll_returns_each_record_once_as_the_file_grows(real_resumed_run: Path,
                                                         tmp_path: Path, seed: int) -> None:
    full = RunLogReader(real_resumed_run, strict=True).poll()
    segments = _segments(real_resumed_run)
    assert len(segments) == 2
    run = make_run_dir(tmp_path, [], name="growing")
    reader = RunLogReader(run)
    got = []
    done_before = {0: 0, 1: len(segments[0][2])}

    def check(name: Path, size: int) -> None:
        got.extend(reader.poll())
        index = int(name.stem)
        ready = sum(1 for end in segments[index][2] if end <= size)
        assert len(got) == done_before[index] + ready, (name, size)
        assert reader.findings == []

    _grow(real_resumed_run, run, random.Random(seed), 97, check)
    assert [(r.seq, r.type, r.body, r.segment, r.offset) for r in got] == [
        (r.seq, r.type, r.body, r.segment, r.offset) for r in full]
    assert len({r.seq for r in got}) == len(got)
    assert reader.poll() == []
    assert reader.torn_tails() == []


def test_poll_byte_by_byte(tmp_path: Path) -> None:
    built = multi_frame_segment()
    run = make_run_dir(tmp_path, [b""])
    path = run / "log" / "00000000.flseg"
    reader = RunLogReader(run)
    got = []
    ends = [f.end for f in built.frames for _ in f.records]
    for size in range(1, len(built.data) + 1):
        with open(path, "ab") as f:
            f.write(built.data[size - 1: size])
        got.extend(reader.poll())
        assert len(got) == sum(1 for end in ends if end <= size), size
        if size in ends or size == 16:
            assert reader.torn_tails() == []
        else:
            assert len(reader.torn_tails()) == 1
    assert [(r.seq, r.type, r.body) for r in got] == built.records()
    assert reader.findings == []


def test_segment_tail_keeps_its_position_at_a_torn_frame(tmp_path: Path) -> None:
    built = multi_frame_segment()
    path = tmp_path / "seg"
    third = built.frames[2]
    path.write_bytes(built.data[: third.offset + 30])
    tail = SegmentTail(path)
    assert [f.offset for f in tail.poll()] == [16, built.frames[1].offset]
    assert tail.torn and tail.position == third.offset
    assert tail.poll() == [] and tail.position == third.offset
    path.write_bytes(built.data)
    assert [f.offset for f in tail.poll()] == [f.offset for f in built.frames[2:]]
    assert not tail.torn and tail.position == len(built.data)


def test_open_run_on_a_growing_copy(real_resumed_run: Path, tmp_path: Path) -> None:
    final = open_run(real_resumed_run)
    total = final.state.records
    run = make_run_dir(tmp_path, [], name="growing")
    local = open_run(run)
    assert local.state.records == 0
    counts = []

    def check(name: Path, size: int) -> None:
        local.refresh()
        counts.append(local.state.records)

    _grow(real_resumed_run, run, random.Random(7), 211, check)
    assert counts == sorted(counts) and counts[-1] == total
    assert local.findings == []
    assert local.status == "finished"
    assert local.id == final.id == "real0"
    assert local.summary == final.summary
    assert local.config == final.config
    assert local.get_metrics() == final.get_metrics()
    assert local.history().equals(final.history())
    assert local.steps == final.steps == 31  # 26 steps, then 5 after the resume


def test_open_run_status_while_growing(real_run: Path, tmp_path: Path) -> None:
    data = (real_run / "log" / "00000000.flseg").read_bytes()
    run = make_run_dir(tmp_path, [data[:-1]], name="growing")
    local = open_run(run)
    assert local.exit_code is None
    assert local.status == "crashed"  # no finish record yet and no live writer
    with open(run / "log" / "00000000.flseg", "ab") as f:
        f.write(data[-1:])
    assert local.status == "finished" and local.exit_code == 0


@pytest.mark.parametrize("sync_bytes", [1, 2, 3])
def test_poll_after_damage_keeps_a_frame_whose_sync_marker_is_cut(
        tmp_path: Path, sync_bytes: int) -> None:
    first = raw_frame(pack_record(1, {"run": "r", "index": 0, "writer": {}}), first_seq=0,
                      record_count=1)
    second = raw_frame(pack_record(12, {"exit_code": 0, "time": 0.0}), first_seq=1,
                       record_count=1)
    data = encode_file_header() + first + b"\x01" * 40 + second
    whole_run = make_run_dir(tmp_path, [data], name="whole")
    whole = RunLogReader(whole_run)
    assert [r.seq for r in whole.poll()] == [0, 1]
    assert [f.kind for f in whole.findings] == ["CorruptRecord"]

    # The first poll sees the damaged bytes and the first bytes of the next sync marker;
    # the rest of that frame arrives later.
    cut = len(data) - len(second) + sync_bytes
    run = make_run_dir(tmp_path, [data[:cut]], name="growing")
    reader = RunLogReader(run)
    got = reader.poll()
    assert reader.torn_tails() == [(str(run / "log" / "00000000.flseg"),
                                    len(data) - len(second))]
    (run / "log" / "00000000.flseg").write_bytes(data)
    got.extend(reader.poll())
    assert [r.seq for r in got] == [0, 1]
    assert [(f.kind, f.offset) for f in reader.findings] == [
        (f.kind, f.offset) for f in whole.findings]


def test_poll_after_damage_keeps_the_next_frame_arriving_byte_by_byte(tmp_path: Path
                                                                      ) -> None:
    first = raw_frame(pack_record(1, {"run": "r", "index": 0, "writer": {}}), first_seq=0,
                      record_count=1)
    second = raw_frame(pack_record(12, {"exit_code": 0, "time": 0.0}), first_seq=1,
                       record_count=1)
    data = encode_file_header() + first + b"\x01" * 40 + second
    damaged_end = len(data) - len(second)
    run = make_run_dir(tmp_path, [data[:damaged_end]], name="growing")
    reader = RunLogReader(run)
    got = reader.poll()
    assert [(f.kind, f.offset) for f in reader.findings] == [("CorruptRecord",
                                                              16 + len(first))]
    for size in range(damaged_end + 1, len(data) + 1):
        with open(run / "log" / "00000000.flseg", "ab") as f:
            f.write(data[size - 1: size])
        got.extend(reader.poll())
    assert [r.seq for r in got] == [0, 1]
    assert len(reader.findings) == 1
