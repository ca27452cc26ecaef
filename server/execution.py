"""What a run ran, for the run page and the offline report: console tail, system
metrics series and the environment (SPEC.md §19; README "Running scripts").

    GET /api/v1/runs/{project}/{run_id}/execution

One shape for both: :func:`execution_data` is what the route answers and what
flightlog/report.py inlines.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.responses import Response
from flightlog.format.jsonable import jsonable

from .limits import ProjectName, RunId
from .series import DEFAULT_POINTS, downsample
from .storage import Storage

__all__ = ["CONSOLE_LINES", "execution_data", "mount_execution"]

#: The console's last lines shown (the whole console is in the run: ``r.console()``).
CONSOLE_LINES = 1000


def execution_data(run: Any, points: int = DEFAULT_POINTS) -> dict[str, Any]:
    """``console`` (the last lines: time, stream, text; and the total), ``system`` (name
    -> downsampled series over the sample times), ``environment`` and ``signal``; {} for
    a run without any of them."""
    execution = run.state.execution
    out: dict[str, Any] = {}
    lines = [ln for ln in sorted(execution.console, key=lambda ln: ln.time)
             if not ln.overwritten]
    if lines:
        out["console"] = {"total": len(lines), "lines": [
            {"t": ln.time, "s": ln.stream, "x": ln.text} for ln in lines[-CONSOLE_LINES:]]}
    if execution.system:
        table = run.system_metrics()
        x = np.asarray(table.column("_timestamp").to_numpy(zero_copy_only=False), dtype=float)
        series = {}
        for name in table.column_names[1:]:
            y = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
            series[name] = downsample(x, y, points).to_json()
        out["system"] = series
    if execution.environment is not None:
        out["environment"] = execution.environment
    if execution.exit_signal:
        out["signal"] = execution.exit_signal
    return jsonable(out)  # type: ignore[no-any-return]


def mount_execution(app: FastAPI, storage: Storage) -> None:
    @app.get("/api/v1/runs/{project}/{run_id}/execution")
    def run_execution(project: ProjectName, run_id: RunId) -> Response:
        """The run's console tail, system metrics and environment (``{}`` without)."""
        found = storage.read(project, run_id, execution_data)
        return Response(json.dumps(found, allow_nan=False), media_type="application/json")
