"""The run directory format: reading and checking what SPEC.md specifies.

Public entry points: :func:`open_run` (a whole run), :class:`RunLogReader` (records,
resumable), :func:`verify_paths` (integrity check).
"""

from __future__ import annotations

from .localrun import FlightlogWarning, LocalRun, open_run
from .reader import Finding, RunLogReader, iter_records
from .records import Record, RecordType

__all__ = [
    "Finding",
    "FlightlogWarning",
    "LocalRun",
    "Record",
    "RecordType",
    "RunLogReader",
    "iter_records",
    "open_run",
]
