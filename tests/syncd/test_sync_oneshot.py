"""``flightlog sync``: finished runs shipped once, exactly; repeating it changes nothing;
``flightlog status`` agrees; runs moved or copied elsewhere create no duplicate."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from flightlog.format.segment import list_segments
from syncd_helpers import (
    Proc,
    Server,
    assert_exact,
    child_env,
    make_run,
    run_cli,
    server_run_dir,
)


def _segment_bytes(data: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes()
            for p in sorted((data / "runs").rglob("*.flseg"))}


def _status_rows(output: str) -> dict[str, list[str]]:
    lines = output.strip().splitlines()
    assert lines[0].split()[:4] == ["RUN", "LOCAL", "ACKED", "LAG"], output
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_finished_runs_ship_once_and_a_second_sync_is_a_no_op(
        server: Server, root: Path, state: Path) -> None:
    sizes = {"a": 3000, "b": 1, "c": 12_000}
    dirs = {rid: make_run(root, rid, n, width=8, segment_bytes=16_384, seed=len(rid) + n)
            for rid, n in sizes.items()}
    assert len(list_segments(dirs["c"])) > 3
    first = run_cli("sync", root, "--server", server.url, "--state", state)
    assert first.returncode == 0, first.stdout + first.stderr
    for rid in sizes:
        assert f"p/{rid}" in first.stdout
    for rid, n in sizes.items():
        assert_exact(server.data, dirs[rid], n)
    before = _segment_bytes(server.data)

    # The same sync again: nothing is sent, nothing changes on the server.
    again = run_cli("sync", root, "--server", server.url, "--state", state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _segment_bytes(server.data) == before

    # And from an empty state directory (a position cache lost): the server decides.
    fresh = run_cli("sync", root, "--server", server.url, "--state", state.parent / "other")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert _segment_bytes(server.data) == before

    status = run_cli("status", root, "--server", server.url, "--state", state)
    assert status.returncode == 0, status.stdout + status.stderr
    rows = _status_rows(status.stdout)
    assert set(rows) == {f"p/{rid}" for rid in sizes}
    for row in rows.values():
        assert row[1] == row[2] and row[3] == "0", status.stdout
    # Without --server, status answers from the positions kept by the daemon.
    offline = _status_rows(run_cli("status", root, "--state", state).stdout)
    assert all(row[3] == "0" for row in offline.values())

    api = server.api()
    for rid, n in sizes.items():
        remote = api.run(f"p/{rid}")
        assert remote.status == "finished"
        assert remote.history().column("i").to_pylist() == list(range(n))
        assert remote.summary["rmse"] == float(n)
    api.close()


def test_environment_variables_stand_in_for_the_flags(server: Server, root: Path,
                                                      tmp_path: Path) -> None:
    run_dir = make_run(root, "env", 100)
    env = child_env(FLIGHTLOG_SERVER=server.url, FLIGHTLOG_SYNC_STATE=str(tmp_path / "st"))
    result = run_cli("sync", root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exact(server.data, run_dir, 100)
    assert any((tmp_path / "st").glob("env.json"))
    status = run_cli("status", root, env=env)
    assert _status_rows(status.stdout)["p/env"][3] == "0", status.stdout


def test_a_moved_run_resumed_elsewhere_and_a_copy_synced_from_another_machine(
        server: Server, root: Path, state: Path, tmp_path: Path,
        trainer: Callable[..., Proc]) -> None:
    run_dir = make_run(root, "mover", 500)
    first = run_cli("sync", root, "--server", server.url, "--state", state)
    assert first.returncode == 0, first.stdout + first.stderr

    # Moved elsewhere, continued there (resume), synced from the new path.
    new_root = tmp_path / "elsewhere"
    moved = new_root / "p" / "mover"
    moved.parent.mkdir(parents=True)
    shutil.move(str(run_dir), moved)
    child = trainer("interactive", new_root, "p", "mover")
    assert child.wait_line("ready") == "ready 500"
    child.send("log 300")
    child.wait_line("logged 800")
    child.send("finish")
    child.wait_line("finished")
    assert child.wait() == 0
    second = run_cli("sync", new_root, "--server", server.url, "--state", state)
    assert second.returncode == 0, second.stdout + second.stderr
    assert_exact(server.data, moved, 800)

    # Copied to "another machine" (no positions there), synced again from both places.
    other = tmp_path / "machine2" / "p" / "mover"
    shutil.copytree(moved, other)
    before = _segment_bytes(server.data)
    third = run_cli("sync", other.parent.parent, new_root, "--server", server.url,
                    "--state", tmp_path / "machine2-state")
    assert third.returncode == 0, third.stdout + third.stderr
    assert _segment_bytes(server.data) == before
    assert_exact(server.data, other, 800)
    assert len(list(server_run_dir(server.data, "p", "mover").parent.iterdir())) == 1
