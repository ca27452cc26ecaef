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
``--runs-dir`` keeps them for a rerun), seconds from spawning to the first ``/healthz``
answer and to the first answer of ``GET /api/v1/runs?limit=1`` after it, and the CPU
seconds the server process had used when ``/healthz`` first answered (user + system, from
/proc: what a busy machine does not inflate the way it inflates wall time), in
interleaved rounds of:

- ``trusted index``: this code: the index is trusted, runs load on first use, and a
  background pass compares each run directory's stamp with its row, begun once the
  server listens with the other background work (server/startup.py; the pass's duration
  is read from the server's log line and printed too);
- ``every run loaded``: the peer, the server as it was before: the same code with every
  run loaded at start, before the first answer (what ``Storage`` did then);
- ``empty data directory``: this code over no runs at all (the floor).

With ``--imports``, instead: where the import time of the server's start goes, by
package (``-X importtime``, the least of ``--rounds`` children), and which modules first
pull numpy in.

Every mode prints the machine's load average before and after the rounds. Each child
is spawned in its own session and its whole process group is killed after it
answered (a bundle-making grandchild with it). Children get the loopback-only guard of
``bench/sync_throughput.py``.

Run:
    python bench/server_start.py
    python bench/server_start.py --rounds 3
    python bench/server_start.py --runs 10000 --rounds 3 --runs-dir /tmp/start-runs
    python bench/server_start.py --imports --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
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


def print_load(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"load average {when} the rounds: {one:.2f}, {five:.2f}, {fifteen:.2f} "
          f"({os.cpu_count()} cpus)", flush=True)


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (its threads included), from
    /proc; NaN where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Start:
    healthz: float  # seconds from spawning to the first /healthz 200
    cpu: float  # CPU seconds of the server process then
    first: float  # seconds from spawning to the first /api/v1/runs answer
    checked: float | None  # seconds of the index check as logged (trusted index only)


def time_to_first_answer(tmp: Path, name: str, argv: list[str], env: dict[str, str],
                         data: Path) -> Start:
    """One start; the index check's duration is None when not logged within a minute or
    not this variant."""
    import httpx

    port = free_port()
    argv = [*argv, "server", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)]
    with contextlib.ExitStack() as stack:
        start = time.monotonic()
        child = spawn(stack, f"{name.replace(' ', '-')}-{time.monotonic_ns()}", argv, env,
                      tmp / "logs")
        wait_http_ok(child, f"http://127.0.0.1:{port}/healthz", START_TIMEOUT)
        healthz = time.monotonic() - start
        cpu = cpu_seconds(child.pid)
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
        return Start(healthz, cpu, first, checked)


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
        starts: dict[str, list[Start]] = {name: [] for name in variants}
        print_load("before")
        for _ in range(args.rounds):
            for name, command in variants.items():
                starts[name].append(time_to_first_answer(
                    tmp, name, command, env, empty if name.startswith("empty") else data))
        print_load("after")
        print()
        med = statistics.median
        print_grid(("median of rounds", "to /healthz, s", "min-max", "CPU s at /healthz",
                    "to 1st /api/v1/runs, s"),
                   [[name, f"{med(s.healthz for s in ss):.2f}",
                     f"{min(s.healthz for s in ss):.2f}-{max(s.healthz for s in ss):.2f}",
                     f"{med(s.cpu for s in ss):.2f}", f"{med(s.first for s in ss):.2f}"]
                    for name, ss in starts.items()])
        checks = [s.checked for s in starts["trusted index"] if s.checked is not None]
        if checks:
            print(f"background index check (trusted index): {med(checks):.2f} s median, "
                  f"begun once listening, while answering")

        def ratio(a: str, b: str, what: str) -> float:
            return float(med(getattr(s, what) for s in starts[a])
                         / med(getattr(s, what) for s in starts[b]))

        print(f"every run loaded / trusted index (to 1st runs answer): "
              f"{ratio('every run loaded', 'trusted index', 'first'):.1f}x (median)")
        print(f"trusted index / empty data directory: "
              f"{ratio('trusted index', 'empty data directory', 'healthz'):.2f}x to /healthz, "
              f"{ratio('trusted index', 'empty data directory', 'cpu'):.2f}x CPU at /healthz")
        return 0

    return with_tmp(body, "flightlog-bench-start-runs-")


#: What ``flightlog server`` imports before it can build its app.
SERVER_IMPORTS = ("import flightlog.cli, flightlog.server.app, flightlog.server.startup, "
                  "uvicorn")
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def import_costs(rounds: int) -> int:
    """``--imports``: where the server's import time goes, by package (``flightlog.*`` by
    module group): each package's own import time summed (``-X importtime``'s self
    column), the least of ``rounds`` children (a busy machine only adds), and the chain
    of modules that first pulls numpy in."""
    runs: list[dict[str, int]] = []
    chain: list[str] = []
    for _ in range(rounds):
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", SERVER_IMPORTS],
                              capture_output=True, text=True, timeout=300, check=True)
        rows = [(len(m.group(3)) // 2, m.group(4), int(m.group(1)))
                for m in map(_IMPORT_LINE.match, done.stderr.splitlines()) if m]
        costs: dict[str, int] = {}
        for _, name, own in rows:
            parts = name.split(".")
            group = ".".join(parts[:2]) if parts[0] == "flightlog" else parts[0]
            costs[group] = costs.get(group, 0) + own
        runs.append(costs)
        # importtime prints a module after its imports: its importer is the next line up
        # the tree (a smaller indent) below it.
        for i, (depth, name, _) in enumerate(rows):
            if name == "numpy":
                chain = [name]
                for up_depth, up_name, _ in rows[i + 1:]:
                    if up_depth < depth:
                        chain.append(up_name)
                        depth = up_depth
                break
    least = {k: min(r.get(k, 0) for r in runs) for k in set().union(*runs)}
    top = sorted(least.items(), key=lambda kv: -kv[1])
    print_load("after")
    print(f"{SERVER_IMPORTS!r}: least of {rounds} children, {sum(least.values()) / 1e6:.2f} s"
          f" of imports in all; PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r} (set: this project's modules "
          f"are compiled on every start)")
    print_grid(("package", "own import s"), [[k, f"{v / 1e6:.3f}"] for k, v in top[:15]])
    if chain:
        print("numpy is first imported by: " + " <- ".join(chain))
    # Every module of the start path that imports numpy as it loads: numpy leaves the
    # start only when none of them does.
    listing = ("import sys\n" + SERVER_IMPORTS + "\n"
               "for name, module in sorted(sys.modules.items()):\n"
               "    path = getattr(module, '__file__', None) or ''\n"
               "    if name.startswith('flightlog') and path.endswith('.py'):\n"
               "        lines = open(path, encoding='utf-8').read().splitlines()\n"
               "        if any(l.startswith(('import numpy', 'from numpy')) for l in lines):\n"
               "            print(name)\n")
    done = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True,
                          timeout=300, check=True)
    print("modules of the start path importing numpy at load: "
          + ", ".join(done.stdout.split()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=0,
                   help="start over a data directory holding this many runs instead")
    p.add_argument("--runs-dir", type=Path, help="make the local runs here, or reuse them")
    p.add_argument("--imports", action="store_true",
                   help="instead: where the server's import time goes, by package")
    args = p.parse_args(argv)
    clean_proxy_env()
    forbid_network()
    if args.imports:
        print_load("before")
        return import_costs(args.rounds)
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
        print_load("before")
        for r in range(args.rounds):
            for name, (command, child_env) in variants.items():
                if name == "first start":
                    child_env = {**env, "FLIGHTLOG_CACHE_DIR": str(tmp / f"empty-{r}")}
                times[name].append(time_to_healthz(tmp, name, command, child_env))
        print_load("after")
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
