"""Sync through a network that drops, delays, refuses and cuts requests (faultproxy.py):
every run still arrives exactly once, and a large file's upload resumes where it stopped."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from faultproxy import FaultProxy
from flightlog.format.segment import list_segments
from syncd_helpers import (
    Proc,
    Server,
    assert_exact,
    make_run,
    records,
    run_cli,
    verify_server,
    wait_until,
)

FAULTS = {"forward": 14, "drop": 2, "delay": 2, "unavailable": 2, "cut": 3, "stall": 0.3}


def test_sync_through_faults_is_exact(server: Server, root: Path, state: Path,
                                      tmp_path: Path) -> None:
    attachment = tmp_path / "model.bin"
    attachment.write_bytes(os.urandom(300_000))
    sizes = {"big": 12_000, "filed": 300, **{f"s{k}": 37 * k + 1 for k in range(10)}}
    dirs = {rid: make_run(root, rid, n, width=16, segment_bytes=4096, seed=n,
                          files={"model.bin": attachment} if rid == "filed" else None)
            for rid, n in sizes.items()}
    assert len(list_segments(dirs["big"])) > 30  # many small batches
    # Every kind of fault once early on (stalls are rare in the schedule), then the
    # seeded schedule.
    script = ["forward", "stall", "forward", "cut", "drop", "unavailable", "delay"]
    with FaultProxy(server.port, seed=20240611, weights=FAULTS, delay=0.05, stall=2.5,
                    script=script) as proxy:
        result = run_cli("sync", root, "--server", proxy.url, "--state", state,
                         "--timeout", "2", "--retry-for", "150", timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    for action in FAULTS:
        assert proxy.stats[action] > 0, (action, proxy.stats)
    assert proxy.stats["chunked"] == 0
    assert any(a == "cut" and m == "POST" and "/frames" in t for a, m, t in proxy.events)
    for rid, n in sizes.items():
        assert_exact(server.data, dirs[rid], n, check=False)
    verify_server(server.data, len(sizes))
    api = server.api()
    out = api.run("p/filed").download_file("model.bin", tmp_path / "down" / "model.bin")
    assert out.read_bytes() == attachment.read_bytes()
    api.close()


def test_syncd_follows_a_live_run_through_faults(
        server: Server, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc]) -> None:
    with FaultProxy(server.port, seed=7, weights=FAULTS, delay=0.05, stall=2.5) as proxy:
        stream = trainer("stream", root, "p", "live", 12_000, 8, 4096)
        daemon = start_syncd(root, server=proxy.url, extra=("--timeout", "2"))
        stream.wait_line("done", timeout=60)
        assert stream.wait() == 0
        run_dir = root / "p" / "live"
        assert len(list_segments(run_dir)) > 10
        n_records = len(records(run_dir))
        wait_until(lambda: server.next_seq("p", "live") == n_records, timeout=90,
                   what="the live run shipped through the faults")
        assert daemon.terminate() == 0, daemon.text()
    assert sum(proxy.stats[a] for a in FAULTS if a != "forward") > 0
    assert_exact(server.data, run_dir, 12_000)


def test_a_large_file_upload_resumes_after_a_cut(server: Server, root: Path, state: Path,
                                                 tmp_path: Path) -> None:
    chunk = 8 * 1024 * 1024  # syncd.client.BLOB_CHUNK
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(2 * chunk + 12345))
    run_dir = make_run(root, "blob", 10, files={"weights.bin": big})
    twin = make_run(root, "twin", 10, files={"same-weights.bin": big})  # the same content
    # Blob requests: HEAD (forward), PATCH at 0 (forward), PATCH at 8 MiB (committed,
    # answer cut), then whatever the schedule says (forward only).
    with FaultProxy(server.port, only="/blobs/", script=["forward", "forward", "cut"]) as proxy:
        result = run_cli("sync", root, "--server", proxy.url, "--state", state)
    assert result.returncode == 0, result.stdout + result.stderr
    patches = [t.split("?", 1)[1] for a, m, t in proxy.events if m == "PATCH"]
    offsets = [int(p.split("offset=")[1].split("&")[0]) for p in patches]
    # After the cut, the upload went on at 16 MiB: nothing was sent twice, and the
    # second run with the same content did not upload it again.
    assert offsets == [0, chunk, 2 * chunk], patches
    assert proxy.stats["cut"] == 1
    assert_exact(server.data, run_dir, 10)
    assert_exact(server.data, twin, 10)
    api = server.api()
    out = api.run("p/blob").download_file("weights.bin", tmp_path / "down.bin")
    assert out.read_bytes() == big.read_bytes()
    api.close()


def test_a_refused_run_is_set_aside_while_the_others_ship(server: Server, root: Path,
                                                         state: Path, tmp_path: Path) -> None:
    sizes = {"a": 200, "victim": 300, "z": 400}
    dirs = {rid: make_run(root, rid, n, seed=n) for rid, n in sizes.items()}
    # Every request about the victim run is refused with a 400 (not retryable).
    with FaultProxy(server.port, only="/runs/p/victim/", weights={"reject": 1}) as proxy:
        result = run_cli("sync", root, "--server", proxy.url, "--state", state)
    assert result.returncode == 1, result.stdout + result.stderr
    victim = next(x for x in result.stdout.splitlines() if "p/victim" in x)
    assert victim.startswith("set aside") and "HTTP 400" in victim, result.stdout
    assert sum(x.startswith("ok") for x in result.stdout.splitlines()) == 2
    assert [t for a, _, t in proxy.events if a == "reject"] == ["/api/v1/runs/p/victim/sync"]
    for rid in ("a", "z"):
        assert_exact(server.data, dirs[rid], sizes[rid])
    assert not (server.data / "runs" / "p" / "victim").exists()

    # A run whose attached file is missing locally is set aside with the reason too.
    attachment = tmp_path / "f.bin"
    attachment.write_bytes(b"weights" * 100)
    broken = make_run(root, "nofile", 10, files={"f.bin": attachment})
    for blob in (broken / "files").rglob("*"):
        if blob.is_file():
            blob.unlink()
    result = run_cli("sync", root, "--server", server.url, "--state", state)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "p/nofile" in x)
    assert line.startswith("set aside") and "'f.bin'" in line and "missing" in line, line
    assert_exact(server.data, dirs["victim"], sizes["victim"])
