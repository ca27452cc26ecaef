"""Every prefix of a segment reads as a gap-free prefix of its records (torn tails only,
never corruption), and every single damaged byte costs at most the frame it is in
(SPEC.md §5)."""

from __future__ import annotations

import bisect
import os
from pathlib import Path

import pytest
from flightlog.format.reader import RunLogReader
from flightlog.format.segment import SegmentTail
from segbuild import Built, make_run_dir, multi_frame_segment

FILE_HEADER = 16


def _frames(path: Path) -> list[tuple[int, int, int, int]]:
    """(offset, end, first_seq, record_count) of each frame of an intact segment."""
    tail = SegmentTail(path)
    frames = tail.poll()
    assert not tail.torn and tail.position == path.stat().st_size
    return [(f.offset, f.end, f.first_seq, f.record_count) for f in frames]


def _records(path: Path) -> list[tuple[int, int, object]]:
    reader = RunLogReader(path.parent.parent, strict=True)
    return [(r.seq, r.type, r.body) for r in reader.poll()]


@pytest.fixture(params=["real", "multi-frame"])
def segment(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "real":
        path: Path = request.getfixturevalue("real_segment")
        return path
    built: Built = multi_frame_segment()
    return make_run_dir(tmp_path, [built.data], name="multi") / "log" / "00000000.flseg"


def test_segments_under_test_are_small_and_multi_frame(segment: Path) -> None:
    frames = _frames(segment)
    assert len(frames) >= 2
    assert segment.stat().st_size < 8192
    types = {t for _, t, _ in _records(segment)}
    assert len(types) >= 6


def test_every_prefix_reads_as_a_gap_free_prefix(segment: Path, tmp_path: Path) -> None:
    data = segment.read_bytes()
    full = _records(segment)
    frames = _frames(segment)
    run = make_run_dir(tmp_path, [data], name="cut")
    cut = run / "log" / "00000000.flseg"
    fd = os.open(cut, os.O_RDWR)
    try:
        for length in range(len(data), -1, -1):  # cut down in place: no rewrites
            os.ftruncate(fd, length)
            _check_prefix(run, cut, length, full, frames)
    finally:
        os.close(fd)


def _check_prefix(run: Path, cut: Path, length: int, full: list[tuple[int, int, object]],
                  frames: list[tuple[int, int, int, int]]) -> None:
    ends = [end for _, end, _, _ in frames]
    starts = [start for start, _, _, _ in frames]
    reader = RunLogReader(run)
    records = [(r.seq, r.type, r.body) for r in reader.poll()]
    complete = bisect.bisect_right(ends, length)
    k = sum(count for _, _, _, count in frames[:complete])
    assert records == full[:k], length
    assert [seq for seq, _, _ in records] == list(range(k))
    assert reader.findings == [], (length, reader.findings)
    # An empty file is a segment being created: torn at 0 (SPEC.md §3.1), like 1..15 bytes.
    if length == FILE_HEADER or length in ends:
        assert reader.torn_tails() == [], length
    else:
        torn_at = 0 if length < FILE_HEADER else starts[complete]
        assert reader.torn_tails() == [(str(cut), torn_at)], length
    # Strict mode agrees: a torn tail is not an error.
    assert len(RunLogReader(run, strict=True).poll()) == k


@pytest.mark.parametrize("flip", [0xFF, 0x01, 0x80])
def test_single_damaged_byte_costs_at_most_its_frame(segment: Path, tmp_path: Path,
                                                    flip: int) -> None:
    data = segment.read_bytes()
    full = _records(segment)
    frames = _frames(segment)
    run = make_run_dir(tmp_path, [data], name="flip")
    fd = os.open(run / "log" / "00000000.flseg", os.O_RDWR)
    try:
        for offset in range(len(data)):
            os.pwrite(fd, bytes([data[offset] ^ flip]), offset)  # damage in place
            _check_one_damaged_byte(run, offset, full, frames)
            os.pwrite(fd, data[offset: offset + 1], offset)  # and repair
    finally:
        os.close(fd)


def _check_one_damaged_byte(run: Path, offset: int, full: list[tuple[int, int, object]],
                            frames: list[tuple[int, int, int, int]]) -> None:
    starts = [start for start, _, _, _ in frames]
    reader = RunLogReader(run)
    records = [(r.seq, r.type, r.body) for r in reader.poll()]  # never raises
    if offset < FILE_HEADER:
        lost: set[int] = set()
    else:
        _, _, first, count = frames[bisect.bisect_right(starts, offset) - 1]
        lost = set(range(first, first + count))
    assert records == [r for r in full if r[0] not in lost], offset
    # Every damaged byte is detected, and reported where its frame (or the file
    # header) starts; a lost frame also shows as a sequence gap after it.
    assert reader.findings, offset
    where = 0 if offset < FILE_HEADER else starts[bisect.bisect_right(starts, offset) - 1]
    assert reader.findings[0].offset == where, (offset, reader.findings)
    # The kinds of SPEC.md §5.2 a damaged byte can cause: the file header's, a frame
    # header's, a payload's.
    assert reader.findings[0].kind in (("BadFileHeader",) if offset < FILE_HEADER else (
        "CorruptRecord", "ChecksumMismatch", "RecordTooLarge", "CorruptPayload")), offset
    assert all(f.kind == "SequenceError" for f in reader.findings[1:]), offset
    assert reader.torn_tails() == []
