"""Acknowledged records/s and p95 ack latency of the scaled backend: 1 vs 3 replicas.

Starts the tests' real parts (tests/scale/scaleparts.py: Debian's PostgreSQL, moto's S3
server, haproxy round-robin) on 127.0.0.1, then for 1 and for 3 ``flightlog server --db
--store`` replicas: ``--clients`` simulated daemons, each shipping its own run (frames of a
real run written here) one frame per request through the balancer, as a live daemon does
with small flushes. Prints records acknowledged per second, p50/p95 ack latency, and the
3-vs-1 ratios, with round-robin routing and with haproxy's ``balance uri`` (a run's
requests go to one replica, so it never fetches batches another replica committed).
Everything stays on this machine; every loop is bounded.

    .venv/bin/python bench/scale_replicas.py --clients 16 --steps 2000 --width 20

On one 2-core machine the replicas, PostgreSQL, moto and the clients share the same two
cores: the ratio says how much the design costs or gains here, not what N machines give.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "scale"),
                str(HERE.parent / "tests" / "syncd")]

from scaleparts import S3_ENV, Haproxy, Moto, Postgres, Replica  # noqa: E402
from syncd_helpers import make_run, segment_frames  # noqa: E402


def _client(url: str, project: str, run_id: str, frames: list[list[bytes]],
            latencies: list[float], acked: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        for segment, batch in enumerate(frames):
            for frame in batch:
                for _ in range(100):  # bounded retries of 429/503 and dropped connections
                    start = time.perf_counter()
                    try:
                        answer = http.post(f"/api/v1/runs/{project}/{run_id}/frames",
                                           params={"segment": segment}, content=frame,
                                           headers={"Content-Type":
                                                    "application/octet-stream"})
                    except httpx.TransportError:
                        continue  # resent as the daemon would: committed once either way
                    if answer.status_code == 200:
                        latencies.append(time.perf_counter() - start)
                        acked.append(int(answer.json()["accepted"]))
                        break
                    if answer.status_code not in (429, 503):
                        raise SystemExit(f"{run_id}: HTTP {answer.status_code} {answer.text}")
                    time.sleep(float(answer.headers.get("retry-after", "0.2")))


def measure(replicas: int, pg: Postgres, moto: Moto, runs: list[list[list[bytes]]],
            work: Path, tag: str, balance: str) -> tuple[float, float, float, float]:
    db, store = pg.create_database(tag), moto.store_url(tag)
    procs: list = []
    servers = [Replica(db, store, work / f"{tag}-cache{i}", procs).launch()
               for i in range(replicas)]
    try:
        for server in servers:
            server.wait_ready()
        balancer = Haproxy([s.port for s in servers], work, balance)
        latencies: list[float] = []
        acked: list[int] = []
        threads = [threading.Thread(target=_client, args=(balancer.url, "bench", f"r{i}",
                                                          frames, latencies, acked))
                   for i, frames in enumerate(runs)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        took = time.perf_counter() - start
        balancer.close()
    finally:
        for proc in procs:
            proc.kill()
            proc.close()
    quantiles = statistics.quantiles(latencies, n=20)
    return sum(acked) / took, len(latencies) / took, statistics.median(latencies), \
        quantiles[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--width", type=int, default=20, help="random columns per step")
    args = parser.parse_args()
    os.environ.update(S3_ENV)
    os.environ["FLIGHTLOG_SILENT"] = "1"
    work = Path(tempfile.mkdtemp(prefix="flightlog-bench-scale-"))
    runs = []
    for i in range(args.clients):
        run_dir = make_run(work / "client", f"r{i}", args.steps, project="bench", seed=i,
                           width=args.width)
        runs.append(segment_frames(run_dir))
    frames = sum(len(b) for r in runs for b in r)
    print(f"{args.clients} runs, {frames} frames ({frames / args.clients:.0f} per run), "
          f"one frame per request")
    pg = Postgres().start()
    moto = Moto()
    try:
        results = {(n, balance): measure(n, pg, moto, runs, work, f"bench{n}{balance}",
                                         balance)
                   for n, balance in ((1, "roundrobin"), (3, "roundrobin"), (3, "uri"))}
    finally:
        moto.close()
        pg.close()
        shutil.rmtree(work, ignore_errors=True)
    for (n, balance), (rate, batches, p50, p95) in results.items():
        print(f"{n} replica{'s' if n > 1 else ' '} {balance:10}: {rate:6.0f} records/s "
              f"acknowledged "
              f"({batches:6.1f} batches/s)   ack p50 {p50 * 1000:6.1f} ms   "
              f"p95 {p95 * 1000:6.1f} ms")
    one = results[(1, "roundrobin")]
    for balance in ("roundrobin", "uri"):
        three = results[(3, balance)]
        print(f"3 ({balance}) vs 1 replica: records/s x{three[0] / one[0]:.2f}, "
              f"p95 ack x{three[3] / one[3]:.2f}")


if __name__ == "__main__":
    main()
