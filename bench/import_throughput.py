"""Import throughput: a 1,000,000-point TensorBoard log, flightlog's importer next to
TensorBoard's own reader on the same files.

    .venv/bin/python bench/import_throughput.py [--points 1000000] [--tags 4]

The log is written by tensorboardX's SummaryWriter (``add_scalar``, as training code
does), ``--tags`` scalar tags of ``points / tags`` steps each. Measured, each best of
``--repeat`` runs:

- flightlog: ``import_tensorboard`` into an empty root (read, decode, and write the run
  directory, finished and fsynced);
- TensorBoard: ``EventAccumulator(size_guidance 0 for every kind).Reload()`` and reading
  every tag's ``Scalars`` (read and decode only, nothing written).

Prints points/s for both and their ratio (flightlog / TensorBoard). The W&B importer's
figures are added by its own section when present (``--wandb``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path


def make_log(logdir: Path, points: int, tags: int) -> int:
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=str(logdir), flush_secs=3600, max_queue=10_000)
    steps = points // tags
    names = [f"train/metric_{i}" for i in range(tags)]
    for step in range(steps):
        for i, name in enumerate(names):
            writer.add_scalar(name, 1.0 / (step + 1) + i, step)
    writer.close()
    return steps * tags


def time_flightlog(logdir: Path, repeat: int) -> tuple[float, int]:
    from flightlog.importers.tensorboard import import_tensorboard

    best = float("inf")
    points = 0
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="fl-import-"))
        try:
            start = time.perf_counter()
            (report,) = import_tensorboard([logdir], root)
            best = min(best, time.perf_counter() - start)
            points = report.points
        finally:
            shutil.rmtree(root)
    return best, points


def time_event_accumulator(logdir: Path, repeat: int) -> tuple[float, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tensorboard.backend.event_processing import event_accumulator as ea

    best = float("inf")
    points = 0
    for _ in range(repeat):
        start = time.perf_counter()
        acc = ea.EventAccumulator(str(logdir), size_guidance={
            ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0, ea.AUDIO: 0,
            ea.COMPRESSED_HISTOGRAMS: 0})
        acc.Reload()
        points = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
        best = min(best, time.perf_counter() - start)
    return best, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tb-bench-"))
    try:
        logdir = work / "logs" / "run"
        start = time.perf_counter()
        written = make_log(logdir, args.points, args.tags)
        size = sum(p.stat().st_size for p in logdir.iterdir())
        print(f"TensorBoard log: {written:,} points in {args.tags} tags, "
              f"{size / 2**20:.1f} MiB, written by tensorboardX in "
              f"{time.perf_counter() - start:.1f} s")
        fl_time, fl_points = time_flightlog(logdir, args.repeat)
        tb_time, tb_points = time_event_accumulator(logdir, args.repeat)
        assert fl_points == tb_points == written, (fl_points, tb_points, written)
        fl_rate, tb_rate = fl_points / fl_time, tb_points / tb_time
        print(f"flightlog import tensorboard   {fl_time:7.2f} s  {fl_rate:12,.0f} points/s"
              f"  (read + write the run directory)")
        print(f"EventAccumulator (size 0)      {tb_time:7.2f} s  {tb_rate:12,.0f} points/s"
              f"  (read only)")
        print(f"ratio flightlog / EventAccumulator: {fl_rate / tb_rate:.2f}x")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
