"""``flightlog sync`` and ``flightlog.Api`` against a broken or malicious server
(hostile_server.py, on 127.0.0.1): every case ends in one clear line naming what the server
did wrong, in bounded time and memory, with the local run and its position untouched."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hostile_server import HostileServer
from syncd_helpers import child_env, flightlog_cmd, make_run

import flightlog

#: What one CLI run may cost, whatever the server does (the CLI alone: ~60 MiB).
WALL_SECONDS = 30.0
MAX_RSS_MIB = 200


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


#: Runs a command as its own child and writes that child's peak RSS (wait4) to argv[1].
#: Needed because Linux starts a process's ru_maxrss at its parent's RSS at fork time: a
#: child forked straight from a long pytest process would report pytest's size.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_measured(*args: object, timeout: float = 60.0
                 ) -> tuple[int, str, str, float, float]:
    """``flightlog ARGS``: (exit status, stdout, stderr, wall seconds, peak RSS in MiB of
    that process alone, from wait4 in a small launcher)."""
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, rss.name, *flightlog_cmd(),
                                 *map(str, args)], env=child_env(), start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 9))
        killer.start()
        try:
            out, err = proc.communicate()
        finally:
            killer.cancel()
        wall = time.monotonic() - started
        peak_kib = int(rss.read() or 0)
    return proc.returncode, out, err, wall, peak_kib / 1024


@pytest.fixture
def victim(root: Path, tmp_path: Path) -> Path:
    """A finished run p/r of 200 steps with an attached file."""
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(300_000))
    return make_run(root, "r", 200, files={"model.bin": model})


CASES = {
    # mode: (what the one line must say, extra CLI options)
    "hwm-huge": (["diverged", "1000000000000 records", "local log holds"], ()),
    "hwm-negative": (["'next_seq' is -1, a negative count"], ()),
    "ack-huge": (["diverged", "answered 1000000000000"], ()),
    "stale-upload": (["does not advance", "model.bin", "sent bytes 0..300000",
                      "answered size 0"], ()),
    "endless": (["1048576-byte bound", "not read further"], ()),
    "trickle": (["still arriving after 3 s"], ("--timeout", "1")),
    "not-json": (["not JSON", "Welcome to nginx"], ()),
    "redirect": (["HTTP 307 redirect", "not followed"], ()),
}


@pytest.mark.parametrize("mode", sorted(CASES))
def test_sync_fails_loudly_fast_and_touches_nothing(mode: str, root: Path, state: Path,
                                                    victim: Path) -> None:
    expected, options = CASES[mode]
    before = _snapshot(root)
    with HostileServer(mode) as server:
        status, out, err, seconds, rss = run_measured(
            "sync", root, "--server", server.url, "--state", state, "--retry-for", "20",
            *options)
        requests = server.requests
        sent = server.endless_sent
    text = out + err
    assert status == 1, text
    assert "Traceback" not in text and "JSONDecodeError" not in text, text
    lines = [line for line in out.splitlines() if "p/r" in line]
    assert len(lines) == 1 and lines[0].startswith("set aside"), text
    for phrase in expected:
        assert phrase in lines[0], (phrase, lines[0])
    assert seconds < WALL_SECONDS and rss < MAX_RSS_MIB, (seconds, rss)
    # Nothing local moved: the run's bytes, and its position never advanced.
    assert _snapshot(root) == before
    position = json.loads((state / "r.json").read_text())
    assert position["acked_seq"] == 0 and position["local_seq"] == 0, position
    if mode == "stale-upload":
        patches = sum(n for what, n in requests.items() if what.startswith("PATCH"))
        assert patches == 1, requests
    if mode == "endless":
        assert sent < 64 << 20, sent  # the client hung up after its bound


def test_api_on_garbage_or_a_redirect_raises_a_protocol_error() -> None:
    with HostileServer("garbage-msgpack") as server, flightlog.Api(server.url) as api:
        with pytest.raises(flightlog.ServerProtocolError, match="not msgpack") as caught:
            api.runs("p")
        assert "GET /api/v1/runs" in str(caught.value)
    with HostileServer("redirect") as server, flightlog.Api(server.url) as api:
        with pytest.raises(flightlog.ServerProtocolError, match="307 redirect"):
            api.runs("p")
        with pytest.raises(flightlog.ServerProtocolError, match="307 redirect"):
            api.run("p/r")


def _serve(server: HostileServer, name: str, content: bytes, *, claimed: bytes | None = None
           ) -> None:
    """Serve ``content`` as file ``name``, described by the hash and size of ``claimed``."""
    described = content if claimed is None else claimed
    server.files[name] = (content, hashlib.sha256(described).hexdigest(), len(described))


def test_api_download_file_never_leaves_a_file_it_did_not_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    good = os.urandom(100_000)
    with HostileServer("files") as server, flightlog.Api(server.url) as api:
        _serve(server, "model.bin", good)
        _serve(server, "..", good)
        _serve(server, "forged.bin", os.urandom(100_000), claimed=good)
        _serve(server, "long.bin", good + b"more", claimed=good)
        run = api.run("p/r")
        # A name from the server is never a path: ".." names no file in a directory.
        with pytest.raises(flightlog.UnsafeFileName, match=r"'\.\.'"):
            run.download_file("..", out)
        with pytest.raises(flightlog.ServerProtocolError, match="SHA-256"):
            run.download_file("forged.bin", out / "forged.bin")
        with pytest.raises(flightlog.ServerProtocolError, match="more than its 100000"):
            run.download_file("long.bin", out)
        server.set(cut_downloads=True)  # the connection drops half-way
        with pytest.raises(flightlog.TransportError):
            run.download_file("model.bin", out / "model.bin")
        assert list(out.iterdir()) == [] and list(tmp_path.iterdir()) == [out]
        server.set(cut_downloads=False)
        assert run.download_file("model.bin", out).read_bytes() == good
        assert [p.name for p in out.iterdir()] == ["model.bin"]
