"""Time ``flightlog export parquet`` of many runs, then one query over all of them through
DuckDB over the archive, through ``Api`` against a real server, and through ``open_run``.

What is measured: ``--runs`` finished runs (default 100) of ``--points`` points each
(default 100,000: ``points / 4`` steps x 4 keys ``loss`` (float), ``acc`` (float),
``lr`` (float), ``epoch`` (int); seeded numpy randomness; config ``alpha`` one of 5
values), written with flightlog's writer (``--runs-dir DIR`` keeps them there and reuses
them on the next call). Then:

1. the export (``export_parquet`` of every run, in this process), ``--repeat`` times
   into fresh directories: wall seconds, points/s (history cells written; the median
   repetition is the figure), CPU seconds of the process (all threads), MB of Parquet vs
   MB of the run directories, against the targets >= 5 M points/s and Parquet <= run
   directories. The machine's load average is printed with it: on a shared machine the
   CPU seconds are the steadier figure, and with them an upper bound of the wall rate on
   2 free cores (the main thread reads runs and builds tables while parts are encoded on
   background threads: the slower of the main thread alone and all the CPU on 2 cores).
2. "the best final loss per alpha" three ways, each answer equal to the others:
   a DuckDB query over ``history/`` and ``runs/``; ``Api`` of a real ``flightlog server``
   subprocess on 127.0.0.1 (the runs shipped to it first by a ``flightlog sync``
   subprocess, timed too) reading each run's history and config; ``open_run`` of every
   run directory. Printed: seconds (median of ``--repeat``), and how many times faster
   DuckDB is than each.
3. ``flightlog export parquet --server URL`` subprocesses: all ``--runs`` runs (project
   ``bench``), and a tenth of them (project ``bench-small``, synced to the same server):
   wall seconds and peak RSS (VmHWM) of each. Memory is bounded when the peak of the
   export of N runs is about that of N/10 (one run is held at a time, runs are paged).

Every child (server, sync, export) gets the loopback-only network guard of
``bench/sync_throughput.py``, and so does this process.

Run:
    python bench/export_parquet.py                       # 100 runs x 100,000 points
    python bench/export_parquet.py --runs 20 --points 50000 --repeat 1
    python bench/export_parquet.py --runs-dir /tmp/bench-runs    # reuse the runs
    python bench/export_parquet.py --skip-server          # export and open_run only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_POINTS_PER_S = 5_000_000
ALPHAS = [0.01, 0.03, 0.1, 0.3, 1.0]
HIVE = "hive_partitioning=true, hive_types={'project': VARCHAR, 'run': VARCHAR}"
PROJECT, SMALL_PROJECT = "bench", "bench-small"
CHILD_TIMEOUT = 900.0

Answer = list[tuple[float, float]]


def make_runs(root: Path, runs: int, points: int, seed: int, project: str = PROJECT) -> int:
    import flightlog

    rng = np.random.default_rng(seed)
    steps = points // 4
    for r in range(runs):
        alpha = ALPHAS[r % len(ALPHAS)]
        run = flightlog.init(project=project, id=f"r{r:05d}", dir=root, quiet=True,
                             config={"alpha": alpha, "seed": r})
        loss = (1.0 / (1.0 + np.arange(steps) * alpha) + rng.random(steps) * 0.01).tolist()
        acc = rng.random(steps).tolist()
        for i in range(steps):
            run.log({"loss": loss[i], "acc": acc[i], "lr": 0.001, "epoch": i // 1000})
        run.finish()
    return runs * steps * 4


def prepared_runs(root: Path, runs: int, points: int, seed: int, project: str) -> None:
    """The runs under ``root``, written unless a previous call with the same arguments
    left them there (``marker.json``)."""
    marker = root / f"{project}.bench.json"
    wanted = {"runs": runs, "points": points, "seed": seed, "project": project}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker.read_text()) == wanted:
            print(f"reusing {runs} runs of project {project} in {root}")
            return
    shutil.rmtree(root / project, ignore_errors=True)
    t0 = time.perf_counter()
    make_runs(root, runs, points, seed, project)
    print(f"wrote {runs} runs x {points:,} points (project {project}) with flightlog's "
          f"writer in {time.perf_counter() - t0:.1f} s")
    marker.write_text(json.dumps(wanted))


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cpus"


def cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def query_duckdb(out: Path) -> Answer:
    import duckdb

    sql = f"""
        with final as (
            select project, run, arg_max(value_double, step) as loss
            from read_parquet('{out}/history/**/*.parquet', {HIVE})
            where key = 'loss' and project = '{PROJECT}' group by project, run)
        select r."config.alpha" as alpha, min(f.loss) as best
        from final f join read_parquet('{out}/runs/**/*.parquet', {HIVE},
                                       union_by_name=true) r using (project, run)
        group by alpha order by alpha"""
    return [(float(a), float(b)) for a, b in duckdb.sql(sql).fetchall()]


def best_of(runs: Any) -> Answer:
    """The best final loss per alpha of ``runs`` (open_run or Api runs)."""
    best: dict[float, float] = {}
    for run in runs:
        losses = [v for v in run.history()["loss"].to_pylist() if v is not None]
        alpha = float(run.config["alpha"])
        best[alpha] = min(best.get(alpha, float("inf")), losses[-1])
    return sorted(best.items())


def query_open_run(root: Path) -> Answer:
    from flightlog.format.rundir import find_run_dirs

    import flightlog

    return best_of(flightlog.open_run(d) for d in find_run_dirs(root / PROJECT))


def query_api(url: str, runs: int) -> Answer:
    import flightlog

    with flightlog.Api(url) as api:
        return best_of(api.runs(PROJECT, limit=runs))


def flightlog_api(url: str) -> Any:
    import flightlog

    return flightlog.Api(url)


def timed(fn: Any, *args: Any, repeat: int = 1) -> tuple[float, Any]:
    """(median seconds of ``repeat`` calls, the last answer)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), answer


def bench_export(root: Path, work: Path, repeat: int, total: int) -> tuple[Path, bool]:
    """``repeat`` exports into fresh directories; the last one is kept for the queries."""
    from flightlog.exporters.sources import local_runs
    from flightlog.exporters.to_parquet import WRITERS, export_parquet

    rates: list[float] = []
    cpus: list[tuple[float, float]] = []
    out = work / "parquet"
    run_mb = dir_bytes(root / PROJECT) / 1e6
    pq_mb = 0.0
    for rep in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        before = load()
        c0, m0, t0 = cpu_s(), time.thread_time(), time.perf_counter()
        report = export_parquet(local_runs([root / PROJECT]), out)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
        main = time.thread_time() - m0
        rates.append(report.points / wall)
        pq_mb = dir_bytes(out) / 1e6
        print(f"  #{rep + 1}: {wall:.2f} s, {rates[-1] / 1e6:.2f} M points/s; CPU "
              f"{cpu:.2f} s, of which the main thread {main:.2f} s; {report.points:,} "
              f"points of {total:,}; {before}", flush=True)
        cpus.append((cpu, main))
    cpu, main = (statistics.median(c) for c in zip(*cpus, strict=True))
    points = report.points
    print(f"CPU per point (median): {points / cpu / 1e6:.2f} M points per CPU-s; the main "
          f"thread (reading runs, building tables; parts are encoded on {WRITERS} threads) "
          f"{points / main / 1e6:.2f} M points per s of its CPU: on 2 free cores the wall "
          f"rate is at most min({points / main / 1e6:.1f}, {2 * points / cpu / 1e6:.1f}) M "
          f"points/s (GIL hand-offs and the final sync(2) not counted)")
    rate = statistics.median(rates)
    verdict = "PASS" if rate >= TARGET_POINTS_PER_S else "MISS"
    print(f"export: median {rate / 1e6:.2f} M points/s (target >= "
          f"{TARGET_POINTS_PER_S / 1e6:.0f} M: {verdict})")
    print(f"size: Parquet {pq_mb:.1f} MB vs run directories {run_mb:.1f} MB: ratio "
          f"{pq_mb / run_mb:.2f} (target <= 1: {'PASS' if pq_mb <= run_mb else 'MISS'})")
    return out, pq_mb <= run_mb


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall s, peak RSS bytes, output) of a subprocess, killed after CHILD_TIMEOUT.

    The peak is the largest VmHWM of /proc/PID/status sampled every 20 ms while it runs:
    ``wait4``'s ru_maxrss would count this (large) process, which the child was forked
    from, before its exec.

    Raises:
        RuntimeError: it did not exit 0.
    """
    from sync_throughput import usage

    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        reaped = threading.Event()
        peak = [0]

        def sample() -> None:  # until reaped (the pid may be reused after)
            while not reaped.wait(0.02):
                peak[0] = max(peak[0], usage(proc.pid).peak_rss)

        def kill() -> None:
            if not reaped.is_set():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

        sampler, killer = threading.Thread(target=sample), threading.Timer(CHILD_TIMEOUT, kill)
        sampler.start()
        killer.start()
        try:
            _, status = os.waitpid(proc.pid, 0)
        finally:
            reaped.set()
            killer.cancel()
            sampler.join()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {text[-2000:]}")
    return wall, peak[0], text


def bench_server(root: Path, small: Path, work: Path, args: argparse.Namespace,
                 duck: tuple[float, Answer]) -> bool:
    from sync_throughput import (
        clean_proxy_env,
        flightlog_command,
        guarded_env,
        start_flightlog_server,
    )

    clean_proxy_env()
    env = guarded_env(work)
    flightlog = flightlog_command()
    with contextlib.ExitStack() as stack:
        url, _ = start_flightlog_server(stack, work / "server-data", env, work / "logs")
        for name, where in ((PROJECT, root / PROJECT), (SMALL_PROJECT, small)):
            wall, _, _ = run_child([*flightlog, "sync", str(where), "--server", url,
                                    "--state", str(work / f"state-{name}")], env)
            print(f"flightlog sync of project {name} to {url}: {wall:.1f} s")
        with flightlog_api(url) as api:  # imports and first connection, not counted
            api.runs(PROJECT, limit=1)
        api_s, via_api = timed(query_api, url, args.runs, repeat=args.repeat)
        duck_s, via_duckdb = duck
        same = via_api == via_duckdb
        print(f"  Api of the server      {api_s:8.3f} s: DuckDB {api_s / duck_s:6.1f}x "
              f"faster; answer {'equal' if same else 'DIFFERS'}")
        rss = {}
        for name in (PROJECT, SMALL_PROJECT):
            out = work / f"from-server-{name}"
            wall, peak, _ = run_child([*flightlog, "export", "parquet", "--server", url,
                                       "--project", name, "-o", str(out)], env)
            rss[name] = peak
            n = args.runs if name == PROJECT else max(1, args.runs // 10)
            print(f"export --server --project {name} ({n} run{'s' * (n > 1)}): "
                  f"{wall:.1f} s, peak RSS {peak / 2**20:.0f} MiB")
        from_server = query_duckdb(work / f"from-server-{PROJECT}")
        same_export = from_server == via_duckdb
        print(f"  peak RSS of {args.runs} runs / of {max(1, args.runs // 10)}: "
              f"{rss[PROJECT] / rss[SMALL_PROJECT]:.2f} (bounded when near 1); the "
              f"server's export answers the query {'equally' if same_export else 'DIFFERENTLY'}")
    return same and same_export


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="exports timed (median)")
    parser.add_argument("--runs-dir", type=Path, help="write the runs here and reuse them "
                        "on the next call (default: a temp dir, removed)")
    parser.add_argument("--skip-server", action="store_true",
                        help="no flightlog server: no Api query, no --server export")
    args = parser.parse_args()
    args.repeat = max(1, args.repeat)
    from _peers import forbid_network

    forbid_network()
    work = Path(tempfile.mkdtemp(prefix="flightlog-bench-export-"))
    try:
        root = args.runs_dir or work / "runs"
        root.mkdir(parents=True, exist_ok=True)
        prepared_runs(root, args.runs, args.points, args.seed, PROJECT)
        total = args.runs * (args.points // 4) * 4
        from flightlog.format.rundir import find_run_dirs

        import flightlog

        t0 = time.perf_counter()
        flightlog.open_run(find_run_dirs(root / PROJECT)[0]).history()  # one-time imports
        print(f"warm-up (imports of the first history() read): "
              f"{time.perf_counter() - t0:.2f} s, not counted below")
        read_s, _ = timed(lambda: [flightlog.open_run(d).history()
                                   for d in find_run_dirs(root / PROJECT)])
        print(f"reading history() of every run alone: {read_s:.2f} s "
              f"({total / read_s / 1e6:.2f} M points/s) [{load()}]")
        print(f"export of {args.runs} runs x {args.points:,} points, x {args.repeat}:")
        out, small_enough = bench_export(root, work, args.repeat, total)
        import duckdb

        duckdb.sql("select 1").fetchall()  # one-time imports and start, not counted
        duck = timed(query_duckdb, out, repeat=args.repeat)
        open_s, via_open_run = timed(query_open_run, root, repeat=args.repeat)
        same = duck[1] == via_open_run
        print(f"best final loss per alpha over {args.runs} runs, median of {args.repeat} "
              f"[{load()}]:")
        print(f"  DuckDB over Parquet    {duck[0]:8.3f} s")
        print(f"  open_run of run dirs   {open_s:8.3f} s: DuckDB {open_s / duck[0]:6.1f}x "
              f"faster; answer {'equal' if same else 'DIFFERS'}")
        if not args.skip_server:
            small = root / SMALL_PROJECT
            prepared_runs(root, max(1, args.runs // 10), args.points, args.seed + 1,
                          SMALL_PROJECT)
            same = bench_server(root, small, work, args, duck) and same
        for alpha, best in duck[1]:
            print(f"  alpha={alpha:g}: best final loss {best:.6f}")
        return 0 if same and small_enough else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
