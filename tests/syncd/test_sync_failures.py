"""What ``flightlog sync`` does when things are wrong: a corrupt segment, a wrong token, a
server that never answers; and when there are simply very many runs."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flightlog.format.reader import iter_records
from flightlog.format.segment import list_segments
from syncd_helpers import (
    Proc,
    Server,
    assert_exact,
    child_env,
    make_run,
    records,
    run_cli,
    server_run_dir,
    verify,
    verify_server,
    wait_until,
)

import flightlog


def test_a_corrupt_segment_costs_only_its_damaged_records(server: Server, root: Path,
                                                          state: Path) -> None:
    good = {"before": 400, "after": 900}
    dirs = {rid: make_run(root, rid, n, seed=n) for rid, n in good.items()}
    bad = make_run(root, "bad", 6000, width=8, segment_bytes=16_384, seed=3)
    segments = list_segments(bad)
    assert len(segments) >= 5
    _, path = segments[len(segments) // 2]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40  # one flipped bit in the middle of a closed segment
    path.write_bytes(bytes(data))

    survivors = records(bad)  # the salvage reader's view: every intact record
    seqs = [s for s, _, _ in survivors]
    lost = sorted(set(range(seqs[-1] + 1)) - set(seqs))
    assert lost and lost[0] > 0 and lost[-1] < seqs[-1]  # records before and after it

    result = run_cli("sync", root, "--server", server.url, "--state", state)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "p/bad" in x)
    assert line.startswith("damaged") and f"{len(lost)} records lost" in line, line
    for rid, n in good.items():
        other = next(x for x in result.stdout.splitlines() if f"p/{rid} " in x)
        assert other.startswith("ok"), result.stdout
        assert_exact(server.data, dirs[rid], n)

    # The server holds exactly the intact records, with the same hole.
    copy = server_run_dir(server.data, "p", "bad")
    assert [(r.seq, r.type, r.body) for r in iter_records(copy)] == survivors
    rows = [body for _, t, body in survivors if t == 3]
    with pytest.warns(flightlog.FlightlogWarning, match="sequence gap"):
        history = flightlog.open_run(copy).history().column("i").to_pylist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", flightlog.FlightlogWarning)
        local = flightlog.open_run(bad).history().column("i").to_pylist()
    assert history == local and rows and history == sorted(set(history))
    assert history[0] == 0 and history[-1] == 5999 and len(history) < 6000
    checked = verify(copy)
    assert checked.returncode == 1 and "sequence gap" in checked.stdout, checked.stdout

    # Syncing again changes nothing and says the same.
    again = run_cli("sync", root, "--server", server.url, "--state", state)
    assert again.returncode == 1 and f"{len(lost)} records lost" in again.stdout
    assert [(r.seq, r.type, r.body) for r in iter_records(copy)] == survivors


def test_a_wrong_token_is_refused_and_nothing_is_stored(
        start_server: Callable[..., Server], root: Path, state: Path) -> None:
    server = start_server(token="s3cret")
    run_dir = make_run(root, "secret", 300)
    for token_args in (["--token", "wrong"], []):
        result = run_cli("sync", root, "--server", server.url, "--state", state,
                         *token_args, timeout=60)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "401" in result.stdout and "set aside" in result.stdout, result.stdout
    status = run_cli("status", root, "--state", state)
    assert "p/secret" in status.stdout and "401" in status.stdout, status.stdout
    assert not any((server.data / "runs").iterdir())
    with server.api(token="wrong") as api, pytest.raises(flightlog.ServerRejected) as caught:
        api.runs("p")
    assert caught.value.status_code == 401
    with server.api() as api:
        assert api.runs("p") == []

    env = child_env(FLIGHTLOG_TOKEN="s3cret")
    result = run_cli("sync", root, "--server", server.url, "--state", state, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exact(server.data, run_dir, 300)


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """A URL whose socket accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True, name="black-hole")
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_a_black_holed_server_fails_cleanly_and_training_goes_on(
        root: Path, state: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc]) -> None:
    for k in range(25):  # each costs a timeout: the deadline must still hold
        make_run(root, f"finished{k}", 10)
    with black_hole() as url:
        training = trainer("stream", root, "p", "training", 20_000, 4, 65_536)
        training.wait_line("ready")
        daemon = start_syncd(root, server=url, extra=("--timeout", "1"))
        started = time.monotonic()
        result = run_cli("sync", root, "--server", url, "--state", state.parent / "one",
                         "--timeout", "1", "--retry-for", "3", timeout=60)
        took = time.monotonic() - started
        assert result.returncode == 1, result.stdout + result.stderr
        assert "not acknowledged" in result.stdout and "no answer in time" in result.stdout
        assert took < 20, took  # --retry-for 3, plus at most one request's timeout
        done = training.wait_line("done", timeout=60).split()
        assert training.wait() == 0
        assert float(done[2]) < 2.0, done  # the slowest run.log call, in seconds
        # The daemon says why it is stuck, and stops cleanly on SIGTERM all the same.
        wait_until(lambda: any("no answer in time" in x for x in daemon.err),
                   what="the daemon's reason on stderr")
        assert daemon.terminate(timeout=15) == 0, daemon.text()
    history = flightlog.open_run(root / "p" / "training").history()
    assert history.column("i").to_pylist() == list(range(20_000))


def test_hundreds_of_small_runs_in_one_sync(server: Server, root: Path, state: Path) -> None:
    dirs = [make_run(root, f"r{k:03d}", 20, project="many", seed=k,
                     config={"k": k}) for k in range(200)]
    result = run_cli("sync", root, "--server", server.url, "--state", state, timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == 200
    for run_dir in dirs:
        assert_exact(server.data, run_dir, 20, project="many", check=False)
    verify_server(server.data, 200)
    api = server.api()
    listed = api.runs("many", order="config.k")
    assert [r.id for r in listed] == [d.name for d in dirs]
    api.close()
