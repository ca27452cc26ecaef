"""flightlog: offline-first experiment tracking.

Training writes a local run directory (SPEC.md) and never waits on a network::

    import flightlog
    run = flightlog.init(project="diabetes", config={"alpha": 0.1})
    run.log({"rmse": 57.2})
    run.finish()

    r = flightlog.open_run(run.dir)
    r.history(), r.summary, r.status
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from .errors import (
    ChecksumMismatch,
    CorruptRecord,
    FileNotInRun,
    FlightlogError,
    FormatError,
    InvalidKey,
    InvalidValue,
    MissingExtra,
    RecordTooLarge,
    RunLocked,
    RunNotFound,
    SequenceError,
    ServerRejected,
    StepError,
    SyncError,
    TransportError,
    TruncatedRecord,
    UnsupportedVersion,
    WriterClosed,
    WriterError,
)
from .format import FlightlogWarning, LocalRun, open_run
from .writer import Run, finish, init, log

if _TYPE_CHECKING:
    from .api import Api, RemoteRun

__version__ = "0.1.0"

__all__ = [
    "Api",
    "ChecksumMismatch",
    "CorruptRecord",
    "FileNotInRun",
    "FlightlogError",
    "FlightlogWarning",
    "FormatError",
    "InvalidKey",
    "InvalidValue",
    "LocalRun",
    "MissingExtra",
    "RecordTooLarge",
    "RemoteRun",
    "Run",
    "RunLocked",
    "RunNotFound",
    "SequenceError",
    "ServerRejected",
    "StepError",
    "SyncError",
    "TransportError",
    "TruncatedRecord",
    "UnsupportedVersion",
    "WriterClosed",
    "WriterError",
    "__version__",
    "finish",
    "init",
    "log",
    "open_run",
]


def __getattr__(name: str) -> _Any:
    # flightlog.run: the current run (None before init), as wandb.run.
    if name == "run":
        from .writer import current

        return current()
    if name in ("Api", "RemoteRun"):  # imports httpx: not on the training path
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'flightlog' has no attribute {name!r}")
