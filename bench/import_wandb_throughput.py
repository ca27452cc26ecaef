"""Import throughput of a W&B offline run of 1,000,000 points (issue 15).

    .venv/bin/python bench/import_wandb_throughput.py [--wandb-venv /work/venvs/wandb031]

The run is made once with the real wandb (offline, in a scratch venv outside the
project's: ``python -m venv V && V/bin/pip install wandb==0.31.0``): 100,000 steps of 10
float keys; it is cached in $TMPDIR. Measured on the same file:

- flightlog: ``import_wandb`` into a fresh root (read, decode, write the flightlog run);
- flightlog's reader alone (framing + records, no writing);
- peer: wandb 0.31 ships no Python reader of .wandb files (``wandb sync`` uploads, it
  does not read into anything local); the nearest it offers is its generated protobuf
  class: a plain framing loop + ``wandb_internal_pb2.Record.ParseFromString`` + ``json.loads``
  of each history item's ``value_json`` (what a user would write), in the wandb venv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS, KEYS = 100_000, 10

MAKE = r'''
import os, sys, wandb
run = wandb.init(project="bench", mode="offline", settings=wandb.Settings(
    x_disable_stats=True, disable_git=True, save_code=False, console="off"))
for step in range({steps}):
    run.log({{f"k{{i}}": step * 0.001 + i for i in range({keys})}}, step=step)
print(run.dir)
run.finish()
'''

PEER = r'''
import json, struct, sys, time, zlib
from wandb.proto import wandb_internal_pb2 as pb
t0, c0 = time.perf_counter(), time.process_time()
buf = open(sys.argv[1], "rb").read()
pos, pending, points = 7, b"", 0
while pos + 7 <= len(buf):
    left = 32768 - pos % 32768
    if left < 7:
        pos += left
        continue
    crc, n, t = struct.unpack_from("<IHB", buf, pos)
    chunk = buf[pos + 7:pos + 7 + n]
    if zlib.crc32(chunk, zlib.crc32(bytes([t]))) != crc:
        break
    pos += 7 + n
    pending += chunk
    if t in (1, 4):
        r = pb.Record()
        r.ParseFromString(pending)
        pending = b""
        if r.WhichOneof("record_type") == "history":
            for item in r.history.item:
                key = item.key or "/".join(item.nested_key)
                json.loads(item.value_json)
                if not key.startswith("_"):
                    points += 1
print(points, time.perf_counter() - t0, time.process_time() - c0)
'''


def make_run(venv: Path, cache: Path) -> Path:
    found = sorted(cache.rglob("run-*.wandb"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    script = cache / "make.py"
    script.write_text(MAKE.format(steps=STEPS, keys=KEYS))
    t0 = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), str(script)], check=True, cwd=cache,
                   env=dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(cache),
                            WANDB_SILENT="true"), stdout=subprocess.DEVNULL)
    print(f"made the W&B run with wandb in {time.perf_counter() - t0:.1f} s "
          f"({STEPS * KEYS / (time.perf_counter() - t0):,.0f} points/s through wandb.log)")
    return sorted(cache.rglob("run-*.wandb"))[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wandb-venv", default="/work/venvs/wandb031")
    args = ap.parse_args()
    venv = Path(args.wandb_venv)
    if not (venv / "bin" / "python").exists():
        sys.exit(f"no wandb venv at {venv} (see this script's docstring)")
    wfile = make_run(venv, Path(tempfile.gettempdir()) / "flightlog-bench-wandb-1m")
    points = STEPS * KEYS
    print(f"file: {wfile} ({wfile.stat().st_size / 1e6:.1f} MB, {points:,} points)")

    from flightlog.importers.wandb import import_wandb, read_wandb_run

    t0, c0 = time.perf_counter(), time.process_time()
    source = read_wandb_run(wfile)
    read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(list(source.points)) == points, "the reader did not find every point"
    root = Path(tempfile.mkdtemp(prefix="flightlog-bench-import-"))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        (report,) = import_wandb([wfile.parent], root)
        import_s, import_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert report.points == points, report.describe()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peer = subprocess.run([str(venv / "bin" / "python"), "-c", PEER, str(wfile)],
                          check=True, capture_output=True, text=True).stdout.split()
    peer_points, peer_s, peer_cpu = int(peer[0]), float(peer[1]), float(peer[2])
    assert peer_points == points, peer_points
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(CPU seconds are the fairer figure on a loaded machine)")
    for what, wall, cpu in (("flightlog import wandb (read + write run)", import_s, import_cpu),
                            ("flightlog reader alone (no writing)", read_s, read_cpu),
                            ("peer: framing + wandb 0.31 pb2 + json", peer_s, peer_cpu)):
        print(f"{what:42s} {wall:7.2f} s wall {points / wall:>10,.0f} points/s | "
              f"{cpu:7.2f} s CPU {points / cpu:>10,.0f} points/CPU-s")
    print("(wandb 0.31 has no reader of .wandb files of its own; the peer is its protobuf "
          "class behind a minimal framing loop)")
    print(f"ratios, CPU: reader / peer {peer_cpu / read_cpu:.2f}x, "
          f"import / peer {peer_cpu / import_cpu:.2f}x")


if __name__ == "__main__":
    main()
