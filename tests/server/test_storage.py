"""Server storage: the exactly-once rules, without HTTP in between."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from flightlog.format._constants import FILE_HEADER_SIZE
from flightlog.format._framing import encode_frame
from flightlog.format.segment import SegmentTail, list_segments
from flightlog.server.storage import BadBatch, Conflict, Storage

import flightlog

ROWS = 2000


def _client_run(tmp_path: Path, segment_bytes: int = 200_000) -> flightlog.LocalRun:
    """About 800 KB of random floats: ≥ 13 history frames (64 KiB payloads at most) over
    ~4 segments by default."""
    rng = random.Random(301)
    run = flightlog.init(project="p", id="r1", dir=tmp_path / "client",
                         segment_bytes=segment_bytes)
    for i in range(ROWS):
        run.log({"i": i, **{f"x{k}": rng.random() for k in range(50)}})
    run.finish()
    return flightlog.open_run(run.dir)


def _segments(run: flightlog.LocalRun) -> list[tuple[int, list[bytes]]]:
    """Each client segment's frames, as the bytes a daemon sends."""
    out = []
    for index, path in list_segments(run.dir):
        frames = SegmentTail(path).poll()
        out.append((index, [encode_frame(f.payload, first_seq=f.first_seq,
                                         record_count=f.record_count, flags=f.flags)
                            for f in frames]))
    return out


def _ship_all(storage: Storage, run: flightlog.LocalRun) -> int:
    mark = 0
    for index, frames in _segments(run):
        mark = storage.commit("p", "r1", index, b"".join(frames)).next_seq
    return mark


def test_a_repeated_batch_is_a_no_op(tmp_path: Path) -> None:
    client = _client_run(tmp_path)
    storage = Storage(tmp_path / "server")
    mark = _ship_all(storage, client)
    copy = storage.run_dir("p", "r1")
    before = {p.name: p.read_bytes() for _, p in list_segments(copy)}
    index, frames = _segments(client)[0]
    again = storage.commit("p", "r1", index, b"".join(frames))
    assert again.accepted == 0 and again.skipped > 0 and again.next_seq == mark
    assert {p.name: p.read_bytes() for _, p in list_segments(copy)} == before
    assert flightlog.open_run(copy).history().column("i").to_pylist() == list(range(ROWS))


def test_a_gap_is_refused_with_the_committed_mark(tmp_path: Path) -> None:
    # One segment holds the whole run, so it has ≥ 13 frames however the writer batched
    # (with small segments, a loaded machine's larger batches left the first one 4 frames).
    client = _client_run(tmp_path, segment_bytes=8 << 20)
    storage = Storage(tmp_path / "server")
    index, frames = _segments(client)[0]
    assert len(frames) >= 6
    first = storage.commit("p", "r1", index, b"".join(frames[:2])).next_seq
    with pytest.raises(Conflict) as caught:
        storage.commit("p", "r1", index, b"".join(frames[3:]))
    assert caught.value.code == "gap" and caught.value.next_seq == first
    seqs = [(f.first_seq, f.last_seq) for f in SegmentTail(list_segments(client.dir)[0][1]).poll()]
    lost = (first, seqs[2][1])
    # A declared gap must be exactly the hole the batch leaves, with frames past it.
    with pytest.raises(Conflict):  # declares less than it skips
        storage.commit("p", "r1", index, b"".join(frames[4:]), gaps=[lost])
    with pytest.raises(BadBatch):  # not a (first, last) range
        storage.commit("p", "r1", index, b"".join(frames[3:]), gaps=[(lost[1], first - 1)])
    with pytest.raises(BadBatch):  # declares a hole the batch does not leave
        storage.commit("p", "r1", index, b"".join(frames[2:]), gaps=[lost])
    with pytest.raises(BadBatch):  # a gap alone, no frames continuing past it
        storage.commit("p", "r1", index, b"".join(frames[:2]), gaps=[lost])
    assert storage.load("p", "r1").next_seq == first and storage.load("p", "r1").gaps == []
    # Declared exactly (the client lost those records to corruption): taken, and visible.
    with pytest.warns(flightlog.FlightlogWarning, match="sequence gap"):
        assert storage.commit("p", "r1", index, b"".join(frames[3:]), gaps=[lost]).accepted
    assert storage.load("p", "r1").gaps == [lost]
    with pytest.warns(flightlog.FlightlogWarning, match="sequence gap"):
        reloaded = Storage(tmp_path / "server").load("p", "r1")  # derived from the copy
    assert reloaded.gaps == [lost]


def test_the_server_copy_is_byte_identical_to_the_client_segments(tmp_path: Path) -> None:
    client = _client_run(tmp_path)
    storage = Storage(tmp_path / "server")
    _ship_all(storage, client)
    theirs = [p.read_bytes() for _, p in list_segments(client.dir)]
    ours = [p.read_bytes() for _, p in list_segments(storage.run_dir("p", "r1"))]
    assert len(theirs) > 1 and ours == theirs


def test_invalid_frames_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    client = _client_run(tmp_path)
    storage = Storage(tmp_path / "server")
    index, frames = _segments(client)[0]
    damaged = bytearray(frames[0])
    damaged[-1] ^= 0xFF
    for body in (bytes(damaged), b"garbage", frames[0][:-3]):
        with pytest.raises(BadBatch):
            storage.commit("p", "r1", index, body)
    with pytest.raises(BadBatch):  # the segment record names run r1, not r2
        storage.commit("p", "r2", index, frames[0])
    assert not storage.exists("p", "r1") and not storage.exists("p", "r2")


def test_a_torn_tail_from_a_server_crash_is_cut_on_load(tmp_path: Path) -> None:
    client = _client_run(tmp_path, segment_bytes=8 << 20)  # one segment: ≥ 13 frames
    storage = Storage(tmp_path / "server")
    index, frames = _segments(client)[0]
    storage.commit("p", "r1", index, b"".join(frames[:3]))
    path = list_segments(storage.run_dir("p", "r1"))[0][1]
    with open(path, "ab") as f:  # the crash: part of the next frame written, no answer
        f.write(frames[3][:10])
    restarted = Storage(tmp_path / "server")
    committed = restarted.commit("p", "r1", index, b"".join(frames))
    assert committed.skipped + committed.accepted == committed.next_seq  # each record once
    assert committed.accepted > 0 and committed.skipped > 0
    assert path.stat().st_size > FILE_HEADER_SIZE
    copy = flightlog.open_run(restarted.run_dir("p", "r1"))
    assert copy.findings == [] and copy.state.last_seq == committed.next_seq - 1


def test_the_index_is_rebuilt_when_lost(tmp_path: Path) -> None:
    client = _client_run(tmp_path)
    storage = Storage(tmp_path / "server")
    _ship_all(storage, client)
    storage.index._db.close()
    (tmp_path / "server" / "index.sqlite").unlink()
    rebuilt = Storage(tmp_path / "server")
    row = rebuilt.index.get("p", "r1")
    assert row is not None and row["status"] == "finished" and row["summary"]["i"] == ROWS - 1


def test_a_batch_interrupted_by_a_crash_is_not_committed_at_all(tmp_path: Path) -> None:
    client = _client_run(tmp_path, segment_bytes=8 << 20)  # one segment: all the frames
    storage = Storage(tmp_path / "server")
    index, frames = _segments(client)[0]
    first = storage.commit("p", "r1", index, b"".join(frames[:2])).next_seq
    path = list_segments(storage.run_dir("p", "r1"))[0][1]
    committed_size = path.stat().st_size
    with open(path, "ab") as f:  # the crash: two whole frames and part of a third, no mark
        f.write(frames[2] + frames[3] + frames[4][:50])
    restarted = Storage(tmp_path / "server")
    assert restarted.load("p", "r1").next_seq == first  # all of the batch, or none of it
    assert path.stat().st_size == committed_size
    assert restarted.commit("p", "r1", index, b"".join(frames)).next_seq > first
    assert flightlog.open_run(restarted.run_dir("p", "r1")).findings == []
