"""The metric names, as W&B's system monitor writes them (wandb/wandb,
``core/internal/monitor/system.go`` for CPU, memory, disk and network;
``xpu/src/gpu_nvidia.rs`` for NVIDIA GPUs; the charts of
``core/internal/leet/systemmetrics.go`` list them all). W&B shows them under
``system/``; flightlog stores them with that prefix, so a dashboard or the W&B importer
maps them one to one. Units are W&B's: percents 0..100, MB = MiB, GB = GiB.
"""

from __future__ import annotations

from typing import Final

#: W&B's default sampling interval (``defaultSamplingInterval`` in monitor.go).
DEFAULT_INTERVAL: Final = 15.0
PREFIX: Final = "system/"

CPU: Final = PREFIX + "cpu"  # the process tree's CPU, % of one core x cores, normalised
CPU_THREADS: Final = PREFIX + "proc.cpu.threads"
MEMORY_PERCENT: Final = PREFIX + "memory_percent"
PROC_RSS_MB: Final = PREFIX + "proc.memory.rssMB"
PROC_MEMORY_PERCENT: Final = PREFIX + "proc.memory.percent"
PROC_AVAILABLE_MB: Final = PREFIX + "proc.memory.availableMB"
DISK_IN: Final = PREFIX + "disk.in"
DISK_OUT: Final = PREFIX + "disk.out"
NETWORK_SENT: Final = PREFIX + "network.sent"
NETWORK_RECV: Final = PREFIX + "network.recv"


def cpu_core(index: int) -> str:
    return f"{PREFIX}cpu.{index}.cpu_percent"


def disk_usage_percent(path: str) -> str:
    return f"{PREFIX}disk.{path}.usagePercent"


def disk_usage_gb(path: str) -> str:
    return f"{PREFIX}disk.{path}.usageGB"


def gpu(index: int, what: str) -> str:
    """``gpu``, ``memory``, ``memoryAllocated``, ``memoryAllocatedBytes``, ``temp``,
    ``powerWatts``, ``enforcedPowerLimitWatts``, ``powerPercent``, ``smClock``,
    ``memoryClock``, ``graphicsClock``."""
    return f"{PREFIX}gpu.{index}.{what}"
