"""The writer side of every importer: a neutral description of a source run in, an
ordinary flightlog run directory out.

An importer (TensorBoard, MLflow, W&B) reads its tool's files and describes each run as a
:class:`SourceRun`; :func:`write_run` writes it through the public writer
(:class:`flightlog.Run`), so ``sync``, ``bundle``, the UI and the report work on it
unchanged, and returns an :class:`ImportReport`.

API (stable; importers code against it)::

    from flightlog.importers._target import (
        SourceRun, Point, SourceMedia, SourceTableRows, SourceFile, SystemPoint,
        Unmapped, ImportReport, write_run, run_id_for, safe_name)

    source = SourceRun(
        kind="wandb",                  # which importer: "tensorboard", "mlflow", "wandb"
        identity="entity/project/abc123",  # stable identity of the run within its kind
        project="my-project",          # flightlog project (made safe with safe_name)
        name="glad-sun-3", config={...}, summary={...}, tags={"baseline": None},
        notes="free text",             # kept as the tag "notes"
        exit_code=0,                   # 0 finished, other: crashed, None: no end recorded
        start_time=1.7e9, end_time=1.7e9 + 60,   # seconds since the epoch, or None
        points=iter_points(),          # Iterable[Point]: (key, step, value, wall_time)
        media=[SourceMedia("samples", step, wall_time, png_bytes, "image/png", caption)],
        tables=[SourceTableRows("hist/w", step, {"lower": [...], "count": [...]})],
        files=[SourceFile("config.yaml", path="/abs/config.yaml")],  # or data=b"..."
        console=[ConsoleLine("epoch 1", wall_time, "stdout"), "a line without a time"],
        system=[SystemPoint("system/cpu", wall_time, 12.5)],   # W&B-style names
        run_id=None,                   # default: run_id_for(kind, identity)
        source_path="/where/it/was/read",
    )
    report = write_run(source, root, project=None)   # project= overrides source.project
    report.run_id, report.dir, report.points, report.unmapped, report.problems

Iterables are consumed once, after the run's metadata; an importer may add to
``source.unmapped`` (``source.unmapped.add("text summary", tag)``) and to
``source.problems`` (one sentence per damaged input, naming file and offset) while they
are being consumed: the report is built after everything was read.

Values of points: float, int, bool, str, None, or a ``flightlog.Histogram`` (what a
flightlog history cell holds).

Mapping rules (what a user sees):

- **Run id**: deterministic, ``run_id_for(kind, identity)`` = ``<kind>-<16 hex digits of
  SHA-256(kind NUL identity)>`` unless the importer gives ``run_id``; the run directory is
  ``ROOT/<project>/<id>``.
- **History**: points are written in ascending step order (a stable sort, so the
  source's order decides within a step), one history row per step. A row's
  ``_timestamp`` is the latest wall time of the points at that step; every point whose own
  wall time differs from its row's is listed in the table ``import/wall_time`` (columns
  ``key``, ``step``, ``wall_time``), so every point's original time is kept exactly. Two
  points of one key at one step: the later one is the row's value and the earlier ones
  are reported as unmapped ("superseded point").
- **Media** are logged at their step (``run.log({key: Image}, step=, timestamp=)``);
  **tables** are appended with ``run.log_table`` once per key per import; **console**
  lines and **system metrics** become the run's own ``console`` and ``system`` records
  (SPEC.md §19: ``open_run(...).console()``, ``.system_metrics()``, one ``system`` record
  per sample time) — in a flightlog without those record types, the attached file
  ``output.log`` and the table ``system`` (``_timestamp``, ``key``, ``value``) instead;
  **files** are attached under their names.
- **Config** is the source's config plus the key ``_flightlog_import`` (see below);
  **summary** is set after the points (an explicit summary wins over last values);
  **tags** are set; **status** is ``finish(exit_code, timestamp=end_time)``.

Re-import (the **import cursor**): ``config["_flightlog_import"]`` holds the source kind
and identity, the highest step written, how many points had been written up to it, the
digests of config/summary/tags/name/notes/status, the files' SHA-256s, the number of
console lines written, the last system-metric time and the highest table step. On a later
import:

- points, media and table rows at steps above the cursor's step are new; points at or
  below it are already there (when the source now has *more* of them than the cursor
  counted, the extra ones cannot be put before later steps and are reported as unmapped
  "point below the imported step", counted);
- console lines after the ones counted and system samples after the cursor's last time
  are new; a file is new when its name is
  new or its SHA-256 changed; config, summary, tags, name, notes and status are written
  again only when their digest changed;
- when nothing is new, the run directory is **not opened**: not a byte changes.

A previous import that was killed part-way leaves history up to some step but no updated
cursor; the next import continues after the run's own last step (each step's row is
written whole, so that step is complete). What such an import wrote keeps each row's
time, not the own times of its points (the ``import/wall_time`` rows are written at the
end of an import).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from flightlog.errors import FlightlogError

__all__ = [
    "CURSOR_KEY",
    "ConsoleLine",
    "ImportReport",
    "Point",
    "SourceFile",
    "SourceMedia",
    "SourceRun",
    "SourceTableRows",
    "SystemPoint",
    "Unmapped",
    "run_id_for",
    "safe_name",
    "write_run",
]

#: The config key holding the import cursor (a map; see the module docstring).
CURSOR_KEY = "_flightlog_import"
CURSOR_VERSION = 1
WALL_TIME_TABLE = "import/wall_time"
SYSTEM_TABLE = "system"
CONSOLE_FILE = "output.log"


class Point(NamedTuple):
    """One scalar point of a source run."""

    key: str
    step: int
    value: Any  # float, int, bool, str, None or a flightlog.Histogram
    wall_time: float


class ConsoleLine(NamedTuple):
    """One line of console output (``text`` without its newline)."""

    text: str
    wall_time: float | None = None   # None: the run's end (or start) time
    stream: str = "stdout"           # "stdout" or "stderr"


class SystemPoint(NamedTuple):
    """One system-metric sample (time-based, not step-based)."""

    key: str
    wall_time: float
    value: float


@dataclass
class SourceMedia:
    """An encoded image (PNG, JPEG, GIF...) logged at a step."""

    key: str
    step: int
    wall_time: float
    data: bytes
    mime: str = "image/png"
    caption: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class SourceTableRows:
    """Rows of the table ``key`` that belong to ``step`` (a histogram at one step, say).
    ``columns`` maps column name to equally long lists of plain values."""

    key: str
    step: int
    columns: dict[str, list[Any]]


@dataclass
class SourceFile:
    """A file the source kept, attached to the run under ``name`` (give path or data)."""

    name: str
    path: str | Path | None = None
    data: bytes | None = None


class Unmapped:
    """What could not be mapped, by kind and name: ``{"text summary": {"notes": 3}}``."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}

    def add(self, kind: str, name: str, n: int = 1) -> None:
        by_name = self.counts.setdefault(kind, {})
        by_name[name] = by_name.get(name, 0) + n

    def total(self) -> int:
        return sum(sum(v.values()) for v in self.counts.values())

    def merge(self, other: Unmapped) -> None:
        for kind, names in other.counts.items():
            for name, n in names.items():
                self.add(kind, name, n)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __repr__(self) -> str:
        return f"Unmapped({self.counts!r})"


@dataclass
class SourceRun:
    """A run of another tool, described neutrally (see the module docstring)."""

    kind: str
    identity: str
    project: str
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)
    notes: str | None = None
    exit_code: int | None = 0
    start_time: float | None = None
    end_time: float | None = None
    points: Iterable[Point] = ()
    media: Iterable[SourceMedia] = ()
    tables: Iterable[SourceTableRows] = ()
    files: Iterable[SourceFile] = ()
    console: Iterable[str | ConsoleLine] | None = None
    system: Iterable[SystemPoint] = ()
    run_id: str | None = None
    source_path: str | None = None
    unmapped: Unmapped = field(default_factory=Unmapped)
    problems: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What one import of one source run did."""

    kind: str
    identity: str
    run_id: str
    project: str
    dir: Path
    created: bool = False          # the run directory was made by this import
    unchanged: bool = False        # nothing new: the run directory was not opened
    points: int = 0                # points written by this import
    already: int = 0               # points found already imported
    media: int = 0
    table_rows: int = 0
    system: int = 0
    console: int = 0
    files: int = 0
    unmapped: Unmapped = field(default_factory=Unmapped)
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One paragraph for the CLI."""
        what = ("unchanged (already imported)" if self.unchanged else
                f"{self.points} points, {self.media} media, {self.table_rows} table rows, "
                f"{self.system} system samples, {self.console} console lines, "
                f"{self.files} files"
                + (f" ({self.already} points already there)" if self.already else ""))
        lines = [f"{self.kind} {self.identity} -> {self.project}/{self.run_id}: {what}"]
        for kind, names in sorted(self.unmapped.counts.items()):
            shown = ", ".join(f"{n} x {name}" for name, n in sorted(names.items())[:8])
            more = len(names) - 8
            lines.append(f"  not mapped: {kind}: {shown}" + (f", +{more} more" if more > 0
                                                             else ""))
        lines.extend(f"  damaged: {p}" for p in self.problems)
        return "\n".join(lines)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, fallback: str) -> str:
    """``text`` made a valid flightlog project or run id (SPEC.md §2): runs of other
    characters become ``-``, at most 128 characters, starting with a letter or digit."""
    name = _UNSAFE.sub("-", text).lstrip("-._")[:128].rstrip("-")
    return name or fallback


def run_id_for(kind: str, identity: str) -> str:
    """The deterministic run id of a source run."""
    digest = hashlib.sha256(f"{kind}\0{identity}".encode()).hexdigest()[:16]
    return f"{safe_name(kind, 'import')[:16]}-{digest}"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _file_sha(f: SourceFile) -> str:
    h = hashlib.sha256()
    if f.data is not None:
        h.update(f.data)
    elif f.path is not None:
        with open(f.path, "rb") as src:
            while chunk := src.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


@dataclass
class _Cursor:
    step: int = -1
    points: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    system_time: float = -math.inf
    table_step: int = -1
    console_lines: int = 0

    @classmethod
    def read(cls, value: Any) -> _Cursor:
        """The cursor stored in a run's config; a missing or malformed one is empty."""
        if not isinstance(value, dict) or value.get("version") != CURSOR_VERSION:
            return cls()
        c = cls()
        if isinstance(value.get("step"), int):
            c.step = value["step"]
        if isinstance(value.get("points"), int):
            c.points = value["points"]
        if isinstance(value.get("system_time"), (int, float)):
            c.system_time = float(value["system_time"])
        if isinstance(value.get("table_step"), int):
            c.table_step = value["table_step"]
        if isinstance(value.get("console_lines"), int):
            c.console_lines = value["console_lines"]
        for name in ("digests", "files"):
            got = value.get(name)
            if isinstance(got, dict):
                setattr(c, name, {str(k): str(v) for k, v in got.items()})
        return c

    def to_config(self, kind: str, identity: str, source_path: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"version": CURSOR_VERSION, "source": kind,
                               "identity": identity, "step": self.step,
                               "points": self.points, "digests": self.digests,
                               "files": self.files, "table_step": self.table_step,
                               "console_lines": self.console_lines}
        if self.system_time != -math.inf:
            out["system_time"] = self.system_time
        if source_path is not None:
            out["path"] = source_path
        return out


def _media_value(m: SourceMedia) -> Any:
    from flightlog.media import Image

    image = Image.__new__(Image)  # already encoded: keep the source's bytes as they are
    image.data = bytes(m.data)
    image.mime = m.mime
    image.caption = m.caption
    image.width = m.width
    image.height = m.height
    return image


def write_run(source: SourceRun, root: str | os.PathLike[str], *,
              project: str | None = None
              ) -> ImportReport:
    """Write (or bring up to date) the flightlog run of ``source`` under ``root``."""
    from flightlog.format.localrun import LocalRun
    from flightlog.format.rundir import check_name, is_run_dir, run_dir_for
    from flightlog.writer.run import Run

    proj = safe_name(project if project is not None else source.project, "imported")
    run_id = check_name(source.run_id, "run id") if source.run_id else run_id_for(
        source.kind, source.identity)
    run_dir = run_dir_for(root, proj, run_id)
    report = ImportReport(source.kind, source.identity, run_id, proj, run_dir)

    exists = is_run_dir(run_dir)
    cursor = _Cursor()
    run_last_step = -1
    if exists:
        prior = LocalRun(run_dir)
        cursor = _Cursor.read(prior.config.get(CURSOR_KEY))
        chunks = prior.state.chunks
        if chunks:
            run_last_step = int(chunks[-1].steps[-1])

    # Everything the source has, read now (importers fill unmapped/problems meanwhile).
    points = list(source.points)
    points.sort(key=itemgetter(1))
    media = sorted(source.media, key=lambda m: m.step)
    tables = list(source.tables)
    system = sorted(source.system, key=itemgetter(1))
    files = list(source.files)
    default_time = source.end_time if source.end_time is not None else (
        source.start_time if source.start_time is not None else 0.0)
    console_lines = [line if isinstance(line, ConsoleLine) else
                     ConsoleLine(str(line).rstrip("\n"), None)
                     for line in (source.console or ())]
    console_lines = [line._replace(wall_time=default_time) if line.wall_time is None else
                     line for line in console_lines]
    native = _native_records()
    console = None
    if source.console is not None and native is None:
        console = "".join(f"{line.text}\n" for line in console_lines).encode()
    new_console = console_lines[cursor.console_lines:] if native is not None else []

    # Where new steps begin: above the cursor, or (a killed import) above the run's last
    # step (a row is written whole, SPEC.md §9, so that step is complete).
    first_new = max(cursor.step, run_last_step) + 1
    split = bisect_left(points, first_new, key=itemgetter(1))
    new = points[split:]
    if split > cursor.points and cursor.step >= 0 and run_last_step <= cursor.step:
        # Points that appeared in the source at steps already written: history is in
        # step order, so they cannot be put in; counted once (the new cursor has them).
        report.unmapped.add("point below the imported step", f"steps <= {cursor.step}",
                            split - cursor.points)
    report.already = split - report.unmapped.total()
    new_media = [m for m in media if m.step >= first_new]
    new_tables = [t for t in tables if t.step > cursor.table_step]
    new_system = [s for s in system if s.wall_time > cursor.system_time]

    digests = {
        "config": _digest(source.config), "summary": _digest(source.summary),
        "tags": _digest(source.tags), "name": _digest(source.name),
        "notes": _digest(source.notes),
        "status": _digest([source.exit_code, source.end_time]),
    }
    file_shas = {f.name: _file_sha(f) for f in files}
    if console is not None:
        file_shas[CONSOLE_FILE] = hashlib.sha256(console).hexdigest()
    changed_files = [f for f in files if cursor.files.get(f.name) != file_shas[f.name]]
    console_changed = console is not None and cursor.files.get(CONSOLE_FILE) != file_shas[
        CONSOLE_FILE]
    changed = {k for k, v in digests.items() if cursor.digests.get(k) != v}

    report.problems.extend(source.problems)
    if exists and not (new or new_media or new_tables or new_system or changed_files
                       or console_changed or new_console or changed):
        report.unchanged = True
        report.unmapped.merge(source.unmapped)
        return report

    tags = dict(source.tags)
    if source.notes is not None:
        tags["notes"] = source.notes
    run = Run(project=proj, name=source.name, id=run_id, dir=root, resume=True,
              config=None if exists else source.config, tags=None if exists else tags,
              created=source.start_time)
    report.created = not exists
    try:
        if exists and "config" in changed:
            run.config.update(source.config)
        if exists and ("tags" in changed or "notes" in changed):
            for key, value in tags.items():
                if run.tags.get(key, "\0absent") != value:
                    run.tag(key, value)
        _write_history(run, new, new_media, report)
        _write_tables(run, new_tables, report)
        if new_system and native is not None:
            _write_system(run, native[1], new_system)
        elif new_system:
            _append_table(run, SYSTEM_TABLE, {
                "_timestamp": [s.wall_time for s in new_system],
                "key": [s.key for s in new_system],
                "value": [s.value for s in new_system]})
        report.system = len(new_system)
        if new_console and native is not None:
            _write_console(run, native[0], new_console)
            report.console = len(new_console)
        for f in changed_files:
            if f.data is not None:
                run.upload_file(f.name, io.BytesIO(f.data))
            elif f.path is not None:
                run.upload_file(f.name, f.path)
            report.files += 1
        if console_changed and console is not None:
            run.upload_file(CONSOLE_FILE, io.BytesIO(console))
            report.files += 1
        if source.summary and ("summary" in changed or new):
            run.summary.update(source.summary)
        last_step = max([cursor.step, run_last_step] + [p.step for p in new[-1:]]
                        + [m.step for m in new_media[-1:]])
        done = _Cursor(step=last_step,
                       points=bisect_right(points, last_step, key=itemgetter(1)),
                       digests=digests, files=file_shas,
                       system_time=max([cursor.system_time] + [s.wall_time
                                                               for s in new_system[-1:]]),
                       table_step=max([cursor.table_step] + [t.step for t in new_tables]),
                       console_lines=cursor.console_lines + len(new_console))
        run.config.update({CURSOR_KEY: done.to_config(source.kind, source.identity,
                                                      source.source_path)})
    except BaseException:
        run.finish(exit_code=None)
        raise
    run.finish(source.exit_code, timestamp=source.end_time)
    report.unmapped.merge(source.unmapped)
    return report


def _native_records() -> tuple[Any, Any] | None:
    """(CONSOLE, SYSTEM) record types when this flightlog has them (SPEC.md §19)."""
    from flightlog.format.records import RecordType

    console = getattr(RecordType, "CONSOLE", None)
    system = getattr(RecordType, "SYSTEM", None)
    return None if console is None or system is None else (console, system)


#: A console record's text budget: well under the 64 KiB record bound.
_CONSOLE_BATCH_BYTES = 32 << 10
_CONSOLE_BATCH_LINES = 1000
_MAX_LINE_CHARS = 8 << 10


def _write_console(run: Any, record_type: Any, lines: list[ConsoleLine]) -> None:
    """``console`` records (SPEC.md §19.1), one per stream change or batch, as the
    runner writes them. An over-long line is cut (the cut is marked)."""
    batch: list[ConsoleLine] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if batch:
            run._queue(record_type, {"stream": batch[0].stream,
                                     "lines": [ln.text for ln in batch],
                                     "times": [float(ln.wall_time or 0.0) for ln in batch]},
                       "console")
        batch, size = [], 0

    for line in lines:
        stream = line.stream if line.stream in ("stdout", "stderr") else "stdout"
        text = line.text if len(line.text) <= _MAX_LINE_CHARS else (
            line.text[:_MAX_LINE_CHARS] + " [cut by the import]")
        if batch and (stream != batch[0].stream or size + len(text) * 4 > _CONSOLE_BATCH_BYTES
                      or len(batch) >= _CONSOLE_BATCH_LINES):
            flush()
        batch.append(ConsoleLine(text, line.wall_time, stream))
        size += len(text) * 4 + 16
    flush()


def _write_system(run: Any, record_type: Any, samples: list[SystemPoint]) -> None:
    """One ``system`` record (SPEC.md §19.2) per sample time."""
    by_time: dict[float, dict[str, float]] = {}
    for s in samples:
        by_time.setdefault(float(s.wall_time), {})[s.key] = float(s.value)
    for at in sorted(by_time):
        run._queue(record_type, {"time": at, "values": by_time[at]}, "system")


#: Rows per appended table piece (SPEC.md §10.4 bounds a table file at 10,000,000).
_TABLE_PIECE_ROWS = 1_000_000


def _append_table(run: Any, key: str, columns: dict[str, list[Any]]) -> None:
    """Append rows to the table ``key`` as ``run.log_table`` does (a ``table`` record
    naming an Arrow IPC file), with Arrow converting the plain columns at C speed: the
    importer's columns hold only numbers, strings and None."""
    import pyarrow as pa

    from flightlog.format.records import RecordType
    from flightlog.writer.blobs import store_bytes
    from flightlog.writer.rich import ipc_file

    table = pa.table(columns)
    for start in range(0, table.num_rows, _TABLE_PIECE_ROWS):
        piece = table.slice(start, _TABLE_PIECE_ROWS)
        sha, _ = store_bytes(run.dir, ipc_file(piece, key))
        run._queue(RecordType.TABLE, {"key": key, "sha256": sha, "rows": piece.num_rows,
                                      "time": time.time()}, key)


def _write_history(run: Any, points: list[Point], media: list[SourceMedia],
                   report: ImportReport) -> None:
    """One ``run.log`` per step, in ascending step order, points and media together."""
    wall_keys: list[str] = []
    wall_steps: list[int] = []
    wall_times: list[float] = []
    media_at: dict[int, list[SourceMedia]] = {}
    for m in media:
        media_at.setdefault(m.step, []).append(m)
    steps_with_media = sorted(media_at)
    mi = 0
    i = 0
    n = len(points)
    while i < n or mi < len(steps_with_media):
        step = points[i].step if i < n else None
        if mi < len(steps_with_media) and (step is None or steps_with_media[mi] < step):
            step = steps_with_media[mi]
        assert step is not None
        j = i
        while j < n and points[j].step == step:
            j += 1
        at_step = points[i:j]
        row: dict[str, Any] = {}
        times: dict[str, float] = {}
        for p in at_step:
            if p.key in row:
                report.unmapped.add("superseded point (same key and step)", p.key)
            row[p.key] = p.value
            times[p.key] = p.wall_time
        stamp = max(times.values()) if times else -math.inf
        images = 0
        if mi < len(steps_with_media) and steps_with_media[mi] == step:
            for m in media_at[step]:
                stamp = max(stamp, m.wall_time)
                if m.key in row:
                    report.unmapped.add("media under a scalar's key", m.key)
                    continue
                row[m.key] = _media_value(m)
                images += 1
            mi += 1
        i = j
        try:
            run.log(row, step=step, timestamp=stamp)
        except FlightlogError as exc:  # a row the writer refuses: name it, go on
            what = f"refused by the writer ({type(exc).__name__})"
            if exc.key:
                report.unmapped.add(what, exc.key, len(row))
            else:
                for key in row:
                    report.unmapped.add(what, key)
            continue
        report.points += len(times)
        report.media += images
        for key, t in times.items():
            if t != stamp:
                wall_keys.append(key)
                wall_steps.append(step)
                wall_times.append(t)
    if wall_keys:
        _append_table(run, WALL_TIME_TABLE, {"key": wall_keys, "step": wall_steps,
                                             "wall_time": wall_times})


def _write_tables(run: Any, rows: list[SourceTableRows], report: ImportReport) -> None:
    by_key: dict[str, dict[str, list[Any]]] = {}
    for piece in rows:
        columns = by_key.setdefault(piece.key, {})
        length = max((len(v) for v in piece.columns.values()), default=0)
        before = max((len(v) for v in columns.values()), default=0)
        for name, values in piece.columns.items():
            column = columns.setdefault(name, [None] * before)
            column.extend(values)
        for column in columns.values():
            column.extend([None] * (before + length - len(column)))
        report.table_rows += length
    for key, columns in by_key.items():
        _append_table(run, key, columns)


def iter_reports(reports: Iterable[ImportReport]) -> Iterator[str]:
    """The CLI's lines for several reports."""
    for report in reports:
        yield report.describe()
