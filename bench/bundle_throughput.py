"""Air-gap bundles: bundle and import of a 10-million-point run plus attached files, an
incremental bundle after 1,000 more steps, and import against the one-shot sync.

What is measured (every command a real subprocess, from spawn to exit, imports included):

* Workload: a finished run of ``--steps`` steps (default 1,000,000) x 10 random float keys
  (``history_read.build_run``: 10 million points), then resumed to attach ``--files-mb``
  MiB (default 1024) of random bytes in files of ``--file-mb`` MiB, and finished.
* ``flightlog bundle ROOT -o DISK``: seconds, MB/s of run directory bundled, the bundle's
  size against the run directory's size.
* ``flightlog verify BUNDLE``: seconds, MB/s (every frame and every member's SHA-256).
* ``flightlog import BUNDLE --server URL`` into a fresh ``flightlog server`` on 127.0.0.1,
  and ``flightlog import BUNDLE --data DIR`` into a fresh data directory (no server): seconds
  and MB/s of bundle; the server is then asked for the history (every row must be there).
* ``flightlog sync ROOT --server URL`` of the same run into another fresh server: the
  one-shot sync's seconds and MB/s. Target: import (``--server``) >= sync (PASS/MISS).
* Incremental: the run is resumed, ``--more`` (default 1,000) steps are logged, and
  ``flightlog bundle`` runs again: its size must be proportional to those steps (printed:
  bytes per step of the incremental bundle against the whole bundle's bytes per step of
  frames), and its time is printed beside the full bundle's.

Every Python child gets the loopback-only network guard of ``bench/sync_throughput.py``.

Run:
    python bench/bundle_throughput.py                       # 1M steps, 1 GiB of files
    python bench/bundle_throughput.py --files-mb 200        # less disk and time
    python bench/bundle_throughput.py --steps 100000 --files-mb 64 --file-mb 16
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from _peers import KEYS, dir_bytes
from history_read import build_run
from log_latency import import_flightlog
from sync_throughput import (
    clean_proxy_env,
    flightlog_command,
    guarded_env,
    start_flightlog_server,
)

MB = 1_000_000


def timed(argv: Sequence[str], env: Mapping[str, str], timeout: float = 1800.0
          ) -> tuple[float, int, str]:
    """(wall seconds, exit code, output) of a subprocess."""
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), env=dict(env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return time.perf_counter() - t0, proc.returncode, (proc.stdout + proc.stderr).strip()


def must(what: str, result: tuple[float, int, str]) -> float:
    wall, code, output = result
    if code != 0:
        raise RuntimeError(f"{what} exited with {code}:\n{output[-2000:]}")
    return wall


def attach_files(run_dir: Path, total_mb: int, file_mb: int, tmp: Path) -> int:
    """Resume the run, attach ``total_mb`` MiB of random files, finish; bytes attached."""
    flightlog = import_flightlog()
    run = flightlog.init(project=run_dir.parent.name, id=run_dir.name,
                         dir=str(run_dir.parent.parent), resume=True)
    done = 0
    k = 0
    while done < total_mb << 20:
        size = min(file_mb << 20, (total_mb << 20) - done)
        path = tmp / f"attached-{k}.bin"
        with open(path, "wb") as f:
            for _ in range(0, size, 1 << 24):
                f.write(os.urandom(min(1 << 24, size - f.tell())))
        run.upload_file(f"data/part-{k}.bin", str(path))
        path.unlink()
        done += size
        k += 1
    run.finish()
    return done


def log_more(run_dir: Path, steps: int, seed: int) -> None:
    import numpy as np

    flightlog = import_flightlog()
    run = flightlog.init(project=run_dir.parent.name, id=run_dir.name,
                         dir=str(run_dir.parent.parent), resume=True)
    rng = np.random.default_rng(seed + 1)
    for row in rng.random((steps, len(KEYS))).tolist():
        run.log(dict(zip(KEYS, row, strict=True)))
    run.finish()


def frames_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in (run_dir / "log").glob("*.flseg"))


def rows_on(url: str, name: str) -> int:
    flightlog = import_flightlog()
    api = flightlog.Api(url)
    try:
        return int(api.run(name).history().num_rows)
    finally:
        api._client.close()


def bench(args: argparse.Namespace, tmp: Path) -> int:
    clean_proxy_env()
    env = guarded_env(tmp, {"FLIGHTLOG_BUNDLE_STATE": str(tmp / "ledgers"),
                            "FLIGHTLOG_PROGRESS": "0"})
    fl = flightlog_command()
    t0 = time.perf_counter()
    run_dir = build_run(tmp / "root", args.steps, args.seed)
    attached = attach_files(run_dir, args.files_mb, args.file_mb, tmp)
    root = run_dir.parent.parent
    name = f"{run_dir.parent.name}/{run_dir.name}"
    run_size = dir_bytes(run_dir)
    points = args.steps * len(KEYS)
    print(f"workload: {args.steps:,} steps x {len(KEYS)} keys = {points:,} points, "
          f"{attached / 2**20:,.0f} MiB attached; run directory {run_size / MB:,.1f} MB "
          f"(frames {frames_bytes(run_dir) / MB:,.1f} MB), built in "
          f"{time.perf_counter() - t0:.1f} s")

    disk = tmp / "disk"
    bundle_s = must("bundle", timed([*fl, "bundle", str(root), "-o", str(disk), "--dest",
                                     "site"], env))
    (made,) = disk.glob("*.flbundle")
    bundle_size = made.stat().st_size
    verify_s = must("verify", timed([*fl, "verify", str(made)], env))

    with contextlib.ExitStack() as stack:
        url, _ = start_flightlog_server(stack, tmp / "import-data", env, tmp / "logs",
                                        "import-server")
        import_s = must("import --server", timed(
            [*fl, "import", str(made), "--server", url, "-o", str(tmp / "back")], env))
        imported_rows = rows_on(url, name)
    data_s = must("import --data", timed(
        [*fl, "import", str(made), "--data", str(tmp / "data-dir"), "-o", str(tmp / "back")],
        env))
    shutil.rmtree(tmp / "data-dir")
    with contextlib.ExitStack() as stack:
        url, _ = start_flightlog_server(stack, tmp / "sync-data", env, tmp / "logs",
                                        "sync-server")
        sync_s = must("sync", timed([*fl, "sync", str(root), "--server", url, "--state",
                                     str(tmp / "sync-state")], env))
        synced_rows = rows_on(url, name)
    shutil.rmtree(tmp / "import-data", ignore_errors=True)
    shutil.rmtree(tmp / "sync-data", ignore_errors=True)

    frames_before = frames_bytes(run_dir)
    log_more(run_dir, args.more, args.seed)
    frames_added = frames_bytes(run_dir) - frames_before
    inc_s = must("incremental bundle", timed([*fl, "bundle", str(root), "-o", str(disk),
                                              "--dest", "site"], env))
    (inc,) = set(disk.glob("*.flbundle")) - {made}
    inc_size = inc.stat().st_size

    def mbps(n: int, seconds: float) -> float:
        return n / MB / seconds

    rows = [
        ("flightlog bundle (full)", bundle_s, mbps(run_size, bundle_s), "of run directory"),
        ("flightlog verify bundle", verify_s, mbps(bundle_size, verify_s), "of bundle"),
        ("flightlog import --server", import_s, mbps(bundle_size, import_s), "of bundle"),
        ("flightlog import --data", data_s, mbps(bundle_size, data_s), "of bundle"),
        ("flightlog sync (one-shot)", sync_s, mbps(run_size, sync_s), "of run directory"),
        (f"flightlog bundle (+{args.more:,} steps)", inc_s, mbps(inc_size, inc_s),
         "of bundle"),
    ]
    print(f"\n{'command':36} {'seconds':>8} {'MB/s':>8}")
    for what, seconds, rate, unit in rows:
        print(f"{what:36} {seconds:8.2f} {rate:8.1f}  {unit}")
    print(f"\nbundle size {bundle_size / MB:,.1f} MB = {bundle_size / run_size:.4f} x the run "
          f"directory ({run_size / MB:,.1f} MB)")
    print(f"history rows on the server: import {imported_rows:,}, sync {synced_rows:,} "
          f"(logged {args.steps:,})")
    per_step_full = frames_before / args.steps
    per_step_inc = inc_size / args.more
    print(f"incremental bundle: {inc_size:,} bytes for {args.more:,} steps = "
          f"{per_step_inc:,.0f} B/step (the frames those steps added: {frames_added:,} bytes; "
          f"the whole run's frames: {per_step_full:,.0f} B/step); "
          f"{inc_size / bundle_size:.5f} x the full bundle, in {inc_s / bundle_s:.2f} x its "
          f"time")
    ratio = (bundle_size / import_s) / (run_size / sync_s)
    ok_rows = imported_rows == synced_rows == args.steps
    proportional = inc_size < 4 * frames_added + 64 * 1024
    print(f"\nimport (--server) throughput / sync throughput = {ratio:.2f}  "
          f"{'PASS' if ratio >= 1.0 else 'MISS'} (target >= 1)")
    print(f"incremental bundle proportional to the new steps: "
          f"{'PASS' if proportional else 'MISS'}; every row arrived: "
          f"{'PASS' if ok_rows else 'MISS'}")
    print(json.dumps({"steps": args.steps, "attached_mib": attached >> 20,
                      "run_bytes": run_size, "bundle_bytes": bundle_size,
                      "bundle_s": bundle_s, "verify_s": verify_s, "import_server_s": import_s,
                      "import_data_s": data_s, "sync_s": sync_s, "incremental_bytes": inc_size,
                      "incremental_s": inc_s, "import_over_sync": ratio}))
    return 0 if ok_rows and proportional else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--files-mb", type=int, default=1024, help="MiB of attached files")
    p.add_argument("--file-mb", type=int, default=64, help="MiB per attached file")
    p.add_argument("--more", type=int, default=1000, help="steps of the incremental bundle")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fl-bundle-bench-"))
    try:
        return bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
