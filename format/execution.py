"""What a run ran (SPEC.md §19): its console, system metrics, environment and code
snapshot, folded from ``console``, ``system``, ``environment`` and ``code`` records.

:class:`Execution` is part of :class:`~flightlog.format.state.RunState`; the handlers
raise TypeError/ValueError on a malformed body, which the state reports as a bad record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

#: SPEC.md §19.1: the streams a console record names.
STREAMS = ("stdout", "stderr")


class ConsoleLine(NamedTuple):
    """One line of a run's console: when it was printed, on which stream, its text.
    ``overwritten`` lines are earlier states of a line a progress bar rewrote with ``\\r``
    (kept as samples; the line's final state follows as a line of its own)."""

    time: float
    stream: str
    text: str
    overwritten: bool = False


@dataclass(frozen=True, slots=True)
class CodeSnapshot:
    """The ``code`` record: the manifest file and the files it names."""

    sha256: str
    files: int
    bytes: int
    blobs: tuple[str, ...]
    time: float


@dataclass
class Execution:
    console: list[ConsoleLine] = field(default_factory=list)
    #: (time, {name: value}) per ``system`` record, in sequence order.
    system: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    #: The last ``environment`` record's facts.
    environment: dict[str, Any] | None = None
    #: The last ``code`` record.
    code: CodeSnapshot | None = None
    #: The last ``finish`` record's ``signal``: the signal that ended the script.
    exit_signal: str | None = None


def _floats(values: Any, what: str) -> list[float]:
    if type(values) is not list or not all(type(v) in (int, float) for v in values):
        raise TypeError(f"{what} is not an array of numbers")
    return [float(v) for v in values]


def apply_console(execution: Execution, body: dict[str, Any]) -> None:
    stream, lines = body["stream"], body["lines"]
    times = _floats(body["times"], "times")
    if len(times) != len(lines):
        raise ValueError(f"times has {len(times)} entries, lines {len(lines)}")
    marked = body.get("overwritten") or []
    # SPEC.md §19.1: increasing indexes of lines of this record, else a bad record.
    if any(i >= len(lines) for i in marked) or any(a >= b for a, b in pairwise(marked)):
        raise ValueError(f"overwritten {marked[:8]!r} is not increasing indexes below "
                         f"{len(lines)}")
    overwritten = set(marked)
    for i, (at, text) in enumerate(zip(times, lines, strict=True)):
        execution.console.append(ConsoleLine(at, stream, text, i in overwritten))


def apply_system(execution: Execution, body: dict[str, Any]) -> None:
    values = body["values"]
    if not all(type(v) in (int, float) for v in values.values()):
        raise TypeError("values holds a value that is not a number")
    execution.system.append((float(body["time"]), {k: float(v) for k, v in values.items()}))


def apply_environment(execution: Execution, body: dict[str, Any]) -> None:
    execution.environment = dict(body["facts"])


def apply_code(execution: Execution, body: dict[str, Any]) -> None:
    execution.code = CodeSnapshot(body["sha256"], int(body.get("files") or 0),
                                  int(body.get("bytes") or 0), tuple(body.get("blobs") or ()),
                                  float(body.get("time") or 0.0))


def system_table(samples: list[tuple[float, dict[str, float]]]) -> Any:
    """The samples as a pyarrow Table: ``_timestamp``, then one float64 column per
    name in order of first appearance (null where a sample lacks the name)."""
    import pyarrow as pa

    order: dict[str, None] = {}
    for _, values in samples:
        order.update(dict.fromkeys(values))
    columns: dict[str, Any] = {"_timestamp": pa.array([t for t, _ in samples], pa.float64())}
    for name in order:
        columns[name] = pa.array([v.get(name) for _, v in samples], pa.float64())
    return pa.table(columns)
