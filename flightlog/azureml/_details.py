"""A run's facts in Azure's words: ``get_details()``'s keys, statuses and UTC times.

The facts come from a local run directory or from a server's answer; the latter is
untrusted input, so every field is checked for its type here, where it enters.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CANCELED_EXIT_CODE", "RunFacts", "azure_status", "details", "facts_of",
           "iso_utc"]

#: The exit code ``run.cancel()`` records, read back as Azure's ``Canceled``: 130 is what
#: a shell reports for a process ended by Ctrl-C (128 + SIGINT).
CANCELED_EXIT_CODE = 130


@dataclass(frozen=True)
class RunFacts:
    """What ``get_details``, ``get_status`` and the notebook table need of one run."""

    name: str
    status: str  # flightlog's word: running, finished or crashed (SPEC.md §11)
    exit_code: int | None = None
    created: float | None = None
    finished_at: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)


def azure_status(status: str, exit_code: int | None) -> str:
    """flightlog's status as Azure's: Running, Completed, Canceled or Failed."""
    if status == "running":
        return "Running"
    if status == "finished":
        return "Completed"
    return "Canceled" if exit_code == CANCELED_EXIT_CODE else "Failed"


def iso_utc(timestamp: float | None) -> str | None:
    """A Unix time as Azure writes times: ISO 8601 in UTC with a ``Z``, microseconds."""
    if timestamp is None:
        return None
    moment = _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(value: Any) -> float | None:
    # A time the datetime module can represent, else none at all.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 <= value < 253402300800 else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _tags(value: Any) -> dict[str, str | None]:
    return {str(k): None if v is None else str(v) for k, v in _mapping(value).items()}


def facts_of(source: Any) -> RunFacts:
    """The facts of a ``LocalRun`` (read from its directory) or a ``RemoteRun`` (one
    request to the server)."""
    from flightlog.format.localrun import LocalRun

    if isinstance(source, LocalRun):
        state = source.state
        return RunFacts(name=source.name, status=source.status, exit_code=state.exit_code,
                        created=state.created, finished_at=state.finished_at,
                        config=dict(state.config), tags=dict(state.tags))
    detail = source._detail()
    if not isinstance(detail, dict):
        detail = {}
    name = detail.get("name")
    status = detail.get("status")
    return RunFacts(name=name if isinstance(name, str) and name else source.id,
                    status=status if isinstance(status, str) else "crashed",
                    exit_code=_int(detail.get("exit_code")),
                    created=_time(detail.get("created")),
                    finished_at=_time(detail.get("finished_at")),
                    config=_mapping(detail.get("config")), tags=_tags(detail.get("tags")))


def details(run_id: str, facts: RunFacts) -> dict[str, Any]:
    """Azure's ``run.get_details()`` dict. ``properties`` is the run's config;
    ``endTimeUtc`` is None while the run has not ended; flightlog keeps no datasets and
    no driver logs, so those are empty."""
    ended = facts.finished_at if facts.status != "running" else None
    return {
        "runId": run_id,
        "target": "local",
        "status": azure_status(facts.status, facts.exit_code),
        "startTimeUtc": iso_utc(_time(facts.created)),
        "endTimeUtc": iso_utc(_time(ended)),
        "properties": dict(facts.config),
        "inputDatasets": [],
        "outputDatasets": [],
        "logFiles": {},
    }
