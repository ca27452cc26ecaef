"""The script runner: ``flightlog run -- python train.py`` records what a script ran
(code snapshot, environment, console, system metrics, outputs, exit status) in one run,
which the script's own ``flightlog.init()`` logs into. README "Running scripts";
the records are SPEC.md §19."""

from __future__ import annotations

from .supervise import Outcome, default_project, run_script

__all__ = ["Outcome", "default_project", "run_script"]
