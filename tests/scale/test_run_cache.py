"""A replica's disk cache of run directories is bounded (runcache.py): least recently
used runs are evicted past a count or a size, with their cached attached files, and read
back exactly from PostgreSQL + the object store when next used."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flightlog.format.reader import iter_records
from syncd_helpers import make_run, records, segment_frames


def _publish(writer: Any, tmp_path: Path, run_id: str, seed: int) -> Path:
    """A finished run with an attached file of its own, committed through ``writer``."""
    attached = tmp_path / f"{run_id}.bin"
    attached.write_bytes(bytes([seed]) * 50_000)
    client = make_run(tmp_path / "clients", run_id, 400, width=8, seed=seed,
                      files={"weights.bin": attached})
    content = attached.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    assert writer.append_blob(sha, 0, [content], True, 1 << 20) == (True, len(content))
    for index, frames in enumerate(segment_frames(client)):
        writer.commit("p", run_id, index, b"".join(frames))
    return client


def _cached(storage: Any) -> list[str]:
    return sorted(p.name for p in (storage.runs_dir / "p").iterdir()
                  if (p / "log").is_dir())


def _blobs(storage: Any) -> int:
    return sum(1 for p in (storage.blob_root / "sha256").rglob("*") if p.is_file())


def _read(storage: Any, run_id: str) -> list[tuple[int, int, dict[str, Any]]]:
    storage.read("p", run_id, lambda view: None)
    return [(r.seq, r.type, r.body)
            for r in iter_records(storage.run_dir("p", run_id), strict=True)]


def test_the_least_recently_used_runs_are_evicted_past_the_count(
        scaled_storage: Any, tmp_path: Path) -> None:
    writer = scaled_storage(cache="writer", compact_every=0)
    clients = {f"r{i}": _publish(writer, tmp_path, f"r{i}", i) for i in range(3)}
    reader = scaled_storage(cache="reader", compact_every=0, cache_runs=2)
    assert _read(reader, "r0") == records(clients["r0"])
    assert _read(reader, "r1") == records(clients["r1"])
    _read(reader, "r0")  # r0 used again: r1 is now the least recently used
    assert _read(reader, "r2") == records(clients["r2"])
    assert _cached(reader) == ["r0", "r2"]
    assert _blobs(reader) == 2  # r1's attached file went with it
    assert _read(reader, "r1") == records(clients["r1"])  # materialised again
    assert _cached(reader) == ["r1", "r2"]
    blob = reader.read("p", "r1", lambda view: view.state.files["weights.bin"].sha256)
    assert reader.blob_path(blob).read_bytes() == bytes([1]) * 50_000
    # A replica restarted on the same cache keeps to the bound as well, oldest first.
    reader.close()
    again = scaled_storage(cache="reader", compact_every=0, cache_runs=1)
    assert len(_cached(again)) == 1


def test_the_cache_stays_under_its_byte_bound_but_the_run_in_use_always_works(
        scaled_storage: Any, tmp_path: Path) -> None:
    writer = scaled_storage(cache="writer", compact_every=0)
    clients = {f"r{i}": _publish(writer, tmp_path, f"r{i}", i) for i in range(3)}
    probe = scaled_storage(cache="probe", compact_every=0)
    _read(probe, "r0")
    one = probe.disk.total
    assert one > 50_000
    reader = scaled_storage(cache="reader", compact_every=0, cache_bytes=one * 3 // 2)
    for run_id in ("r0", "r1", "r2"):
        assert _read(reader, run_id) == records(clients[run_id])
        assert _cached(reader) == [run_id]  # one run fits, two do not
        assert reader.disk.total <= one * 3 // 2
    tiny = scaled_storage(cache="tiny", compact_every=0, cache_bytes=1)
    assert _read(tiny, "r1") == records(clients["r1"])  # bigger than the bound, still read
    # A commit to a cached run counts its new bytes: another run is evicted for it.
    more = scaled_storage(cache="more", compact_every=0, cache_bytes=one * 5 // 2)
    _read(more, "r0")
    _read(more, "r1")
    assert _cached(more) == ["r0", "r1"]
    extra = _publish(more, tmp_path, "r3", 3)
    assert _cached(more) == ["r1", "r3"] and more.disk.total <= one * 5 // 2
    assert _read(more, "r3") == records(extra)
