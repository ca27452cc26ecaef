"""Cost that must not grow with the number of runs: an idle daemon over finished runs,
and a server restarted over many runs.

- A ``flightlog syncd`` that has shipped 200 finished runs reads none of them again
  while nothing changes (its status file's ``runs_read`` stays put over many rescans),
  and reads a finished run again as soon as it is resumed.
- A ``flightlog server`` restarted over 200 runs answers at once without loading them
  (its log line counts the runs it loaded), and serves correctly a run whose directory
  changed while it was down (its index row stale) and one copied in meanwhile (no row).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from flightlog.format._constants import FILE_HEADER_SIZE
from flightlog.format.segment import list_segments
from flightlog.server.storage import Storage
from syncd_helpers import Proc, Server, make_run, records, wait_until

import flightlog

RUNS = 200


@pytest.fixture(scope="module")
def finished_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 finished runs of 3 steps (read only by the tests below, never changed)."""
    root = tmp_path_factory.mktemp("finished")
    with ThreadPoolExecutor(8) as pool:  # each run's writer waits on its own fsyncs
        list(pool.map(lambda k: make_run(root, f"r{k:03d}", 3), range(RUNS)))
    return root


def _status(state: Path) -> dict[str, int]:
    try:
        return dict(json.loads((state / "syncd.status").read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def test_an_idle_daemon_reads_no_finished_run_until_one_changes(
        finished_root: Path, tmp_path: Path, server: Server,
        start_syncd: Callable[..., Proc]) -> None:
    root = tmp_path / "root"
    shutil.copytree(finished_root, root)
    state = tmp_path / "state"
    # Polling (each rescan 0.05 s apart): the mode where every run would be looked at.
    daemon = start_syncd(root, server=server.url, state_dir=state, extra=("--poll", "0.05"))
    wait_until(lambda: _status(state).get("quiet") == RUNS, timeout=120,
               what=f"all {RUNS} runs shipped and quiet")
    assert all(server.next_seq("p", f"r{k:03d}") == len(records(root / "p" / f"r{k:03d}"))
               for k in range(0, RUNS, 20))
    before = _status(state)
    # Many rescans later (each one the daemon's look at every run it knows), no run
    # directory was read again.
    wait_until(lambda: _status(state).get("rescans", 0) >= before["rescans"] + 10,
               timeout=60, what="ten more rescans")
    idle = _status(state)
    assert idle["runs_read"] == before["runs_read"], (before, idle)
    assert idle["quiet"] == RUNS and idle["woken"] == 0
    # A finished run resumed: its directory changed, so it is read and shipped again.
    run = flightlog.init(project="p", id="r007", dir=root, resume=True, flush_interval=0.01)
    run.log({"i": 99})
    run.finish()
    local = len(records(root / "p" / "r007"))
    wait_until(lambda: server.next_seq("p", "r007") == local, timeout=30,
               what="the resumed run shipped")
    # (The status file is written after each round: it may lag the server by one.)
    wait_until(lambda: _status(state).get("woken", 0) >= 1
               and _status(state).get("quiet") == RUNS, timeout=30,
               what="the resumed run woken, then quiet again")
    after = _status(state)
    # Only the resumed run was read (at each poll while its writer lived): fewer reads
    # than one pass over every run would make.
    assert 1 <= after["runs_read"] - idle["runs_read"] < RUNS, (idle, after)
    assert daemon.terminate() == 0, daemon.text()


def _commit_run(storage: Storage, run_dir: Path, run_id: str, frames_upto: int | None = None
                ) -> None:
    """Commit a local run's segments through the server's Storage (the first
    ``frames_upto`` bytes of frames of its first segment only, when given)."""
    for index, path in list_segments(run_dir):
        body = path.read_bytes()[FILE_HEADER_SIZE:]
        if frames_upto is not None:
            body = body[:frames_upto]
        storage.commit("p", run_id, index, body, writer_alive=False)
        if frames_upto is not None:
            return


def _first_frames_bytes(run_dir: Path) -> int:
    """Bytes of the first two frames of the run's first segment."""
    from flightlog.format._framing import scan_frames

    data = list_segments(run_dir)[0][1].read_bytes()
    frames = scan_frames(data, FILE_HEADER_SIZE, path="segment").frames
    return frames[1].end - FILE_HEADER_SIZE


def test_a_restarted_server_trusts_its_index_and_rebuilds_only_what_changed(
        finished_root: Path, tmp_path: Path, start_server: Callable[..., Server]) -> None:
    data = tmp_path / "data"
    storage = Storage(data, log=lambda line: None)
    changed = finished_root / "p" / "r010"
    for k in range(RUNS):
        run_id = f"r{k:03d}"
        if run_id != "r010":
            _commit_run(storage, finished_root / "p" / run_id, run_id)
    _commit_run(storage, changed, "r010", frames_upto=_first_frames_bytes(changed))
    storage.index._db.close()
    stale_index = tmp_path / "index-before.sqlite"
    shutil.copy(data / "index.sqlite", stale_index)
    # While the server is down: the rest of r010 is committed (its row now stale once the
    # old index is put back, as after a crash between a commit and its row), and a run
    # directory is copied in from another server (no row at all).
    storage = Storage(data, log=lambda line: None)
    _commit_run(storage, changed, "r010")
    storage.index_checked.wait(30)
    storage.index._db.close()
    for suffix in ("", "-wal", "-shm"):
        (data / f"index.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copy(stale_index, data / "index.sqlite")
    other = Storage(tmp_path / "other", log=lambda line: None)
    extra = make_run(tmp_path / "extra-root", "extra", 4)
    _commit_run(other, extra, "extra")
    shutil.copytree(tmp_path / "other" / "runs" / "p" / "extra", data / "runs" / "p" / "extra")

    server = start_server(data)
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        detail = http.get("/api/v1/runs/p/r010").json()  # the first request: a changed run
        assert detail["next_seq"] == len(records(changed)) and detail["status"] == "finished"
        assert http.get("/api/v1/runs/p/extra").json()["next_seq"] == len(records(extra))
        assert server.proc is not None
        line = wait_until(lambda: next((x for x in server.proc.err  # type: ignore[union-attr]
                                        if "index checked against" in x), None),
                          timeout=60, what="the index check's line")
        found = re.search(r"against (\d+) run directories .*: (\d+) rows rebuilt .*; "
                          r"(\d+) runs loaded", line)
        assert found, line
        checked, rebuilt, loaded = map(int, found.groups())
        assert checked == RUNS + 1
        # Only the two requested, changed runs were read: not all 201.
        assert rebuilt <= 2 and loaded <= 3, line
        rows = {r["id"]: r for r in http.get("/api/v1/runs", params={"limit": 1000}
                                             ).json()["runs"]}
    assert len(rows) == RUNS + 1
    assert rows["r010"]["next_seq"] == len(records(changed))
    assert rows["r010"]["status"] == "finished" and rows["extra"]["status"] == "finished"
    assert rows["r000"]["next_seq"] == len(records(finished_root / "p" / "r000"))
