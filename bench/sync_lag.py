"""Sync lag: how long after ``run.log`` a step can be read back from the server.

What is measured: a real ``flightlog server`` subprocess on 127.0.0.1 and a ``flightlog
syncd ROOT --server URL`` subprocess (filesystem events: inotify, no ``--poll``) follow a
run that this process writes: one step every ``--interval`` seconds (default 0.02) for
``--seconds`` (default 20), ``run.log({"i": i, "t": time.time()})``. A poller thread in
this process asks the server for the run's history through ``flightlog.Api`` every
``--poll-interval`` seconds (default 0.05) and records, for each step ``i``, the first
time (after the answer arrived) it was in the history. The lag of step ``i`` is that
time minus its ``t``; p50, p95, p99 and max are printed, overall and without the first
``--warmup`` seconds (the daemon finds a new run on its periodic rescan, not through
events), with PASS/MISS for p95 <= 1 s (overall). The figures include the writer's
flush interval (0.1 s), the daemon, the server's commit and the poll's own period.

With ``--faults`` (issue 9's scenario), while the writer logs: the daemon is SIGKILLed
and restarted at ``--daemon-kill-at`` seconds (default 8), then the server at
``--server-kill-at`` (default 16; same port, same data directory). The lag is then
reported for the steps logged *outside* every window [kill - 1 s, restart + 2 s] (target
p95 <= 1 s), and for each restart: the new child's time to ready (server: first
``/healthz`` answer; daemon: its "shipping" line) and the catch-up time (from the restart
until the server holds every step logged before it).

Children get the loopback-only guard of ``bench/sync_throughput.py`` and are killed at
the end, whatever happens.

Run:
    python bench/sync_lag.py
    python bench/sync_lag.py --seconds 5 --interval 0.01
    python bench/sync_lag.py --faults --seconds 24
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _peers import forbid_network
from log_latency import import_flightlog, print_grid, verdict
from sync_throughput import (
    Child,
    UsageTracker,
    clean_proxy_env,
    code_version,
    flightlog_command,
    guarded_env,
    mib,
    spawn,
    start_flightlog_server,
    wait_for_line,
    wait_http_ok,
    with_tmp,
)

TARGET_P95_S = 1.0
PROJECT = "lag"
#: Steps logged in [kill - BEFORE, restart + AFTER] are left out of the faults' lag row.
WINDOW_BEFORE_S = 1.0
WINDOW_AFTER_S = 2.0
READY_TIMEOUT_S = 120.0


@dataclass
class Poller:
    """Fetches the run's history from the server until ``stop`` or every step is seen."""

    url: str
    path: str  # project/run-id
    interval: float
    seen_at: dict[int, float] = field(default_factory=dict)
    fetch_s: list[float] = field(default_factory=list)
    polls: int = 0
    errors: list[str] = field(default_factory=list)
    non_prefix: int = 0  # answers whose "i" column was not 0..n-1
    expected: int | None = None  # set by the writer when it is done
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        flightlog = import_flightlog()
        try:
            with flightlog.Api(self.url, timeout=10.0) as api:
                remote = None
                while not self.stop.is_set():
                    t0 = time.perf_counter()
                    self.polls += 1
                    try:
                        if remote is None:
                            remote = api.run(self.path)
                        table = remote.history()
                    except flightlog.RunNotFound:
                        table = None  # not on the server yet
                    except flightlog.FlightlogError as exc:
                        self.errors.append(str(exc))
                        table = None
                    now = time.time()
                    self.fetch_s.append(time.perf_counter() - t0)
                    if table is not None and "i" in table.column_names:
                        self._record(table.column("i").to_pylist(), now)
                    expected = self.expected
                    if expected is not None and len(self.seen_at) >= expected:
                        return
                    self.stop.wait(max(0.0, self.interval - (time.perf_counter() - t0)))
        finally:
            self.done.set()

    def _record(self, steps: list[int | None], now: float) -> None:
        if steps != list(range(len(steps))):
            self.non_prefix += 1
        for i in steps:
            if i is not None and i not in self.seen_at:
                self.seen_at[i] = now


@dataclass
class Fault:
    """A SIGKILL of child ``name`` ("syncd" or "server") ``at`` seconds after the writer
    began, and its restart with the same arguments (times are ``time.time()``)."""

    name: str
    at: float
    killed: float = math.nan
    restarted: float = math.nan  # the new child spawned
    ready_s: float = math.nan  # from the spawn to ready
    delivered_s: float = math.nan  # from the spawn to the server holding the backlog
    error: str = ""

    def window(self) -> tuple[float, float]:
        return self.killed - WINDOW_BEFORE_S, self.restarted + WINDOW_AFTER_S


@dataclass
class Faults:
    """Kills and restarts ``children`` on schedule, from a thread of its own."""

    faults: list[Fault]
    children: dict[str, Child]
    stack: contextlib.ExitStack
    env: dict[str, str]
    logs: Path
    url: str
    run_dir: Path
    path: str  # project/run-id
    stop: threading.Event = field(default_factory=threading.Event)

    def _delivered(self, records: int, timeout: float) -> bool:
        """Wait until the server's high-water mark for the run reaches ``records``."""
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=10.0) as http:
            while not self.stop.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    answer = http.get(f"{self.url}/api/v1/runs/{self.path}/sync")
                    if answer.status_code == 200 and answer.json()["next_seq"] >= records:
                        return True
                time.sleep(0.01)  # polling the server, not synchronising
        return False

    def run(self, t_begin: float) -> None:
        for n, fault in enumerate(self.faults, start=2):
            if self.stop.wait(max(0.0, t_begin + fault.at - time.time())):
                return
            old = self.children[fault.name]
            fault.killed = time.time()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(old.pid, signal.SIGKILL)
            old.proc.wait()
            from flightlog.format.reader import iter_records

            backlog = len(iter_records(self.run_dir))  # what the server must catch up to
            fault.restarted = time.time()
            start = time.monotonic()
            new = spawn(self.stack, f"{fault.name}-{n}", old.argv, self.env, self.logs)
            self.children[fault.name] = new
            try:
                if fault.name == "server":
                    wait_http_ok(new, f"{self.url}/healthz", READY_TIMEOUT_S)
                else:
                    wait_for_line(new, "flightlog syncd: shipping", READY_TIMEOUT_S)
            except RuntimeError as exc:
                fault.error = str(exc)
                return
            fault.ready_s = time.monotonic() - start
            if self._delivered(backlog, READY_TIMEOUT_S):
                fault.delivered_s = time.monotonic() - start


def log_steps(run: Any, seconds: float, interval: float) -> list[float]:
    """Log ``{"i": i, "t": time.time()}`` every ``interval`` s into ``run`` (a
    ``flightlog.Run``), then finish it; the ``t`` of each step."""
    steps = max(1, round(seconds / interval))
    times: list[float] = []
    begin = time.monotonic()
    for i in range(steps):
        pause = begin + i * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the writer, nothing else
        t = time.time()
        run.log({"i": i, "t": t})
        times.append(t)
    run.finish()
    return times


def quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def lag_row(label: str, lags: Sequence[float]) -> list[str]:
    s = sorted(lags)
    if not s:
        return [label, "0", "-", "-", "-", "-", "-"]
    return [label, f"{len(s):,}", *(f"{x * 1000:,.0f}" for x in (
        s[0], quantile(s, 0.5), quantile(s, 0.95), quantile(s, 0.99), s[-1]))]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=20.0, help="how long the writer logs")
    p.add_argument("--interval", type=float, default=0.02, help="seconds between steps")
    p.add_argument("--poll-interval", type=float, default=0.05,
                   help="seconds between history fetches from the server")
    p.add_argument("--warmup", type=float, default=3.0,
                   help="seconds at the start left out of the 'steady' row")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait, after the writer finished, for the last step")
    p.add_argument("--keep", action="store_true",
                   help="keep the temp dir (children's logs, server data) and print its path")
    p.add_argument("--faults", action="store_true",
                   help="SIGKILL and restart the daemon, then the server, while logging")
    p.add_argument("--daemon-kill-at", type=float, default=8.0,
                   help="with --faults: seconds into the run of the daemon's SIGKILL")
    p.add_argument("--server-kill-at", type=float, default=16.0,
                   help="with --faults: seconds into the run of the server's SIGKILL")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.interval <= 0 or args.poll_interval <= 0:
        p.error("--seconds, --interval and --poll-interval must be > 0")
    if args.faults and not (0 < args.daemon_kill_at < args.server_kill_at < args.seconds):
        p.error("--faults needs 0 < --daemon-kill-at < --server-kill-at < --seconds")
    return args


def outside(t: float, faults: Sequence[Fault]) -> bool:
    return not any(lo <= t <= hi for lo, hi in (f.window() for f in faults))


def report_faults(faults: Sequence[Fault], times: Sequence[float],
                  seen_at: dict[int, float]) -> list[str]:
    """A line per fault: the restarted child's time to ready, and the catch-up: from the
    restart until the server held every step logged before it."""
    lines = []
    for fault in faults:
        if fault.error or math.isnan(fault.restarted):
            lines.append(f"{fault.name}: not restarted: {fault.error or 'run too short'}")
            continue
        before = [i for i, t in enumerate(times) if t < fault.restarted]
        last = before[-1] if before else None
        caught = (seen_at[last] - fault.restarted) if last in seen_at else math.nan
        lines.append(f"{fault.name} SIGKILLed at {fault.killed - times[0]:.1f} s, restarted "
                     f"{fault.restarted - fault.killed:.2f} s later: ready after "
                     f"{fault.ready_s:.2f} s; the backlog committed on the server after "
                     f"{fault.delivered_s:.2f} s ({fault.delivered_s - fault.ready_s:.2f} s "
                     f"after ready), visible through Api after {caught:.2f} s")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clean_proxy_env()
    forbid_network()

    def body(tmp: Path) -> int:
        env = guarded_env(tmp)
        root, logs = tmp / "runs", tmp / "logs"
        root.mkdir()
        print(f"writer: one step every {args.interval * 1000:g} ms for {args.seconds:g} s; "
              f"poller every {args.poll_interval * 1000:g} ms; {os.cpu_count()} cpus; "
              f"code {code_version()}")
        faults = ([Fault("syncd", args.daemon_kill_at), Fault("server", args.server_kill_at)]
                  if args.faults else [])
        with contextlib.ExitStack() as stack:
            url, server = start_flightlog_server(stack, tmp / "server-data", env, logs)
            syncd_argv = [*flightlog_command(), "syncd", str(root), "--server", url,
                          "--state", str(tmp / "state")]
            syncd = spawn(stack, "syncd", syncd_argv, env, logs)
            wait_for_line(syncd, "flightlog syncd: shipping", 60.0)
            print(f"server: {' '.join(server.argv)}\nsyncd:  {' '.join(syncd_argv)}")
            trackers = {"syncd": UsageTracker(syncd.pid), "server": UsageTracker(server.pid)}
            before = {k: t.sample().cpu_s for k, t in trackers.items()}

            flightlog = import_flightlog()
            run = flightlog.init(project=PROJECT, name="sync-lag", dir=str(root))
            path = f"{run.project}/{run.id}"
            poller = Poller(url, path, args.poll_interval)
            thread = threading.Thread(target=poller.run, name="poller", daemon=True)
            thread.start()
            children = {"server": server, "syncd": syncd}
            killer = Faults(faults, children, stack, env, logs, url, Path(run.dir), path)
            t_begin = time.time()
            killing = threading.Thread(target=killer.run, args=(t_begin,), name="faults",
                                       daemon=True)
            killing.start()
            try:
                times = log_steps(run, args.seconds, args.interval)
                t_end = time.time()
                poller.expected = len(times)
                killing.join(READY_TIMEOUT_S)
                thread.join(args.timeout)
            finally:
                killer.stop.set()
                poller.stop.set()
                killing.join(10.0)
                thread.join(10.0)
            after = {k: t.sample() for k, t in trackers.items()}
            for name, child in children.items():
                if not child.alive():
                    print(f"WARNING: {name} died: {child.tail()}")

        lags = [poller.seen_at[i] - t for i, t in enumerate(times) if i in poller.seen_at]
        steady = [poller.seen_at[i] - t for i, t in enumerate(times)
                  if i in poller.seen_at and t - times[0] >= args.warmup]
        missing = len(times) - len(lags)
        first = poller.seen_at.get(0, math.nan) - times[0]
        print(f"\nrun {path}: {len(times):,} steps logged in {t_end - t_begin:.1f} s;"
              f" {len(lags):,} seen on the server, {missing:,} never seen")
        print(f"poller: {poller.polls:,} fetches, fetch p50 "
              f"{statistics.median(poller.fetch_s) * 1000:.1f} ms, max "
              f"{max(poller.fetch_s) * 1000:.1f} ms; {len(poller.errors)} errors; "
              f"{poller.non_prefix} answers not a prefix 0..n-1")
        for error in poller.errors[:3]:
            print(f"  poll error: {error}")
        print(f"step 0 first visible {first:.3f} s after it was logged (run discovery)\n")
        rows = [lag_row("all steps", lags),
                lag_row(f"after the first {args.warmup:g} s", steady)]
        if faults:
            kept = [poller.seen_at[i] - t for i, t in enumerate(times)
                    if i in poller.seen_at and outside(t, faults)]
            rows.append(lag_row(f"outside [kill - {WINDOW_BEFORE_S:g} s, restart + "
                                f"{WINDOW_AFTER_S:g} s]", kept))
        print_grid(("lag, ms", "steps", "min", "p50", "p95", "p99", "max"), rows)
        wall = t_end - t_begin
        if faults:
            print()
            for line in report_faults(faults, times, poller.seen_at):
                print(line)
        else:  # a restarted child is a new process: its CPU would not add up
            for name, tracker in trackers.items():
                cpu = after[name].cpu_s - before[name]
                print(f"{name}: {cpu:.2f} CPU s over {wall:.1f} s ({100 * cpu / wall:.0f}% of "
                      f"one cpu), peak RSS {mib(max(tracker.max_rss, after[name].peak_rss))}")
        measured = kept if faults else lags
        p95 = quantile(sorted(measured), 0.95)
        ok = missing == 0 and p95 <= TARGET_P95_S
        print("\ntargets:")
        print(f"  {verdict(p95 <= TARGET_P95_S)}  p95 lag {p95 * 1000:,.0f} ms <= "
              f"{TARGET_P95_S * 1000:,.0f} ms" + (" (outside the fault windows)" if faults
                                                  else ""))
        print(f"  {verdict(missing == 0)}  every step reached the server ({missing} missing)")
        return 0 if ok else 1

    return with_tmp(body, "flightlog-bench-lag-", args.keep)


if __name__ == "__main__":
    sys.exit(main())
