"""Many runs syncing at once through the scaled backend: 1 replica vs 3, one balancer.

Starts the tests' real parts (tests/scale/scaleparts.py: Debian's PostgreSQL, moto's S3
server; Debian's haproxy with health checks fit for loaded replicas) on 127.0.0.1, then
for each replica count (``--replicas 1,3``), on a fresh database and prefix:

* ``flightlog server --db --store`` replicas with their production settings (no
  ``FLIGHTLOG_MAX_COMMITS`` override: 32 batches in flight each), behind haproxy
  (``--balance``, default ``uri depth 5``: a run's requests go to one replica, as
  README "Running at scale" recommends);
* the load: ``--runs`` simulated runs (default 10,000) all syncing at once, spread over
  ``--daemons`` simulated daemons of ``--concurrency`` shipping workers each (syncd's
  default is 4). Each run sends ``--batches`` frame batches, each one history chunk of
  ``--steps`` rows (one flush of the writer), one batch of a run in flight at a time and
  the runs taken in turn, so every run's first batch goes before any run's second: the
  requests syncd sends (POST .../frames?segment=0; real frames: the records of a run
  written here by flightlog, re-framed per run id). A 429/503 is retried after syncd's
  own per-run backoff (syncd/retry.py ``Backoff``) while the worker ships other runs, as
  syncd's pool does. ``--timeout`` bounds the load: what is acknowledged by then counts;
* a sample of real daemons: ``--real-daemons`` ``flightlog syncd`` processes (through
  their own haproxy frontend, so their requests are counted), each following
  ``--real-runs`` live runs logged by one writer process at ``--real-rate`` steps/s
  with the default flush interval (0.1 s) while the load lasts (``--real-seconds`` at
  least); at the end each real run must be on the server exactly (next_seq = its local
  record count).

Printed per replica count: acknowledged records/s, batches/s and logged rows/s, ack
latency p50/p95 (first attempt to acknowledgement, backoffs included) and of answered
requests alone, refusals (429, 503) with the first answer of each, PostgreSQL
transactions/s (``xact_commit`` of the bench's database, reads included) and batch
commits/s (inserts + updates of ``marks``: each committed batch moves one mark),
object-store requests (moto's access log: PUTs, 412 repeats, GETs, DELETEs, compaction's
included), RSS per replica (last and peak), the load average, each part's CPU (share of
one core, and per acknowledged batch), the real sample (exactness, catch-up, requests/s
and log bytes/s per live run), whether every run's committed rows tile its mark; then
the ratios against the first replica count. Rates are over the load's window; the
load generator runs in this process, on the same cores as everything else.

    nice -n 10 .venv/bin/python bench/scale_load.py                 # 10,000 runs, 1 and 3
    nice -n 10 .venv/bin/python bench/scale_load.py --runs 2000 --batches 3 --timeout 240
    nice -n 10 .venv/bin/python bench/scale_load.py --runs 0 --replicas 1 --real-seconds 30

Everything stays on this machine; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "scale"),
                str(HERE.parent / "tests" / "syncd")]

from flightlog.format._compression import pack_payload  # noqa: E402
from flightlog.format._framing import encode_frame  # noqa: E402
from flightlog.format._msgpack_codec import pack_record  # noqa: E402
from flightlog.format.reader import iter_records  # noqa: E402
from flightlog.format.records import RecordType  # noqa: E402
from flightlog.syncd.retry import Backoff  # noqa: E402
from scaleparts import BUCKET, S3_ENV, Haproxy, Moto, Postgres, Replica  # noqa: E402
from syncd_helpers import Proc, child_env, flightlog_cmd, free_port  # noqa: E402

import flightlog  # noqa: E402

PROJECT = "load"
REAL_PROJECT = "real"
BINARY = {"Content-Type": "application/octet-stream"}
#: Attempts of one batch before the bench gives up on it (a bound, not a policy).
MAX_ATTEMPTS = 200


# ---------------------------------------------------------------- the runs' frames


def _frame(records: list[tuple[int, dict[str, Any]]], first_seq: int) -> bytes:
    stored, flags = pack_payload(b"".join(pack_record(t, b) for t, b in records))
    return encode_frame(stored, first_seq=first_seq, record_count=len(records), flags=flags)


class Template:
    """The records of one run written here by flightlog (rows of ``width`` floats),
    grouped as syncd would send them at one flush per batch: batch 0 is the segment
    record, the run record and the first ``steps`` rows; each next batch ``steps`` rows;
    the last also the finish record. Only the segment and run records name the run, so
    every other frame is shared by all runs (same bytes, same sequence numbers)."""

    def __init__(self, work: Path, batches: int, steps: int, width: int) -> None:
        rng = random.Random(0)
        run = flightlog.init(project=PROJECT, id="template", dir=work / "template",
                             flush_interval=3600.0)  # written only when flushed below
        for batch in range(batches):
            for _ in range(steps):
                run.log({f"w{c}": rng.random() for c in range(width)})
            run.flush()
            deadline = time.monotonic() + 30
            while sum(r.type == RecordType.HISTORY for r in iter_records(run.dir)) <= batch:
                if time.monotonic() > deadline:
                    raise SystemExit("the template run's flush was not written in 30 s")
                time.sleep(0.01)  # polling the file for the flush, bounded
        run.finish()
        found = [(r.type, r.body) for r in iter_records(run.dir)]
        self.head = found[:2]  # segment, run: the records that name the run
        rest = found[2:]
        kinds = [t for t, _ in found]
        if kinds[:2] != [RecordType.SEGMENT, RecordType.RUN] or \
                kinds[2:2 + batches] != [RecordType.HISTORY] * batches:
            raise SystemExit(f"template run's records are {kinds}")
        # One history chunk (``steps`` rows) a batch; the finish record with the last.
        self.groups: list[list[tuple[int, dict[str, Any]]]] = [[r] for r in rest[:batches]]
        self.groups[-1].extend(rest[batches:])
        self.rows, self.steps = batches * steps, steps
        self.first_rest = _frame(self.groups[0], 2)
        seq = 2 + len(self.groups[0])
        self.shared: list[bytes] = []
        for group in self.groups[1:]:
            self.shared.append(_frame(group, seq))
            seq += len(group)
        self.records = seq
        self.counts = [2 + len(self.groups[0])] + [len(g) for g in self.groups[1:]]

    def batches(self, run_id: str) -> list[bytes]:
        (st, sb), (rt, rb) = self.head
        head = _frame([(st, {**sb, "run": run_id}),
                       (rt, {**rb, "id": run_id, "name": run_id})], 0)
        return [head + self.first_rest, *self.shared]


# ---------------------------------------------------------------- the simulated load


@dataclass
class RunState:
    run_id: str
    next_batch: int = 0
    backoff: Backoff = field(default_factory=Backoff)
    first_try: float = 0.0


@dataclass
class LoadResult:
    seconds: float = 0.0
    acked_records: int = 0
    acked_batches: int = 0
    ack_latency: list[float] = field(default_factory=list)  # first attempt -> ack
    answer_latency: list[float] = field(default_factory=list)  # one answered request
    refused: collections.Counter[int] = field(default_factory=collections.Counter)
    refusal: dict[int, str] = field(default_factory=dict)  # the first answer of each status
    transport_errors: int = 0
    unfinished: int = 0
    cpu_seconds: float = 0.0


async def _daemon(http: httpx.AsyncClient, runs: list[RunState], template: Template,
                  concurrency: int, result: LoadResult, deadline: float) -> None:
    """One simulated daemon: ``concurrency`` workers take its due runs in turn."""
    due: collections.deque[RunState] = collections.deque(runs)
    waiting_runs: list[RunState] = []  # backing off
    loop = asyncio.get_running_loop()

    def take() -> RunState | None:
        now = loop.time()
        if waiting_runs:
            ready = [r for r in waiting_runs if r.backoff.ready(now)]
            for r in ready:
                waiting_runs.remove(r)
                due.append(r)
        return due.popleft() if due else None

    async def worker() -> None:
        while loop.time() < deadline:
            run = take()
            if run is None:
                if not waiting_runs:
                    return
                await asyncio.sleep(max(0.01, min(r.backoff.not_before for r in
                                                  waiting_runs) - loop.time()))
                continue
            body = template.batches(run.run_id)[run.next_batch]
            if run.backoff.attempt == 0:
                run.first_try = loop.time()
            start = loop.time()
            try:
                answer = await http.post(f"/api/v1/runs/{PROJECT}/{run.run_id}/frames",
                                         params={"segment": 0}, content=body,
                                         headers=BINARY)
            except httpx.TransportError:
                result.transport_errors += 1
                answer = None
            if answer is not None and answer.status_code == 200:
                now = loop.time()
                result.answer_latency.append(now - start)
                result.ack_latency.append(now - run.first_try)
                result.acked_records += int(answer.json()["accepted"])
                result.acked_batches += 1
                run.backoff.succeeded()
                run.next_batch += 1
                if run.next_batch < len(template.counts):
                    due.append(run)  # behind every other due run: all sync at once
                continue
            if answer is not None:
                if answer.status_code not in (408, 409, 429, 500, 502, 503, 504):
                    raise SystemExit(f"{run.run_id}: HTTP {answer.status_code} "
                                     f"{answer.text[:300]}")
                result.refused[answer.status_code] += 1
                result.refusal.setdefault(answer.status_code, answer.text[:200])
            if run.backoff.attempt >= MAX_ATTEMPTS:
                raise SystemExit(f"{run.run_id}: {MAX_ATTEMPTS} attempts refused")
            run.backoff.failed(loop.time())
            waiting_runs.append(run)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.unfinished += sum(1 for r in runs if r.next_batch < len(template.counts))


async def _load(url: str, template: Template, runs: int, daemons: int, concurrency: int,
                timeout: float) -> LoadResult:
    result = LoadResult()
    states = [RunState(f"r{i:05d}") for i in range(runs)]
    limits = httpx.Limits(max_connections=daemons * concurrency,
                          max_keepalive_connections=daemons * concurrency)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(_daemon(http, states[d::daemons], template, concurrency,
                                       result, start + timeout) for d in range(daemons)))
        result.seconds = loop.time() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return result


# ---------------------------------------------------------------- sampling the parts


def _proc_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int, children: bool = False) -> float:
    """CPU seconds of a process (utime + stime; with ``children`` also its reaped
    children's), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICK


def _postgres_cpu(postmaster: int) -> float:
    """The PostgreSQL cluster's CPU seconds: the postmaster with its reaped children,
    plus every living child (backends, checkpointer, WAL writer...)."""
    total = _cpu(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == postmaster:
            total += _cpu(int(stat.parent.name))
    return total


class Sampler(threading.Thread):
    """Every 2 s: the database's committed transactions, each replica's RSS, the load
    average; at the first and last sample the CPU seconds of each part (``cpu``: name ->
    a function). Stopped with :meth:`stop`; rates are over the first and last samples."""

    def __init__(self, db: str, pids: list[int],
                 cpu: dict[str, Any] | None = None) -> None:
        super().__init__(daemon=True, name="sampler")
        self.db, self.pids = db, pids
        self.cpu_parts = cpu or {}
        self.cpu_first: dict[str, float] = {}
        self.cpu_last: dict[str, float] = {}
        self.commits: list[tuple[float, int]] = []
        self.marks: list[int] = []
        self.rss: list[list[int]] = [[] for _ in pids]
        self.loadavg: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psycopg

        name = self.db.rsplit("/", 1)[1]
        with psycopg.connect(self.db, autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT pg_stat_get_db_xact_commit(oid) FROM "
                                   "pg_database WHERE datname = %s", (name,)).fetchone()
                # Each committed batch moves its run's mark: one row inserted (a new
                # run) or updated; a lost race updates none. Compaction leaves marks be.
                marks = conn.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM "
                                     "pg_stat_user_tables WHERE relname = 'marks'").fetchone()
                conn.execute("SELECT pg_stat_clear_snapshot()")
                self.commits.append((time.monotonic(), int(row[0]) if row else 0))
                self.marks.append(int(marks[0]) if marks else 0)
                self.cpu_last = {name: float(read()) for name, read in
                                 self.cpu_parts.items()}
                self.cpu_first = self.cpu_first or self.cpu_last
                for i, pid in enumerate(self.pids):
                    self.rss[i].append(_proc_kib(pid, "VmRSS"))
                self.loadavg.append(os.getloadavg()[0])
                if self._stop_event.wait(2.0):
                    return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)

    def cpu_shares(self) -> dict[str, float]:
        """Each part's share of one core between the first and last samples."""
        (t0, _), (t1, _) = self.commits[0], self.commits[-1]
        if t1 <= t0:
            return {}
        return {name: (self.cpu_last[name] - self.cpu_first[name]) / (t1 - t0)
                for name in self.cpu_parts}

    def commit_rate(self) -> float:
        (t0, c0), (t1, c1) = self.commits[0], self.commits[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def mark_rate(self) -> float:
        (t0, _), (t1, _) = self.commits[0], self.commits[-1]
        return (self.marks[-1] - self.marks[0]) / (t1 - t0) if t1 > t0 else 0.0


_MOTO_LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) /([^ ?]*)\S* HTTP/1\.1'
                        r'(?:\x1b\[[0-9;]*m)*" (\d{3})')


def _moto_requests(lines: list[str], bucket_prefix: str) -> collections.Counter[str]:
    """Requests moto logged (werkzeug's access log) under ``bucket_prefix``, by
    ``METHOD STATUS``: what the replicas asked of the object store."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        found = _MOTO_LINE.search(line)
        if found and found.group(2).startswith(bucket_prefix):
            counts[f"{found.group(1)} {found.group(3)}"] += 1
    return counts


def _tiled(db: str) -> tuple[int, int] | None:
    """(runs whose committed rows tile 0..mark exactly, runs with a mark): the rows a
    fresh replica would read a run back from say what the mark says."""
    import psycopg

    try:
        with psycopg.connect(db, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT m.next_seq, coalesce(sum(c.end_seq - c.start_seq), 0), "
                "coalesce(min(c.start_seq), 0), coalesce(max(c.end_seq), 0) "
                "FROM marks m LEFT JOIN chunks c USING (project, run_id) "
                "GROUP BY m.project, m.run_id, m.next_seq").fetchall()
    except psycopg.Error:
        return None  # the schema moved (another migration): said as n/a
    good = sum(1 for mark, total, low, high in rows
               if total == mark and low == 0 and high == mark)
    return good, len(rows)


# ---------------------------------------------------------------- real daemons


WRITER = r"""
import sys, time, random, flightlog
root, n, rate, stop_file = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
import os
runs = [flightlog.init(project="real", id=f"{os.path.basename(root)}-{i}", dir=root)
        for i in range(n)]  # the default flush interval
rng = random.Random(0)
print("ready", flush=True)
step, start = 0, time.monotonic()
while not os.path.exists(stop_file):
    for run in runs:
        run.log({f"w{c}": rng.random() for c in range(20)})
    step += 1
    time.sleep(max(0.0, start + step / rate - time.monotonic()))
for run in runs:
    run.finish()
print("done", step, time.monotonic() - start, flush=True)
"""


class RealSample:
    """``daemons`` real ``flightlog syncd`` processes, each following ``runs`` live runs
    of one writer process (``rate`` steps/s each), from :meth:`start` to :meth:`stop`."""

    def __init__(self, work: Path, balancer: BenchHaproxy, daemons: int, runs: int,
                 rate: float) -> None:
        self.work, self.daemons, self.runs, self.rate = work, daemons, runs, rate
        self.balancer, self.url = balancer, balancer.url  # checks go by the main door
        self.requests_writing = 0  # the daemons' requests while the writers wrote
        self.requests = 0  # ... and until caught up
        self.procs: list[Proc] = []
        self.roots = [work / f"node{d}" for d in range(daemons)]
        self.stop_file = work / "stop-writers"
        self.writer_seconds = 0.0
        self.catch_up = 0.0
        self.exact = 0
        self.missing: list[str] = []
        self.started = time.monotonic()
        self.log_bytes = 0

    def start(self) -> None:
        self.started = time.monotonic()
        for d, root in enumerate(self.roots):
            root.mkdir(parents=True)
            writer = Proc([sys.executable, "-c", WRITER, str(root), str(self.runs),
                           str(self.rate), str(self.stop_file)], env=child_env())
            self.procs.append(writer)
            writer.wait_line("ready", timeout=120)
            self.procs.append(Proc([*flightlog_cmd(), "syncd", str(root), "--server",
                                    self.balancer.real_url,
                                    "--state", str(self.work / f"state{d}")],
                                   env=child_env()))

    def stop(self, timeout: float) -> None:
        """Stop the writers, then wait (bounded) for every record to be acknowledged."""
        if not self.daemons:
            return
        self.requests_writing = self.balancer.requests("real")
        self.stop_file.touch()
        writers = self.procs[0::2]
        for writer in writers:
            line = writer.wait_line("done", timeout=120)
            self.writer_seconds = max(self.writer_seconds, float(line.split()[2]))
        finished = time.monotonic()
        expected = {run_dir.name: len(iter_records(run_dir))
                    for root in self.roots for run_dir in (root / REAL_PROJECT).iterdir()}

        def lagging() -> list[str]:
            late = []
            for run_id, n in expected.items():
                try:
                    answer = httpx.get(f"{self.url}/api/v1/runs/{REAL_PROJECT}/{run_id}/sync",
                                       timeout=30)
                    got = answer.json().get("next_seq", -1) if answer.status_code == 200 \
                        else -1
                except (httpx.TransportError, ValueError):
                    got = -1
                if got != n:
                    late.append(f"{run_id}: {got} of {n}")
            return late

        deadline = finished + timeout  # bounded; what is still missing then is printed
        while (late := lagging()) and time.monotonic() < deadline:
            time.sleep(0.5)  # polling the server's marks, not a synchronisation
        self.catch_up = time.monotonic() - finished
        self.requests = self.balancer.requests("real")
        self.missing = late
        self.exact = len(expected) - len(self.missing)
        self.log_bytes = sum(p.stat().st_size for root in self.roots
                             for p in (root / REAL_PROJECT).glob("*/log/*") if p.is_file())

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.close()


# ---------------------------------------------------------------- one configuration


class BenchReplica(Replica):
    """A replica with the production defaults (the tests' Replica lowers the in-flight
    bound and the store timeout so that a test can fill them)."""

    def launch(self) -> BenchReplica:
        self.proc = Proc([*flightlog_cmd(), "server", "--db", self.db, "--store", self.store,
                          "--data", str(self.cache), "--host", "127.0.0.1",
                          "--port", str(self.port)],
                         env=child_env(**S3_ENV))
        self._procs.append(self.proc)
        return self


class BenchHaproxy(Haproxy):
    """The tests' balancer with health checks fit for a loaded replica: the tests' check
    (every 300 ms, which haproxy then also takes as the check's timeout) takes a
    saturated replica out, and the bench would measure haproxy's 503s instead."""

    def __init__(self, ports: list[int], workdir: Path, balance: str) -> None:
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.port, self.real_port, self.stats_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        #: The real daemons' own door to the same replicas: their requests are counted.
        self.real_url = f"http://127.0.0.1:{self.real_port}"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check inter 2s fall 3 rise 1"
                            for i, p in enumerate(ports))
        config = workdir / "haproxy-bench.cfg"
        config.write_text(f"""global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout check 10s
    retries 3
    option redispatch
frontend front
    bind 127.0.0.1:{self.port}
    default_backend replicas
frontend real
    bind 127.0.0.1:{self.real_port}
    default_backend replicas
listen stats
    bind 127.0.0.1:{self.stats_port}
    stats enable
    stats uri /stats
backend replicas
    balance {balance}
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
{servers}
""")
        self.proc = Proc([exe, "-db", "-f", str(config)])
        deadline = time.monotonic() + 120
        while not self._up():
            if not self.proc.alive() or time.monotonic() > deadline:
                raise SystemExit(f"haproxy did not start:\n{self.proc.text()}")
            time.sleep(0.05)  # polling readiness, bounded


    def requests(self, frontend: str) -> int:
        """HTTP requests the frontend has taken so far (haproxy's ``req_tot``)."""
        text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=30).text
        lines = text.lstrip("# ").splitlines()
        header = lines[0].split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == frontend and row.get("svname") == "FRONTEND":
                return int(row.get("req_tot") or 0)
        return 0


@dataclass
class Figures:
    replicas: int
    load: LoadResult
    xact_per_s: float
    marks_per_s: float
    store_requests: collections.Counter[str]
    rss_last: list[int]
    rss_peak: list[int]
    loadavg: list[float]
    real: RealSample | None
    tiled: tuple[int, int] | None
    cpu: dict[str, float]


def measure(n: int, args: argparse.Namespace, pg: Postgres, moto: Moto, template: Template,
            work: Path) -> Figures:
    tag = f"load{n}r{os.getpid()}"
    db, store = pg.create_database(tag), moto.store_url(tag)
    procs: list[Proc] = []
    servers = [BenchReplica(db, store, work / f"{tag}-cache{i}", procs).launch()
               for i in range(n)]
    real: RealSample | None = None
    try:
        for server in servers:
            server.wait_ready()
        balancer = BenchHaproxy([s.port for s in servers], work, args.balance)
        try:
            pids = [s.proc.pid for s in servers if s.proc is not None]
            postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
            sampler = Sampler(db, pids, {
                "replicas": lambda: sum(_cpu(p) for p in pids),
                "postgresql": lambda: _postgres_cpu(postmaster),
                "moto": lambda: _cpu(moto.proc.pid),
                "haproxy": lambda: _cpu(balancer.proc.pid),
                "load generator": lambda: _cpu(os.getpid())})
            real = RealSample(work / f"{tag}-real", balancer, args.real_daemons,
                              args.real_runs, args.real_rate)
            real.start()
            sampler.start()
            moto_from = len(moto.proc.err)
            load = asyncio.run(_load(balancer.url, template, args.runs, args.daemons,
                                     args.concurrency, args.timeout))
            sampler.stop()
            store_requests = _moto_requests(moto.proc.err[moto_from:], f"{BUCKET}/{tag}/")
            left = real.started + args.real_seconds - time.monotonic()
            if left > 0:  # the sample's own minimum duration (--real-seconds)
                time.sleep(left)
            real.stop(timeout=120)
        finally:
            balancer.close()
        rss_peak = [_proc_kib(s.proc.pid, "VmHWM") for s in servers if s.proc is not None]
    finally:
        for proc in procs:
            proc.kill()
            proc.close()
        if real is not None:
            real.close()
    return Figures(n, load, sampler.commit_rate(), sampler.mark_rate(), store_requests,
                   [r[-1] if r else 0 for r in sampler.rss], rss_peak, sampler.loadavg,
                   real if args.real_daemons else None, _tiled(db), sampler.cpu_shares())


def _q(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


def report(f: Figures, template: Template) -> None:
    load = f.load
    s = load.seconds or float("nan")
    print(f"\n{f.replicas} replica{'s' if f.replicas > 1 else ''}: {load.acked_batches} "
          f"batches acknowledged in {s:.1f} s"
          + (f", {load.unfinished} runs UNFINISHED at --timeout" if load.unfinished else ""))
    print(f"  acknowledged      {load.acked_records / s:8.0f} records/s   "
          f"{load.acked_batches / s:7.1f} batches/s   "
          f"{load.acked_batches * template.steps / s:8.0f} logged rows/s")
    print(f"  ack latency       p50 {_q(load.ack_latency, 50) * 1000:7.0f} ms   "
          f"p95 {_q(load.ack_latency, 95) * 1000:7.0f} ms   (first attempt to ack)")
    print(f"  answered request  p50 {_q(load.answer_latency, 50) * 1000:7.0f} ms   "
          f"p95 {_q(load.answer_latency, 95) * 1000:7.0f} ms   refused: "
          f"{dict(load.refused) or 'none'}, transport errors: {load.transport_errors}")
    for status, text in sorted(load.refusal.items()):
        print(f"    first {status}: {text}")
    print(f"  PostgreSQL        {f.xact_per_s:8.1f} transactions/s (xact_commit, reads "
          f"included)   {f.marks_per_s:7.1f} batch commits/s (marks moved)")
    puts = sum(n for k, n in f.store_requests.items() if k.startswith("PUT "))
    print(f"  object store      {puts / s:8.1f} PUT/s  (moto's log: "
          + ", ".join(f"{k} x{n}" for k, n in sorted(f.store_requests.items())) + ")")
    print("  RSS per replica   " + ", ".join(f"{last / 1024:.0f} MiB (peak {peak / 1024:.0f})"
                                            for last, peak in zip(f.rss_last, f.rss_peak,
                                                                  strict=True)))
    print(f"  load average      mean {statistics.fmean(f.loadavg):.1f}, max "
          f"{max(f.loadavg):.1f} (1-min, sampled every 2 s); the load generator "
          f"used {load.cpu_seconds / s:.0%} of a core")
    # Per committed batch (marks moved: the real sample's included), not per simulated one.
    batches_per_s = f.marks_per_s or load.acked_batches / s
    print("  CPU (of one core)  " + ", ".join(
        f"{name} {share:.0%}" + (f" = {share / batches_per_s * 1000:.0f} ms/batch"
                                 if batches_per_s else "")
        for name, share in f.cpu.items()))
    if f.real is not None:
        live = f.real.daemons * f.real.runs
        seconds = max(f.real.writer_seconds, 1e-9)
        print(f"  real syncd sample {f.real.daemons} daemons x {f.real.runs} live runs at "
              f"{f.real.rate:g} steps/s for {f.real.writer_seconds:.0f} s: "
              f"{f.real.exact}/{live} exact, caught up {f.real.catch_up:.1f} s after the "
              f"writers finished; per live run {f.real.requests_writing / live / seconds:.2f}"
              f" requests/s (haproxy req_tot) and {f.real.log_bytes / live / seconds:.0f} "
              f"log bytes/s" + (f"; MISSING: {f.real.missing[:3]}" if f.real.missing else ""))
    if f.tiled is not None:
        good, total = f.tiled
        print(f"  committed rows    {good}/{total} runs' rows tile 0..mark exactly"
              + ("" if good == total else "  <-- NOT ALL"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--batches", type=int, default=3, help="batches per run")
    parser.add_argument("--steps", type=int, default=10, help="steps (rows) per batch")
    parser.add_argument("--width", type=int, default=20, help="floats per row")
    parser.add_argument("--daemons", type=int, default=50, help="simulated daemons")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="shipping workers per simulated daemon (syncd: 4)")
    parser.add_argument("--replicas", default="1,3", help="replica counts, in order")
    parser.add_argument("--balance", default="uri depth 5", help="haproxy balance")
    parser.add_argument("--real-daemons", type=int, default=2)
    parser.add_argument("--real-runs", type=int, default=4, help="live runs per real daemon")
    parser.add_argument("--real-rate", type=float, default=10.0, help="steps/s per live run")
    parser.add_argument("--real-seconds", type=float, default=0.0,
                        help="the real sample writes at least this long (e.g. with --runs 0)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds of load per replica count at most")
    args = parser.parse_args()
    counts = [int(c) for c in args.replicas.split(",")]
    os.environ.update(S3_ENV)
    os.environ["FLIGHTLOG_SILENT"] = "1"
    work = Path(tempfile.mkdtemp(prefix="flightlog-bench-load-"))
    template = Template(work, args.batches, args.steps, args.width)
    sizes = [len(b) for b in template.batches("r00000")]
    print(f"{args.runs} runs x {args.batches} batches ({template.records} records a run; "
          f"batch bytes {min(sizes)}-{max(sizes)}), {args.daemons} simulated daemons x "
          f"{args.concurrency} workers = {args.daemons * args.concurrency} requests in "
          f"flight at most; haproxy balance {args.balance!r}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    pg = Postgres().start()
    moto = Moto()
    results: list[Figures] = []
    try:
        for n in counts:
            results.append(measure(n, args, pg, moto, template, work))
            report(results[-1], template)
    finally:
        moto.close()
        pg.close()
        shutil.rmtree(work, ignore_errors=True)
    base = results[0]
    for f in results[1:] if base.load.acked_records and base.xact_per_s else ():
        rate = (f.load.acked_records / f.load.seconds) / (base.load.acked_records
                                                         / base.load.seconds)
        p95 = _q(f.load.ack_latency, 95) / _q(base.load.ack_latency, 95)
        print(f"\n{f.replicas} vs {base.replicas} replica(s): records/s x{rate:.2f}, "
              f"p95 ack latency x{p95:.2f}, PostgreSQL transactions/s "
              f"x{f.xact_per_s / base.xact_per_s:.2f}")


if __name__ == "__main__":
    main()
