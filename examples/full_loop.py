"""The whole loop with embedded defaults: train offline, start a server, sync, find the
best run through the server and download its model (the seed 004 tutorial), and write an
offline HTML report of every run.

    python examples/full_loop.py [--workdir flightlog-demo] [--serve] [--fresh]

With ``--serve`` the server keeps running afterwards (Ctrl-C stops it) so that its web UI
can be browsed.

Everything runs on this machine: the server is ``flightlog server`` on 127.0.0.1 with
its embedded SQLite store, started and stopped by this script.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import flightlog

sys.path.insert(0, str(Path(__file__).parent))
from diabetes import PROJECT, train  # the sibling example


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not come up in {timeout:.0f} s")


def flightlog_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flightlog.cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="flightlog-demo")
    parser.add_argument("--serve", action="store_true",
                        help="keep the server (and its web UI) running at the end")
    parser.add_argument("--fresh", action="store_true",
                        help="train every alpha again even if finished runs are there")
    args = parser.parse_args()
    work = Path(args.workdir)
    runs, data, state = work / "runs", work / "server-data", work / "sync-state"

    print("1. training offline (no server anywhere)")
    train(runs, args.fresh)  # a second run reuses the finished runs (and says so)

    port, token = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FLIGHTLOG_TOKEN": token}
    print(f"2. starting flightlog server on {url} (data in {data})")
    server = subprocess.Popen(flightlog_cmd("server", "--data", str(data), "--port", str(port)),
                              env=env)
    try:
        wait_healthy(url, server)
        print("3. flightlog sync")
        subprocess.run(flightlog_cmd("sync", str(runs), "--server", url, "--state", str(state)),
                       env=env, check=True)
        print("4. the best run, asked of the server")
        with flightlog.Api(url, token=token) as api:
            best = api.runs(PROJECT, filters=["status=finished"], order="summary.rmse")[0]
            print(f"   best: {best.id} {best.name} rmse={best.summary['rmse']:.3f} "
                  f"alpha={best.config['alpha']}")
            name = best.get_file_names()[0]
            target = best.download_file(name, work / "best" / name)
            print(f"   downloaded {name} to {target}")
        report = work / "report.html"
        run_dirs = sorted(str(d) for d in (runs / PROJECT).iterdir() if d.is_dir())
        subprocess.run(flightlog_cmd("report", *run_dirs, "-o", str(report)), check=True)
        print(f"5. offline report of all runs (opens from disk): {report}")
        if args.serve:
            print(f"6. web UI: {url}/projects/{PROJECT}  (log in with token {token}; "
                  f"Ctrl-C stops)")
            server.wait()
        else:
            print(f"   web UI: python examples/full_loop.py --serve, or flightlog server "
                  f"--data {data} and open http://127.0.0.1:8080/projects/{PROJECT}")
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
