"""``flightlog bundle`` and ``flightlog import`` killed with SIGKILL half way, then run
again; and a bundle imported into a data directory with no server, then served."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from bundle_helpers import assert_history_is_logged, bundle, cli, local_records, served_rows
from flightlog.format.segment import list_segments
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
