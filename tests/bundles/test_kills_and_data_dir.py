"""``flightlog bundle`` and ``flightlog import`` (while it uploads, a writer still logging,
and while it commits records) killed with SIGKILL half way, then run again; and a bundle
imported into a data directory with no server, then served."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bundle_helpers import (
    assert_history_is_logged,
    attached_files,
    bundle,
    cli,
    empty_dirs,
    files_named,
    held,
    kill_mid_way,
    local_records,
    receipt_of,
    served_rows,
)
from flightlog.format.reader import iter_records
from flightlog.format.segment import list_segments
from flightlog.syncd.client import HttpSyncClient
from syncd_helpers import Proc, Server, flightlog_cmd, make_run, wait_until

from flightlog.bundles.verify import open_bundle
from flightlog.cli import main

WRITER = Path(__file__).resolve().parent / "writer.py"  # as the ``writer`` fixture's


def _end(path: Path) -> int:
    """One past the last record a bundle holds."""
    return max(r.last_seq for r in open_bundle(path).manifest.runs) + 1


def test_sigkill_of_bundle_and_of_import_while_a_writer_logs(
        tmp_path: Path, env: dict[str, str], procs: list[Proc],
        start_server: Callable[[Path], Server]) -> None:
    """The sneakernet loop with its kills: a writer process attaches a 32 MiB file and keeps
    logging while ``bundle`` is killed writing the bundle and ``import`` is killed uploading
    it (each frozen first and seen to be mid-way); both are rerun, the receipt goes back,
    the last bundle after the writer finishes; the server ends with what was logged, once
    each, and prune takes every acknowledged segment but the last, the files only they
    named and the directories that emptied. (The steps after the kills run in this
    process, through the same ``main``: the kills are what need processes.)"""
    root, disk, back, data = (tmp_path / n for n in ("root", "disk", "back", "data"))
    ledger = tmp_path / "ledgers" / "site.json"
    w = Proc([sys.executable, str(WRITER), str(root), "p", "live", "4096"], stdin=True)
    procs.append(w)
    run_dir = root / "p" / "live"
    steps = 0

    def log(k: int) -> None:  # the writer logs while what follows runs; waited for after
        nonlocal steps
        steps += k
        w.send(f"log {k}")

    log(200)
    w.send("big 32")  # read once the writer is ready, while the server starts
    server = start_server(data)
    w.wait_line("attached 200", timeout=60)

    # bundle, killed while it writes (the writer logging): no bundle, the ledger unmoved.
    log(1000)
    proc = Proc([*flightlog_cmd(), "bundle", root, "-o", disk, "--dest", "site"], env=env)
    procs.append(proc)
    kill_mid_way(proc, lambda: disk.exists() and any(
        p.stat().st_size > (1 << 20) for p in disk.glob(".*.tmp")), "a bundle half written")
    assert not list(disk.glob("*.flbundle"))
    assert not ledger.exists()
    w.wait_line(f"logged {steps}", timeout=60)
    log(1000)
    made = bundle(env, root, disk)  # the rerun: complete, and the stale temp file is gone
    assert not list(disk.glob(".*.tmp"))
    assert json.loads(ledger.read_text())["next_number"] == 2
    w.wait_line(f"logged {steps}", timeout=60)

    # import, killed while it uploads the attached file (the writer logging): nothing of
    # the bundle is committed, no receipt; the rerun completes.
    log(1000)
    proc = Proc([*flightlog_cmd(), "import", made, "--server", server.url, "-o", back],
                env=env)
    procs.append(proc)

    def uploading() -> bool:
        partial = data / "blobs" / "partial"
        return partial.is_dir() and any(p.stat().st_size > 0 for p in partial.iterdir())

    kill_mid_way(proc, uploading, "the import uploading the attached file")
    assert not back.exists() or not list(back.glob("*.json"))  # no receipt of a half import
    assert held(data, "p", "live") == 0  # files go first: no record was committed
    result = cli(env, "import", made, "--server", server.url, "-o", back)
    assert result.returncode == 0, result.stdout + result.stderr
    assert held(data, "p", "live") == _end(made)
    receipt = receipt_of(result)
    w.wait_line(f"logged {steps}", timeout=60)

    # The receipt comes back; the writer finishes; the last bundle goes over.
    w.send("finish")
    w.wait_line("finished", timeout=60)
    state = ["--state", tmp_path / "ledgers"]
    assert main(["bundle", str(root), "-o", str(disk), "--dest", "site", *map(str, state),
                 "--since-receipt", str(receipt)]) == 0
    (last,) = set(disk.glob("*.flbundle")) - {made}
    assert open_bundle(last).manifest.runs[0].first_seq == _end(made)
    receipts = set(back.glob("*.json"))
    assert main(["import", str(last), "--server", server.url, "-o", str(back)]) == 0
    (final,) = set(back.glob("*.json")) - receipts
    assert_history_is_logged(data, "p", "live", steps, local_records(run_dir))

    # Prune with the last receipt: every segment but the last goes, and the attached files
    # (the big one among them) only those named, and the directories left empty.
    segments = list_segments(run_dir)
    assert len(segments) > 2
    assert main(["prune", str(root), "--acked-by", str(final)]) == 0
    assert list_segments(run_dir) == segments[-1:]
    assert attached_files(run_dir) == files_named(segments[-1][1])
    assert not empty_dirs(run_dir / "files"), empty_dirs(run_dir / "files")


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
