"""The state of a run, derived from its records (SPEC.md §11).

:class:`RunState` takes records in sequence order (:meth:`RunState.apply`) and answers
config, tags, summary, metrics, history and tables. It holds no file handles: whatever
needs an attached file's bytes gets them through ``open_blob``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from flightlog.errors import BadAttachedName, BadRecord, FormatError, UnreadableFile

from ._columns import Chunk, decode_history
from .columntype import (
    FLOAT64,
    INT64,
    JSON,
    KIND_CLASS,
    NULL,
    arrow_column,
    column_type,
    type_of_values,
    value_class,
)
from .execution import (
    Execution,
    apply_code,
    apply_console,
    apply_environment,
    apply_system,
)
from .records import Record, RecordType, bad_attached_name, is_attached_name
from .recordschema import body_problem

#: Opens an attached file's content by its SHA-256 (hex).
OpenBlob = Callable[[str], IO[bytes]]


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    sha256: str
    size: int
    time: float


@dataclass(frozen=True, slots=True)
class ChartEntry:
    """A logged chart (SPEC.md §10.2): its data file, Vega-Lite spec (JSON text) and
    what made it."""

    key: str
    sha256: str
    spec: str
    kind: str
    step: int | None
    time: float


@dataclass(frozen=True, slots=True)
class MediaEntry:
    """A logged image, HTML page or plotly figure (SPEC.md §10.1)."""

    key: str
    kind: str
    mime: str
    sha256: str
    size: int
    caption: str | None
    step: int | None
    width: int | None
    height: int | None
    time: float


@dataclass
class RunState:
    """Everything SPEC.md §11 derives, kept up to date record by record."""

    id: str | None = None
    project: str | None = None
    name: str | None = None
    created: float | None = None
    host: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)
    exit_code: int | None = None
    finished_at: float | None = None
    records: int = 0
    last_seq: int = -1
    dropped: int = 0
    unknown_records: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    table_parts: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    #: The last chart logged under each key.
    chart_entries: dict[str, ChartEntry] = field(default_factory=dict)
    #: Every image, HTML page and plotly figure logged under each key, in order.
    media: dict[str, list[MediaEntry]] = field(default_factory=dict)
    #: Console, system metrics, environment and code snapshot (SPEC.md §19).
    execution: Execution = field(default_factory=Execution)
    #: The summary so far: every key's last logged or explicitly set value, in log order
    #: (a later log of a deleted or set key takes its place again).
    summary_values: dict[str, Any] = field(default_factory=dict)
    #: Records whose body did not have the fields their type needs: (seq, why).
    bad_records: list[tuple[int, str]] = field(default_factory=list)
    #: The same records as findings (SPEC.md §5.2): BadRecord, BadAttachedName.
    record_errors: list[tuple[Record, BadRecord]] = field(default_factory=list)

    # ------------------------------------------------------------ applying records

    def apply(self, record: Record) -> None:
        """Fold one record in. A record of a known type with a malformed body is kept
        out and listed in ``bad_records``; unknown types are counted and skipped."""
        self.records += 1
        self.last_seq = record.seq
        handler = _HANDLERS.get(record.type)
        if handler is None:
            self.unknown_records += 1
        bad_name = bad_attached_name(record.body)
        if bad_name is not None:  # of any type, known or not (SPEC.md §10.1)
            self._bad(record, BadAttachedName, bad_name)
            return
        if handler is None:
            return
        problem = body_problem(record.type, record.body,
                               first_run=record.type == RecordType.RUN and self.id is None)
        if problem is not None:  # SPEC.md §8: required fields and field types
            self._bad(record, BadRecord, problem)
            return
        try:
            handler(self, record.body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            why = exc.message if isinstance(exc, FormatError) else f"{type(exc).__name__}: {exc}"
            self._bad(record, BadRecord, why)

    def _bad(self, record: Record, kind: type[BadRecord], why: str) -> None:
        message = f"record {record.seq} ({record.type_name}): {why}"
        error = kind(message, offset=record.offset)
        error.seq = record.seq
        self.bad_records.append((record.seq, f"{record.type_name} record: {why}"))
        self.record_errors.append((record, error))

    def _run(self, body: dict[str, Any]) -> None:
        # SPEC.md §11.1: identity from the first run record; name, config and tags from
        # every one (a resumed writer's init(name=, config=, tags=) add to the run's);
        # each run record after the first starts a new writer, so the run is no longer
        # finished.
        config, tags = _map(body.get("config", {}), "config"), _tag_map(body.get("tags", {}))
        name = body["name"]
        if type(name) is not str:
            raise TypeError("name is not a str")
        if self.id is None:
            created, host = body["created"], body.get("host")
            if type(body["id"]) is not str or type(body["project"]) is not str:
                raise TypeError("id or project is not a str")
            if type(created) not in (int, float) or (host is not None and type(host) is not str):
                raise TypeError("created is not a number or host not a str")
            self.id, self.project, self.created, self.host = (
                body["id"], body["project"], float(created), host)
        else:
            self.exit_code = None  # the finish before it no longer stands (SPEC.md §11.7)
            self.finished_at = None
            self.execution.exit_signal = None
        self.name = name
        self.config.update(config)
        self.tags.update(tags)

    def _history(self, body: dict[str, Any]) -> None:
        chunk = decode_history(body)
        self.chunks.append(chunk)
        for key, col in chunk.columns.items():
            self.summary_values[key] = _py(col.values[-1])

    def _metric(self, body: dict[str, Any]) -> None:
        key = _key(body)
        self.metrics.setdefault(key, []).append(body["value"])
        self.summary_values[key] = body["value"]

    def _list(self, body: dict[str, Any]) -> None:
        self.lists[_key(body)] = list(body["values"])

    def _row(self, body: dict[str, Any]) -> None:
        row = body["row"]
        if type(row) is not dict:
            raise TypeError("row is not a map")
        self.table_parts.setdefault(_key(body), []).append(("row", row))

    def _table(self, body: dict[str, Any]) -> None:
        parts = self.table_parts.setdefault(_key(body), [])
        if body.get("replace") is True:  # a new version of a logged Table (SPEC.md §8)
            parts.clear()
        parts.append(("file", _sha(body)))

    def _chart(self, body: dict[str, Any]) -> None:
        from .vega import check_spec_text

        spec = body["spec"]
        check_spec_text(spec)  # bounded nesting, a JSON object (SPEC.md §10.4)
        key = _key(body)
        self.chart_entries[key] = ChartEntry(key, _sha(body), spec, str(body.get("kind", "custom")),
                                      _opt_int(body.get("step")), float(body.get("time", 0.0)))

    def _media(self, body: dict[str, Any]) -> None:
        key = _key(body)
        caption = body.get("caption")
        self.media.setdefault(key, []).append(MediaEntry(
            key, str(body["kind"]), str(body["mime"]), _sha(body), int(body["size"]),
            None if caption is None else str(caption), _opt_int(body.get("step")),
            _opt_int(body.get("width")), _opt_int(body.get("height")),
            float(body.get("time", 0.0))))

    def _summary(self, body: dict[str, Any]) -> None:
        for key, value in dict(body.get("set") or {}).items():
            self.summary_values[key] = value
        for key in body.get("delete") or []:
            self.summary_values.pop(str(key), None)

    def _config(self, body: dict[str, Any]) -> None:
        self.config.update(_map(body["set"], "set"))  # top-level keys replaced, no deep merge

    def _tags(self, body: dict[str, Any]) -> None:
        self.tags.update(_tag_map(body["set"]))

    def _file(self, body: dict[str, Any]) -> None:
        name = str(body["name"])
        self.files[name] = FileEntry(name, _sha(body), int(body["size"]),
                                     float(body.get("time", 0.0)))

    def _finish(self, body: dict[str, Any]) -> None:
        self.exit_code = int(body.get("exit_code", 0))
        self.finished_at = float(body.get("time", 0.0))
        # SPEC.md §19: the signal that ended flightlog run's script; not a str: ignored.
        signal = body.get("signal")
        self.execution.exit_signal = signal if type(signal) is str else None

    def _dropped(self, body: dict[str, Any]) -> None:
        self.dropped += int(body["records"])

    # ------------------------------------------------------------ answers

    def history(self) -> Any:
        """A ``pyarrow.Table``: ``_step``, ``_timestamp``, then a column per key, one row
        per step (rows of the same step merged, SPEC.md §9)."""
        return build_history(self.chunks)

    def summary(self) -> dict[str, Any]:
        return dict(self.summary_values)

    def get_metrics(self, open_blob: OpenBlob | None = None,
                    unreadable: list[UnreadableFile] | None = None) -> dict[str, Any]:
        """Azure semantics (SPEC.md §11.4): name → value, or the list of values when
        logged more than once; lists as lists; tables as column → values."""
        # Per key, one value per step (the last logged at that step, SPEC.md §9), in step
        # order, as stored (not the history column's type); a None that was logged is a
        # value, unlike a step without the key. Then the key's metric records' values.
        # Merged rows are runs of consecutive rows of equal step, as in build_history.
        history: dict[str, dict[int, Any]] = {}
        group, previous = -1, None
        for chunk in self.chunks:
            groups = []
            for step in chunk.steps.tolist():
                if step != previous:
                    group, previous = group + 1, step
                groups.append(group)
            for key, col in chunk.columns.items():
                values = col.values.tolist() if isinstance(col.values, np.ndarray) else col.values
                rows = range(chunk.rows) if col.present is None else col.present.tolist()
                by_row = history.setdefault(key, {})
                for row, value in zip(rows, values, strict=True):
                    by_row[groups[row]] = value
        logged = {key: list(v.values()) for key, v in history.items()}
        for key, values in self.metrics.items():
            logged.setdefault(key, []).extend(values)
        out = {key: _one_or_list(values) for key, values in logged.items()}
        out.update(self.lists)
        for key, tbl in self.tables(open_blob, unreadable).items():
            out[key] = tbl.to_pydict()
        return out

    def tables(self, open_blob: OpenBlob | None = None,
               unreadable: list[UnreadableFile] | None = None) -> dict[str, Any]:
        """name → ``pyarrow.Table`` of every row logged under that name, in order.

        A table one of whose attached files is absent or breaks SPEC.md §10.4's limits is
        left out (never a part of it) and its error appended to ``unreadable``: one bad
        file costs that table, not the run's other tables (§10.4).
        """
        out = {}
        for key in self.table_parts:
            try:
                found = self.table(key, open_blob)
            except UnreadableFile as exc:
                if unreadable is not None:
                    unreadable.append(exc)
                continue
            if found is not None:
                out[key] = found[0]
        return out

    def table(self, key: str, open_blob: OpenBlob | None = None,
              limit: int | None = None) -> tuple[Any, int] | None:
        """(the first ``limit`` rows of table ``key``, or all of it; its total rows), or
        None when nothing was logged under ``key``. Attached files are memory-mapped and
        sliced, never copied whole, so a page of a huge table costs a page.

        Raises:
            UnreadableFile: an attached table file is absent or breaks SPEC.md §10.4's
                limits (naming the key, the file and the rule).
        """
        from .arrowlimits import TABLE_LIMITS

        parts = self.table_parts.get(key)
        if not parts:
            return None
        pieces: list[Any] = []
        rows: list[dict[str, Any]] = []
        for kind, value in parts:
            if kind == "row":
                rows.append(value)
                continue
            if rows:
                pieces.append(_rows_table(rows))
                rows = []
            if open_blob is not None:
                pieces.append(_read_attached(open_blob, value, TABLE_LIMITS, key))
        if rows:
            pieces.append(_rows_table(rows))
        if not pieces:
            return None
        total = sum(piece.num_rows for piece in pieces)
        if limit is not None:
            kept, left = [], limit
            for piece in pieces:
                kept.append(piece.slice(0, left))
                left -= kept[-1].num_rows
                if left <= 0:
                    break
            pieces = kept
        return _combine_pieces(pieces), total  # SPEC.md §11.5

    def charts(self, open_blob: OpenBlob,
               unreadable: list[UnreadableFile] | None = None) -> dict[str, dict[str, Any]]:
        """name → the last Vega-Lite spec logged under it, its data inlined (SPEC.md
        §10.2): ready for any Vega-Lite renderer. A chart whose data file is absent or
        breaks §10.4's limits is left out, its error appended to ``unreadable``."""
        out = {}
        for key in self.chart_entries:
            try:
                out[key] = self.chart(key, open_blob)
            except UnreadableFile as exc:
                if unreadable is not None:
                    unreadable.append(exc)
        return out

    def chart(self, key: str, open_blob: OpenBlob) -> dict[str, Any]:
        """The last Vega-Lite spec logged under ``key``, its data inlined.

        Raises:
            KeyError: no chart was logged under ``key``.
            UnreadableFile: its data file is absent or breaks SPEC.md §10.4's limits.
        """
        from .arrowlimits import CHART_LIMITS
        from .vega import inline_data

        entry = self.chart_entries[key]
        table = _read_attached(open_blob, entry.sha256, CHART_LIMITS, key)
        return inline_data(entry.spec, table)

    @property
    def steps(self) -> int:
        """Number of distinct steps in the history."""
        if not self.chunks:
            return 0
        steps = np.concatenate([c.steps for c in self.chunks])
        return int(1 + np.count_nonzero(steps[1:] != steps[:-1]))


def _read_attached(open_blob: OpenBlob, sha256: str, limits: Any, key: str) -> Any:
    """An attached Arrow IPC file, checked against ``limits`` (``arrowlimits``).

    Raises:
        UnreadableFile: naming ``key``, the file and the §10.4 rule (``reason``) broken.
    """
    from .arrowlimits import read_ipc_file

    def unreadable(message: str, reason: str, path: str | None) -> UnreadableFile:
        error = UnreadableFile(f"file {sha256} of {key!r}: {message}", path=path, key=key)
        error.reason, error.sha256 = reason, sha256
        return error

    try:
        f = open_blob(sha256)
    except OSError as exc:  # absent or unreadable: reported in place of it (§10.4)
        raise unreadable(f"cannot be read: {exc.strerror or exc}", "absent",
                         getattr(exc, "filename", None)) from None
    except FormatError as exc:
        raise unreadable(exc.message, "absent", exc.path) from None
    with f:
        name = getattr(f, "name", None)
        try:
            return read_ipc_file(f, limits, path=name if isinstance(name, str) else None,
                                 sha256=sha256)
        except FormatError as exc:
            raise unreadable(exc.message, getattr(exc, "reason", "format"),
                             exc.path) from None


def _rows_table(rows: list[dict[str, Any]]) -> Any:
    """A table of consecutive ``row`` records whose columns may differ (SPEC.md §11.5):
    every column any row has, in order of first appearance, missing cells null, each
    column typed by its values' classes as history columns are."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        columns[name] = arrow_column(values, type_of_values(values))
    return pa.table(columns)


def _combine_pieces(pieces: list[Any]) -> Any:
    """One table of a key's pieces (runs of rows, attached Arrow tables), in order
    (SPEC.md §11.5): columns by name in order of first appearance; a column whose
    pieces disagree on its type is float64 when all are numbers, else JSON text."""
    import pyarrow as pa

    if len(pieces) == 1:
        return pieces[0]
    names: dict[str, None] = {}
    for piece in pieces:
        names.update(dict.fromkeys(piece.column_names))
    columns = {}
    for name in names:
        types = {p.schema.field(name).type for p in pieces if name in p.column_names}
        types.discard(pa.null())
        if len(types) <= 1:
            target = types.pop() if types else pa.null()
            parts = [p.column(name).cast(target) if name in p.column_names
                     else pa.nulls(p.num_rows, target) for p in pieces]
            columns[name] = pa.chunked_array(parts, target)
            continue
        values = [v for p in pieces for v in (p.column(name).to_pylist()
                                              if name in p.column_names else [None] * p.num_rows)]
        numeric = all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types)
        columns[name] = arrow_column(values, FLOAT64 if numeric else JSON)
    table = pa.table(columns)
    # A column keeps its field metadata (media cells' flightlog:media, SPEC.md §10.3)
    # from the first piece that has it, when its type did not change.
    fields = []
    for out_field in table.schema:
        found = next((p.schema.field(out_field.name) for p in pieces
                      if out_field.name in p.column_names), None)
        keep = found is not None and found.metadata and found.type == out_field.type
        fields.append(out_field.with_metadata(found.metadata) if keep and found else out_field)
    return table.cast(pa.schema(fields))


def _map(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"{what} is not a map")
    return value


def _tag_map(value: Any) -> dict[str, str | None]:
    tags = _map(value, "tags")
    for tag, tag_value in tags.items():
        if tag_value is not None and type(tag_value) is not str:
            raise TypeError(f"tag {tag!r} has a value that is neither str nor nil")
    return tags


def _key(body: dict[str, Any]) -> str:
    key = body["key"]
    if type(key) is not str or not key:
        raise ValueError("key is not a non-empty str")
    return key


def _sha(body: dict[str, Any]) -> str:
    sha = body["sha256"]
    if not is_attached_name(sha):
        raise ValueError(f"sha256 {sha!r} is not 64 lowercase hex digits")
    return str(sha)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an int")
    return value


def _one_or_list(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else list(values)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


_HANDLERS: dict[int, Callable[[RunState, dict[str, Any]], None]] = {
    RecordType.RUN: RunState._run,
    RecordType.HISTORY: RunState._history,
    RecordType.METRIC: RunState._metric,
    RecordType.LIST: RunState._list,
    RecordType.ROW: RunState._row,
    RecordType.TABLE: RunState._table,
    RecordType.SUMMARY: RunState._summary,
    RecordType.CONFIG: RunState._config,
    RecordType.TAGS: RunState._tags,
    RecordType.FILE: RunState._file,
    RecordType.FINISH: RunState._finish,
    RecordType.DROPPED: RunState._dropped,
    RecordType.CHART: RunState._chart,
    RecordType.MEDIA: RunState._media,
    RecordType.SEGMENT: lambda state, body: None,
    RecordType.CONSOLE: lambda state, body: apply_console(state.execution, body),
    RecordType.SYSTEM: lambda state, body: apply_system(state.execution, body),
    RecordType.ENVIRONMENT: lambda state, body: apply_environment(state.execution, body),
    RecordType.CODE: lambda state, body: apply_code(state.execution, body),
}


# ---------------------------------------------------------------- history table


def build_history(chunks: list[Chunk]) -> Any:
    """Merge chunks into one ``pyarrow.Table`` with one row per step (SPEC.md §9, §11)."""
    import pyarrow as pa

    if not chunks:
        return pa.table({"_step": pa.array([], pa.int64()),
                         "_timestamp": pa.array([], pa.float64())})
    steps = np.concatenate([c.steps for c in chunks])
    times = np.concatenate([c.times for c in chunks])
    starts = np.cumsum([0] + [c.rows for c in chunks[:-1]])
    # group[i]: the output row of input row i; equal consecutive steps share one.
    new_group = np.empty(len(steps), dtype=bool)
    new_group[0] = True
    np.not_equal(steps[1:], steps[:-1], out=new_group[1:])
    group = np.cumsum(new_group) - 1
    n_out = int(group[-1]) + 1
    last_of_group = np.append(new_group[1:], True)
    columns: dict[str, Any] = {
        "_step": pa.array(steps[last_of_group]),
        "_timestamp": pa.array(times[last_of_group]),
    }
    gathered: dict[str, list[_Part]] = {}
    for chunk, start in zip(chunks, starts.tolist(), strict=True):
        for key, col in chunk.columns.items():
            gathered.setdefault(key, []).append((col.kind, col.present, start, chunk.rows,
                                                 col.values))
    for key, parts in gathered.items():
        columns[key] = _merge_column(parts, group, n_out)
    return pa.table(columns)


# (kind, present row indexes or None, first input row of the chunk, chunk rows, values)
_Part = tuple[str, Any, int, int, Any]


def _input_rows(parts: list[_Part]) -> npt.NDArray[np.int64]:
    return np.concatenate([
        (np.arange(n, dtype=np.int64) if present is None else present.astype(np.int64))
        + start for _, present, start, n, _ in parts])


def _column_type(parts: list[_Part]) -> str:
    """The column type of a key (SPEC.md §11.2): from the classes of every value logged
    under it, a typed chunk column's kind standing for all of its values."""
    classes: set[str] = set()
    for kind, _, _, _, values in parts:
        if kind in KIND_CLASS:
            if len(values):
                classes.add(KIND_CLASS[kind])
        else:
            classes.update(value_class(v) for v in values)
    return column_type(classes)


def _merge_column(parts: list[_Part], group: npt.NDArray[np.int64], n_out: int) -> Any:
    import pyarrow as pa

    ctype = _column_type(parts)
    typed = all(part[0] in KIND_CLASS for part in parts) and ctype not in (JSON, NULL)
    unique_steps = n_out == len(group)
    if (typed and ctype != "bool" and unique_steps and all(p[1] is None for p in parts)
            and sum(p[3] for p in parts) == n_out):
        # The common case: one input row per step and a value in every row.
        wide: Any = np.int64 if ctype == INT64 else np.float64
        return pa.array(np.concatenate([np.asarray(p[4], dtype=wide) for p in parts]))
    rows = _input_rows(parts)
    if unique_steps:
        # Common case: one input row per step. No merging; a dense column is just the
        # concatenation of its parts.
        targets = rows
        last: Any = slice(None)
    else:
        groups = group[rows]
        # The last value of each run of equal groups wins (rows are in log order; a
        # logged nil is a value too).
        last = np.append(groups[1:] != groups[:-1], True)
        targets = groups[last]
    dense = len(targets) == n_out
    if typed:
        dtype: Any = (np.bool_ if ctype == "bool" else np.int64 if ctype == INT64
                      else np.float64)
        values = np.concatenate([np.asarray(p[4], dtype=dtype) for p in parts])[last]
        if dense:
            return pa.array(values)
        full = np.zeros(n_out, dtype=dtype)
        full[targets] = values
        mask = np.ones(n_out, dtype=bool)
        mask[targets] = False
        return pa.array(full, mask=mask)
    flat: list[Any] = []
    for part in parts:
        flat.extend(_py(x) for x in part[4])
    objects: list[Any] = [None] * n_out
    kept = range(len(flat)) if unique_steps else np.flatnonzero(last).tolist()
    for target, index in zip(targets.tolist(), kept, strict=True):
        objects[target] = flat[index]
    return arrow_column(objects, ctype)
