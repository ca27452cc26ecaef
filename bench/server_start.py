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

With ``--runs N`` (e.g. 10000), instead: start over a data directory holding N finished
runs (made once, by the real writer, and committed through the server's own ``Storage``;
``--runs-dir`` keeps them for a rerun), seconds from spawning to the first answer of
``GET /api/v1/runs?limit=1`` (``/healthz`` first), in interleaved rounds of:

- ``trusted index``: this code: the index is trusted, runs load on first use, and a
  background pass compares each run directory's stamp with its row (its duration is
  read from the server's log line and printed too);
- ``every run loaded``: the peer, the server as it was before: the same code with every
  run loaded at start, before the first answer (what ``Storage`` did then);
- ``empty data directory``: this code over no runs at all (the floor).

Each child is spawned in its own session and its whole process group is killed after it
answered (a bundle-making grandchild with it). Children get the loopback-only guard of
``bench/sync_throughput.py``.

Run:
    python bench/server_start.py
    python bench/server_start.py --rounds 3
    python bench/server_start.py --runs 10000 --rounds 3 --runs-dir /tmp/start-runs
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


#: The peer of ``--runs``: Storage as it was before the index was trusted at start (every
#: run loaded, and its row rebuilt when its mark differed, before the first answer).
EVERY_RUN_LOADED = ("import sys\n"
                    "import flightlog.server.storage as st\n"
                    "trusting = st.Storage.__init__\n"
                    "def eager(self, *args, **kwargs):\n"
                    "    trusting(self, *args, **kwargs)\n"
                    "    known = self.index.positions()\n"
                    "    for project in sorted(self.runs_dir.iterdir()):\n"
                    "        for run_dir in sorted(project.iterdir()):\n"
                    "            key = (project.name, run_dir.name)\n"
                    "            run = self.load(*key)\n"
                    "            if run.view is not None and known.get(key) != run.next_seq:\n"
                    "                self._reindex(key[0], key[1], run)\n"
                    "st.Storage.__init__ = eager\n"
                    "from flightlog.cli import main\n"
                    "sys.exit(main(sys.argv[1:]))\n")


def make_server_data(data: Path, runs_dir: Path, count: int) -> None:
    """``data``: a server data directory holding ``count`` finished runs, committed
    through the server's own Storage from runs made by the real writer."""
    from flightlog.format._constants import FILE_HEADER_SIZE
    from flightlog.format.identity import run_identity
    from flightlog.format.segment import list_segments
    from flightlog.server.storage import Storage
    from syncd_idle import PROJECT, ensure_runs

    ensure_runs(runs_dir, {"set0": count})
    begin = time.monotonic()
    storage = Storage(data, log=lambda line: None)
    for run_dir in sorted((runs_dir / "set0" / PROJECT).iterdir()):
        identity = run_identity(run_dir)
        assert identity is not None, run_dir
        for index, path in list_segments(run_dir):
            storage.commit(*identity, index, path.read_bytes()[FILE_HEADER_SIZE:],
                           writer_alive=False)
    print(f"committed {count:,} runs to the server's data directory in "
          f"{time.monotonic() - begin:.0f} s", flush=True)


def time_to_first_answer(tmp: Path, name: str, argv: list[str], env: dict[str, str],
                         data: Path) -> tuple[float, float | None]:
    """(seconds to the first ``/api/v1/runs`` answer, seconds of the index check as
    logged, None when not logged within a minute or not this variant)."""
    import re

    import httpx

    port = free_port()
    argv = [*argv, "server", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)]
    with contextlib.ExitStack() as stack:
        start = time.monotonic()
        child = spawn(stack, f"{name.replace(' ', '-')}-{time.monotonic_ns()}", argv, env,
                      tmp / "logs")
        wait_http_ok(child, f"http://127.0.0.1:{port}/healthz", START_TIMEOUT)
        with httpx.Client(trust_env=False, timeout=60.0) as http:
            answer = http.get(f"http://127.0.0.1:{port}/api/v1/runs", params={"limit": 1})
            answer.raise_for_status()
        first = time.monotonic() - start
        checked = None
        deadline = time.monotonic() + 60.0
        while name == "trusted index" and time.monotonic() < deadline:
            found = re.search(r"index checked against (\d+) run directories in ([\d.]+) s",
                              child.log.read_text(errors="replace"))
            if found:
                checked = float(found.group(2))
                break
            time.sleep(0.1)
        return first, checked


def main_runs(args: argparse.Namespace) -> int:
    def body(tmp: Path) -> int:
        env = guarded_env(tmp)
        # With --runs-dir the committed data directory is kept there too, for a rerun.
        data = (args.runs_dir / f"server-data-{args.runs}" if args.runs_dir else tmp / "data")
        if not (data / "index.sqlite").is_file():
            make_server_data(data, args.runs_dir or tmp / "runs", args.runs)
        print(f"{args.rounds} rounds over {args.runs:,} runs; {os.cpu_count()} cpus; code "
              f"{code_version()}")
        empty = tmp / "empty-data"
        variants = {"trusted index": flightlog_command(),
                    "every run loaded": [sys.executable, "-c", EVERY_RUN_LOADED],
                    "empty data directory": flightlog_command()}
        times: dict[str, list[float]] = {name: [] for name in variants}
        checks: list[float] = []
        for _ in range(args.rounds):
            for name, command in variants.items():
                first, checked = time_to_first_answer(
                    tmp, name, command, env, empty if name.startswith("empty") else data)
                times[name].append(first)
                if checked is not None:
                    checks.append(checked)
        print()
        print_grid(("to the first /api/v1/runs answer, s", "min", "median", "max"),
                   [[name, *(f"{f(ts):.2f}" for f in (min, statistics.median, max))]
                    for name, ts in times.items()])
        if checks:
            print(f"background index check (trusted index): {statistics.median(checks):.2f} s"
                  f" median, while answering")
        ratio = (statistics.median(times["every run loaded"])
                 / statistics.median(times["trusted index"]))
        floor = (statistics.median(times["trusted index"])
                 / statistics.median(times["empty data directory"]))
        print(f"every run loaded / trusted index: {ratio:.1f}x (median); trusted index / "
              f"empty data directory: {floor:.2f}x")
        return 0

    return with_tmp(body, "flightlog-bench-start-runs-")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=0,
                   help="start over a data directory holding this many runs instead")
    p.add_argument("--runs-dir", type=Path, help="make the local runs here, or reuse them")
    args = p.parse_args(argv)
    clean_proxy_env()
    forbid_network()
    if args.runs:
        return main_runs(args)

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
