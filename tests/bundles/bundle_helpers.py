"""Helpers of the bundle tests: the ``flightlog`` command, bundles on disk, the server's
copy of a run compared with what was logged."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from flightlog.format.reader import RunLogReader, iter_records
from syncd_helpers import run_cli, server_run_dir

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
