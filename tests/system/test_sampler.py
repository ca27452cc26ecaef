"""System metrics: names as W&B's, a fake NVML (we cannot run NVML here), no GPU, and
``init``'s default sampler writing ``system`` records (SPEC.md §19.2)."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

import flightlog
from flightlog.system import Sampler


class _Rates:
    gpu, memory = 87, 40


class _Memory:
    total, used = 16 * 2**30, 4 * 2**30


def _fake_pynvml(devices: int, refuse_power: bool = False) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    calls: dict[str, int] = {"shutdown": 0}

    class NVMLError(Exception):
        pass

    def power(handle: int) -> int:
        if refuse_power:
            raise NVMLError("Not Supported")
        return 150_000 + handle  # milliwatts

    funcs: dict[str, Any] = {
        "NVMLError": NVMLError, "NVML_TEMPERATURE_GPU": 0, "NVML_CLOCK_SM": 1,
        "NVML_CLOCK_MEM": 2, "NVML_CLOCK_GRAPHICS": 0,
        "nvmlInit": lambda: None, "nvmlDeviceGetCount": lambda: devices,
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlDeviceGetUtilizationRates": lambda h: _Rates(),
        "nvmlDeviceGetMemoryInfo": lambda h: _Memory(),
        "nvmlDeviceGetTemperature": lambda h, sensor: 61 + h,
        "nvmlDeviceGetPowerUsage": power,
        "nvmlDeviceGetEnforcedPowerLimit": lambda h: 300_000,
        "nvmlDeviceGetClockInfo": lambda h, kind: {1: 1410, 2: 1215, 0: 1400}[kind],
        "nvmlDeviceGetName": lambda h: b"NVIDIA A100-SXM4-40GB",
        "nvmlSystemGetDriverVersion": lambda: "535.104.05",
        "nvmlSystemGetCudaDriverVersion": lambda: 12020,
        "nvmlShutdown": lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1)}
    for name, value in funcs.items():
        setattr(nvml, name, value)
    nvml.calls = calls  # type: ignore[attr-defined]
    return nvml


@pytest.fixture
def samples() -> Iterator[list[dict[str, float]]]:
    got: list[dict[str, float]] = []
    yield got


def _sample_once(monkeypatch: pytest.MonkeyPatch, nvml: types.ModuleType | None
                 ) -> tuple[dict[str, float], Sampler]:
    if nvml is None:
        monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails: no package
    else:
        monkeypatch.setitem(sys.modules, "pynvml", nvml)
    got: list[dict[str, float]] = []
    ready = threading.Event()

    def emit(at: float, values: dict[str, float]) -> None:
        got.append(values)
        ready.set()

    sampler = Sampler(emit, interval=0.05).start()
    wait_until(ready.is_set, 30, "a sample")
    sampler.stop()
    return got[0], sampler


def test_gpu_metrics_from_a_fake_nvml_named_as_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = _fake_pynvml(devices=2)
    values, _ = _sample_once(monkeypatch, nvml)
    assert values["system/gpu.0.gpu"] == 87.0 and values["system/gpu.1.memory"] == 40.0
    assert values["system/gpu.0.memoryAllocated"] == 25.0
    assert values["system/gpu.1.memoryAllocatedBytes"] == 4 * 2**30
    assert values["system/gpu.1.temp"] == 62.0
    assert values["system/gpu.0.powerWatts"] == 150.0
    assert values["system/gpu.0.powerPercent"] == 50.0
    assert values["system/gpu.0.smClock"] == 1410.0 and values["system/gpu.0.memoryClock"] == 1215
    for name in ("system/cpu", "system/proc.cpu.threads", "system/memory_percent",
                 "system/proc.memory.rssMB", "system/disk./.usagePercent",
                 "system/network.sent", "system/cpu.0.cpu_percent"):
        assert name in values, name
    assert nvml.calls["shutdown"] == 1  # type: ignore[attr-defined]


def test_a_reading_the_gpu_refuses_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    values, _ = _sample_once(monkeypatch, _fake_pynvml(devices=1, refuse_power=True))
    assert "system/gpu.0.temp" in values and "system/gpu.0.powerWatts" not in values


def test_no_nvml_means_no_gpu_metrics_and_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    values, _ = _sample_once(monkeypatch, None)
    assert not any(".gpu." in k or k.startswith("system/gpu") for k in values)
    assert values["system/proc.memory.rssMB"] > 0


def test_init_samples_by_default_and_not_when_off(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(devices=1))
    run = flightlog.init(project="p", dir=tmp_path, quiet=True, system_metrics_interval=0.05)
    reader = flightlog.open_run(run.dir)
    run.log({"x": 1})
    wait_until(lambda: reader.system_metrics().num_rows >= 2, 30, "two system records")
    run.finish()
    table = flightlog.open_run(run.dir).system_metrics()
    assert table.column("system/gpu.0.temp").to_pylist()[0] == 61.0
    off = flightlog.init(project="p", dir=tmp_path, quiet=True, system_metrics=False)
    off.finish()
    assert flightlog.open_run(off.dir).system_metrics().num_rows == 0
    with pytest.raises(flightlog.FlightlogError, match="interval"):
        flightlog.init(project="p", dir=tmp_path, quiet=True, system_metrics_interval=0)


def test_process_cpu_is_measured_between_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    busy: list[float] = []
    sampler = Sampler(lambda at, values: busy.append(values["system/cpu"]),
                      interval=0.05).start()
    deadline = time.monotonic() + 30
    total = 0
    while not any(busy) and time.monotonic() < deadline:  # burn CPU until a sample sees it
        total += sum(range(10_000))
    sampler.stop()
    assert any(cpu > 0 for cpu in busy), busy
