"""``flightlog bundle`` and ``flightlog import`` (while it uploads, and while it commits
records) killed with SIGKILL half way, then run again; and a bundle imported into a data
directory with no server, then served."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from bundle_helpers import (
    assert_history_is_logged,
    bundle,
    cli,
    local_records,
    served_rows,
)
from flightlog.format.reader import iter_records
from flightlog.format.segment import list_segments
from flightlog.syncd.client import HttpSyncClient
from syncd_helpers import Proc, Server, flightlog_cmd, make_run, wait_until


def _big_run(tmp_path: Path, n_files: int = 6, mib: int = 16) -> Path:
    """A finished run of 2,000 steps with ``n_files`` attached files of ``mib`` MiB of
    random bytes each (so that bundling and importing take a while)."""
    files = {}
    for k in range(n_files):
        path = tmp_path / f"blob{k}.bin"
        with open(path, "wb") as f:
            f.write(os.urandom(mib << 20))
        files[f"data/blob{k}.bin"] = path
    run_dir = make_run(tmp_path / "root", "big", 2000, files=files, segment_bytes=8192)
    for path in files.values():
        path.unlink()
    return run_dir


def test_sigkill_of_bundle_and_of_import(tmp_path: Path, env: dict[str, str],
                                         procs: list[Proc],
                                         start_server: Callable[[Path], Server]) -> None:
    run_dir = _big_run(tmp_path)
    root, disk, back, data = tmp_path / "root", tmp_path / "disk", tmp_path / "back", \
        tmp_path / "data"
    ledger = tmp_path / "ledgers" / "site.json"

    # bundle, killed while it writes: no bundle file appears, the ledger does not move.
    proc = Proc([*flightlog_cmd(), "bundle", root, "-o", disk, "--dest", "site"], env=env)
    procs.append(proc)
    wait_until(lambda: any(p.stat().st_size > (8 << 20) for p in disk.glob(".*.tmp"))
               if disk.exists() else False, timeout=120, what="a bundle half written")
    proc.signal(signal.SIGKILL)
    proc.wait()
    assert not list(disk.glob("*.flbundle"))
    assert not ledger.exists()
    made = bundle(env, root, disk)  # the rerun: complete, and the stale temp file is gone
    assert not list(disk.glob(".*.tmp"))
    assert cli(env, "verify", made).returncode == 0
    assert json.loads(ledger.read_text())["next_number"] == 2

    # import, killed while it uploads: what was committed stays, the rerun completes.
    server = start_server(data)
    proc = Proc([*flightlog_cmd(), "import", made, "--server", server.url, "-o", back],
                env=env)
    procs.append(proc)

    def uploading() -> bool:
        blobs = data / "blobs"
        return any(p.is_file() and p.stat().st_size > 0 for p in blobs.rglob("*"))

    wait_until(uploading, timeout=120, what="the import uploading attached files")
    proc.signal(signal.SIGKILL)
    proc.wait()
    assert not back.exists() or not list(back.glob("*.json"))  # no receipt of a half import
    result = cli(env, "import", made, "--server", server.url, "-o", back)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_history_is_logged(data, "p", "big", 2000, local_records(run_dir))
    copy = data / "runs" / "p" / "big"
    assert cli(env, "verify", copy).returncode == 0  # every attached file is there, intact
    again = cli(env, "import", made, "--server", server.url, "-o", back)
    assert again.returncode == 0 and "(+0 new" in again.stdout

    # Prune with the receipt: all acknowledged; every segment goes but the last, and the
    # attached files (named by records of the first segment) with them.
    (receipt, *_) = sorted(back.glob("*.json"))
    segments = list_segments(run_dir)
    assert len(segments) > 2
    result = cli(env, "prune", root, "--acked-by", receipt)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list_segments(run_dir) == segments[-1:]
    assert not [p for p in (run_dir / "files").rglob("*") if p.is_file()]


def test_import_into_data_dir_then_serve(tmp_path: Path, env: dict[str, str],
                                         start_server: Callable[[Path], Server]) -> None:
    attached = tmp_path / "model.bin"
    attached.write_bytes(os.urandom(300_000))
    run_dir = make_run(tmp_path / "root", "offline", 500, files={"model.bin": attached},
                       segment_bytes=4096)
    made = bundle(env, tmp_path / "root", tmp_path / "disk")
    data = tmp_path / "data"
    result = cli(env, "import", made, "--data", data, "-o", tmp_path / "back")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_history_is_logged(data, "p", "offline", 500, local_records(run_dir))
    server = start_server(data)
    assert served_rows(server.url, "p/offline") == 500
    import flightlog

    api = flightlog.Api(server.url)
    try:
        remote = api.run("p/offline")
        remote.download_file("model.bin", tmp_path / "model.out")
        assert remote.status == "finished"
    finally:
        api._client.close()
    assert (tmp_path / "model.out").read_bytes() == attached.read_bytes()


def test_sigkill_of_import_while_it_commits_records(tmp_path: Path, env: dict[str, str],
                                                    procs: list[Proc],
                                                    start_server: Callable[[Path], Server]
                                                    ) -> None:
    """Killed between record batches (some runs committed, the others not yet): what was
    committed stays committed and is not sent again; the rerun commits the rest, each
    record once."""
    runs = [f"r{k:02d}" for k in range(60)]
    dirs = {run_id: make_run(tmp_path / "root", run_id, 40, segment_bytes=4096)
            for run_id in runs}
    made = bundle(env, tmp_path / "root", tmp_path / "disk")
    data, back = tmp_path / "data", tmp_path / "back"
    server = start_server(data)
    proc = Proc([*flightlog_cmd(), "import", made, "--server", server.url, "-o", back],
                env=env)
    procs.append(proc)

    def committed() -> int:
        return sum(1 for run_id in runs if (data / "runs" / "p" / run_id / "log").is_dir())

    # Runs are committed one after the other: of 11 begun, at least 10 are whole.
    wait_until(lambda: committed() >= 11, timeout=120, what="the import committing runs")
    proc.signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed, not finished
    assert not back.exists() or not list(back.glob("*.json"))  # no receipt of a half import
    # The server's committed marks (its files may still take a request received whole).
    client = HttpSyncClient(server.url)
    try:
        whole = {run_id for run_id in runs if client.position("p", run_id).next_seq
                 == len(local_records(dirs[run_id]))}
    finally:
        client.close()
    assert 10 <= len(whole) < len(runs), len(whole)
    print(f"killed with {len(whole)} of {len(runs)} runs committed")
    result = cli(env, "import", made, "--server", server.url, "-o", back)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {ln.split()[1]: ln for ln in result.stdout.splitlines() if ln.startswith("ok ")}
    for run_id in runs:
        if run_id in whole:  # committed before the kill: kept, nothing sent again
            assert "(+0 new" in lines[f"p/{run_id}"], lines[f"p/{run_id}"]
        if run_id in (runs[0], runs[-1]):  # also the history and `flightlog verify`
            assert_history_is_logged(data, "p", run_id, 40, local_records(dirs[run_id]))
        copy = data / "runs" / "p" / run_id
        ours = [(r.seq, r.type, r.body) for r in iter_records(copy, strict=True)]
        assert ours == local_records(dirs[run_id]), run_id
