"""What finished runs cost a sync daemon: shipping N of them, then idling over them.

What is measured, for each N of ``--runs`` (default 1000 and 10000): N finished runs (5
steps of 10 floats each, made by forked writers with the real ``flightlog.init``) lie
under the roots; a real ``flightlog server`` subprocess on 127.0.0.1 (fresh data
directory) and one ``flightlog syncd ROOTS --server URL`` subprocess (fresh state
directory; filesystem events, or ``--poll S``) start. Printed per N:

* ship: seconds from the daemon's start to the first poll of ``GET /api/v1/runs`` (every
  0.5 s) showing every run finished with its local record count committed;
* idle: the daemon's CPU time (``/proc/PID/stat`` utime + stime; psutil where there is no
  /proc) over ``--idle`` seconds (default 30) after that, with nothing left to send, as
  a share of one CPU, and the server's over the same window; the daemon's peak RSS.

The runs are made once under ``--runs-dir`` (default: a temp dir) and reused when it is
given again, so that a before/after comparison ships the same runs: the N=1000 set is a
subdirectory of the N=10000 one's roots (``a/`` holds 1000, ``b/`` the other 9000).

Run:
    python bench/syncd_idle.py                       # 1000 and 10000 finished runs
    python bench/syncd_idle.py --runs 1000 --idle 10
    python bench/syncd_idle.py --runs-dir /tmp/idle-runs   # keep the runs for a rerun
    python bench/syncd_idle.py --poll 1              # the daemon polls instead
    git archive HEAD~1 syncd | tar -x -C /tmp/before   # an earlier daemon, as the peer:
    python bench/syncd_idle.py --daemon-from /tmp/before/syncd
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from _peers import forbid_network
from log_latency import import_flightlog, print_grid, verdict
from sync_throughput import (
    UsageTracker,
    clean_proxy_env,
    code_version,
    flightlog_command,
    guarded_env,
    mib,
    spawn,
    start_flightlog_server,
    wait_for_line,
    with_tmp,
)

PROJECT = "idle"
STEPS = 5

#: Runs ``flightlog`` with the ``flightlog.syncd`` package taken from another directory
#: (argv[1]): the peer of ``--daemon-from``, e.g. the daemon of an earlier commit
#: (``git archive COMMIT syncd | tar -x -C /tmp/before``, then ``/tmp/before/syncd``).
OTHER_DAEMON = ("import importlib.util, sys\n"
                "where = sys.argv.pop(1)\n"
                "spec = importlib.util.spec_from_file_location('flightlog.syncd', "
                "where + '/__init__.py', submodule_search_locations=[where])\n"
                "module = importlib.util.module_from_spec(spec)\n"
                "sys.modules['flightlog.syncd'] = module\n"
                "spec.loader.exec_module(module)\n"
                "from flightlog.cli import main\n"
                "sys.exit(main(sys.argv[1:]))\n")


def daemon_command(daemon_from: Path | None) -> list[str]:
    """The command that runs ``flightlog`` for the daemon: this code's, or with the sync
    package of ``daemon_from``."""
    if daemon_from is None:
        return flightlog_command()
    return [sys.executable, "-c", OTHER_DAEMON, str(daemon_from.resolve())]


def make_runs(root: str, count: int, seed: int) -> None:
    """``count`` finished runs under ``root`` (a forked child)."""
    os.environ["FLIGHTLOG_SILENT"] = "1"
    flightlog = import_flightlog()
    for k in range(count):
        run = flightlog.init(project=PROJECT, name=f"r{seed}-{k}", dir=root)
        for i in range(STEPS):
            run.log({f"m{j}": float(i * j) for j in range(10)})
        run.finish()


def ensure_runs(base: Path, want: dict[str, int], workers: int = 2) -> dict[str, int]:
    """Subdirectories of ``base`` holding ``want[name]`` finished runs each; returns
    {run path: local record count} over all of them (cached in ``base/manifest.json``)."""
    manifest = base / "manifest.json"
    if manifest.is_file():
        cached = json.loads(manifest.read_text())
        if cached.get("want") == want:
            return {k: int(v) for k, v in cached["expected"].items()}
    ctx = multiprocessing.get_context("fork")
    begin = time.monotonic()
    for name, count in want.items():
        root = base / name
        have = len(list(root.glob(f"{PROJECT}/*"))) if root.is_dir() else 0
        todo = count - have
        if todo <= 0:
            continue
        shares = [todo // workers + (1 if i < todo % workers else 0) for i in range(workers)]
        procs = [ctx.Process(target=make_runs, args=(str(root), n, i * 1_000_003 + have))
                 for i, n in enumerate(shares) if n]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"a run-making child failed with {p.exitcode}")
    flightlog = import_flightlog()
    from flightlog.format.identity import run_identity

    expected: dict[str, int] = {}
    for name in want:
        for run_dir in sorted((base / name / PROJECT).iterdir()):
            records = flightlog.format.RunLogReader(run_dir).poll()
            project, run_id = run_identity(run_dir) or ("?", "?")
            expected[f"{project}/{run_id}"] = records[-1].seq + 1
    manifest.write_text(json.dumps({"want": want, "expected": expected}))
    print(f"made {sum(want.values()):,} finished runs in {time.monotonic() - begin:.0f} s "
          f"under {base}", flush=True)
    return expected


def wait_shipped(url: str, expected: dict[str, int], timeout: float) -> tuple[float | None, int]:
    """Seconds until the server lists every run finished at its local next_seq (None:
    not within ``timeout``), and how many runs were still missing at the end."""
    begin = time.monotonic()
    missing = len(expected)
    with httpx.Client(base_url=url, trust_env=False, timeout=60.0) as http:
        while time.monotonic() - begin < timeout:
            rows = http.get("/api/v1/runs", params={"project": PROJECT, "limit": 10000}
                            ).json()["runs"]
            got = {f"{r['project']}/{r['id']}": (int(r["next_seq"] or 0), r["status"])
                   for r in rows}
            missing = sum(1 for path, n in expected.items()
                          if got.get(path) != (n, "finished"))
            if not missing:
                return time.monotonic() - begin, 0
            time.sleep(0.5)
    return None, missing


def measure(n_runs: int, roots: list[Path], expected: dict[str, int], args: argparse.Namespace,
            tmp: Path, env: dict[str, str]) -> list[str]:
    work = tmp / f"n{n_runs}"
    logs = work / "logs"
    with contextlib.ExitStack() as stack:
        url, server = start_flightlog_server(stack, work / "server-data", env, logs)
        argv = [*daemon_command(args.daemon_from), "syncd", *map(str, roots), "--server", url,
                "--state", str(work / "state")]
        if args.poll:
            argv += ["--poll", str(args.poll)]
        syncd = spawn(stack, "syncd", argv, env, logs)
        wait_for_line(syncd, "flightlog syncd: shipping", 60.0)
        shipped, missing = wait_shipped(url, expected, args.ship_timeout)
        daemon, srv = UsageTracker(syncd.pid), UsageTracker(server.pid)
        d0, s0, t0 = daemon.sample().cpu_s, srv.sample().cpu_s, time.monotonic()
        time.sleep(args.idle)  # the measurement window: nothing is left to send
        d1, s1, t1 = daemon.sample().cpu_s, srv.sample().cpu_s, time.monotonic()
        peak = max(daemon.max_rss, daemon.sample().peak_rss)
        alive = syncd.alive() and server.alive()
    wall = t1 - t0
    print(f"{n_runs:,} runs: shipped in "
          + (f"{shipped:.1f} s" if shipped is not None else f"NOT within {args.ship_timeout:g}"
             f" s ({missing} missing)")
          + f"; idle {wall:.0f} s: syncd {d1 - d0:.2f} CPU s, server {s1 - s0:.2f} CPU s"
          + ("" if alive else "; a child died"), flush=True)
    return [f"{n_runs:,}", "-" if shipped is None else f"{shipped:.1f}", f"{d1 - d0:.2f}",
            f"{100 * (d1 - d0) / wall:.1f}%", f"{100 * (s1 - s0) / wall:.1f}%", mib(peak)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, nargs="+", default=[1000, 10000],
                   help="finished-run counts to measure (default 1000 10000)")
    p.add_argument("--idle", type=float, default=30.0, help="seconds of idleness measured")
    p.add_argument("--poll", type=float, help="pass --poll SECONDS to the daemon")
    p.add_argument("--runs-dir", type=Path, help="make the runs here, or reuse them")
    p.add_argument("--ship-timeout", type=float, default=900.0)
    p.add_argument("--daemon-from", type=Path, help="run the daemon with the flightlog.syncd "
                   "package in this directory (an earlier version, for before/after)")
    args = p.parse_args(argv)
    counts = sorted(set(args.runs))
    clean_proxy_env()
    forbid_network()
    import_flightlog()

    def body(tmp: Path) -> int:
        env = guarded_env(tmp)
        base = args.runs_dir or tmp / "runs"
        base.mkdir(parents=True, exist_ok=True)
        # Nested sets: the smaller counts' runs are the first roots of the larger ones.
        want, previous = {}, 0
        for i, n in enumerate(counts):
            want[f"set{i}"] = n - previous
            previous = n
        expected_all = ensure_runs(base, want)
        print(f"{os.cpu_count()} cpus; code {code_version()}; daemon: "
              f"{'--poll ' + str(args.poll) if args.poll else 'inotify'}"
              + (f", flightlog.syncd from {args.daemon_from}" if args.daemon_from else ""),
              flush=True)
        rows = []
        ok = True
        for i, n in enumerate(counts):
            roots = [base / f"set{j}" for j in range(i + 1)]
            expected = {path: seq for path, seq in expected_all.items()
                        if any((root / path).is_dir() for root in roots)}
            row = measure(n, roots, expected, args, tmp, env)
            ok &= row[1] != "-"
            rows.append(row)
        print()
        print_grid(("finished runs", "ship s", f"syncd CPU s / {args.idle:g} s",
                    "syncd %cpu idle", "server %cpu idle", "syncd peak RSS"), rows)
        print(f"\n  {verdict(ok)}  every run shipped")
        return 0 if ok else 1

    return with_tmp(body, "flightlog-bench-idle-", keep=False)


if __name__ == "__main__":
    tempfile.tempdir = os.environ.get("TMPDIR") or None
    sys.exit(main())
