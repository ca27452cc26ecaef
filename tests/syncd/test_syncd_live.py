"""``flightlog syncd`` follows live runs: points appear on the server as they are logged,
a finished run shows finished and a killed one crashed; killing the daemon or the server
mid-stream and restarting it loses nothing and duplicates nothing."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd_helpers import Proc, Server, assert_exact, records, wait_until

import flightlog


def _remote_history(api: Any, path: str) -> list[int] | None:
    try:
        history = api.run(path).history()
    except flightlog.RunNotFound:
        return None
    # A run whose first records (before any step) are committed has no "i" column yet.
    return list(history.column("i").to_pylist()) if "i" in history.column_names else None


def _remote_status(api: Any, path: str) -> str | None:
    try:
        return str(api.run(path).status)
    except flightlog.RunNotFound:
        return None


def test_live_runs_stream_and_end_finished_or_crashed(
        server: Server, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc]) -> None:
    daemon = start_syncd(root, server=server.url)
    live = trainer("interactive", root, "p", "live")
    live.wait_line("ready")
    api = server.api()
    expected = 0
    for batch in (10, 1, 250):
        live.send(f"log {batch}")
        expected += batch
        live.wait_line(f"logged {expected}")
        want = list(range(expected))
        wait_until(lambda want=want: _remote_history(api, "p/live") == want,
                   what=f"{expected} points on the server")
        assert _remote_status(api, "p/live") == "running"
    live.send("finish")
    live.wait_line("finished")
    assert live.wait() == 0
    wait_until(lambda: _remote_status(api, "p/live") == "finished", what="finished")

    doomed = trainer("interactive", root, "p", "doomed")
    doomed.wait_line("ready")
    doomed.send("log 40")
    doomed.wait_line("logged 40")
    wait_until(lambda: _remote_history(api, "p/doomed") == list(range(40)),
               what="40 points of the doomed run")
    assert _remote_status(api, "p/doomed") == "running"
    doomed.kill()
    wait_until(lambda: _remote_status(api, "p/doomed") == "crashed", what="crashed")
    api.close()

    daemon.signal(signal.SIGINT)  # as SIGTERM: a clean stop
    assert daemon.wait() == 0, daemon.text()
    assert_exact(server.data, root / "p" / "live", 261)
    assert_exact(server.data, root / "p" / "doomed", 40)


#: Steps of the streamed run the kill tests log (16 columns, 64 KiB segments: about 40
#: segments, so a kill lands mid-stream with many batches before and after it).
STEPS = 16_000


def _shipped(server: Server, run_dir: Path) -> bool:
    """Everything complete locally is committed on the server."""
    return server.next_seq("p", run_dir.name) == len(records(run_dir))


def test_the_daemon_killed_mid_stream_restarts_exactly(
        server: Server, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc]) -> None:
    big = trainer("stream", root, "p", "big", STEPS, 16, 65_536)
    big.wait_line("ready")
    daemon = start_syncd(root, server=server.url)
    wait_until(lambda: server.next_seq("p", "big") > 0, what="the first batch")
    daemon.signal(signal.SIGKILL)
    daemon.wait()
    at_kill = server.next_seq("p", "big")
    # Restarted polling instead of watching (as on NFS): the same outcome.
    daemon = start_syncd(root, server=server.url, extra=("--poll", "0.2"))
    big.wait_line("done", timeout=60)
    assert big.wait() == 0
    run_dir = root / "p" / "big"
    wait_until(lambda: _shipped(server, run_dir), timeout=60, what="all records shipped")
    assert daemon.terminate() == 0, daemon.text()
    assert 0 < at_kill < len(records(run_dir))
    assert_exact(server.data, run_dir, STEPS)


def test_the_server_killed_mid_stream_restarts_exactly(
        server: Server, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc]) -> None:
    big = trainer("stream", root, "p", "big", STEPS, 16, 65_536)
    big.wait_line("ready")
    daemon = start_syncd(root, server=server.url)
    wait_until(lambda: server.next_seq("p", "big") > 0, what="the first batch")
    server.kill()
    big.wait_line(f"progress {STEPS // 2}", timeout=60)
    server.start()  # same port, same --data
    big.wait_line("done", timeout=60)
    assert big.wait() == 0
    run_dir = root / "p" / "big"
    wait_until(lambda: _shipped(server, run_dir), timeout=60, what="all records shipped")
    assert daemon.terminate() == 0, daemon.text()
    assert_exact(server.data, run_dir, STEPS)
    api = server.api()
    assert api.run("p/big").status == "finished"
    api.close()
