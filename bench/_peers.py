"""Measurement loops for the logging tools that flightlog is compared with.

Every ``bench_*`` function logs the same pre-generated rows (``values``: a list
of ``steps`` lists of 10 Python floats, keys ``m0``..``m9``) into its own fresh
``workdir`` and returns a :class:`Result`:

* ``latencies_ns``: ``time.perf_counter_ns()`` around the logging call(s) of
  each step (for tensorboardX one step is 10 ``add_scalar`` calls);
* ``wall_s``: from the first step to the end of the final flush/close/finish;
* ``setup_s``: creating the run/writer (not part of ``wall_s``);
* ``bytes``: sum of the sizes of all files the tool wrote under its output
  directory, to be divided by ``points`` (``steps * 10``).

Nothing here reaches the network: W&B runs in offline mode and MLflow uses a
local ``file://`` store. The environment variables that make this so are set
before each tool is imported (see ``_wandb_env`` and ``_mlflow_env``).
"""

from __future__ import annotations

import gc
import importlib.util
import ipaddress
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KEYS: tuple[str, ...] = tuple(f"m{i}" for i in range(10))
FLOOR_BLOCK_ROWS = 1000
FLOOR_ZSTD_LEVEL = 3

Row = dict[str, float]
LogFn = Callable[[Row], object]
StepFn = Callable[[int, Row], object]


@dataclass
class Result:
    """What one tool did with ``steps`` rows; percentiles are in µs."""

    name: str
    steps: int
    points: int
    wall_s: float
    bytes: int
    setup_s: float = 0.0
    p50_us: float = float("nan")
    p99_us: float = float("nan")
    p999_us: float = float("nan")
    mean_us: float = float("nan")
    read_s: float | None = None
    note: str = ""
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)  # tool-specific figures
    latencies_ns: list[int] = field(default_factory=list, repr=False)

    @property
    def bytes_per_point(self) -> float:
        return self.bytes / self.points if self.points else float("nan")

    @property
    def wall_us_per_step(self) -> float:
        return self.wall_s * 1e6 / self.steps if self.steps else float("nan")

    def summarize(self) -> Result:
        """Fill the percentile fields from ``latencies_ns`` and drop the raw list."""
        if self.latencies_ns:
            self.p50_us, self.p99_us, self.p999_us = percentiles_us(self.latencies_ns)
            self.mean_us = statistics.fmean(self.latencies_ns) / 1000.0
        self.latencies_ns = []
        return self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        return cls(**data)

    @classmethod
    def failed(cls, name: str, steps: int, error: str) -> Result:
        return cls(
            name=name, steps=steps, points=steps * len(KEYS), wall_s=0.0, bytes=0, error=error
        )


def percentiles_us(latencies_ns: Sequence[int]) -> tuple[float, float, float]:
    """p50, p99 and p99.9 in µs (nearest-rank on the sorted samples)."""
    ordered = sorted(latencies_ns)
    last = len(ordered) - 1

    def rank(q: float) -> float:
        return ordered[min(last, int(q * len(ordered)))] / 1000.0

    return rank(0.50), rank(0.99), rank(0.999)


def median_result(results: Sequence[Result]) -> Result:
    """Combine repetitions: the median of every figure, notes from the first."""
    ok = [r for r in results if r.error is None]
    if not ok:
        return results[0]
    first = ok[0]

    def med(get: Callable[[Result], float]) -> float:
        return statistics.median(get(r) for r in ok)

    reads = [r.read_s for r in ok if r.read_s is not None]
    return Result(
        name=first.name,
        steps=first.steps,
        points=first.points,
        wall_s=med(lambda r: r.wall_s),
        bytes=int(med(lambda r: r.bytes)),
        setup_s=med(lambda r: r.setup_s),
        p50_us=med(lambda r: r.p50_us),
        p99_us=med(lambda r: r.p99_us),
        p999_us=med(lambda r: r.p999_us),
        mean_us=med(lambda r: r.mean_us),
        read_s=statistics.median(reads) if reads else None,
        extra={key: statistics.median(r.extra[key] for r in ok) for key in first.extra},
        note=first.note if len(ok) == 1 else f"{first.note}; median of {len(ok)} runs",
    )


def make_rows(values: Sequence[Sequence[float]], steps: int) -> list[Row]:
    """Fresh dicts for the first ``steps`` rows, so no tool sees another's dicts."""
    return [dict(zip(KEYS, row, strict=True)) for row in values[:steps]]


def dir_bytes(path: Path) -> int:
    """Sum of the sizes of all regular files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file_path = Path(root, name)
            if file_path.is_file() and not file_path.is_symlink():
                total += file_path.stat().st_size
    return total


@dataclass
class Timing:
    """Per-step latencies and the ``perf_counter()`` just before the first step."""

    latencies_ns: list[int]
    start_s: float


def time_calls(rows: Sequence[Row], log: LogFn) -> Timing:
    """Call ``log(row)`` for every row; the perf_counter_ns delta of each call.

    ``log`` is called directly (pass a bound method such as ``run.log``), so the
    figure holds no wrapper frame of ours.
    """
    clock = time.perf_counter_ns
    latencies = [0] * len(rows)
    gc.collect()
    start = time.perf_counter()
    for i, row in enumerate(rows):
        t0 = clock()
        log(row)
        latencies[i] = clock() - t0
    return Timing(latencies, start)


def time_steps(rows: Sequence[Row], step: StepFn) -> Timing:
    """Like :func:`time_calls` for tools that need the step index: ``step(i, row)``."""
    clock = time.perf_counter_ns
    latencies = [0] * len(rows)
    gc.collect()
    start = time.perf_counter()
    for i, row in enumerate(rows):
        t0 = clock()
        step(i, row)
        latencies[i] = clock() - t0
    return Timing(latencies, start)


def forbid_network() -> None:
    """From now on, refuse in this process any socket traffic not to loopback.

    An audit hook sees every ``connect``/``sendto``/``sendmsg`` made through
    Python's socket module; Unix-domain sockets and 127.0.0.0/8, ::1 and
    ``localhost`` pass, anything else raises ``PermissionError``.
    """
    sys.addaudithook(_network_guard)


def _network_guard(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        return
    address = args[1] if len(args) > 1 else None
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise PermissionError(f"bench: network access to {address!r} refused ({event})")


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str) or host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _set_env(pairs: Iterable[tuple[str, str]]) -> None:
    for key, value in pairs:
        os.environ[key] = value


# --- Weights & Biases (offline) -------------------------------------------------


def _wandb_env(out: Path, aux: Path) -> None:
    _set_env(
        [
            ("WANDB_MODE", "offline"),
            ("WANDB_SILENT", "true"),
            ("WANDB_DIR", str(out)),
            ("WANDB_DISABLE_GIT", "true"),
            ("WANDB_DISABLE_CODE", "true"),
            ("WANDB__DISABLE_STATS", "true"),
            ("WANDB_X_DISABLE_STATS", "true"),
            ("WANDB_CONSOLE", "off"),
            ("WANDB_CACHE_DIR", str(aux / "cache")),
            ("WANDB_CONFIG_DIR", str(aux / "config")),
            ("WANDB_DATA_DIR", str(aux / "data")),
            ("WANDB_ARTIFACT_DIR", str(aux / "artifacts")),
            ("DO_NOT_TRACK", "1"),
        ]
    )


def bench_wandb(workdir: Path, steps: int, values: Sequence[Sequence[float]]) -> Result:
    """``run.log(dict)`` per step into an offline W&B run; bytes of ``workdir/wandb``."""
    out, aux = workdir / "wandb", workdir / "wandb_aux"
    out.mkdir(parents=True)
    _wandb_env(out, aux)
    import wandb  # after the environment is set

    rows = make_rows(values, steps)
    settings = wandb.Settings(
        mode="offline",
        x_disable_stats=True,
        x_disable_meta=True,
        x_disable_machine_info=True,
        disable_git=True,
        disable_code=True,
        console="off",
        silent=True,
        init_timeout=120.0,
    )
    t0 = time.perf_counter()
    run = wandb.init(project="bench", dir=str(out), mode="offline", settings=settings)
    t1 = time.perf_counter()
    timing = time_calls(rows, run.log)
    run.finish()
    t2 = time.perf_counter()
    data = sum(p.stat().st_size for p in out.rglob("*.wandb"))
    return Result(
        name=f"wandb {wandb.__version__} offline",
        steps=steps,
        points=steps * len(KEYS),
        wall_s=t2 - timing.start_s,
        bytes=dir_bytes(out),
        setup_s=t1 - t0,
        latencies_ns=timing.latencies_ns,
        note=f".wandb file alone {data / (steps * len(KEYS)):.1f} B/pt",
    ).summarize()


# --- tensorboardX ----------------------------------------------------------------


def bench_tensorboardx(workdir: Path, steps: int, values: Sequence[Sequence[float]]) -> Result:
    """10 ``add_scalar`` calls per step into a ``SummaryWriter``; ``close()`` at the end.

    tensorboardX's, or else ``torch.utils.tensorboard``'s (the same event files)."""
    try:
        from tensorboardX import SummaryWriter, __version__

        tool = f"tensorboardX {__version__}"
    except ImportError:
        torch = importlib.import_module("torch")
        SummaryWriter = importlib.import_module("torch.utils.tensorboard").SummaryWriter
        tool = f"torch {torch.__version__} tensorboard"

    out = workdir / "tensorboardx"
    rows = make_rows(values, steps)
    t0 = time.perf_counter()
    writer = SummaryWriter(logdir=str(out))
    t1 = time.perf_counter()

    def step(i: int, row: Row) -> None:
        for key, value in row.items():
            writer.add_scalar(key, value, i)

    timing = time_steps(rows, step)
    writer.close()
    t2 = time.perf_counter()
    return Result(
        name=tool,
        steps=steps,
        points=steps * len(KEYS),
        wall_s=t2 - timing.start_s,
        bytes=dir_bytes(out),
        setup_s=t1 - t0,
        latencies_ns=timing.latencies_ns,
        note="10 add_scalar calls per step; default max_queue=10 (multiprocessing.Queue)",
    ).summarize()


# --- MLflow (local file store) ---------------------------------------------------


def _mlflow_env() -> None:
    _set_env(
        [
            ("MLFLOW_ENABLE_ASYNC_LOGGING", "false"),
            ("MLFLOW_ALLOW_FILE_STORE", "true"),
            ("MLFLOW_DISABLE_TELEMETRY", "true"),
            ("DO_NOT_TRACK", "true"),
            ("GIT_PYTHON_REFRESH", "quiet"),
        ]
    )


def bench_mlflow(workdir: Path, steps: int, values: Sequence[Sequence[float]]) -> Result:
    """``mlflow.log_metrics(dict, step=i)`` into ``file://<workdir>/mlruns``."""
    _mlflow_env()
    import mlflow  # after the environment is set

    out = workdir / "mlruns"
    rows = make_rows(values, steps)
    mlflow.set_tracking_uri(out.as_uri())
    t0 = time.perf_counter()
    mlflow.set_experiment("bench")
    mlflow.start_run(run_name="latency", log_system_metrics=False)
    t1 = time.perf_counter()
    timing = time_steps(rows, lambda i, row: mlflow.log_metrics(row, step=i))
    mlflow.end_run()
    t2 = time.perf_counter()
    return Result(
        name=f"mlflow {mlflow.__version__} file store",
        steps=steps,
        points=steps * len(KEYS),
        wall_s=t2 - timing.start_s,
        bytes=dir_bytes(out),
        setup_s=t1 - t0,
        latencies_ns=timing.latencies_ns,
        note="sync logging; needs MLFLOW_ALLOW_FILE_STORE=true",
    ).summarize()


# --- floor: msgpack + zstd with no framing, no thread, no checks ---------------------


def bench_floor(workdir: Path, steps: int, values: Sequence[Sequence[float]]) -> Result:
    """msgpack-pack each row into a buffer; zstd(3)-compress and write every 1000 rows."""
    import msgpack
    import zstandard

    out = workdir / "floor"
    out.mkdir(parents=True)
    rows = make_rows(values, steps)
    packer = msgpack.Packer()
    compressor = zstandard.ZstdCompressor(level=FLOOR_ZSTD_LEVEL)
    buffer = bytearray()
    t0 = time.perf_counter()
    with open(out / "floor.bin", "wb") as sink:
        t1 = time.perf_counter()

        pending = 0

        def log(row: Row) -> None:
            nonlocal pending
            buffer.extend(packer.pack(row))
            pending += 1
            if pending == FLOOR_BLOCK_ROWS:
                sink.write(compressor.compress(buffer))
                buffer.clear()
                pending = 0

        timing = time_calls(rows, log)
        if buffer:
            sink.write(compressor.compress(buffer))
    t2 = time.perf_counter()
    return Result(
        name="floor: msgpack+zstd3",
        steps=steps,
        points=steps * len(KEYS),
        wall_s=t2 - timing.start_s,
        bytes=dir_bytes(out),
        setup_s=t1 - t0,
        latencies_ns=timing.latencies_ns,
        note=f"block = {FLOOR_BLOCK_ROWS} rows, no framing/thread/fsync",
    ).summarize()


PEERS: dict[str, Callable[[Path, int, Sequence[Sequence[float]]], Result]] = {
    "wandb": bench_wandb,
    "tensorboardx": bench_tensorboardx,
    "mlflow": bench_mlflow,
}

#: Each peer's importable modules: any one set of them, in order of preference.
PEER_MODULES: dict[str, tuple[tuple[str, ...], ...]] = {
    "wandb": (("wandb",),),
    "tensorboardx": (("tensorboardX",), ("torch", "tensorboard")),
    "mlflow": (("mlflow",),),
}


def missing_peer(name: str) -> str | None:
    """Why peer ``name`` cannot run in this interpreter (``None``: it can).

    Looked up without importing it (``importlib.util.find_spec``): the peer itself is
    imported only in its own child process.
    """
    choices = PEER_MODULES[name]
    for modules in choices:
        if all(importlib.util.find_spec(module) is not None for module in modules):
            return None
    wanted = " or ".join("+".join(modules) for modules in choices)
    return (f"{wanted} not installed in {sys.executable} "
            f"(pip install -e '.[bench]' installs every peer)")
