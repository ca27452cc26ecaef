"""The PostgreSQL index answers the same rows as the embedded SQLite one (indexrow.py's
mapping, duration and last update included), and its schema migrates forward from a
database made at version 1 with rows in it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from flightlog.server.storage import Storage
from syncd_helpers import make_run, segment_frames


def _commit_all(storage: Any, client: Path) -> None:
    for index, frames in enumerate(segment_frames(client)):
        storage.commit("p", "r1", index, b"".join(frames))


def test_scaled_rows_equal_embedded_rows_with_duration_and_last_update(
        scaled_storage: Any, tmp_path: Path) -> None:
    client = make_run(tmp_path / "client", "r1", 300, width=3, seed=1)
    embedded = Storage(tmp_path / "embedded")
    scaled = scaled_storage()
    _commit_all(embedded, client)
    _commit_all(scaled, client)
    theirs, ours = embedded.index.get("p", "r1"), scaled.index.get("p", "r1")
    assert theirs is not None and ours is not None
    assert ours["duration"] is not None and ours["last_update"] is not None
    assert ours["last_update"] >= ours["created"]
    # One mapping: the same keys and values but the moment each row was written.
    assert {k: v for k, v in ours.items() if k != "updated"} == {
        k: v for k, v in theirs.items() if k != "updated"}
    listed = scaled.index.query("p", [], None, 10, 0)
    assert [r["duration"] for r in listed] == [ours["duration"]]
    for index in (embedded.index, scaled.index):  # filtered and ordered on, as others
        assert [r["id"] for r in index.query("p", [f"duration>={ours['duration']}"],
                                             "-last_update", 10, 0)] == ["r1"]
        assert index.query("p", [f"duration>{ours['duration'] + 1}"], None, 10, 0) == []


def test_a_version_1_database_migrates_and_its_rows_get_their_times_when_read(
        postgres: Any, moto: Any, tmp_path: Path) -> None:
    import psycopg
    from flightlog.server.backends.scaled import ScaledStorage

    db = postgres.create_database(f"v1_{tmp_path.name[-20:].replace('-', '_')}")
    store = moto.store_url(f"v1-{tmp_path.name}")
    first = resources.files("flightlog.server.backends").joinpath(
        "migrations/0001_init.sql").read_text()
    with psycopg.connect(db, autocommit=True) as conn:  # a database made by version 1
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                     "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        conn.execute(first)
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        conn.execute("INSERT INTO runs (project, run_id, name, next_seq, config, summary, "
                     "tags) VALUES ('old', 'o1', 'kept', 0, '{}', '{}', '{}')")
    client = make_run(tmp_path / "client", "r1", 200, width=2, seed=2)
    storage = ScaledStorage(tmp_path / "cache", db, store)
    try:
        kept = storage.index.get("old", "o1")
        assert kept is not None and kept["name"] == "kept" and kept["duration"] is None
        _commit_all(storage, client)
        with psycopg.connect(db, autocommit=True) as conn:
            versions = [v for (v,) in conn.execute(
                "SELECT version FROM schema_migrations ORDER BY version")]
            # A row as version 1 wrote it: no times.
            conn.execute("UPDATE runs SET duration = NULL, last_update = NULL "
                         "WHERE run_id = 'r1'")
        assert versions[:2] == [1, 2]
        assert storage.index.get("p", "r1")["last_update"] is None  # type: ignore[index]
    finally:
        storage.close()
    reader = ScaledStorage(tmp_path / "fresh", db, store)  # a replica reading it
    try:
        reader.read("p", "r1", lambda view: view.state.last_seq)
        row = reader.index.get("p", "r1")
        assert row is not None and row["last_update"] is not None
        assert row["duration"] is not None and row["duration"] >= 0
    finally:
        reader.close()
