"""Helpers of the bundle tests: the ``flightlog`` command, bundles on disk, the server's
copy of a run compared with what was logged."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flightlog.format.reader import RunLogReader, decode_frame, iter_records
from flightlog.format.records import attached_blobs
from flightlog.format.segment import SegmentTail
from syncd_helpers import Proc, run_cli, server_run_dir, wait_until

import flightlog


def cli(env: dict[str, str], *args: object, timeout: float = 180.0
        ) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, timeout=timeout)


def bundle(env: dict[str, str], root: Path, out: Path, *extra: object) -> Path:
    """``flightlog bundle`` of ``root`` into ``out``; the new bundle file."""
    before = set(out.glob("*.flbundle")) if out.exists() else set()
    result = cli(env, "bundle", root, "-o", out, "--dest", "site", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    (made,) = set(out.glob("*.flbundle")) - before
    return made


def receipt_of(result: subprocess.CompletedProcess[str]) -> Path:
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("wrote receipt "))
    return Path(line.removeprefix("wrote receipt "))


def held(data: Path, project: str, run_id: str) -> int:
    copy = server_run_dir(data, project, run_id)
    if not copy.exists():
        return 0
    records = iter_records(copy, strict=True)
    return records[-1].seq + 1 if records else 0


def local_records(run_dir: Path) -> list[tuple[int, int, dict[str, Any]]]:
    """(seq, type, body) of what the run directory still holds (a pruned run: from the
    first segment kept on)."""
    return [(r.seq, r.type, r.body) for r in RunLogReader(run_dir).poll()]


def assert_history_is_logged(data: Path, project: str, run_id: str, steps: int,
                             logged: list[tuple[int, int, dict[str, Any]]]) -> None:
    """The server's copy: records 0..N-1 each once (strict reader), equal to the records
    logged, history ``i`` = 0..steps-1, and ``flightlog verify`` finds it intact."""
    copy = server_run_dir(data, project, run_id)
    ours = [(r.seq, r.type, r.body) for r in iter_records(copy, strict=True)]
    assert [s for s, _, _ in ours] == list(range(len(ours)))
    by_seq = {s: (s, t, b) for s, t, b in logged}
    assert sorted(by_seq) == list(range(len(ours))), "logged records and server's differ"
    assert ours == [by_seq[s] for s in range(len(ours))]
    history = flightlog.open_run(copy).history()
    assert history.column("i").to_pylist() == list(range(steps))
    result = run_cli("verify", copy)
    assert result.returncode == 0, result.stdout + result.stderr


def served_rows(url: str, name: str) -> int:
    """Rows of the run's history as the server serves it (``flightlog.Api``)."""
    api = flightlog.Api(url)
    try:
        return int(api.run(name).history().num_rows)
    finally:
        api._client.close()  # Api keeps its connection pool open otherwise


def _stopped(pid: int) -> bool:
    """Every thread of the process is stopped (``T``): what it has done is frozen."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        states = [Path(f"/proc/{pid}/task/{t}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for t in tasks]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return all(s in "Tt" for s in states)


def kill_mid_way(proc: Proc, started: Callable[[], bool], what: str,
                 timeout: float = 120.0) -> None:
    """SIGKILL ``proc`` at a moment it is shown to be mid-way: polled, it is stopped
    (SIGSTOP, every thread), ``started()`` is asked of the frozen state, and it is killed
    still stopped if that holds, else continued. It exiting first fails the test (the
    work was too small to catch mid-way: a test that did not kill anything)."""

    def caught() -> bool:
        exited = f"{what}: it exited before it was caught:\n{proc.text()}"
        assert proc.alive(), exited
        os.kill(proc.pid, signal.SIGSTOP)
        wait_until(lambda: _stopped(proc.pid) or not proc.alive(), timeout=30,
                   what=f"{what}: stopped", interval=0.001)
        assert proc.alive(), exited
        if started():
            return True
        os.kill(proc.pid, signal.SIGCONT)
        return False

    wait_until(caught, timeout=timeout, what=what, interval=0.002)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def files_named(segment: Path) -> set[str]:
    """SHA-256 of every attached file the records of a segment name."""
    return {sha for f in SegmentTail(segment).poll() for r in decode_frame(f)
            for sha in attached_blobs(r.body)}


def attached_files(run_dir: Path) -> set[str]:
    """SHA-256 of every attached file the run directory holds."""
    return {p.parent.name + p.name for p in (run_dir / "files").rglob("*") if p.is_file()}


def empty_dirs(path: Path) -> list[Path]:
    return [d for d in path.rglob("*") if d.is_dir() and not any(d.iterdir())]
