"""A server that says "slow down" is obeyed: a run answered 429 with ``Retry-After``
asks again no sooner than that (bounded: never past 60 s, never a busy loop), and then
everything logged arrives, each record once.

The real server limits each run's requests/s (FLIGHTLOG_RUN_RATE / FLIGHTLOG_RUN_BURST,
server/backends/admission.py); a forwarding FaultProxy between it and the client records
each request's arrival and each answer (status, Retry-After) with its time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
from faultproxy import FaultProxy
from flightlog.syncd.retry import RETRY_AFTER_CAP, Backoff, retry_after_seconds
from syncd_helpers import (
    Proc,
    Server,
    assert_exact,
    child_env,
    make_run,
    records,
    run_cli,
    wait_until,
)

#: One request a second per run, one at a time: a run of two segments or more (a batch
#: each, after the question of its position) is refused (429, Retry-After: 1) on its way.
#: A client that asked its position again after each 429 would never get further: the
#: question would spend the second's one request and the batch be refused, forever.
RUN_RATE = "1"
RUN_BURST = "1"


def _committed(server: Server, run_id: str) -> int:
    """The run's committed records as the runs list says (not the run's own sync route:
    asking it would spend the run's requests/s and starve the client under test)."""
    try:
        rows = httpx.get(f"{server.url}/api/v1/runs", params={"project": "p"},
                         timeout=10).json()["runs"]
    except httpx.TransportError:
        return -1
    return next((int(r["next_seq"]) for r in rows if r["id"] == run_id), 0)


def _refusals_obeyed(proxy: FaultProxy, run_path: str) -> int:
    """Asserts that each 429 answered on ``run_path`` was followed by the run's next
    request no sooner than its Retry-After; returns how many 429s there were."""
    with proxy._lock:
        arrivals = [t for t, (_, _, target) in zip(proxy.times, proxy.events, strict=True)
                    if run_path in target]
        answers = [a for a in proxy.answers if run_path in a[2]]
    refused = [(t, float(after)) for t, _, _, status, after in answers if status == 429]
    for sent, wait in refused:
        later = [t for t in arrivals if t > sent]
        if later:  # the client waited from its receipt, after the proxy sent it
            assert later[0] - sent >= wait, (
                f"asked again {later[0] - sent:.3f} s after a 429 with Retry-After {wait:g}")
    return len(refused)


def test_a_rate_limited_run_waits_the_retry_after_then_arrives_exactly_once(
        tmp_path: Path, procs: list[Proc], state: Path,
        start_syncd: Callable[..., Proc]) -> None:
    """``flightlog sync`` (one shot), then ``flightlog syncd``, each on a run of its own
    through the same server and proxy."""
    server = Server(tmp_path / "data", procs, env={"FLIGHTLOG_RUN_RATE": RUN_RATE,
                                                   "FLIGHTLOG_RUN_BURST": RUN_BURST}).start()
    once = make_run(tmp_path / "once", "once", 300, width=8, segment_bytes=4096,
                    flush_every=50)
    live = make_run(tmp_path / "live", "live", 300, width=8, segment_bytes=4096, seed=1,
                    flush_every=50)
    for run_dir in (once, live):
        assert len(list((run_dir / "log").iterdir())) >= 2  # a batch each
    with FaultProxy(server.port) as proxy:
        result = run_cli("sync", once.parent.parent, "--server", proxy.url,
                         "--state", state)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok " in result.stdout, result.stdout
        daemon = start_syncd(live.parent.parent, server=proxy.url,
                             state_dir=tmp_path / "daemon-state")
        wait_until(lambda: _committed(server, "live") == len(records(live)),
                   timeout=90, what="every record of the rate-limited run", interval=0.1)
        assert daemon.terminate() == 0, daemon.text()
        # Its line says what the server asked.
        assert "Retry-After asked 1 s" in daemon.text(), daemon.text()
        for run_dir in (once, live):
            refused = _refusals_obeyed(proxy, f"/api/v1/runs/p/{run_dir.name}/")
            assert refused >= 1, f"{run_dir.name}: never refused: the test did not test"
    assert_exact(server.data, once, 300)
    assert_exact(server.data, live, 300)


def test_a_bundle_import_waits_the_retry_after_then_arrives_exactly_once(
        tmp_path: Path, procs: list[Proc]) -> None:
    """``flightlog import --server`` into a rate-limited server: each 429 is waited out
    (no sooner than its Retry-After), and the import ends complete (exit 0), exact."""
    server = Server(tmp_path / "data", procs, env={"FLIGHTLOG_RUN_RATE": RUN_RATE,
                                                   "FLIGHTLOG_RUN_BURST": RUN_BURST}).start()
    attached = tmp_path / "weights.bin"
    attached.write_bytes(random.Random(5).randbytes(300_000))
    run_dir = make_run(tmp_path / "runs", "carried", 300, width=8, segment_bytes=4096,
                       flush_every=50,
                       files={"weights.bin": attached})
    env = child_env(FLIGHTLOG_BUNDLE_STATE=str(tmp_path / "ledgers"))
    made = run_cli("bundle", run_dir.parent.parent, "-o", tmp_path / "out", "--dest", "site",
                   env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    (bundle,) = (tmp_path / "out").glob("*.flbundle")
    with FaultProxy(server.port) as proxy:
        result = run_cli("import", bundle, "--server", proxy.url, "-o", tmp_path / "back",
                         env=env, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        refused = _refusals_obeyed(proxy, "/api/v1/runs/p/carried/")
        assert refused >= 1, "never refused: the test did not test"
    assert_exact(server.data, run_dir, 300)


def test_retry_after_is_read_in_both_forms_and_refuses_garbage() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    later = datetime(2026, 1, 2, 3, 4, 35, tzinfo=timezone.utc)
    assert retry_after_seconds("5") == 5.0
    assert retry_after_seconds(" 120 ") == 120.0
    assert retry_after_seconds(format_datetime(later, usegmt=True), now) == 30.0
    assert retry_after_seconds("Friday, 02-Jan-26 03:04:35 GMT", now) == 30.0  # RFC 850
    assert retry_after_seconds("Fri Jan  2 03:04:35 2026", now) == 30.0  # asctime
    assert retry_after_seconds("Fri, 02 Jan 2026 03:00:00 GMT", now) == 0.0  # past
    for bad in (None, "", "-1", "1.5", "soon", "9" * 100, "Fri, 99 Jan 2026 03:00:00 GMT",
                "\uff15"):  # a fullwidth digit is not a digit here
        assert retry_after_seconds(bad, now) is None, bad


def test_the_wait_asked_is_honoured_within_bounds() -> None:
    backoff = Backoff(rng=random.Random(3))
    for asked in (0.0, 0.01, 1.0, 30.0, 3600.0, 1e9):
        for _ in range(50):
            delay = backoff.failed(now=0.0, retry_after=asked)
            assert backoff.base <= delay <= RETRY_AFTER_CAP  # no busy loop, no stall
            assert delay >= min(asked, RETRY_AFTER_CAP)
            assert delay <= max(backoff.cap, min(asked * 1.1, RETRY_AFTER_CAP))
            assert backoff.not_before == delay
        backoff.succeeded()
    # Without a Retry-After the first retry stays quick (as before).
    assert backoff.failed(now=0.0) <= backoff.base
