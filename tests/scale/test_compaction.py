"""Compaction of small committed objects (server/backends/compaction.py) on the real
PostgreSQL + moto: every moment consistent for readers, a crash at any step loses
nothing, leftovers are orphans the (incremental) collector deletes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flightlog.format.reader import iter_records
from flightlog.server.backends import BackendUnavailable
from syncd_helpers import make_run, records, segment_frames, wait_until

import flightlog


def _client(tmp_path: Path) -> Path:
    # Two segments of several frames each (a frame holds at most 64 KiB of payload).
    return make_run(tmp_path / "client", "r1", 1500, width=40, seed=5,
                    segment_bytes=300_000)


def _ship(storage: Any, client: Path, until: int | None = None) -> int:
    """Each frame its own batch (one object each), the first ``until`` frames only."""
    sent = 0
    for index, frames in enumerate(segment_frames(client)):
        for frame in frames:
            if until is not None and sent == until:
                return sent
            storage.commit("p", "r1", index, frame)
            sent += 1
    return sent


def _objects(storage: Any) -> list[str]:
    return [name for name, _, _ in storage.store.list("runs/p/r1/")]


def _read(storage: Any) -> list[tuple[int, int, dict[str, Any]]]:
    storage.read("p", "r1", lambda view: None)
    return [(r.seq, r.type, r.body)
            for r in iter_records(storage.run_dir("p", "r1"), strict=True)]


def _tiles(storage: Any) -> list[tuple[int, int]]:
    with storage.db.connection() as conn:
        return [(int(a), int(b)) for a, b in conn.execute(
            "SELECT start_seq, end_seq FROM chunks ORDER BY start_seq").fetchall()]


def test_compaction_leaves_one_object_per_segment_and_racing_readers_read_exactly(
        scaled_storage: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(tmp_path)
    segments = segment_frames(client)
    assert len(segments) >= 2 and all(len(f) >= 2 for f in segments), \
        [len(f) for f in segments]
    writer = scaled_storage(cache="writer", compact_every=0)
    half = sum(len(f) for f in segments) // 2
    _ship(writer, client, until=half)
    early = scaled_storage(cache="early", compact_every=0)  # a copy up to half way
    racing = scaled_storage(cache="racing", compact_every=0)
    _read(early)
    _read(racing)
    total = _ship(writer, client)
    assert len(_objects(writer)) == total  # one object per batch

    # A reader that read the rows naming the small objects, and then a compaction
    # (another replica's) deleted them before it fetched them.
    real = racing.db.chunks_from
    raced: list[int] = []

    def rows_then_compaction(*args: Any) -> Any:
        rows = real(*args)
        if not raced:
            raced.append(writer.compact("p", "r1"))
        return rows

    monkeypatch.setattr(racing.db, "chunks_from", rows_then_compaction)
    theirs = records(client)
    assert _read(racing) == theirs
    assert raced == [total]  # every small object was replaced, under its feet
    assert len(_objects(writer)) == len(segments)
    tiles = _tiles(writer)
    assert len(tiles) == len(segments) and tiles[0][0] == 0 and tiles[-1][1] == len(theirs)
    assert all(tiles[i][1] == tiles[i + 1][0] for i in range(len(tiles) - 1))
    assert _read(early) == theirs  # a copy whose mark lies inside a compacted object
    fresh = scaled_storage(cache="fresh")
    assert _read(fresh) == theirs
    assert flightlog.open_run(fresh.run_dir("p", "r1")).findings == []
    assert writer.compact("p", "r1") == 0  # nothing small left to merge


def test_a_compaction_interrupted_at_any_step_loses_nothing_and_leaves_orphans(
        scaled_storage: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(tmp_path)
    writer = scaled_storage(cache="writer", compact_every=0)
    total = _ship(writer, client)
    segments = len(segment_frames(client))
    theirs = records(client)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise BackendUnavailable("the database went away")

    # Killed after the merged objects were put, before the transaction naming them.
    with monkeypatch.context() as patch:
        patch.setattr(writer.db, "replace_chunks", fail)
        with pytest.raises(BackendUnavailable):
            writer.compact("p", "r1")
    assert len(_objects(writer)) == total + 1  # the first merged object: no row names it
    assert _read(scaled_storage(cache="after-put")) == theirs
    assert writer.collect_orphans(min_age=0) == 1
    assert len(_objects(writer)) == total

    # Killed after the transaction, before the small objects were deleted.
    with monkeypatch.context() as patch:
        patch.setattr(writer.store, "delete", fail)
        assert writer.compact("p", "r1") == total
    assert len(_objects(writer)) == total + segments
    assert _read(scaled_storage(cache="after-commit")) == theirs
    assert writer.collect_orphans(min_age=0) == total
    assert len(_objects(writer)) == segments
    assert _read(scaled_storage(cache="collected")) == theirs


def test_a_run_is_compacted_in_the_background_as_it_commits_and_when_it_finishes(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    storage = scaled_storage(compact_every=4)
    _ship(storage, client)
    segments = len(segment_frames(client))
    wait_until(lambda: storage.compactor.idle.is_set() and len(_objects(storage)) == segments,
               timeout=60, what=f"{segments} objects after compaction")
    assert _read(scaled_storage(cache="fresh")) == records(client)


def test_the_orphan_collector_lists_a_batch_per_sweep_resuming_where_it_stopped(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    storage = scaled_storage(compact_every=0)
    _ship(storage, client, until=3)
    first = "runs/p/r1/00000000/" + "0" * 20 + "-" + "0" * 20 + "-" + "0" * 64
    last = "runs/p/r1/99999999/" + "0" * 20 + "-" + "0" * 19 + "1-" + "0" * 64
    for orphan in (first, last):  # sorted before and after the three committed objects
        storage.store.put_new(orphan, b"orphan")
    assert len(_objects(storage)) == 5
    removed = [storage.collect_orphans(min_age=0, batch=2) for _ in range(3)]
    assert removed == [1, 0, 1]  # [orphan, c1], [c2, c3], [orphan]: then round again
    with storage.db.connection() as conn:
        assert conn.execute("SELECT after_key FROM collector_cursor").fetchone()[0] == ""
    assert len(_objects(storage)) == 3
    assert [s for s, _, _ in _read(scaled_storage(cache="fresh"))] == list(
        range(storage.position("p", "r1")["next_seq"]))


def test_a_run_whose_compaction_was_missed_is_found_by_the_collectors_sweep(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = _client(tmp_path)
    killed = scaled_storage(cache="killed", compact_every=0)  # committed, never compacted
    total = _ship(killed, client)
    segments = len(segment_frames(client))
    assert len(_objects(killed)) == total
    sweeper = scaled_storage(cache="sweeper", compact_every=3, collect_every=0.2)
    wait_until(lambda: len(_objects(sweeper)) == segments, timeout=60,
               what=f"{segments} objects after the sweep's compaction")
    assert _read(scaled_storage(cache="fresh")) == records(client)


_COMPACT = """
import sys
from flightlog.server.backends.scaled import ScaledStorage
storage = ScaledStorage(sys.argv[1], sys.argv[2], sys.argv[3], compact_every=0)
print("compacting", flush=True)
storage.compact("p", "r1")
print("compacted", flush=True)
"""


def test_a_replica_sigkilled_mid_compaction_loses_nothing(
        scaled_storage: Any, tmp_path: Path) -> None:
    import sys

    from scaleparts import S3_ENV
    from syncd_helpers import Proc, child_env

    client = _client(tmp_path)
    writer = scaled_storage(cache="writer", compact_every=0)
    total = _ship(writer, client)
    small = set(_objects(writer))
    assert len(small) == total
    proc = Proc([sys.executable, "-c", _COMPACT, str(tmp_path / "killed"),
                 writer.db.conninfo, writer.store.spec],
                env=child_env(**S3_ENV))
    try:
        # Killed once its first merged object is stored: before that group's rows are
        # swapped, or while its small objects are deleted, or before the next group.
        wait_until(lambda: set(_objects(writer)) - small or not proc.alive(), timeout=60,
                   what="the first merged object", interval=0.005)
        proc.kill()
    finally:
        proc.close()
    assert "compacted" not in proc.out, "the compaction ended before the kill"
    theirs = records(client)
    assert _read(scaled_storage(cache="after-kill")) == theirs
    writer.collect_orphans(min_age=0)  # what the kill left behind
    with writer.db.connection() as conn:
        named = {k for (k,) in conn.execute("SELECT object_key FROM chunks").fetchall()}
    assert set(_objects(writer)) == named
    writer.compact("p", "r1")  # another replica finishes the work
    assert len(_objects(writer)) == len(segment_frames(client))
    assert _read(scaled_storage(cache="finished")) == theirs
