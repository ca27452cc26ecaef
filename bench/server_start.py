"""Server start: seconds from spawning ``flightlog server`` (empty data directory) to its
first ``/healthz`` answer.

What is measured, in interleaved rounds (so that a busy machine slows all alike):

- ``cached``: ``flightlog server`` with the Vega bundle in its disk cache (the usual
  restart: the bundle is read from ``$FLIGHTLOG_CACHE_DIR``, made once before the rounds).
- ``first start``: an empty cache directory each time; the bundle is made by
  vl-convert in a child process while the server already answers.
- ``in-process bundle``: the peer, the server as it was before: the same code with the
  bundle made by vl-convert in a thread of the server process (it holds the GIL for ~3 s,
  and nothing answers until it is done).

Each child is spawned in its own session and its whole process group is killed after it
answered (a bundle-making grandchild with it). Children get the loopback-only guard of
``bench/sync_throughput.py``.

Run:
    python bench/server_start.py
    python bench/server_start.py --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _peers import forbid_network
from log_latency import print_grid
from sync_throughput import (
    clean_proxy_env,
    code_version,
    flightlog_command,
    free_port,
    guarded_env,
    spawn,
    wait_http_ok,
    with_tmp,
)

START_TIMEOUT = 120.0
#: The server before the bundle moved to a cached child process: the UI's background
#: thread makes it in-process (what flightlog.server.ui did at start).
IN_PROCESS = ("import sys, vl_convert\n"
              "import flightlog.server.ui as ui\n"
              "ui.vega_bundle = vl_convert.javascript_bundle\n"
              "from flightlog.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")


def time_to_healthz(tmp: Path, name: str, argv: list[str], env: dict[str, str]) -> float:
    data = tmp / f"data-{name}-{time.monotonic_ns()}"
    port = free_port()
    argv = [*argv, "server", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)]
    with contextlib.ExitStack() as stack:
        start = time.monotonic()
        child = spawn(stack, name.replace(" ", "-"), argv, env, tmp / "logs")
        wait_http_ok(child, f"http://127.0.0.1:{port}/healthz", START_TIMEOUT)
        return time.monotonic() - start  # includes spawning, unlike wait_http_ok's figure


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    clean_proxy_env()
    forbid_network()

    def body(tmp: Path) -> int:
        cache = tmp / "cache"
        env = guarded_env(tmp, {"FLIGHTLOG_CACHE_DIR": str(cache)})
        os.environ["FLIGHTLOG_CACHE_DIR"] = str(cache)
        from flightlog.vega_bundle import vega_bundle

        made = time.monotonic()
        vega_bundle()  # fills the cache of the "cached" variant
        made = time.monotonic() - made
        print(f"{args.rounds} rounds; {os.cpu_count()} cpus; code {code_version()}; "
              f"the bundle made once in {made:.1f} s")
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "cached": (flightlog_command(), env),
            "first start": (flightlog_command(), env),
            "in-process bundle": ([sys.executable, "-c", IN_PROCESS], env),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(args.rounds):
            for name, (command, child_env) in variants.items():
                if name == "first start":
                    child_env = {**env, "FLIGHTLOG_CACHE_DIR": str(tmp / f"empty-{r}")}
                times[name].append(time_to_healthz(tmp, name, command, child_env))
        rows = [[name, *(f"{f(ts):.2f}" for f in (min, statistics.median, max))]
                for name, ts in times.items()]
        print()
        print_grid(("to /healthz, s", "min", "median", "max"), rows)
        base = statistics.median(times["cached"])
        for name in ("first start", "in-process bundle"):
            print(f"{name} / cached: {statistics.median(times[name]) / base:.2f}x (median)")
        return 0

    return with_tmp(body, "flightlog-bench-start-")


if __name__ == "__main__":
    sys.exit(main())
