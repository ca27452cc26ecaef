"""What system metrics sampling costs the training thread: ``run.log`` latency with the
sampler off, on at W&B's 15 s interval (the default), and on at 0.1 s (150x more often,
to make any cost visible), each in its own child process, same data.

Workload: ``--steps`` steps (default 50,000) of 10 random float scalars, as
bench/log_latency.py's; ``time.perf_counter_ns()`` around each ``run.log(row)``; p50,
p99 and p99.9 in µs, and the ratio of each configuration's p50 and p99 to the sampler-off
run measured in the same invocation. ``--repeat K`` prints the medians of K runs.

    python bench/system_metrics_overhead.py [--steps 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = {"off": None, "on, 15 s (default)": 15.0, "on, 0.1 s": 0.1}


def worker(steps: int, interval: float | None, root: str, seed: int) -> None:
    import numpy as np

    import flightlog

    rows = np.random.default_rng(seed).random((steps, 10)).tolist()
    keys = [f"m{i}" for i in range(10)]
    kwargs = ({"system_metrics": False} if interval is None
              else {"system_metrics_interval": interval})
    run = flightlog.init(project="bench", dir=root, quiet=True, **kwargs)
    lat = []
    clock = time.perf_counter_ns
    for values in rows:
        row = dict(zip(keys, values, strict=True))
        t0 = clock()
        run.log(row)
        lat.append(clock() - t0)
    run.finish()
    samples = flightlog.open_run(run.dir).system_metrics().num_rows
    lat.sort()
    print(json.dumps({"p50": lat[len(lat) // 2] / 1e3, "p99": lat[int(len(lat) * 0.99)] / 1e3,
                      "p999": lat[int(len(lat) * 0.999)] / 1e3, "samples": samples}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        interval = None if args.worker == "off" else float(args.worker)
        worker(args.steps, interval, tempfile.mkdtemp(prefix="flightlog-sysbench-"), args.seed)
        return 0
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    for _ in range(args.repeat):
        for name, interval in CONFIGS.items():  # interleaved: drift hits every config
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps),
                                  "--seed", str(args.seed), "--worker",
                                  "off" if interval is None else str(interval)],
                                 capture_output=True, text=True, check=True).stdout
            results[name].append(json.loads(out))
    med = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
           for name, runs in results.items()}
    base = med["off"]
    print(f"run.log latency, {args.steps} steps of 10 floats, median of {args.repeat}")
    print(f"{'sampler':<22}{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}{'samples':>9}"
          f"{'p50/off':>9}{'p99/off':>9}")
    for name, m in med.items():
        print(f"{name:<22}{m['p50']:>9.2f}{m['p99']:>9.2f}{m['p999']:>10.2f}"
              f"{m['samples']:>9.0f}{m['p50'] / base['p50']:>9.2f}{m['p99'] / base['p99']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
