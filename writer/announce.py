"""The one line a run prints to stderr when ``flightlog.init`` starts it and the one when
it finishes (W&B users expect them), unless silenced: ``init(..., quiet=True)`` or
``FLIGHTLOG_SILENT=1`` (W&B's ``WANDB_SILENT``). The writer never touches the network, so
the start line says how the run reaches a server."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def silenced(quiet: bool) -> bool:
    return quiet or os.environ.get("FLIGHTLOG_SILENT", "").lower() not in ("", "0", "false",
                                                                           "no")


def started(project: str, run_id: str, name: str, run_dir: Path, resumed_at: int) -> None:
    title = f" {name!r}" if name != run_id else ""
    resumed = f", resumed at step {resumed_at}" if resumed_at else ""
    print(f"flightlog: run {project}/{run_id}{title} logging to {run_dir}{resumed} "
          f"(local only: `flightlog sync {shlex.quote(str(run_dir))}` ships it to a server, "
          f"or a `flightlog syncd` following its root)", file=sys.stderr, flush=True)


def finished(project: str, run_id: str, run_dir: Path, next_step: int,
             exit_code: int) -> None:
    how = "finished" if exit_code == 0 else f"crashed (exit code {exit_code})"
    steps = f"steps 0..{next_step - 1}" if next_step > 1 else (
        "step 0" if next_step == 1 else "no steps")
    print(f"flightlog: run {project}/{run_id} {how}: {steps} logged in {run_dir}",
          file=sys.stderr, flush=True)
