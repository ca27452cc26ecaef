"""The MLflow export's ledger: per flightlog run, the MLflow run it became and how far its
metrics, params and artifacts got. One small JSON file per run in a ledger directory
(default ``$XDG_STATE_HOME/flightlog/mlflow/<target digest>/``, beside the sync state),
so that recording progress costs one small crash-safe write (temp + fsync + rename), not
a rewrite of everything.

Invariant: the ledger never claims more than the server acknowledged (it is written after
each acknowledged batch). After a crash the server may hold one batch more than the
ledger says; the exporter checks that batch against the server before sending it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flightlog.errors import ExportError

from .atomic import write_atomic

_FORMAT = "flightlog-mlflow-ledger/1"
_MAX_ENTRY_BYTES = 16 << 20


@dataclass
class LedgerEntry:
    """Progress of one flightlog run (``project/id``) into one MLflow target."""

    run: str
    mlflow_run_id: str
    metrics_sent: int = 0  # non-null history cells acknowledged, in step-major order
    params: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    status: str | None = None  # the terminal status set, None while not terminated


def default_ledger_dir(tracking_uri: str, experiment: str | None) -> Path:
    """Where the ledger of one (tracking server, experiment) target lives by default."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    target = hashlib.sha256(f"{tracking_uri}\0{experiment or ''}".encode()).hexdigest()
    return Path(state) / "flightlog" / "mlflow" / target[:24]


class Ledger:
    """A directory of :class:`LedgerEntry` files."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def _path(self, run: str) -> Path:
        return self.dir / f"{hashlib.sha256(run.encode()).hexdigest()[:32]}.json"

    def get(self, run: str) -> LedgerEntry | None:
        """The entry of ``run``; None when it has none.

        Raises:
            ExportError: the entry file is damaged (delete it to export the run anew;
                the exporter then finds the MLflow run by its tag and checks every point).
        """
        path = self._path(run)
        try:
            with open(path, "rb") as src:
                data = src.read(_MAX_ENTRY_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            body = json.loads(data)
            if body.pop("format") != _FORMAT or body.get("run") != run:
                raise ValueError("not this run's ledger entry")
            entry = LedgerEntry(**body)
            _check(entry)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ExportError(f"ledger entry of {run} is damaged ({exc})", path=str(path),
                              key=run) from exc
        return entry

    def put(self, entry: LedgerEntry) -> None:
        body: dict[str, Any] = {"format": _FORMAT, **asdict(entry)}
        write_atomic(self._path(entry.run), json.dumps(body).encode())


def _check(entry: LedgerEntry) -> None:
    if not isinstance(entry.mlflow_run_id, str) or not entry.mlflow_run_id:
        raise TypeError("mlflow_run_id is not a string")
    if not isinstance(entry.metrics_sent, int) or entry.metrics_sent < 0:
        raise TypeError("metrics_sent is not a count")
    for name in ("params", "artifacts"):
        value = getattr(entry, name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{name} is not a list of names")
    if entry.status is not None and not isinstance(entry.status, str):
        raise TypeError("status is not a string")
