"""Many live runs, one sync daemon: its CPU and memory, the server's, and exactness.

What is measured: a real ``flightlog server`` subprocess on 127.0.0.1 and one ``flightlog
syncd ROOT --server URL`` subprocess (filesystem events; ``--poll S`` to compare with
polling) follow ``--runs`` writer processes (default 200, forked from this process with
flightlog already imported, so that 200 interpreter start-ups do not swamp the machine).
Each writer starts a run under ROOT, waits on a barrier with the others, then logs 10
random floats per step at ``--rate`` steps/s (default 20) for ``--seconds`` (default 20)
and finishes the run.

Printed:

* per phase (writing, catch-up, ``--idle`` seconds with nothing to do), the CPU time of the
  daemon and of the server (``/proc/PID/stat`` utime + stime; psutil where there is no
  /proc) and their share of one CPU; their peak RSS (``VmHWM``); the writers' own CPU;
* catch-up: from the moment the last writer's ``finish()`` returned to the first poll of
  ``GET /api/v1/runs`` (every 0.2 s) that shows every run's committed high-water mark
  equal to its local record count;
* exactness (PASS/MISS): for every run, ``flightlog.Api(url).run(...).history()`` has
  ``_step`` exactly ``0..n-1`` with ``n`` the steps the writer logged (no gap, no
  duplicate), equals the local ``open_run(dir).history()``, and the run is ``finished``.

Children get the loopback-only guard of ``bench/sync_throughput.py``; the server, the
daemon and every writer are killed at the end, whatever happens.

Run:
    python bench/sync_many_runs.py                      # 200 writers x 20 s
    python bench/sync_many_runs.py --runs 20 --seconds 5
    python bench/sync_many_runs.py --poll 1             # the daemon polls instead
    python bench/sync_many_runs.py --daemon-from /tmp/before/syncd   # an earlier daemon
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _peers import KEYS, forbid_network
from log_latency import import_flightlog, print_grid, verdict
from sync_throughput import (
    Child,
    UsageTracker,
    clean_proxy_env,
    code_version,
    guarded_env,
    mib,
    spawn,
    start_flightlog_server,
    wait_for_line,
    with_tmp,
)
from syncd_idle import daemon_command

PROJECT = "many"
BARRIER_TIMEOUT = 300.0


# --- writers (forked children) ------------------------------------------------------


def writer_main(k: int, root: str, seconds: float, rate: float, seed: int,
                barrier: Any, out: str) -> None:
    """One writer: init a run, wait for the others, log at ``rate`` for ``seconds``."""
    flightlog = import_flightlog()
    run = flightlog.init(project=PROJECT, name=f"writer-{k:03d}", dir=root)
    rng = random.Random(seed + k)
    steps = max(1, round(seconds * rate))
    interval = 1.0 / rate
    try:
        barrier.wait(BARRIER_TIMEOUT)
    except threading.BrokenBarrierError:
        run.finish(exit_code=1)
        raise
    begin = time.monotonic()
    t_first = time.time()
    late = 0
    for i in range(steps):
        pause = begin + i * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the writer, nothing else
        elif pause < -interval:
            late += 1
        run.log({key: rng.random() for key in KEYS})
    t_last = time.time()
    run.finish()
    result = {"k": k, "path": f"{run.project}/{run.id}", "dir": str(run.dir), "steps": steps,
              "late": late, "t_first": t_first, "t_last": t_last, "t_finished": time.time()}
    Path(out).write_text(json.dumps(result))


@dataclass
class WriterResult:
    k: int
    path: str
    dir: str
    steps: int
    late: int
    t_first: float
    t_last: float
    t_finished: float


def run_writers(args: argparse.Namespace, root: Path, results: Path, trackers: list[UsageTracker],
                children: list[Child]) -> tuple[float, list[WriterResult], list[str]]:
    """Fork the writers, release them together, sample the daemon and server while they
    run. Returns (time they were released, results, problems)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(args.runs + 1)
    procs = [ctx.Process(target=writer_main, name=f"writer-{k}", daemon=True,
                         args=(k, str(root), args.seconds, args.rate, args.seed, barrier,
                               str(results / f"{k}.json")))
             for k in range(args.runs)]
    problems: list[str] = []
    try:
        for p in procs:
            p.start()
        barrier.wait(BARRIER_TIMEOUT)
        t_go = time.time()
        deadline = time.monotonic() + args.seconds + 300.0
        pending = {p.sentinel: p for p in procs}
        while pending and time.monotonic() < deadline:
            for sentinel in multiprocessing.connection.wait(list(pending), timeout=0.5):
                del pending[sentinel]  # type: ignore[arg-type]
            for tracker in trackers:
                tracker.sample()
            for child in children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} died: {child.tail()}")
        if pending:
            problems.append(f"{len(pending)} writers still running after the deadline: killed")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
    bad = [p.name for p in procs if p.exitcode != 0]
    if bad:
        problems.append(f"{len(bad)} writers failed: {', '.join(bad[:5])}")
    found = [WriterResult(**json.loads(f.read_text())) for f in sorted(results.glob("*.json"))]
    return t_go, found, problems


# --- catch-up and verification ------------------------------------------------------


def local_next_seq(run_dir: str) -> int:
    """One past the last complete record of a local run directory."""
    records = import_flightlog().format.RunLogReader(run_dir).poll()
    return records[-1].seq + 1 if records else 0


@dataclass
class CatchUp:
    seconds: float | None  # None: not within the timeout
    behind_at_start: int  # records not yet committed at the first poll
    runs_behind_at_start: int
    polls: int
    last_rows: list[dict[str, Any]] = field(default_factory=list)


def wait_caught_up(url: str, expected: dict[str, int], since: float, timeout: float,
                   trackers: list[UsageTracker]) -> CatchUp:
    """Poll the server's run listing until every run's next_seq is the local one."""
    behind_at_start = runs_behind = -1
    polls = 0
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, trust_env=False, timeout=30.0) as http:
        while True:
            rows = http.get("/api/v1/runs", params={"project": PROJECT, "limit": 10000}
                            ).json()["runs"]
            now = time.time()
            polls += 1
            got = {f"{r['project']}/{r['id']}": int(r["next_seq"] or 0) for r in rows}
            gaps = [expected[p] - got.get(p, 0) for p in expected]
            if behind_at_start < 0:
                behind_at_start = sum(gaps)
                runs_behind = sum(1 for g in gaps if g)
            if not any(gaps):
                return CatchUp(max(0.0, now - since), behind_at_start, runs_behind, polls, rows)
            if time.monotonic() >= deadline:
                return CatchUp(None, behind_at_start, runs_behind, polls, rows)
            for tracker in trackers:
                tracker.sample()
            time.sleep(0.2)


@dataclass
class Verification:
    ok: int = 0
    wrong_steps: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)
    not_finished: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def verify(url: str, writers: Sequence[WriterResult], rows: Sequence[dict[str, Any]]
           ) -> Verification:
    """Every run on the server: exactly the steps logged, the same table as locally."""
    import numpy as np

    flightlog = import_flightlog()
    status = {f"{r['project']}/{r['id']}": r["status"] for r in rows}
    out = Verification()
    with flightlog.Api(url) as api:
        for w in writers:
            try:
                remote = api.run(w.path).history()
            except flightlog.RunNotFound:
                out.missing.append(w.path)
                continue
            steps = remote.column("_step").to_numpy()
            good = len(steps) == w.steps and bool(np.array_equal(steps, np.arange(w.steps)))
            same = remote.equals(flightlog.open_run(w.dir).history())
            if not good:
                out.wrong_steps.append(f"{w.path}: {len(steps)} rows for {w.steps} steps")
            if not same:
                out.differs.append(w.path)
            if status.get(w.path) != "finished":
                out.not_finished.append(f"{w.path}: {status.get(w.path)}")
            out.ok += good and same and status.get(w.path) == "finished"
    return out


# --- main --------------------------------------------------------------------------


@dataclass
class Mark:
    """Usage of the daemon and the server at one moment."""

    t: float
    syncd_cpu: float
    server_cpu: float


def mark(trackers: list[UsageTracker]) -> Mark:
    syncd, server = (t.sample().cpu_s for t in trackers)
    return Mark(time.time(), syncd, server)


def phase_row(name: str, a: Mark, b: Mark) -> list[str]:
    wall = max(b.t - a.t, 1e-9)
    return [name, f"{wall:.1f}", f"{b.syncd_cpu - a.syncd_cpu:.2f}",
            f"{100 * (b.syncd_cpu - a.syncd_cpu) / wall:.0f}%",
            f"{b.server_cpu - a.server_cpu:.2f}",
            f"{100 * (b.server_cpu - a.server_cpu) / wall:.0f}%"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=200, help="writer processes (default 200)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long each writer logs")
    p.add_argument("--rate", type=float, default=20.0, help="steps per second per writer")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--poll", type=float, help="pass --poll SECONDS to the daemon (default: "
                   "filesystem events)")
    p.add_argument("--idle", type=float, default=5.0,
                   help="seconds to watch the daemon after it caught up (nothing to do)")
    p.add_argument("--catchup-timeout", type=float, default=600.0)
    p.add_argument("--daemon-from", type=Path, help="run the daemon with the flightlog.syncd "
                   "package in this directory (an earlier version, for before/after: see "
                   "bench/syncd_idle.py)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temp dir (children's logs, runs, server data)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.seconds <= 0 or args.rate <= 0:
        p.error("--runs, --seconds and --rate must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clean_proxy_env()
    forbid_network()
    import_flightlog()  # imported once here: the forked writers inherit it

    def body(tmp: Path) -> int:
        env = guarded_env(tmp)
        root, logs, results = tmp / "runs", tmp / "logs", tmp / "results"
        for d in (root, logs, results):
            d.mkdir()
        steps = max(1, round(args.seconds * args.rate))
        print(f"{args.runs} writers x {steps:,} steps x {len(KEYS)} floats at "
              f"{args.rate:g} steps/s ({args.runs * args.rate * len(KEYS):,.0f} points/s in "
              f"all); daemon: {'--poll ' + str(args.poll) if args.poll else 'inotify'}; "
              f"{os.cpu_count()} cpus; code {code_version()}")
        with contextlib.ExitStack() as stack:
            url, server = start_flightlog_server(stack, tmp / "server-data", env, logs)
            syncd_argv = [*daemon_command(args.daemon_from), "syncd", str(root), "--server", url,
                          "--state", str(tmp / "state")]
            if args.poll:
                syncd_argv += ["--poll", str(args.poll)]
            syncd = spawn(stack, "syncd", syncd_argv, env, logs)
            wait_for_line(syncd, "flightlog syncd: shipping", 60.0)
            print(f"server: {' '.join(server.argv)}\nsyncd:  {' '.join(syncd_argv)}",
                  flush=True)
            trackers = [UsageTracker(syncd.pid), UsageTracker(server.pid)]
            rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            m_start = mark(trackers)
            t_go, writers, problems = run_writers(args, root, results, trackers,
                                                  [server, syncd])
            rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t_done = max((w.t_finished for w in writers), default=time.time())
            m_done = mark(trackers)
            m_done.t = t_done
            print(f"writers: {len(writers)} finished; released at +"
                  f"{t_go - m_start.t:.1f} s, last finish() at +{t_done - m_start.t:.1f} s",
                  flush=True)
            expected = {w.path: local_next_seq(w.dir) for w in writers}
            catch = wait_caught_up(url, expected, t_done, args.catchup_timeout, trackers)
            m_caught = mark(trackers)
            idle_start = mark(trackers)
            time.sleep(args.idle)  # a measurement window: the daemon has nothing to do
            m_idle = mark(trackers)
            check = verify(url, writers, catch.last_rows)
            syncd_peak = max(trackers[0].max_rss, trackers[0].sample().peak_rss)
            server_peak = max(trackers[1].max_rss, trackers[1].sample().peak_rss)
            for child in (server, syncd):
                if not child.alive():
                    problems.append(f"{child.name} died: {child.tail()}")

        total_steps = sum(w.steps for w in writers)
        late = sum(w.late for w in writers)
        writer_cpu = (rusage1.ru_utime - rusage0.ru_utime) + (rusage1.ru_stime -
                                                               rusage0.ru_stime)
        spans = [w.t_last - w.t_first for w in writers]
        print(f"\n{len(writers)} runs, {total_steps:,} steps ({total_steps * len(KEYS):,} "
              f"points) logged; writing took {statistics.median(spans):.1f} s median, "
              f"{max(spans, default=0):.1f} s max; {late:,} steps "
              f"({100 * late / max(total_steps, 1):.1f}%) logged more than one interval "
              f"late (machine saturated); writers' CPU {writer_cpu:.1f} s in all")
        print()
        print_grid(("phase", "wall s", "syncd CPU s", "syncd %cpu", "server CPU s",
                    "server %cpu"), [
            phase_row("writing (release -> last finish)", m_start, m_done),
            phase_row("catch-up (last finish -> all on server)", m_done, m_caught),
            phase_row(f"idle ({args.idle:g} s after catch-up)", idle_start, m_idle),
            phase_row("total", m_start, m_idle),
        ])
        print(f"peak RSS: syncd {mib(syncd_peak)}, server {mib(server_peak)}")
        if catch.seconds is None:
            print(f"catch-up: NOT caught up within {args.catchup_timeout:g} s")
        elif catch.behind_at_start == 0:
            print(f"catch-up: everything was on the server at the first poll, "
                  f"{catch.seconds:.2f} s after the last writer finished")
        else:
            print(f"catch-up: {catch.seconds:.2f} s after the last writer finished "
                  f"(at the first poll {catch.behind_at_start:,} records of "
                  f"{catch.runs_behind_at_start} runs were not yet on the server; "
                  f"{catch.polls} polls of 0.2 s)")
        for problem in problems:
            print(f"problem: {problem}")
        for label, items in (("wrong steps", check.wrong_steps),
                             ("differs from local", check.differs),
                             ("not finished", check.not_finished),
                             ("missing on server", check.missing)):
            if items:
                print(f"{label}: {len(items)}: {'; '.join(items[:5])}")
        exact = (check.ok == args.runs == len(writers) and not problems)
        print("\ntargets:")
        print(f"  {verdict(exact)}  every run on the server has exactly the steps logged, "
              f"equals the local history and is finished: {check.ok} of {args.runs}")
        print(f"  {verdict(catch.seconds is not None)}  the daemon caught up"
              + (f" in {catch.seconds:.2f} s" if catch.seconds is not None else ""))
        return 0 if exact and catch.seconds is not None else 1

    return with_tmp(body, "flightlog-bench-many-", args.keep)


if __name__ == "__main__":
    sys.exit(main())
