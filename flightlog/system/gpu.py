"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py, the ``gpu`` extra).

Readings follow W&B's ``xpu/src/gpu_nvidia.rs``: utilization (``gpu``, and ``memory``,
the memory controller's busy percent), memory allocated (percent and bytes),
temperature, power (watts, the enforced limit, percent of it) and clocks (SM, memory,
graphics, MHz). A reading a device refuses once is not asked again (W&B's
``gpu_metric_availability``). Without the module, the driver or a device, :func:`open_gpus`
returns None and nothing is said: most machines have no GPU.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

from . import names


class Gpus:
    """The machine's NVIDIA GPUs, open. Use :func:`open_gpus`."""

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles
        # (device index, reading) pairs that failed: skipped from then on.
        self._refused: set[tuple[int, str]] = set()

    @property
    def count(self) -> int:
        return len(self._handles)

    def sample(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for index, handle in enumerate(self._handles):
            for reading, read in self._readings().items():
                if (index, reading) in self._refused:
                    continue
                try:
                    values.update(read(index, handle))
                except Exception:  # NVMLError_NotSupported and the like: never again
                    self._refused.add((index, reading))
        return values

    def _readings(self) -> dict[str, Callable[[int, Any], dict[str, float]]]:
        return {"utilization": self._utilization, "memory": self._memory,
                "temperature": self._temperature, "power": self._power,
                "clocks": self._clocks}

    def _utilization(self, i: int, h: Any) -> dict[str, float]:
        rates = self._nvml.nvmlDeviceGetUtilizationRates(h)
        return {names.gpu(i, "gpu"): float(rates.gpu), names.gpu(i, "memory"): float(rates.memory)}

    def _memory(self, i: int, h: Any) -> dict[str, float]:
        info = self._nvml.nvmlDeviceGetMemoryInfo(h)
        out = {names.gpu(i, "memoryAllocatedBytes"): float(info.used)}
        if info.total:
            out[names.gpu(i, "memoryAllocated")] = 100.0 * info.used / info.total
        return out

    def _temperature(self, i: int, h: Any) -> dict[str, float]:
        sensor = getattr(self._nvml, "NVML_TEMPERATURE_GPU", 0)
        return {names.gpu(i, "temp"): float(self._nvml.nvmlDeviceGetTemperature(h, sensor))}

    def _power(self, i: int, h: Any) -> dict[str, float]:
        watts = self._nvml.nvmlDeviceGetPowerUsage(h) / 1000.0  # NVML answers milliwatts
        out = {names.gpu(i, "powerWatts"): watts}
        with contextlib.suppress(Exception):
            limit = self._nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
            out[names.gpu(i, "enforcedPowerLimitWatts")] = limit
            if limit > 0:
                out[names.gpu(i, "powerPercent")] = 100.0 * watts / limit
        return out

    def _clocks(self, i: int, h: Any) -> dict[str, float]:
        nvml = self._nvml
        kinds = {"smClock": getattr(nvml, "NVML_CLOCK_SM", 1),
                 "memoryClock": getattr(nvml, "NVML_CLOCK_MEM", 2),
                 "graphicsClock": getattr(nvml, "NVML_CLOCK_GRAPHICS", 0)}
        return {names.gpu(i, name): float(nvml.nvmlDeviceGetClockInfo(h, kind))
                for name, kind in kinds.items()}

    def describe(self) -> dict[str, Any]:
        """Driver and CUDA versions and device names (for the run's environment)."""
        facts: dict[str, Any] = {"count": self.count}
        with contextlib.suppress(Exception):
            facts["driver"] = _text(self._nvml.nvmlSystemGetDriverVersion())
        with contextlib.suppress(Exception):
            cuda = int(self._nvml.nvmlSystemGetCudaDriverVersion())
            facts["cuda"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        devices = []
        for handle in self._handles:
            with contextlib.suppress(Exception):
                devices.append(_text(self._nvml.nvmlDeviceGetName(handle)))
        facts["devices"] = devices
        return facts

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def open_gpus() -> Gpus | None:
    """NVML initialised with at least one device, or None (no module, no driver, no GPU)."""
    try:
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:
        return None
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception:
        handles = []
    if not handles:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
        return None
    return Gpus(nvml, handles)
