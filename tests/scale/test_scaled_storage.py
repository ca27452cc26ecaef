"""The scaled backend's exactly-once rules, storage-level (no HTTP): several replicas'
storages in this process on one PostgreSQL database and one object-store prefix."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from flightlog.format.reader import iter_records
from flightlog.server.storage import BadBatch, Conflict
from syncd_helpers import make_run, records, segment_frames

import flightlog


def _client(tmp_path: Path, n: int = 1000) -> Path:
    # ~400 KB of random floats in one segment: >= 6 frames (64 KiB payloads at most).
    return make_run(tmp_path / "client", "r1", n, width=50, seed=3)


def _copy_records(storage: Any) -> list[tuple[int, int, dict[str, Any]]]:
    storage.read("p", "r1", lambda view: None)
    return [(r.seq, r.type, r.body)
            for r in iter_records(storage.run_dir("p", "r1"), strict=True)]


def test_two_replicas_committing_the_same_batches_at_once_commit_each_record_once(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    frames = segment_frames(client)[0]
    assert len(frames) >= 6, len(frames)
    one, two = scaled_storage(cache="one"), scaled_storage(cache="two")
    # The same batches, and overlapping ones, raced from two replicas.
    plans = {one: [frames[:3], frames[:5], frames], two: [frames[:4], frames[2:], frames]}
    accepted = {one: 0, two: 0}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ship(storage: Any) -> None:
        try:
            barrier.wait(10)
            for batch in plans[storage]:
                try:
                    accepted[storage] += storage.commit("p", "r1", 0, b"".join(batch)).accepted
                except Conflict as exc:  # frames[2:] before the mark reached them: a gap
                    assert exc.code == "gap"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ship, args=(s,)) for s in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    theirs = records(client)
    assert accepted[one] + accepted[two] == len(theirs)  # each record accepted once
    assert one.position("p", "r1")["next_seq"] == len(theirs)
    with one.db.connection() as conn:
        tiles = conn.execute("SELECT start_seq, end_seq FROM chunks ORDER BY start_seq"
                             ).fetchall()
    assert tiles[0][0] == 0 and tiles[-1][1] == len(theirs)
    assert all(tiles[i][1] == tiles[i + 1][0] for i in range(len(tiles) - 1))  # tiled
    third = scaled_storage(cache="three")  # a replica that saw none of it reads it back
    assert _copy_records(third) == theirs
    assert flightlog.open_run(third.run_dir("p", "r1")).findings == []


def test_repeats_are_byte_compared_and_gaps_refused_as_on_the_embedded_store(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    frames = segment_frames(client)[0]
    one, two = scaled_storage(cache="one"), scaled_storage(cache="two")
    mark = one.commit("p", "r1", 0, b"".join(frames[:3])).next_seq
    again = two.commit("p", "r1", 0, b"".join(frames[:3]))  # another replica, a resend
    assert again.accepted == 0 and again.skipped == mark and again.next_seq == mark
    with pytest.raises(Conflict) as caught:
        two.commit("p", "r1", 0, b"".join(frames[4:]))
    assert caught.value.code == "gap" and caught.value.next_seq == mark
    forged = make_run(tmp_path / "other", "r1", 1000, width=50, seed=99)
    with pytest.raises(Conflict) as caught:  # different bytes below the mark
        one.commit("p", "r1", 0, b"".join(segment_frames(forged)[0][:3]))
    assert caught.value.code == "diverged"
    with pytest.raises(BadBatch):
        two.commit("p", "r1", 0, b"garbage")
    assert two.position("p", "r1") == {"next_seq": mark, "segment": 0, "gaps": []}


def test_the_cache_is_disposable(scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    storage = scaled_storage(cache="one")
    for index, frames in enumerate(segment_frames(client)):
        storage.commit("p", "r1", index, b"".join(frames))
    storage.close()
    shutil.rmtree(tmp_path / "one")
    again = scaled_storage(cache="one")
    assert _copy_records(again) == records(client)
    row = again.index.get("p", "r1")
    assert row is not None and row["status"] == "finished" and row["summary"]["rmse"] == 1000


def test_orphans_are_collected_and_committed_objects_kept(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    frames = segment_frames(client)[0]
    storage = scaled_storage()
    storage.commit("p", "r1", 0, b"".join(frames[:3]))
    # A replica killed between its put and its commit leaves an object no row names.
    storage.store.put_new("runs/p/r1/00000000/00000000000000000099-00000000000000000100-"
                          + "0" * 64, b"orphan")
    before = sorted(name for name, _, _ in storage.store.list("runs/"))
    assert len(before) == 2
    assert storage.collect_orphans(min_age=3600) == 0  # too young: maybe still committing
    assert storage.collect_orphans(min_age=0) == 1
    after = [name for name, _, _ in storage.store.list("runs/")]
    assert after == [n for n in before if "-0000000000000000000000" not in n]
    fresh = scaled_storage(cache="fresh")
    assert [s for s, _, _ in _copy_records(fresh)] == list(range(
        storage.position("p", "r1")["next_seq"]))


def test_an_upload_in_chunks_may_go_to_any_replica(scaled_storage: Any) -> None:
    import hashlib

    one, two = scaled_storage(cache="one"), scaled_storage(cache="two")
    content = bytes(range(256)) * 300
    sha = hashlib.sha256(content).hexdigest()
    assert one.blob_state(sha) == (False, 0)
    assert one.append_blob(sha, 0, [content[:10_000]], False, 1 << 20) == (False, 10_000)
    assert two.blob_state(sha) == (False, 10_000)  # the other replica sees the chunk
    with pytest.raises(Conflict):  # a wrong offset
        two.append_blob(sha, 5, [content[5:20_000]], False, 1 << 20)
    assert two.append_blob(sha, 10_000, [content[10_000:50_000]], False, 1 << 20)[1] == 50_000
    assert one.append_blob(sha, 50_000, [content[50_000:]], True, 1 << 20) == (
        True, len(content))
    assert two.blob_path(sha).read_bytes() == content
    assert list(one.store.list(f"partial/{sha}/")) == []  # chunks removed once complete
    wrong = hashlib.sha256(b"other").hexdigest()
    one.append_blob(wrong, 0, [b"not other"], False, 1 << 20)
    with pytest.raises(BadBatch):
        two.append_blob(wrong, 9, [b"!"], True, 1 << 20)
    assert two.blob_state(wrong) == (False, 0)  # a mismatched upload starts again
