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

from .charts import Chart, Table
from .errors import (
    BadAttachedName,
    BadFileHeader,
    BadRecord,
    ChecksumMismatch,
    CorruptPayload,
    CorruptRecord,
    FileNotInRun,
    FlightlogError,
    FormatError,
    InvalidKey,
    InvalidValue,
    MissingExtra,
    RecordTooLarge,
    RunDiverged,
    RunLocked,
    RunNotFound,
    SequenceError,
    ServerProtocolError,
    ServerRejected,
    StepError,
    SyncError,
    TransportError,
    TruncatedRecord,
    UnsafeFileName,
    UnsupportedVersion,
    WorkspaceConfigError,
    WriterClosed,
    WriterError,
)
from .format import FlightlogWarning, LocalRun, open_run
from .histogram import Histogram
from .media import Html, Image
from .writer import Run, finish, init, log
from .writer.valuetypes import ValueTypeChanged

if _TYPE_CHECKING:
    from . import azureml, plot, sklearn
    from .api import Api, RemoteRun
    from .notebook import show
    from .plot import plot_table

__version__ = "0.1.0"

__all__ = [
    "Api",
    "BadAttachedName",
    "BadFileHeader",
    "BadRecord",
    "Chart",
    "ChecksumMismatch",
    "CorruptPayload",
    "CorruptRecord",
    "FileNotInRun",
    "FlightlogError",
    "FlightlogWarning",
    "FormatError",
    "Histogram",
    "Html",
    "Image",
    "InvalidKey",
    "InvalidValue",
    "LocalRun",
    "MissingExtra",
    "RecordTooLarge",
    "RemoteRun",
    "Run",
    "RunDiverged",
    "RunLocked",
    "RunNotFound",
    "SequenceError",
    "ServerProtocolError",
    "ServerRejected",
    "StepError",
    "SyncError",
    "Table",
    "TransportError",
    "TruncatedRecord",
    "UnsafeFileName",
    "UnsupportedVersion",
    "ValueTypeChanged",
    "WorkspaceConfigError",
    "WriterClosed",
    "WriterError",
    "__version__",
    "azureml",
    "finish",
    "init",
    "log",
    "open_run",
    "plot",
    "plot_table",
    "show",
    "sklearn",
]

# Loaded on first use: they import numpy-heavy or optional code (httpx, scikit-learn,
# IPython) that the training path must not pay for.
_LAZY_MODULES = {"azureml", "plot", "sklearn"}
_LAZY = {"Api": "api", "RemoteRun": "api", "plot_table": "plot", "show": "notebook"}


def __getattr__(name: str) -> _Any:
    # flightlog.run: the current run (None before init), as wandb.run.
    if name == "run":
        from .writer import current

        return current()
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'flightlog' has no attribute {name!r}")
