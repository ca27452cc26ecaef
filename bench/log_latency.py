"""Per-step logging latency, wall time and bytes on disk: flightlog vs its peers.

What is measured (one run prints every figure, with ratios):

* Workload: ``--steps`` steps (default 100,000); a step is a dict of 10 random
  float scalars ``m0``..``m9`` drawn once from ``numpy.random.default_rng(--seed)``
  into an array of shape (steps, 10), saved to the temp dir, and handed as
  Python floats to every tool, so all tools log the same data.
* Latency of one step's logging call(s): ``time.perf_counter_ns()`` around
  ``run.log(row)`` (flightlog, W&B), 10 ``add_scalar`` calls (tensorboardX) or
  ``mlflow.log_metrics(row, step=i)`` (MLflow); printed as p50, p99, p99.9 in µs.
* Wall time: first step to the end of ``finish()``/``close()``/``end_run()``.
* Bytes per point: all files under the tool's output dir / (steps * 10).
* flightlog also: time of ``flightlog.open_run(run.dir).history()`` afterwards.
* Floor: a bare loop that msgpack-packs each row into a bytearray and every
  1000 rows zstd(3)-compresses the block and writes it to a file.
* Max-rate logger (SPEC.md §12, ``bench/_maxrate.py``): ``run.log({"x": float(i),
  "y": i * 2.0})`` in a tight loop for ``--maxrate-seconds`` (default 3) while an
  observer process polls the run directory every 10 ms: p50/p99/p99.9/max of ``log``,
  steps/s, and the worst observed unwritten age (what a SIGKILL at that moment would
  lose; target <= 1 s), with the writer's own bound as a cross-check. The 10-float run
  above also prints the writer's bound.

Peers run ``min(--steps, --peer-steps)`` steps (default 10,000) so that the
whole run stays within a few minutes (MLflow's file store costs ~ms per step).
Each tool runs in its own child process (no leftover threads or import side
effects from one tool skew the next), in a fresh dir under one
``tempfile.mkdtemp()`` that is removed at the end unless ``--keep``. With
``--repeat K`` every figure is the median of K runs. Child processes refuse
(via an audit hook) any socket connection or name lookup that is not loopback
or a Unix socket; W&B runs offline and MLflow uses a local ``file://`` store.

The peers are not test dependencies: install them (the ``bench`` extra) in a venv of
their own, e.g. ``python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install -e
'.[bench]'``, and run this script with that venv's python. A peer not installed in the
running interpreter is skipped with a line saying so (``SKIPPED wandb: ...``), not failed.
The last lines (``summary``) repeat issue 9's figures: flightlog's 10-float p50/p99, the
max-rate logger's worst unwritten age, and every peer's p50/p99 with its ratio.

Run:
    python bench/log_latency.py                      # everything, 100k steps
    python bench/log_latency.py --steps 2000 --skip-flightlog
    python bench/log_latency.py --skip-peers --repeat 5
    python bench/log_latency.py --peers wandb,mlflow --peer-steps 5000 --keep
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
from _maxrate import bench_maxrate
from _peers import (
    KEYS,
    PEERS,
    Result,
    bench_floor,
    dir_bytes,
    forbid_network,
    make_rows,
    median_result,
    missing_peer,
    time_calls,
)

REPO = Path(__file__).resolve().parent.parent
BenchFn = Callable[[Path, int, Sequence[Sequence[float]]], Result]

TARGET_P50_US = 3.0
TARGET_UNWRITTEN_S = 1.0  # SPEC.md §12: logged >= 1 s before a SIGKILL -> readable
TARGET_P99_US = 50.0
TARGET_WANDB_SPEEDUP = 20.0
TARGET_BYTES_PER_POINT = 12.0


# --- flightlog ---------------------------------------------------------------------


def import_flightlog() -> ModuleType:
    """Import the installed flightlog, or explain why it cannot be."""
    try:
        return importlib.import_module("flightlog")
    except ImportError as exc:
        raise RuntimeError(
            f"cannot import flightlog ({exc!r}); install this checkout with "
            f"`pip install -e {REPO}` (log_latency.py --skip-flightlog measures only the peers)"
        ) from exc


def bench_flightlog(workdir: Path, steps: int, values: Sequence[Sequence[float]]) -> Result:
    """``run.log(row)`` per step, ``run.finish()``, then time ``history()``."""
    flightlog = import_flightlog()
    rows = make_rows(values, steps)
    t0 = time.perf_counter()
    run = flightlog.init(project="bench", name="latency", dir=str(workdir))
    t1 = time.perf_counter()
    timing = time_calls(rows, run.log)
    writer_bound = getattr(run._writer, "worst_unwritten_age", float("nan"))
    run.finish()
    t2 = time.perf_counter()
    run_dir = Path(run.dir)
    history = flightlog.open_run(run_dir).history()
    t3 = time.perf_counter()
    flightlog.open_run(run_dir).history()
    warm_s = time.perf_counter() - t3
    version = getattr(flightlog, "__version__", "dev")
    return Result(
        name=f"flightlog {version}",
        steps=steps,
        points=steps * len(KEYS),
        wall_s=t2 - timing.start_s,
        bytes=dir_bytes(run_dir),
        setup_s=t1 - t0,
        latencies_ns=timing.latencies_ns,
        read_s=t3 - t2,
        note=f"history() after finish: {count_rows(history):,} rows; "
        f"first read {t3 - t2:.3f} s (incl. lazy imports), second {warm_s:.3f} s; "
        f"writer's worst unwritten age {writer_bound * 1000:.0f} ms",
        extra={"writer_bound_s": writer_bound},
    ).summarize()


def count_rows(table: object) -> int:
    """Rows of whatever ``history()`` returns (Arrow table, DataFrame, list)."""
    for attr in ("num_rows", "height"):
        if isinstance(getattr(table, attr, None), int):
            return int(getattr(table, attr))
    shape = getattr(table, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    return len(table)  # type: ignore[arg-type]


TOOLS: dict[str, BenchFn] = {"flightlog": bench_flightlog, "floor": bench_floor, **PEERS}


# --- child process -----------------------------------------------------------------


def worker_main(args: argparse.Namespace) -> int:
    """Run one tool in this (child) process and write its Result as JSON."""
    forbid_network()
    values = np.load(args.values)[: args.steps].tolist()
    name = args.worker
    try:
        if name == "maxrate":
            result = bench_maxrate(Path(args.workdir), args.maxrate_seconds)
        else:
            result = TOOLS[name](Path(args.workdir), args.steps, values)
    except Exception as exc:  # reported in the table, not fatal
        result = Result.failed(name, args.steps, f"{type(exc).__name__}: {exc}")
    Path(args.result).write_text(json.dumps(result.to_json()))
    return 0


def run_isolated(tool: str, workdir: Path, steps: int, values: Path, timeout: float,
                 extra_args: Sequence[str] = ()) -> Result:
    """Run ``tool`` in a child process; a crash or hang becomes an error row."""
    workdir.mkdir(parents=True)
    result_path, log_path = workdir / "result.json", workdir.parent / f"{workdir.name}.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        tool,
        "--steps",
        str(steps),
        "--values",
        str(values),
        "--workdir",
        str(workdir / "out"),
        "--result",
        str(result_path),
        *extra_args,
    ]
    (workdir / "out").mkdir()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Result.failed(tool, steps, f"timed out after {timeout:g} s, killed")
        finally:
            _reap_group(proc.pid)
    if not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        return Result.failed(tool, steps, f"exit {proc.returncode}: {' | '.join(tail)}")
    return Result.from_json(json.loads(result_path.read_text()))


def _reap_group(pgid: int) -> None:
    """Kill what the child left behind in its own process group (e.g. wandb-core)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run_tool(tool: str, root: Path, steps: int, values: Path, args: argparse.Namespace) -> Result:
    runs = []
    for k in range(args.repeat):
        print(f"  {tool}: {steps:,} steps, repetition {k + 1}/{args.repeat} ...", flush=True)
        runs.append(run_isolated(tool, root / f"{tool}-{k}", steps, values, args.timeout,
                                 ["--maxrate-seconds", str(args.maxrate_seconds)]))
        if runs[-1].error:
            break
    return median_result(runs)


# --- report ------------------------------------------------------------------------


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or math.isnan(x):
        return "-"
    return f"{x:,.{digits}f}"


TABLE_HEAD = (
    "tool", "steps", "p50 µs", "p99 µs", "p99.9 µs", "mean µs",
    "wall s", "wall µs/step", "setup s", "B/point",
)  # fmt: skip
RATIO_HEAD = ("tool", "p50", "p99", "p99.9", "wall/step", "B/point")


def print_grid(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` under ``head``: first column left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells)

    print(line(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def table_row(r: Result) -> list[str]:
    return [
        r.name, f"{r.steps:,}", fmt(r.p50_us, 2), fmt(r.p99_us, 2), fmt(r.p999_us, 2),
        fmt(r.mean_us, 2), fmt(r.wall_s, 3), fmt(r.wall_us_per_step, 2), fmt(r.setup_s, 3),
        fmt(r.bytes_per_point, 2),
    ]  # fmt: skip


def print_table(results: Sequence[Result]) -> None:
    print()
    print_grid(TABLE_HEAD, [table_row(r) for r in results if not r.error])
    for r in results:
        if r.error:
            print(f"FAILED {r.name} ({r.steps:,} steps): {r.error}")
    notes = [f"  {r.name}: {r.note}" for r in results if r.note and not r.error]
    if notes:
        print("notes:\n" + "\n".join(notes))


def ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or b <= 0:
        return "-"
    return f"{a / b:,.1f}x"


def ratio_row(r: Result, base: Result) -> list[str]:
    return [
        r.name, ratio(r.p50_us, base.p50_us), ratio(r.p99_us, base.p99_us),
        ratio(r.p999_us, base.p999_us), ratio(r.wall_us_per_step, base.wall_us_per_step),
        ratio(r.bytes_per_point, base.bytes_per_point),
    ]  # fmt: skip


def print_ratios(base: Result, others: Sequence[Result]) -> None:
    rows = [ratio_row(r, base) for r in others if r is not base and not r.error]
    if rows:
        print(f"\nratios: tool / {base.name} (>1: {base.name} is faster or smaller)")
        print_grid(RATIO_HEAD, rows)


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def print_targets(flight: Result, wandb: Result | None) -> None:
    speedup = None
    if wandb is not None and not wandb.error and flight.p50_us > 0:
        speedup = wandb.p50_us / flight.p50_us
    rows = [
        (flight.p50_us <= TARGET_P50_US, f"p50 {fmt(flight.p50_us, 2)} µs <= {TARGET_P50_US:g} µs"),
        (flight.p99_us <= TARGET_P99_US, f"p99 {fmt(flight.p99_us, 2)} µs <= {TARGET_P99_US:g} µs"),
        (
            None if speedup is None else speedup >= TARGET_WANDB_SPEEDUP,
            f"W&B offline p50 / flightlog p50 = "
            f"{'not measured' if speedup is None else f'{speedup:,.1f}x'}"
            f" >= {TARGET_WANDB_SPEEDUP:g}x",
        ),
        (
            flight.bytes_per_point <= TARGET_BYTES_PER_POINT,
            f"{fmt(flight.bytes_per_point, 2)} B/point <= {TARGET_BYTES_PER_POINT:g}",
        ),
    ]
    print(f"\ntargets for {flight.name}:")
    for ok, text in rows:
        print(f"  {verdict(ok)}  {text}")
    if flight.read_s is not None:
        print(f"  info  history() read back in {flight.read_s:.3f} s")
    if "writer_bound_s" in flight.extra:
        print(f"  info  worst unwritten age (writer's bound) "
              f"{flight.extra['writer_bound_s'] * 1000:,.0f} ms")


def print_maxrate(r: Result) -> None:
    print(f"\nmax-rate logger ({r.name}, SPEC.md §12):")
    if r.error:
        print(f"  FAILED: {r.error}")
        return
    x = r.extra
    print(f"  {r.steps:,} steps in {r.wall_s:.2f} s = {x['steps_per_s']:,.0f} steps/s; log p50 "
          f"{fmt(r.p50_us, 2)} µs, p99 {fmt(r.p99_us, 2)} µs, p99.9 {fmt(r.p999_us, 2)} µs, "
          f"max {fmt(x['max_ms'], 1)} ms; {x['calls_over_1ms']:,.0f} calls over 1 ms "
          f"(waits for the writer, or the OS)")
    worst = x["worst_unwritten_s"]
    print(f"  {verdict(worst <= TARGET_UNWRITTEN_S)}  worst observed unwritten age "
          f"{worst * 1000:,.0f} ms <= {TARGET_UNWRITTEN_S * 1000:,.0f} ms ({r.note})")
    print(f"  info  writer's own bound on it: {x['writer_bound_s'] * 1000:,.0f} ms")


def print_summary(by_tool: dict[str, Result], maxrate: Result | None) -> None:
    """One line per figure of issue 9, each peer's p50 as a ratio to flightlog's."""
    flight = by_tool.get("flightlog")
    if flight is None or flight.error:
        return
    print(f"\nsummary (10-float step; ratios = tool p50 / flightlog p50):\n"
          f"  flightlog log p50 {fmt(flight.p50_us, 2)} µs, p99 {fmt(flight.p99_us, 2)} µs")
    if maxrate is not None and not maxrate.error:
        print(f"  flightlog max-rate logger: worst observed unwritten age "
              f"{maxrate.extra['worst_unwritten_s'] * 1000:,.0f} ms "
              f"(log p50 {fmt(maxrate.p50_us, 2)} µs, p99 {fmt(maxrate.p99_us, 2)} µs)")
    for tool, r in by_tool.items():
        if tool != "flightlog" and not r.error:
            print(f"  {r.name}: p50 {fmt(r.p50_us, 2)} µs ({ratio(r.p50_us, flight.p50_us)}), "
                  f"p99 {fmt(r.p99_us, 2)} µs ({ratio(r.p99_us, flight.p99_us)})")


def report(tools: Sequence[str], results: Sequence[Result], skipped: dict[str, str],
           args: argparse.Namespace) -> None:
    by_tool = dict(zip(tools, results, strict=True))
    maxrate = by_tool.pop("maxrate", None)
    results = list(by_tool.values())
    print_table(results)
    for tool, why in skipped.items():
        print(f"SKIPPED {tool}: {why}")
    flight = by_tool.get("flightlog")
    base = flight if flight is not None and not flight.error else by_tool["floor"]
    print_ratios(base, results)
    if flight is not None and not flight.error:
        print_targets(flight, by_tool.get("wandb"))
    if maxrate is not None:
        print_maxrate(maxrate)
    print_summary(by_tool, maxrate)
    if min(args.steps, args.peer_steps) < args.steps and set(by_tool) & set(PEERS):
        print(
            f"\nnote: peers ran {args.peer_steps:,} of {args.steps:,} steps (--peer-steps);"
            " per-step figures and bytes/point are comparable, totals are not."
        )


# --- main --------------------------------------------------------------------------


def planned_tools(args: argparse.Namespace) -> list[str]:
    tools = [] if args.skip_flightlog else ["flightlog"]
    tools.append("floor")
    if not (args.skip_flightlog or args.skip_maxrate):
        tools.append("maxrate")
    return tools + ([] if args.skip_peers else args.peers)


def parse_peers(text: str) -> list[str]:
    peers = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer(s) {unknown}; choose from {list(PEERS)}")
    return peers


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--steps", type=int, default=100_000, help="steps for flightlog and floor")
    p.add_argument(
        "--peer-steps",
        type=int,
        default=10_000,
        help="at most this many steps for each peer (default 10,000)",
    )
    p.add_argument(
        "--peers", type=parse_peers, default=list(PEERS), help="comma list from: " + ",".join(PEERS)
    )
    p.add_argument("--skip-peers", action="store_true", help="flightlog and floor only")
    p.add_argument("--skip-flightlog", action="store_true", help="floor and peers only")
    p.add_argument("--skip-maxrate", action="store_true", help="without the max-rate logger")
    p.add_argument("--maxrate-seconds", type=float, default=3.0,
                   help="how long the max-rate logger logs (default 3)")
    p.add_argument("--repeat", type=int, default=1, help="repetitions; medians are printed")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per tool run")
    p.add_argument("--keep", action="store_true", help="keep the temp dir and print its path")
    p.add_argument("--worker", choices=[*TOOLS, "maxrate"], help=argparse.SUPPRESS)
    for hidden in ("--values", "--workdir", "--result"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.peer_steps < 1 or args.repeat < 1:
        p.error("--steps, --peer-steps and --repeat must be >= 1")
    return args


def make_values(steps: int, seed: int) -> np.ndarray:
    """The workload: shape (steps, 10), uniform [0, 1) float64."""
    return np.random.default_rng(seed).random((steps, len(KEYS)))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    root = Path(tempfile.mkdtemp(prefix="flightlog-bench-"))
    try:
        values = root / "values.npy"
        np.save(values, make_values(args.steps, args.seed))
        print(
            f"workload: {args.steps:,} steps x {len(KEYS)} random floats, seed {args.seed};"
            f" python {sys.version.split()[0]}, {os.cpu_count()} cpus"
        )
        # A peer that is not installed is skipped, with a line saying so, not a failure.
        skipped = {tool: why for tool in planned_tools(args)
                   if tool in PEERS and (why := missing_peer(tool)) is not None}
        for tool, why in skipped.items():
            print(f"  {tool}: skipped, {why}")
        tools = [tool for tool in planned_tools(args) if tool not in skipped]
        results = []
        for tool in tools:
            steps = min(args.steps, args.peer_steps) if tool in PEERS else args.steps
            results.append(run_tool(tool, root, steps, values, args))
        report(tools, results, skipped, args)
    finally:
        if args.keep:
            print(f"\nkept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
