"""``flightlog import wandb PATH... [-o ROOT]``: W&B offline runs into flightlog runs,
without the ``wandb`` package.

A PATH is a ``run-<id>.wandb`` file, a run directory (``wandb/offline-run-<time>-<id>/``
or ``wandb/run-.../``, holding one such file and a ``files/`` folder), or any directory
above them (``wandb/``, a project): every ``*.wandb`` file under it is one run.

The file's framing is :mod:`.wandb_records`, its records :mod:`.wandb_proto`; the
mapping (what a user finds in flightlog):

- **run** record: name, project, tags (plus ``wandb.id``, ``wandb.entity``,
  ``wandb.group``, ``wandb.job_type``, ``wandb.host``, ``wandb.sweep`` where set), notes,
  start time, config; **config** records update and remove config keys (a nested key
  path becomes nested maps).
- **history**: every item is a point at the record's step (``step.num``, else its
  ``_step`` item) with the record's ``_timestamp`` as wall time; nested keys are joined
  with ``.`` (W&B's own display). ``{"_type": "image-file"}`` values become images (the
  PNG/JPEG from ``files/``), ``"table-file"`` values become flightlog tables (the
  ``*.table.json`` from ``files/``; cells that are not plain values are kept as JSON
  text); other media types are counted as unmapped (their files are attached anyway).
- **summary**: updates and removes applied in order; the result is the run's summary.
- **output_raw** / **output**: the run's console (``open_run(...).console()``), each line
  with the time and stream of the chunk that began it; its text is W&B's own
  ``files/output.log``.
- **stats**: the run's system metrics (``.system_metrics()``) under W&B's own names,
  ``system/<key>``, which are the names :mod:`flightlog.system` records too.
- **exit**: the exit code is the run's (0: finished; another: flightlog's status is
  crashed, with that exit code); a file with no exit record (a crash, a kill, a run
  still going) gives a run with no end recorded: crashed, no exit code.
- every regular file under the run's ``files/`` (media, tables, ``requirements.txt``,
  ``wandb-metadata.json``, ``wandb-summary.json``, ``config.yaml``, ``output.log``...)
  is attached under its path there.
- everything else (telemetry, metric definitions, artifacts, environment, preempting,
  header/footer/final bookkeeping, W&B-internal keys such as ``_runtime`` or
  ``_wandb``) is counted by name in the report, as is each damaged part of the file.

The run's identity is ``<project>/<W&B run id>``, so its flightlog id is deterministic
and importing again changes nothing (see :mod:`._target` for the incremental rules).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from flightlog.errors import ForeignFormatError
from flightlog.importers._protowire import ProtoWireError
from flightlog.importers._target import (
    ConsoleLine,
    ImportReport,
    Point,
    SourceFile,
    SourceMedia,
    SourceRun,
    SourceTableRows,
    SystemPoint,
    Unmapped,
    write_run,
)
from flightlog.importers.wandb_proto import (
    Item,
    RunInfo,
    decode_exit,
    decode_files,
    decode_history,
    decode_items,
    decode_output,
    decode_run,
    decode_stats,
    resolve,
    split_record,
)
from flightlog.importers.wandb_records import RecordReader, WandbFormatError

__all__ = ["WandbFormatError", "find_wandb_files", "import_wandb", "read_wandb_run"]

LARGE_VALUES_FILE = "wandb-large-values.json"
MAX_STR_BYTES = 32 * 1024  # flightlog's limit of one string value (writer/values.py)
#: Bounds on what is taken from a run's files/ folder (untrusted input).
MAX_FILES = 10_000
MAX_MEDIA_BYTES = 64 << 20
_IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp"}
_SCALARS = (bool, int, float, str, type(None))


def find_wandb_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The ``.wandb`` files a user means by PATH...: files as given, directories
    searched (sorted, so the order is stable). A PATH that does not exist or holds none
    raises WandbFormatError naming it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            under = sorted(p for p in path.rglob("*.wandb") if p.is_file())
            if not under:
                raise WandbFormatError(f"{path}: no .wandb file under this directory")
            found.extend(under)
        else:
            raise WandbFormatError(f"{path}: no such file or directory")
    return found


def import_wandb(paths: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str],
                 project: str | None = None) -> list[ImportReport]:
    """Import W&B runs (offline run directories or ``.wandb`` files) into ``root``.

    Args:
        paths: ``.wandb`` files or directories holding them.
        root: the flightlog root the runs are written under (``ROOT/<project>/<id>``).
        project: the flightlog project for all of them (default: each run's W&B project).

    Returns one ImportReport per run. Raises WandbFormatError when a PATH does not exist
    or a file is not a ``.wandb`` file at all; damage inside a file is reported.

    Example::

        for report in import_wandb(["wandb/"], "runs"):
            print(report.describe())
    """
    return [write_run(read_wandb_run(f), root, project=project)
            for f in find_wandb_files(paths)]


def read_wandb_run(path: str | os.PathLike[str]) -> SourceRun:
    """Read one ``.wandb`` file (and its run directory's ``files/``) into a SourceRun."""
    wfile = Path(path)
    reader = RecordReader(wfile)
    mapper = _Mapper(wfile.parent / "files")
    for offset, payload in reader.records():
        try:
            mapper.record(payload)
        except (ProtoWireError, ForeignFormatError) as exc:
            mapper.problems.append(f"{wfile}: record at offset {offset} is not a "
                                   f"wandb_internal.Record ({exc}); skipped")
    return mapper.source(wfile, reader.problems)


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def _del_path(target: dict[str, Any], path: tuple[str, ...]) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            return
        target = nxt
    target.pop(path[-1], None)


def _move_large(where: str, value: dict[str, Any], out: dict[str, str]) -> None:
    """Take strings over flightlog's limit out of a config/summary map (in place) into
    ``out`` (dotted path -> text): they are attached as LARGE_VALUES_FILE instead."""
    for key in list(value):
        v = value[key]
        if isinstance(v, dict):
            _move_large(f"{where}.{key}", v, out)
        elif isinstance(v, str) and len(v.encode()) > MAX_STR_BYTES:
            out[f"{where}.{key}"] = v
            del value[key]


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    """A W&B value (maybe a nested map, as older files write it) as (key, value) leaves."""
    if isinstance(value, dict) and "_type" not in value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        out.append((prefix, value))


class _Chunk(NamedTuple):
    """Console text as one output record held it."""

    stream: str
    time: float | None
    text: str
    raw: bool        # an output_raw chunk (else an older whole-line output record)


class _Mapper:
    """Folds the records of one file, in order, into what a SourceRun needs."""

    def __init__(self, files_dir: Path) -> None:
        self.files_dir = files_dir
        self.info = RunInfo()
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.points: list[Point] = []
        self.media: list[SourceMedia] = []
        self.tables: list[SourceTableRows] = []
        self.system: list[SystemPoint] = []
        self.console: list[_Chunk] = []
        self.exit_code: int | None = None
        self.step = 0                 # the latest history step (for a record with none)
        self.last_time: float | None = None
        self.unmapped = Unmapped()
        self.problems: list[str] = []

    def _seen(self, when: float | None) -> None:
        if when is not None and math.isfinite(when) and (self.last_time is None
                                                         or when > self.last_time):
            self.last_time = when

    def record(self, payload: bytes) -> None:
        kind, body = split_record(payload)
        handler = getattr(self, "_" + kind, None)
        if handler is None:
            self.unmapped.add("W&B record kind", kind)
            return
        handler(body)

    def _run(self, body: bytes) -> None:
        self.info = decode_run(body)
        for item in self.info.config:
            self._config_item(item)
        self._seen(self.info.start_time)

    def _config_item(self, item: Item) -> None:
        if not item.path:
            return
        if item.path[0] == "_wandb":
            self.unmapped.add("W&B-internal config key", "_wandb")
            return
        _set_path(self.config, item.path, item.value)

    def _config(self, body: bytes) -> None:
        updates, removes = decode_items(body)
        for item in updates:
            self._config_item(item)
        for item in removes:
            if item.path:
                _del_path(self.config, item.path)

    def _summary(self, body: bytes) -> None:
        updates, removes = decode_items(body, lazy=True)  # most are overwritten later
        for item in updates:
            if item.path:
                _set_path(self.summary, item.path, item.value)
        for item in removes:
            if item.path:
                _del_path(self.summary, item.path)

    def _history(self, body: bytes) -> None:
        step, items = decode_history(body)
        values: dict[str, Any] = {}
        wall: float | None = None
        for item in items:
            if not item.path:
                continue
            head = item.path[0]
            if len(item.path) == 1 and head == "_timestamp":
                wall = float(item.value) if isinstance(item.value, (int, float)) else None
            elif len(item.path) == 1 and head == "_step":
                if step is None and isinstance(item.value, int):
                    step = item.value
            elif len(item.path) == 1 and head == "_runtime":
                pass  # _timestamp minus the start: kept exactly as the wall time
            elif len(item.path) == 1:
                values[head] = item.value
            else:  # a nested key: media ({"_type": ...}) or a nested map
                group = values.get(head)
                if not isinstance(group, dict):
                    group = values[head] = {}
                _set_path(group, item.path[1:], item.value)
        if step is None:
            step = self.step
            self.problems.append(f"a history record with no step: put at step {step}")
        self.step = max(self.step, step)
        when = wall if wall is not None else (self.last_time or 0.0)
        self._seen(wall)
        for key, value in values.items():
            leaves: list[tuple[str, Any]] = []
            _flatten(key, value, leaves)
            for name, leaf in leaves:
                self._history_value(name, step, leaf, when)

    def _history_value(self, key: str, step: int, value: Any, when: float) -> None:
        if isinstance(value, _SCALARS):
            self.points.append(Point(key, step, value, when))
            return
        if isinstance(value, dict):
            kind = value.get("_type")
            if kind == "image-file":
                self._image(key, step, value, when)
                return
            if kind == "table-file":
                self._table(key, step, value)
                return
            self.unmapped.add("W&B media type (its files are attached)", str(kind))
            return
        self.unmapped.add("W&B history value that is not a scalar", key)

    def _media_file(self, key: str, rel: Any) -> bytes | None:
        if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in Path(
                rel).parts:
            self.unmapped.add("W&B media with no usable path", key)
            return None
        path = self.files_dir / rel
        try:
            if path.stat().st_size > MAX_MEDIA_BYTES:
                self.unmapped.add(f"W&B media file over {MAX_MEDIA_BYTES >> 20} MiB", key)
                return None
            return path.read_bytes()
        except OSError:
            self.unmapped.add("W&B media whose file is not in files/", key)
            return None

    def _image(self, key: str, step: int, value: dict[str, Any], when: float) -> None:
        data = self._media_file(key, value.get("path"))
        if data is None:
            return
        fmt = str(value.get("format") or Path(str(value.get("path"))).suffix[1:]).lower()
        width, height, caption = value.get("width"), value.get("height"), value.get(
            "caption")
        self.media.append(SourceMedia(
            key, step, when, data, _IMAGE_MIME.get(fmt, "image/png"),
            caption if isinstance(caption, str) else None,
            width if isinstance(width, int) else None,
            height if isinstance(height, int) else None))

    def _table(self, key: str, step: int, value: dict[str, Any]) -> None:
        data = self._media_file(key, value.get("path"))
        if data is None:
            return
        try:
            doc = json.loads(data)
            columns = [str(c) for c in doc["columns"]]
            rows = doc["data"]
            if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == len(
                    columns) for r in rows):
                raise ValueError("rows do not match the columns")
        except (ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"{self.files_dir / str(value.get('path'))}: not a W&B "
                                 f"table ({exc}); attached as a file only")
            return
        out: dict[str, list[Any]] = {c: [] for c in columns}
        for row in rows:
            for name, cell in zip(columns, row, strict=True):
                if not isinstance(cell, _SCALARS):
                    self.unmapped.add("W&B table cell kept as JSON text", f"{key}.{name}")
                    cell = json.dumps(cell, sort_keys=True)
                out[name].append(cell)
        self.tables.append(SourceTableRows(key, step, out))

    def _stats(self, body: bytes) -> None:
        when, items = decode_stats(body)
        if when is None:
            self.unmapped.add("W&B stats record with no time", "stats")
            return
        self._seen(when)
        for item in items:
            name = "system/" + "/".join(item.path)
            if isinstance(item.value, (int, float)) and not isinstance(item.value, bool):
                self.system.append(SystemPoint(name, when, float(item.value)))
            else:
                self.unmapped.add("W&B system metric that is not a number", name)

    def _output_raw(self, body: bytes) -> None:
        stream, when, text = decode_output(body)
        self._seen(when)
        self.console.append(_Chunk(stream, when, text, True))

    def _output(self, body: bytes) -> None:
        # Older SDKs write whole lines as ``output`` records, newer ones ``output_raw``
        # chunks; a file with both has the same text twice: the raw chunks win.
        stream, when, text = decode_output(body)
        self._seen(when)
        self.console.append(_Chunk(stream, when, text if text.endswith("\n") else text
                                   + "\n", False))

    def _exit(self, body: bytes) -> None:
        code, not_complete = decode_exit(body)
        if not_complete:
            self.unmapped.add("W&B exit record marked not_complete", "exit")
            return
        self.exit_code = code

    def _files(self, body: bytes) -> None:
        decode_files(body)  # validated; the files themselves come from files/

    def _console_lines(self) -> list[ConsoleLine]:
        """The console as lines, each with the time and stream of the chunk that began
        it; joined with newlines they are W&B's own ``output.log``."""
        raw = any(c.raw for c in self.console)
        out: list[ConsoleLine] = []
        # A line may come in several chunks, and stdout and stderr interleave: one
        # pending partial line per stream.
        pending: dict[str, tuple[float | None, list[str]]] = {}
        for c in self.console:
            if c.raw != raw:
                continue
            start, parts = pending.get(c.stream, (c.time, []))
            *done, rest = c.text.split("\n")
            for frag in done:
                parts.append(frag)
                out.append(ConsoleLine("".join(parts), start, c.stream))
                start, parts = c.time, []
            if rest:
                parts.append(rest)
            pending[c.stream] = (start, parts)
        for stream, (when, parts) in pending.items():
            if parts:
                out.append(ConsoleLine("".join(parts), when, stream))
        return out

    def _files_list(self) -> list[SourceFile]:
        if not self.files_dir.is_dir():
            return []
        out: list[SourceFile] = []
        for path in sorted(self.files_dir.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(self.files_dir).as_posix()
            if len(out) >= MAX_FILES:
                self.unmapped.add(f"file past the first {MAX_FILES} in files/", name)
                continue
            out.append(SourceFile(name, path=str(path)))
        return out

    def source(self, wfile: Path, framing_problems: list[str]) -> SourceRun:
        info = self.info
        run_id = info.run_id or wfile.stem.removeprefix("run-")
        project = info.project or "wandb"
        tags: dict[str, str | None] = dict.fromkeys(info.tags)
        for tag, value in (("wandb.id", run_id), ("wandb.entity", info.entity),
                           ("wandb.group", info.group), ("wandb.job_type", info.job_type),
                           ("wandb.host", info.host), ("wandb.sweep", info.sweep_id)):
            if value:
                tags[tag] = value
        summary = {}
        for key, value in self.summary.items():
            if key.startswith("_"):
                self.unmapped.add("W&B-internal summary key", key)
                continue
            try:
                summary[key] = resolve(value, key)
            except ProtoWireError as exc:
                self.problems.append(f"{wfile}: summary key {key!r}: {exc}; left out")
        files = self._files_list()
        large: dict[str, str] = {}
        _move_large("config", self.config, large)
        _move_large("summary", summary, large)
        if large:
            for name in large:
                self.unmapped.add(f"value over 32 KiB (kept in the file {LARGE_VALUES_FILE})",
                                  name)
            files.append(SourceFile(LARGE_VALUES_FILE, data=json.dumps(
                large, indent=1, sort_keys=True).encode()))
        return SourceRun(
            kind="wandb", identity=f"{project}/{run_id}", project=project,
            name=info.name or None, config=self.config, summary=summary, tags=tags,
            notes=info.notes or None, exit_code=self.exit_code,
            start_time=info.start_time, end_time=self.last_time,
            points=self.points, media=self.media, tables=self.tables, files=files,
            console=self._console_lines() if self.console else None,
            system=self.system, source_path=str(wfile.resolve()),
            unmapped=self.unmapped, problems=framing_problems + self.problems)
