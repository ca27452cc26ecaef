"""Seed 004's loop through ``flightlog.azureml``, timed against its peers in the same run.

1. Writing: N runs of ``start_logging()`` .. ``complete()`` (log two metrics, upload a
   model) against the same N runs of ``flightlog.init()`` .. ``finish()``: the Azure object
   model must cost nothing over flightlog's own API.
2. Finding the best run (``get_runs()``, ``get_metrics()`` of each, ``get_details()``)
   from the local root against the same through a ``flightlog server`` on 127.0.0.1 after
   ``flightlog sync``.
3. ``get_portal_url()`` without a server: the offline report of one run, and of the
   experiment.

    python bench/azureml_tutorial.py [--runs 100]
"""

from __future__ import annotations

import argparse
import itertools
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import flightlog
from flightlog.azureml import Experiment, Run, Workspace

#: Every run's rmse differs, so the best run is one run.
_RMSE = itertools.count()


def write_runs(n: int, model: Path, azure: Experiment | None, root: Path) -> float:
    """Seconds per run of the seed's loop body."""
    start = time.perf_counter()
    for i in range(n):
        if azure is not None:
            run = azure.start_logging(outputs=None)
            run.log("alpha_value", i / n)
            run.log("rmse", 50.0 + next(_RMSE) / 1e4)
            run.upload_file(name=f"model_{i}.pkl", path_or_stream=model)
            run.complete()
        else:
            plain = flightlog.init(project="plain", dir=root)
            plain.log("alpha_value", i / n)
            plain.log("rmse", 50.0 + next(_RMSE) / 1e4)
            plain.upload_file(f"model_{i}.pkl", model)
            plain.finish()
    return (time.perf_counter() - start) / n


def find_best(experiment: Experiment) -> tuple[float, str]:
    start = time.perf_counter()
    best = min(experiment.get_runs(), key=lambda r: r.get_metrics()["rmse"])
    run_id = str(best.get_details()["runId"])
    return time.perf_counter() - start, run_id


def serve(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "flightlog.cli", "server", "--data",
                               str(data), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not come up in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    n = args.runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "model.pkl"
        model.write_bytes(b"\0" * 4096)
        root = work / "runs"
        experiment = Experiment(Workspace(dir=root), "bench")
        # Interleaved in chunks of 10, so that neither pays the warm-up alone.
        plain = azure = 0.0
        for _ in range(max(1, n // 10)):
            plain += write_runs(10, model, None, root) / max(1, n // 10)
            azure += write_runs(10, model, experiment, root) / max(1, n // 10)
        print(f"write {n} runs: flightlog.init..finish {plain * 1000:.1f} ms/run, "
              f"start_logging..complete {azure * 1000:.1f} ms/run "
              f"(ratio {azure / plain:.2f})")
        server, url = serve(work / "server")
        try:
            subprocess.run([sys.executable, "-m", "flightlog.cli", "sync", str(root),
                            "--server", url, "--state", str(work / "state")], check=True,
                           stdout=subprocess.DEVNULL)
            local_s, local_id = find_best(experiment)
            with Workspace(dir=root, server=url) as remote_ws:
                remote_s, remote_id = find_best(Experiment(remote_ws, "bench"))
        finally:
            server.kill()
            server.wait()
        assert local_id == remote_id, (local_id, remote_id)
        print(f"best of {n} runs (get_runs, get_metrics each, get_details): local "
              f"{local_s * 1000:.0f} ms, server {remote_s * 1000:.0f} ms "
              f"(ratio {remote_s / local_s:.1f})")
        best = Run(experiment, local_id)
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            best.get_portal_url()
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        experiment.get_portal_url()
        whole = time.perf_counter() - start
        print(f"offline report: one run {timings[0] * 1000:.0f} ms first (Vega bundle), "
              f"{timings[1] * 1000:.0f} ms after; the experiment ({min(n, 100)} runs) "
              f"{whole * 1000:.0f} ms")


if __name__ == "__main__":
    main()
