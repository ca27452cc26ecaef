"""The sampler thread: every ``interval`` seconds one reading of the machine, the
sampled process tree and the GPUs, handed to ``emit`` (which queues a ``system``
record). It runs on its own daemon thread and never touches the training thread: the
only shared step is ``emit``'s append to the writer's queue, a lock held for a list
append.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import names
from .gpu import Gpus, open_gpus

log = logging.getLogger("flightlog")

Emit = Callable[[float, dict[str, float]], None]


def check_interval(interval: float) -> None:
    """Raises FlightlogError unless ``interval`` is a positive number of seconds."""
    if not isinstance(interval, (int, float)) or not interval > 0:
        from flightlog.errors import FlightlogError

        raise FlightlogError(f"system metrics interval must be > 0 seconds, got {interval!r}")


class Sampler:
    """Samples system metrics on a daemon thread until :meth:`stop`.

    Args:
        emit: called with (time, {name: value}) for each sample, on the sampler thread.
        pid: the root of the process tree whose CPU, memory and threads are measured
            (default: this process); its children are included, as W&B's
            ``trackProcessTree`` does.
        interval: seconds between samples (default 15, W&B's).
        disk_paths: mount points whose usage is reported.
        final_sample: at :meth:`stop`, take one last sample when none was taken in the
            last second (``flightlog run``: a script shorter than the interval still has
            one). ``flightlog.init`` runs do not, as W&B's do not.
    """

    def __init__(self, emit: Emit, *, pid: int | None = None,
                 interval: float = names.DEFAULT_INTERVAL,
                 disk_paths: Sequence[str] = ("/",), final_sample: bool = True) -> None:
        check_interval(interval)
        import psutil

        self._psutil = psutil
        self._emit = emit
        self.pid = pid if pid is not None else os.getpid()
        self.interval = float(interval)
        self._disk_paths = tuple(disk_paths)
        self._procs: dict[int, Any] = {}
        self._stop = threading.Event()
        self._gpus: Gpus | None = None
        self._net0 = self._disk0 = None
        self._last_sample = 0.0
        self._final = final_sample
        self.samples = 0
        self._thread = threading.Thread(target=self._main, name="flightlog-system", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (after its final sample, when it takes one)."""
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join()

    # ------------------------------------------------------------ thread

    def _main(self) -> None:
        try:
            self._prime()
            while not self._stop.wait(self.interval):
                self._sample()
            if self._final and time.monotonic() - self._last_sample > 1.0:
                self._sample()
        except Exception:  # a sampler must never take the run down
            log.warning("flightlog: system metrics stopped", exc_info=True)
        finally:
            if self._gpus is not None:
                self._gpus.close()

    def _prime(self) -> None:
        """CPU percents are relative to the previous call: the first one starts the clock.
        Counters (network, disk I/O) are reported since the start, as W&B does."""
        psutil = self._psutil
        self._gpus = open_gpus()
        psutil.cpu_percent(percpu=True)
        self._tree()
        with contextlib.suppress(Exception):
            self._net0 = psutil.net_io_counters()
        with contextlib.suppress(Exception):
            self._disk0 = psutil.disk_io_counters()
        self._last_sample = time.monotonic()

    def _sample(self) -> None:
        values: dict[str, float] = {}
        for part in (self._process, self._cpus, self._memory, self._disk, self._network):
            with contextlib.suppress(Exception):
                values.update(part())
        if self._gpus is not None:
            values.update(self._gpus.sample())
        self._last_sample = time.monotonic()
        self.samples += 1
        if values:
            self._emit(time.time(), values)

    # ------------------------------------------------------------ readings

    def _tree(self) -> list[Any]:
        """The sampled process and its descendants; psutil.Process objects are kept so
        each one's CPU percent is measured since the previous sample."""
        psutil = self._psutil
        try:
            root = self._procs.get(self.pid) or psutil.Process(self.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        current: dict[int, Any] = {}
        for proc in found:
            kept = self._procs.get(proc.pid)
            if kept is None:  # new since the last sample: start its CPU clock
                kept = proc
                with contextlib.suppress(psutil.Error):
                    proc.cpu_percent(None)
            current[proc.pid] = kept
        self._procs = current
        return list(current.values())

    def _process(self) -> dict[str, float]:
        psutil = self._psutil
        rss = cpu = 0.0
        threads = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error), proc.oneshot():
                rss += proc.memory_info().rss
                cpu += proc.cpu_percent(None)
                threads += proc.num_threads()
        cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
        total = psutil.virtual_memory().total
        return {names.PROC_RSS_MB: rss / 2**20, names.CPU: cpu / cores,
                names.CPU_THREADS: float(threads),
                names.PROC_MEMORY_PERCENT: 100.0 * rss / total if total else 0.0}

    def _cpus(self) -> dict[str, float]:
        return {names.cpu_core(i): float(p)
                for i, p in enumerate(self._psutil.cpu_percent(percpu=True))}

    def _memory(self) -> dict[str, float]:
        mem = self._psutil.virtual_memory()
        return {names.MEMORY_PERCENT: float(mem.percent),
                names.PROC_AVAILABLE_MB: mem.available / 2**20}

    def _disk(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for path in self._disk_paths:
            with contextlib.suppress(Exception):
                usage = self._psutil.disk_usage(path)
                out[names.disk_usage_percent(path)] = float(usage.percent)
                out[names.disk_usage_gb(path)] = usage.used / 2**30
        io = self._psutil.disk_io_counters()
        if io is not None and self._disk0 is not None:
            out[names.DISK_IN] = (io.read_bytes - self._disk0.read_bytes) / 2**20
            out[names.DISK_OUT] = (io.write_bytes - self._disk0.write_bytes) / 2**20
        return out

    def _network(self) -> dict[str, float]:
        net = self._psutil.net_io_counters()
        if net is None or self._net0 is None:
            return {}
        return {names.NETWORK_SENT: float(net.bytes_sent - self._net0.bytes_sent),
                names.NETWORK_RECV: float(net.bytes_recv - self._net0.bytes_recv)}

    def gpu_facts(self) -> dict[str, Any] | None:
        """Driver/CUDA versions and device names, once the thread has opened NVML."""
        return self._gpus.describe() if self._gpus is not None else None
