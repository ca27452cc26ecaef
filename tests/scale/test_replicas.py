"""Three ``flightlog server --db --store`` replicas behind haproxy (round-robin): whatever
replica takes whatever batch, and whichever part fails for a while (a replica SIGKILLed,
PostgreSQL restarted, the object store frozen), each run ends on the server exactly as it
was logged: read back from PostgreSQL + the object store into an empty cache, the same
records with sequence numbers 0..N-1 (no gap, no duplicate) and ``flightlog verify`` clean.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from scaleparts import MAX_COMMITS
from syncd_helpers import (
    Proc,
    assert_exact,
    make_run,
    records,
    run_cli,
    verify_server,
    wait_until,
)

import flightlog

TIMEOUT = 90.0


@pytest.fixture
def api(cluster: Any) -> Iterator[flightlog.Api]:
    with flightlog.Api(cluster.url) as client:
        yield client


def _history(api: flightlog.Api, path: str) -> list[int] | None:
    try:
        return list(api.run(path).history().column("i").to_pylist())
    except (flightlog.FlightlogError, httpx.HTTPError):
        return None  # not there yet, or a replica answered 503 during an outage


def _status(api: flightlog.Api, path: str) -> str | None:
    try:
        return str(api.run(path).status)
    except (flightlog.FlightlogError, httpx.HTTPError):
        return None


def _log(trainer: Proc, count: int, total: int) -> int:
    trainer.send(f"log {count}")
    trainer.wait_line(f"logged {total + count}", timeout=TIMEOUT)
    return total + count


def _finish_exact(cluster: Any, api: flightlog.Api, trainer: Proc, root: Path, run_id: str,
                  total: int, read_back: Callable[..., Path]) -> None:
    wait_until(lambda: _history(api, f"p/{run_id}") == list(range(total)), TIMEOUT,
               f"{total} points of p/{run_id} through the balancer")
    trainer.send("finish")
    trainer.wait_line("finished")
    assert trainer.wait() == 0
    wait_until(lambda: _status(api, f"p/{run_id}") == "finished", TIMEOUT, "finished")
    assert_exact(read_back("p", run_id), root / "p" / run_id, total)


def test_sync_through_the_balancer_ends_exact(cluster: Any, tmp_path: Path,
                                             read_back: Callable[..., Path],
        api: flightlog.Api) -> None:
    root = tmp_path / "runs"
    attached = tmp_path / "notes.txt"
    attached.write_bytes(b"attached once, stored by its hash\n" * 1000)
    make_run(root, "s1", 1500, width=8, segment_bytes=32 << 10, files={"notes": attached})
    make_run(root, "s2", 500, seed=1)
    result = run_cli("sync", root, "--server", cluster.url, "--state", tmp_path / "state")
    assert result.returncode == 0, result.stdout + result.stderr
    copy = read_back("p", "s1", "s2")
    assert_exact(copy, root / "p" / "s1", 1500, check=False)
    assert_exact(copy, root / "p" / "s2", 500, check=False)
    verify_server(copy, 2)
    assert api.run("p/s1").status == "finished"
    rows = {r["id"]: r for r in httpx.get(f"{cluster.url}/api/v1/runs",
                                           params={"project": "p"}).json()["runs"]}
    assert rows["s1"]["summary"]["rmse"] == 1500.0
    assert rows["s2"]["next_seq"] == len(records(root / "p" / "s2"))
    files = httpx.get(f"{cluster.url}/api/v1/runs/p/s1/files/notes")
    assert files.status_code == 200 and files.content == attached.read_bytes()


def test_live_syncd_through_the_balancer_with_a_replica_sigkilled_mid_stream(
        cluster: Any, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc], read_back: Callable[..., Path],
        api: flightlog.Api) -> None:
    start_syncd(root, server=cluster.url)
    live = trainer("interactive", root, "p", "killed")
    live.wait_line("ready")
    total = _log(live, 200, 0)
    wait_until(lambda: _history(api, "p/killed") == list(range(total)), TIMEOUT, "200 points")
    assert _status(api, "p/killed") == "running"
    victim = cluster.replicas[0]
    total = _log(live, 1500, total)
    victim.kill()  # while the daemon ships the 1500 steps through all three
    try:
        total = _log(live, 300, total)
        _finish_exact(cluster, api, live, root, "killed", total, read_back)
    finally:
        victim.launch()  # rejoins in the background; haproxy routes to it once healthy


def test_live_syncd_with_postgresql_restarted_mid_stream(
        cluster: Any, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc], read_back: Callable[..., Path],
        api: flightlog.Api) -> None:
    start_syncd(root, server=cluster.url)
    live = trainer("interactive", root, "p", "pgrestart")
    live.wait_line("ready")
    total = _log(live, 300, 0)
    total = _log(live, 3000, total)
    cluster.postgres.stop()  # mid-stream: the replicas answer 503, the daemon retries
    try:
        total = _log(live, 200, total)
    finally:
        cluster.postgres.start()
    _finish_exact(cluster, api, live, root, "pgrestart", total, read_back)


def test_live_syncd_with_the_object_store_unavailable_for_a_while(
        cluster: Any, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc], read_back: Callable[..., Path],
        api: flightlog.Api) -> None:
    start_syncd(root, server=cluster.url)
    live = trainer("interactive", root, "p", "frozen")
    live.wait_line("ready")
    total = _log(live, 300, 0)
    wait_until(lambda: _history(api, "p/frozen") == list(range(total)), TIMEOUT, "300 points")
    probe = f"{cluster.replicas[1].url}/api/v1/blobs/{'ab' * 32}"
    cluster.moto.freeze()  # every object-store request now times out
    try:
        total = _log(live, 100, total)
        wait_until(lambda: httpx.head(probe, timeout=30).status_code == 503, TIMEOUT,
                   "a replica to find the object store unavailable")
    finally:
        cluster.moto.thaw()
    _finish_exact(cluster, api, live, root, "frozen", total, read_back)


def test_a_replica_at_its_commit_limit_answers_429_with_retry_after(cluster: Any) -> None:
    replica = cluster.replicas[2]
    path = "/api/v1/runs/p/limited/frames?segment=0"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{replica.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n")
    # MAX_COMMITS batches whose bodies have not finished arriving hold every place.
    stalled = [socket.create_connection(("127.0.0.1", replica.port), timeout=30)
               for _ in range(MAX_COMMITS)]
    try:
        for conn in stalled:
            conn.sendall(head.encode() + b"x" * 10)

        def probe() -> httpx.Response:  # a garbage batch: 400 when admitted
            return httpx.post(replica.url + path, content=b"garbage", timeout=30,
                              headers={"Content-Type": "application/octet-stream"})

        refused = wait_until(lambda: (r := probe()).status_code == 429
                             and r.json()["error"] == "overloaded" and r, TIMEOUT,
                             "429 from the replica at its limit")
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "overloaded"
    finally:
        for conn in stalled:
            conn.close()
    # The places are given back when those requests end: batches are taken again.
    wait_until(lambda: probe().status_code == 400, TIMEOUT, "the replica admitting again")
