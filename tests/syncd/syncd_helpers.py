"""Helpers of the sync tests (imported by conftest.py and the test modules; this directory
is on sys.path under pytest's default import mode).

- ``wait_until``: poll a condition until it holds or a deadline passes (no bare sleeps).
- ``free_port``: a port on 127.0.0.1 nobody listens on (bind to port 0, read, close).
- ``Proc``: a subprocess whose stdout and stderr lines are collected by threads.
- ``flightlog_cmd`` / ``run_cli``: the ``flightlog`` console script, as a subprocess.
- ``Server``: a ``flightlog server`` subprocess on a free port, ready once ``/healthz``
  answers (``waiting.wait_ready``: up to 120 s, failing at once with its output if it
  exits); killed and started again on the same port and data directory.
- ``make_run``: a finished run written in this process (counter column ``i`` = 0..n-1).
- ``assert_exact`` / ``verify_server``: the server's copy of a run equals the client's,
  and ``flightlog verify`` finds the server's data intact.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import waiting
from flightlog.format.reader import iter_records

import flightlog

HERE = Path(__file__).resolve().parent
TRAINER = HERE / "trainer.py"


# ---------------------------------------------------------------- waiting


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
               interval: float = 0.01) -> Any:
    return waiting.wait_until(condition, timeout, what, interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- subprocesses


def flightlog_cmd() -> list[str]:
    """The installed ``flightlog`` console script (beside this interpreter)."""
    found = shutil.which("flightlog", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "flightlog.cli"]


def child_env(**extra: str) -> dict[str, str]:
    """This environment without FLIGHTLOG_* variables (each test states what it uses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Proc:
    """A subprocess; its stdout/stderr lines are collected into ``out``/``err`` by
    threads. Registered in a list that a fixture kills at teardown."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None,
                 stdin: bool = False) -> None:
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen(self.args, env=env or child_env(), text=True,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=1)
        self.out: list[str] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._pump, args=(s, lines), daemon=True,
                                          name="proc-pump")
                         for s, lines in ((self.proc.stdout, self.out),
                                          (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    def _pump(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            with self._cond:
                lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        return "\n".join(self.out) + "\n--- stderr ---\n" + "\n".join(self.err[-60:])

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        """The first stdout line starting with ``prefix`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.out:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None
                                 and not any(t.is_alive() for t in self._threads)):
                    break
                self._cond.wait(min(left, 0.05))
        self.kill()
        pytest.fail(f"no line {prefix!r} from {self.args[:4]}:\n{self.text()}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.signal(signal.SIGKILL)
        self.proc.wait()

    def wait(self, timeout: float = 30.0) -> int:
        """The exit status (the test fails if it does not exit in time)."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.args[:4]} did not exit within {timeout} s:\n{self.text()}")
        for t in self._threads:
            t.join(10)
        return status

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def run_cli(*args: object, env: dict[str, str] | None = None, timeout: float = 120.0
            ) -> subprocess.CompletedProcess[str]:
    """``flightlog ARGS`` to completion (killed after ``timeout``)."""
    return subprocess.run([*flightlog_cmd(), *map(str, args)], env=env or child_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------- the server


class Server:
    """A ``flightlog server`` subprocess; ``kill`` + ``start`` restarts it on the same
    port and data directory."""

    def __init__(self, data: Path, procs: list[Proc], token: str | None = None, *,
                 env: dict[str, str] | None = None) -> None:
        self.data = data
        self.token = token
        self.env = env or {}  # FLIGHTLOG_* settings of the server process
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._procs = procs
        self.proc: Proc | None = None

    def start(self, timeout: float = waiting.READY_TIMEOUT) -> Server:
        args = [*flightlog_cmd(), "server", "--data", str(self.data), "--host", "127.0.0.1",
                "--port", str(self.port)]
        if self.token:
            args += ["--token", self.token]
        self.proc = Proc(args, env=child_env(**self.env))
        self._procs.append(self.proc)
        self._wait_healthy(timeout)
        return self

    def healthy(self) -> bool:
        """``/healthz`` answers 200 (a slow answer on a loaded machine is not a failure)."""
        try:
            return httpx.get(f"{self.url}/healthz", timeout=10.0).status_code == 200
        except httpx.TransportError:
            return False

    def _wait_healthy(self, timeout: float) -> None:
        proc = self.proc
        assert proc is not None
        try:
            waiting.wait_ready(self.healthy, proc.alive, f"flightlog server on {self.url}",
                               proc.text, timeout)
        except BaseException:
            proc.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def next_seq(self, project: str, run_id: str) -> int:
        """The server's committed high-water mark for the run (-1: not answering)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.get(f"{self.url}/api/v1/runs/{project}/{run_id}/sync",
                                 headers=headers, timeout=5.0)
        except httpx.TransportError:
            return -1
        return int(response.json()["next_seq"]) if response.status_code == 200 else -1

    def api(self, token: str | None = None) -> flightlog.Api:
        return flightlog.Api(self.url, token=token or self.token)


# ---------------------------------------------------------------- runs


def make_run(root: Path, run_id: str, n: int, *, project: str = "p", width: int = 0,
             segment_bytes: int = 8 << 20, seed: int = 0, files: dict[str, Path] | None = None,
             flush_every: int = 0, **init: Any) -> Path:
    """A finished run logging ``{"i": i, "x": i / 2, w0..w{width-1}: random}`` for
    i < n, with a metric every 7th step, the summary ``rmse``, and ``files`` attached.
    ``flush_every``: flush after that many steps, so the frames (and, with a small
    ``segment_bytes``, the segments) do not depend on how busy the machine is."""
    rng = random.Random(seed)
    run = flightlog.init(project=project, id=run_id, dir=root, segment_bytes=segment_bytes,
                         flush_interval=0.01, **init)
    for name, path in (files or {}).items():
        run.upload_file(name, path)
    for i in range(n):
        run.log({"i": i, "x": i / 2, **{f"w{c}": rng.random() for c in range(width)}})
        if i % 7 == 0:
            run.log_metric("m", i)
        if flush_every and (i + 1) % flush_every == 0:
            written = _log_bytes(run.dir)
            run.flush()
            wait_until(lambda w=written: _log_bytes(run.dir) > w, timeout=60,
                       what=f"step {i}'s frame written")
    run.summary["rmse"] = float(n)
    run.finish()
    return run.dir


def _log_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in (Path(run_dir) / "log").glob("*.flseg"))


def records(run_dir: Path) -> list[tuple[int, int, dict[str, Any]]]:
    """(seq, type, body) of every record of a run directory, in order."""
    return [(r.seq, r.type, r.body) for r in iter_records(run_dir)]


def server_run_dir(data: Path, project: str, run_id: str) -> Path:
    return data / "runs" / project / run_id


def verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("verify", *paths, timeout=60)


def verify_server(data: Path, runs: int) -> None:
    """``flightlog verify`` finds all ``runs`` runs of the server's data dir intact."""
    result = verify(data / "runs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok: ") == runs, result.stdout


def assert_exact(data: Path, client_dir: Path, n: int, *, project: str = "p",
                 run_id: str | None = None, check: bool = True) -> None:
    """The server's copy of the run equals the client's: the same records with the same
    sequence numbers 0..N-1 (no gap, no duplicate), history ``i`` == range(n), and
    (unless ``check=False``: see ``verify_server``) ``flightlog verify`` passes it."""
    run_id = run_id or client_dir.name
    copy = server_run_dir(data, project, run_id)
    theirs = records(client_dir)
    ours = [(r.seq, r.type, r.body) for r in iter_records(copy, strict=True)]
    assert [s for s, _, _ in ours] == list(range(len(ours)))
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    assert ours == theirs
    history = flightlog.open_run(copy).history()
    assert history.column("i").to_pylist() == list(range(n))
    if check:
        result = verify(copy)
        assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- posting by hand


def segment_frames(run_dir: Path) -> list[list[bytes]]:
    """Each segment's frames of a run directory, as the bytes the daemon sends."""
    from flightlog.format._framing import encode_frame
    from flightlog.format.segment import SegmentTail, list_segments

    return [[encode_frame(f.payload, first_seq=f.first_seq, record_count=f.record_count,
                          flags=f.flags) for f in SegmentTail(path).poll()]
            for _, path in list_segments(run_dir)]


def post_run(http: httpx.Client, run_dir: Path, project: str = "p") -> httpx.Response:
    """Upload every attached file of ``run_dir``, then post each segment's frames as one
    batch, as the daemon would; the answer to the first batch refused, else the last."""
    files = run_dir / "files" / "sha256"
    binary = {"Content-Type": "application/octet-stream"}
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        sha = path.parent.name + path.name
        answer = http.patch(f"/api/v1/blobs/{sha}", params={"offset": 0, "final": "true"},
                            content=path.read_bytes(), headers=binary)
        assert answer.status_code == 200, answer.text
    response = None
    for index, frames in enumerate(segment_frames(run_dir)):
        response = http.post(f"/api/v1/runs/{project}/{run_dir.name}/frames",
                             params={"segment": index}, content=b"".join(frames),
                             headers=binary)
        if response.status_code != 200:
            break
    assert response is not None
    return response
