"""Sync throughput: a finished 10-million-point run shipped by ``flightlog sync``, vs MLflow.

What is measured:

* Workload: a finished flightlog run of ``--steps`` steps (default 1,000,000) x 10 random
  float keys ``m0``..``m9`` (seeded ``numpy.random.default_rng``), logged with
  ``run.log(row)`` (the same run ``bench/history_read.py`` builds; ``--keep`` builds it
  once in ``--cache-dir``, shared with that script, and reuses it).
* flightlog: a real ``flightlog server --data <tmp> --port <free>`` subprocess on
  127.0.0.1, then the wall time of a one-shot ``flightlog sync <root> --server URL
  --state <tmp>`` subprocess, from spawn to exit (interpreter start and imports
  included), as points/s. Each of the ``--repeat`` repetitions (default 3; the median is
  reported) uses a fresh server and empty data and state directories. After each sync
  the server is asked, through ``flightlog.Api(url).run("proj/id").history()``, whether
  it has every row. Also printed: the fixed cost of the command (a sync of an empty
  root), the sync process's CPU time, the server's CPU time during the sync.
* MLflow: ``mlflow server --backend-store-uri sqlite:///<tmp>/mlflow.db`` on 127.0.0.1
  (one worker, job execution off), and in a child process ``MlflowClient.log_batch(run_id,
  metrics=[Metric(...)] )`` in batches of 1,000 metrics (MLflow's per-request limit) of
  the same values. MLflow takes ~0.2 ms per point, so it ships only ``--mlflow-points``
  (default 200,000) and its points/s is extrapolated to the full run (the output says
  so). Only the ``log_batch`` loop is timed (client import and run creation are not).
* Targets: flightlog >= 1,000,000 points/s and >= 100x MLflow's points/s (PASS/MISS).

Every Python child process (servers, sync, MLflow's workers) gets a ``sitecustomize``
through ``PYTHONPATH`` that refuses, with an audit hook, any socket connection that is
not loopback or a Unix socket (``bench/_peers.forbid_network``); so does this process.
Every child runs in its own process group and is killed at the end, whatever happens.

Run:
    python bench/sync_throughput.py                   # 1M steps, 3 syncs, MLflow 200k points
    python bench/sync_throughput.py --keep            # build the run once, reuse it
    python bench/sync_throughput.py --steps 100000 --repeat 1 --mlflow-points 20000
    python bench/sync_throughput.py --skip-mlflow
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _peers import KEYS, dir_bytes, forbid_network
from history_read import CHUNK_ROWS, build_run, kept_run
from log_latency import import_flightlog, print_grid, verdict

BENCH = Path(__file__).resolve().parent
TARGET_POINTS_PER_S = 1_000_000.0
TARGET_MLFLOW_SPEEDUP = 100.0
MLFLOW_BATCH = 1000  # metrics per log_batch request: MLflow's limit
SERVER_START_TIMEOUT = 60.0
MLFLOW_START_TIMEOUT = 180.0

MLFLOW_ENV = {
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_ALLOW_FILE_STORE": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no huey job-runner processes
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}

# Installed in every Python child through PYTHONPATH (see guarded_env).
SITECUSTOMIZE = '''\
"""Written by bench/sync_*.py: refuse any socket traffic that is not loopback."""
from _peers import forbid_network

forbid_network()
GUARDED = True
'''


# --- child processes ---------------------------------------------------------------


def flightlog_command() -> list[str]:
    """The ``flightlog`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("flightlog")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "flightlog.cli"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_proxy_env() -> None:
    """Drop proxy variables here (httpx honours them), so nothing is routed off-host."""
    for key in list(os.environ):
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[key]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def guarded_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for children: the loopback-only guard on ``PYTHONPATH``, plus ``extra``.

    Raises:
        RuntimeError: a probe child did not load the guard.
    """
    guard = tmp / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(guard), str(BENCH), *([previous] if previous
                                                                    else [])])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, sitecustomize; sys.exit(0 if getattr(sitecustomize, 'GUARDED', 0) else 3)"],
        env=env, capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:
        raise RuntimeError(f"the network guard does not load in children: {probe.stderr!r}")
    return env


@dataclass
class Child:
    """A subprocess in its own process group, with its output in ``log``."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, SIGKILL it after ``timeout``; then kill any leftover member
        of the group (servers that spawned workers). Returns the exit status."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode


def spawn(stack: contextlib.ExitStack, name: str, argv: Sequence[str], env: Mapping[str, str],
          logs: Path, cwd: Path | None = None) -> Child:
    """Start ``argv`` in a new session; it is stopped when ``stack`` closes."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env), cwd=cwd,
                                start_new_session=True)
    child = Child(name, list(argv), proc, log)
    stack.callback(child.stop)
    return child


def wait_http_ok(child: Child, url: str, timeout: float) -> float:
    """Poll ``url`` until it answers 200, ``child`` dies, or ``timeout``; seconds taken.

    Raises:
        RuntimeError: the child exited, or no 200 within ``timeout``.
    """
    start = time.monotonic()
    deadline = start + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as http:
        while True:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited with {child.proc.returncode} before "
                                   f"{url} answered: {child.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url).status_code == 200:
                    return time.monotonic() - start
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{child.name}: {url} did not answer 200 within "
                                   f"{timeout:g} s: {child.tail()}")
            time.sleep(0.05)


def wait_for_line(child: Child, text: str, timeout: float) -> float:
    """Poll ``child``'s log until it contains ``text``; seconds taken.

    Raises:
        RuntimeError: the child exited first, or ``timeout``.
    """
    start = time.monotonic()
    while text not in child.log.read_text(errors="replace"):
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}: "
                               f"{child.tail()}")
        if time.monotonic() - start >= timeout:
            raise RuntimeError(f"{child.name} did not print {text!r} in {timeout:g} s")
        time.sleep(0.02)
    return time.monotonic() - start


def start_flightlog_server(stack: contextlib.ExitStack, data: Path, env: Mapping[str, str],
                           logs: Path, name: str = "flightlog-server") -> tuple[str, Child]:
    """``flightlog server --data DATA --host 127.0.0.1 --port FREE``, ready; (url, child)."""
    port = free_port()
    argv = [*flightlog_command(), "server", "--data", str(data), "--host", "127.0.0.1",
            "--port", str(port)]
    child = spawn(stack, name, argv, env, logs)
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(child, f"{url}/healthz", SERVER_START_TIMEOUT)
    return url, child


# --- process accounting (/proc, psutil where there is no /proc) ----------------------


@dataclass
class Usage:
    """CPU seconds (user + system) and memory of a process or process group."""

    cpu_s: float = 0.0
    rss: int = 0  # bytes now
    peak_rss: int = 0  # bytes: VmHWM (high-water mark) where /proc has it, else rss
    processes: int = 0


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_usage(pid: int) -> tuple[int, Usage] | None:
    """(process group, usage) of ``pid`` from /proc, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    # after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime ...
    pgrp, utime, stime = int(fields[2]), int(fields[11]), int(fields[12])
    memory = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(value.split()[0]) * 1024
    rss = memory.get("VmRSS", 0)
    return pgrp, Usage((utime + stime) / _CLOCK_TICKS, rss, memory.get("VmHWM", rss), 1)


def usage(pid: int, *, group: bool = False) -> Usage:
    """CPU and memory of ``pid`` (with ``group``: summed over its live process group)."""
    if not Path("/proc/self/stat").exists():
        return _psutil_usage(pid, group)
    if not group:
        found = _proc_usage(pid)
        return found[1] if found else Usage()
    total = Usage()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        found = _proc_usage(int(entry.name))
        if found and found[0] == pid:
            u = found[1]
            total = Usage(total.cpu_s + u.cpu_s, total.rss + u.rss,
                          total.peak_rss + u.peak_rss, total.processes + 1)
    return total


def _psutil_usage(pid: int, group: bool) -> Usage:
    try:
        import importlib

        psutil: Any = importlib.import_module("psutil")
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if group else [proc]
        total = Usage()
        for p in procs:
            times, rss = p.cpu_times(), p.memory_info().rss
            total = Usage(total.cpu_s + times.user + times.system, total.rss + rss,
                          total.peak_rss + rss, total.processes + 1)
        return total
    except Exception:  # no psutil, or the process is gone: nothing to report
        return Usage()


@dataclass
class UsageTracker:
    """Samples a process's usage; keeps the last sample and the largest RSS seen."""

    pid: int
    group: bool = False
    last: Usage = field(default_factory=Usage)
    max_rss: int = 0

    def sample(self) -> Usage:
        now = usage(self.pid, group=self.group)
        if now.processes:
            self.last = now
            self.max_rss = max(self.max_rss, now.rss, now.peak_rss)
        return self.last


def code_version() -> str:
    """The checkout measured: commit, and whether tracked files differ from it."""
    repo = BENCH.parent
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30, check=True)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    changed = len(dirty.stdout.splitlines())
    return head.stdout.strip() + (f" + uncommitted changes to {changed} tracked file(s)"
                                  if changed else "")


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --- the workload -----------------------------------------------------------------


def workload(steps: int, seed: int) -> np.ndarray:
    """The first ``steps`` rows of the values ``history_read.build_run`` logs."""
    rng = np.random.default_rng(seed)
    chunks = [rng.random((min(CHUNK_ROWS, steps - start), len(KEYS)))
              for start in range(0, steps, CHUNK_ROWS)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(KEYS)))


def prepare_run(args: argparse.Namespace, tmp: Path) -> Path:
    """The finished run to ship: reused from ``--cache-dir`` with ``--keep``, else built."""
    if args.keep:
        return kept_run(args.cache_dir, args.steps, args.seed)
    return build_run(tmp / "runs", args.steps, args.seed)


# --- flightlog sync ----------------------------------------------------------------


@dataclass
class SyncResult:
    wall_s: float
    exit_code: int
    cpu_s: float  # the sync process: user + system
    max_rss: int  # the sync process's peak RSS
    server_cpu_s: float
    server_peak_rss: int
    rows_on_server: int
    verify_s: float
    output: str


def run_sync(root: Path, url: str, state: Path, env: Mapping[str, str], timeout: float
             ) -> tuple[float, int, float, int, str]:
    """Time a ``flightlog sync`` subprocess: (wall s, exit code, its CPU s, its max RSS,
    its output). Its own resource usage comes from ``wait4``."""
    argv = [*flightlog_command(), "sync", str(root), "--server", url, "--state", str(state)]
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env), start_new_session=True)
        reaped = threading.Event()

        def kill() -> None:  # on timeout, unless already reaped (the pid may be reused)
            if not reaped.is_set():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

        killer = threading.Timer(timeout, kill)
        killer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            reaped.set()
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return (wall, proc.returncode, rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss * 1024,
            text)


def sync_command(root: Path, url: str, state: Path) -> str:
    return shlex.join([*flightlog_command(), "sync", str(root), "--server", url, "--state",
                       str(state)])


def bench_flightlog_sync(run_dir: Path, steps: int, rep: int, tmp: Path,
                         env: Mapping[str, str], timeout: float) -> SyncResult:
    """One repetition: fresh server, time the sync, ask the server for the history."""
    flightlog = import_flightlog()
    root = run_dir.parent.parent  # ROOT/PROJECT/RUN-ID (SPEC.md §2)
    project, run_id = run_dir.parent.name, run_dir.name
    work = tmp / f"sync-{rep}"
    with contextlib.ExitStack() as stack:
        url, server = start_flightlog_server(stack, work / "server-data", env, work)
        if rep == 0:
            print(f"  server: {shlex.join(server.argv)}")
            print(f"  sync:   {sync_command(root, url, work / 'state')}")
        tracker = UsageTracker(server.pid)
        server_before = tracker.sample()
        wall, code, cpu, max_rss, output = run_sync(root, url, work / "state", env, timeout)
        server_after = tracker.sample()
        t0 = time.perf_counter()
        with flightlog.Api(url) as api:
            try:
                rows = int(api.run(f"{project}/{run_id}").history().num_rows)
            except flightlog.FlightlogError as exc:
                print(f"  #{rep + 1}: reading the run back from the server failed: {exc}")
                rows = 0
        verify_s = time.perf_counter() - t0
        if not server.alive():
            raise RuntimeError(f"the server died: {server.tail()}")
    shutil.rmtree(work, ignore_errors=True)
    return SyncResult(wall, code, cpu, max_rss, server_after.cpu_s - server_before.cpu_s,
                      server_after.peak_rss, rows, verify_s, output.strip())


def fixed_cost(tmp: Path, env: Mapping[str, str]) -> float:
    """Wall seconds of ``flightlog sync`` over an empty root (start-up and imports)."""
    empty = tmp / "empty-root"
    empty.mkdir()
    with contextlib.ExitStack() as stack:
        url, _ = start_flightlog_server(stack, tmp / "empty-data", env, tmp / "empty-logs")
        times = [run_sync(empty, url, tmp / "empty-state", env, 60.0)[0] for _ in range(3)]
    return statistics.median(times)


# --- MLflow ------------------------------------------------------------------------


@dataclass
class MlflowResult:
    points: int
    seconds: float
    batches: int
    batch_p50_ms: float
    batch_max_ms: float
    points_stored: int
    version: str
    error: str | None = None

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else math.nan


def mlflow_worker(url: str, points: int, seed: int, result: Path) -> int:
    """Child process: log ``points`` points with ``log_batch`` and write the result."""
    forbid_network()
    os.environ.update(MLFLOW_ENV)
    os.environ["MLFLOW_TRACKING_URI"] = url
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    steps = points // len(KEYS)
    values = workload(steps, seed)
    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"sync-throughput-{os.getpid()}")
    run_id = client.create_run(experiment).info.run_id
    base_ms = int(time.time() * 1000)
    rows_per_batch = MLFLOW_BATCH // len(KEYS)
    latencies: list[float] = []
    t0 = time.perf_counter()
    for start in range(0, steps, rows_per_batch):
        block = values[start:start + rows_per_batch].tolist()
        metrics = [Metric(key, value, base_ms + start + i, start + i)
                   for i, row in enumerate(block) for key, value in zip(KEYS, row, strict=True)]
        b0 = time.perf_counter()
        client.log_batch(run_id, metrics=metrics)
        latencies.append(time.perf_counter() - b0)
    seconds = time.perf_counter() - t0
    client.set_terminated(run_id)
    stored = sum(len(client.get_metric_history(run_id, key)) for key in KEYS)
    out = MlflowResult(steps * len(KEYS), seconds, len(latencies),
                       statistics.median(latencies) * 1000, max(latencies) * 1000, stored,
                       mlflow.__version__)
    result.write_text(json.dumps(out.__dict__))
    return 0


def bench_mlflow(points: int, seed: int, tmp: Path, env: Mapping[str, str],
                 timeout: float) -> MlflowResult:
    """MLflow tracking server (SQLite) + a ``log_batch`` client child process."""
    work = tmp / "mlflow"
    work.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server_argv = [str(mlflow_bin) if mlflow_bin.is_file() else "mlflow", "server",
                   "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
                   "--default-artifact-root", (work / "artifacts").as_uri(),
                   "--no-serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", "1"]
    result = work / "result.json"
    worker_argv = [sys.executable, str(Path(__file__).resolve()), "--mlflow-worker", url,
                   "--mlflow-points", str(points), "--seed", str(seed), "--result",
                   str(result)]
    with contextlib.ExitStack() as stack:
        server = spawn(stack, "mlflow-server", server_argv, env, work, cwd=work)
        print(f"  server: {shlex.join(server_argv)}")
        started = wait_http_ok(server, f"{url}/health", MLFLOW_START_TIMEOUT)
        print(f"  server ready in {started:.1f} s; client: {shlex.join(worker_argv)}")
        worker = spawn(stack, "mlflow-client", worker_argv, env, work)
        try:
            worker.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return MlflowResult(points, 0, 0, 0, 0, 0, "?", f"timed out after {timeout:g} s")
        if worker.proc.returncode != 0 or not result.exists():
            return MlflowResult(points, 0, 0, 0, 0, 0, "?",
                                f"exit {worker.proc.returncode}: {worker.tail(3)}")
    return MlflowResult(**json.loads(result.read_text()))


# --- report ------------------------------------------------------------------------


def report(results: Sequence[SyncResult], steps: int, bytes_on_disk: int, fixed_s: float,
           ml: MlflowResult | None) -> bool:
    """Print the tables and targets; True when every target was met."""
    points = steps * len(KEYS)
    print("\nflightlog sync repetitions:")
    rows = []
    for k, r in enumerate(results):
        rows.append([f"#{k + 1}", f"{r.wall_s:.3f}", f"{points / r.wall_s:,.0f}",
                     f"{r.cpu_s:.2f}", mib(r.max_rss), f"{r.server_cpu_s:.2f}",
                     mib(r.server_peak_rss), f"{r.rows_on_server:,}", str(r.exit_code)])
    print_grid(("rep", "wall s", "points/s", "sync CPU s", "sync max RSS", "server CPU s",
                "server peak RSS", "rows on server", "exit"), rows)
    for k, r in enumerate(results):
        print(f"  #{k + 1} sync said: {r.output.splitlines()[-1] if r.output else '(nothing)'}"
              f"; history() from the server took {r.verify_s:.2f} s")
    wall = statistics.median(r.wall_s for r in results)
    rate = points / wall
    print(f"\nfixed cost of `flightlog sync` (empty root; interpreter + imports + one "
          f"request): {fixed_s:.3f} s (included in the wall times above)")
    print(f"run size on disk {bytes_on_disk:,} bytes ({bytes_on_disk / points:.2f} B/point): "
          f"{bytes_on_disk / wall / 2**20:,.1f} MiB/s")

    table = [["flightlog sync (subprocess wall, median)", f"{points:,}", f"{wall:.3f}",
              f"{rate:,.0f}", "measured"]]
    speedup = math.nan
    if ml is not None and ml.error is None:
        speedup = rate / ml.points_per_s
        table.append([f"MLflow {ml.version} log_batch -> server (SQLite)", f"{ml.points:,}",
                      f"{ml.seconds:.3f}", f"{ml.points_per_s:,.0f}", "measured"])
        table.append([f"MLflow, extrapolated to {points:,} points", f"{points:,}",
                      f"{points / ml.points_per_s:,.0f}", f"{ml.points_per_s:,.0f}",
                      f"from {ml.points:,} points"])
    print()
    print_grid(("tool", "points", "seconds", "points/s", "note"), table)
    if ml is not None and ml.error is None:
        print(f"  MLflow: {ml.batches:,} log_batch calls of {MLFLOW_BATCH} metrics, p50 "
              f"{ml.batch_p50_ms:.1f} ms, max {ml.batch_max_ms:.1f} ms; "
              f"{ml.points_stored:,} points read back")
        print(f"\nratio flightlog / MLflow points/s: {speedup:,.0f}x  (MLflow figure "
              f"extrapolated from {ml.points:,} points)")
    elif ml is not None:
        print(f"FAILED MLflow: {ml.error}")

    rows_ok = all(r.rows_on_server == steps and r.exit_code == 0 for r in results)
    checks: list[tuple[bool | None, str]] = [
        (rate >= TARGET_POINTS_PER_S,
         f"flightlog sync {rate:,.0f} points/s >= {TARGET_POINTS_PER_S:,.0f}"),
        (None if math.isnan(speedup) else speedup >= TARGET_MLFLOW_SPEEDUP,
         f"flightlog / MLflow = {'not measured' if math.isnan(speedup) else f'{speedup:,.0f}x'}"
         f" >= {TARGET_MLFLOW_SPEEDUP:g}x"),
        (rows_ok, f"server history().num_rows == {steps:,} after every sync (exit 0)"),
    ]
    if ml is not None and ml.error is None:
        checks.append((ml.points_stored == ml.points,
                       f"MLflow stored {ml.points_stored:,} of {ml.points:,} points"))
    print("\ntargets:")
    for ok, text in checks:
        print(f"  {verdict(ok)}  {text}")
    return all(ok is not False for ok, _ in checks)


# --- main --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--steps", type=int, default=1_000_000, help="rows (10 points each)")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--repeat", type=int, default=3, help="syncs, each to a fresh server")
    p.add_argument("--mlflow-points", type=int, default=200_000,
                   help="points MLflow ships (its points/s is extrapolated); default 200,000")
    p.add_argument("--skip-mlflow", action="store_true")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per sync / MLflow")
    p.add_argument("--keep", action="store_true", help="build the run once in --cache-dir "
                   "and reuse it (shared with bench/history_read.py --keep)")
    p.add_argument("--cache-dir", type=Path,
                   default=Path(tempfile.gettempdir()) / "flightlog-bench-history",
                   help="where --keep builds and looks for the run")
    p.add_argument("--mlflow-worker", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeat < 1 or args.mlflow_points < MLFLOW_BATCH:
        p.error(f"--steps and --repeat must be >= 1, --mlflow-points >= {MLFLOW_BATCH}")
    return args


def with_tmp(fn: Callable[[Path], int], prefix: str, keep: bool = False) -> int:
    """``fn(tmp)`` with a fresh temp dir, removed afterwards unless ``keep``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return fn(tmp)
    finally:
        if keep:
            print(f"\nkept (logs, data): {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    print(f"\n== {title}", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clean_proxy_env()
    if args.mlflow_worker:
        return mlflow_worker(args.mlflow_worker, args.mlflow_points, args.seed, args.result)
    forbid_network()

    def body(tmp: Path) -> int:
        env = guarded_env(tmp, MLFLOW_ENV)
        print(f"workload: {args.steps:,} steps x {len(KEYS)} random floats "
              f"({args.steps * len(KEYS):,} points), seed {args.seed}; python "
              f"{sys.version.split()[0]}, {os.cpu_count()} cpus; code {code_version()}")
        with section("run to ship"):
            run_dir = prepare_run(args, tmp)
            size = dir_bytes(run_dir)
        with section("fixed cost of flightlog sync"):
            fixed = fixed_cost(tmp, env)
        results = []
        with section(f"flightlog sync x {args.repeat}"):
            for rep in range(args.repeat):
                results.append(bench_flightlog_sync(run_dir, args.steps, rep, tmp, env,
                                                    args.timeout))
                print(f"  #{rep + 1}: {results[-1].wall_s:.3f} s", flush=True)
        ml = None
        if not args.skip_mlflow:
            with section(f"MLflow log_batch, {args.mlflow_points:,} points"):
                ml = bench_mlflow(args.mlflow_points, args.seed, tmp, env, args.timeout)
        ok = report(results, args.steps, size, fixed, ml)
        if args.keep:
            print(f"\nkept: {args.cache_dir}")
        return 0 if ok else 1

    return with_tmp(body, "flightlog-bench-sync-")


if __name__ == "__main__":
    sys.exit(main())
