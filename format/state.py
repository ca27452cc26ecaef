"""The state of a run, derived from its records (SPEC.md §11).

:class:`RunState` takes records in sequence order (:meth:`RunState.apply`) and answers
config, tags, summary, metrics, history and tables. It holds no file handles: whatever
needs an attached file's bytes gets them through ``open_blob``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from flightlog.errors import FormatError

from ._columns import Chunk, decode_history
from .records import Record, RecordType

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
    #: The summary so far: every key's last logged or explicitly set value, in log order
    #: (a later log of a deleted or set key takes its place again).
    summary_values: dict[str, Any] = field(default_factory=dict)
    #: Records whose body did not have the fields their type needs.
    bad_records: list[tuple[int, str]] = field(default_factory=list)

    # ------------------------------------------------------------ applying records

    def apply(self, record: Record) -> None:
        """Fold one record in. A record of a known type with a malformed body is kept
        out and listed in ``bad_records``; unknown types are counted and skipped."""
        self.records += 1
        self.last_seq = record.seq
        handler = _HANDLERS.get(record.type)
        if handler is None:
            self.unknown_records += 1
            return
        try:
            handler(self, record.body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            why = exc.message if isinstance(exc, FormatError) else f"{type(exc).__name__}: {exc}"
            self.bad_records.append((record.seq, f"{record.type_name} record: {why}"))

    def _run(self, body: dict[str, Any]) -> None:
        if self.id is None:
            self.id = str(body["id"])
            self.project = str(body["project"])
            self.name = str(body["name"])
            self.created = float(body["created"])
            self.host = body.get("host")
            self.config.update(dict(body.get("config") or {}))
            self.tags.update(dict(body.get("tags") or {}))
        elif body.get("resumed"):
            # A resumed writer's init(name=, config=, tags=) add to what the run had.
            self.name = str(body.get("name") or self.name)
            self.config.update(dict(body.get("config") or {}))
            self.tags.update(dict(body.get("tags") or {}))
        if body.get("resumed"):
            self.exit_code = None
            self.finished_at = None

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
        spec = body["spec"]
        if type(spec) is not str:
            raise TypeError("spec is not a str")
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
        self.config.update(dict(body["set"]))

    def _tags(self, body: dict[str, Any]) -> None:
        self.tags.update(dict(body["set"]))

    def _file(self, body: dict[str, Any]) -> None:
        name = str(body["name"])
        self.files[name] = FileEntry(name, _sha(body), int(body["size"]),
                                     float(body.get("time", 0.0)))

    def _finish(self, body: dict[str, Any]) -> None:
        self.exit_code = int(body.get("exit_code", 0))
        self.finished_at = float(body.get("time", 0.0))

    def _dropped(self, body: dict[str, Any]) -> None:
        self.dropped += int(body["records"])

    # ------------------------------------------------------------ answers

    def history(self) -> Any:
        """A ``pyarrow.Table``: ``_step``, ``_timestamp``, then a column per key, one row
        per step (rows of the same step merged, SPEC.md §9)."""
        return build_history(self.chunks)

    def summary(self) -> dict[str, Any]:
        return dict(self.summary_values)

    def get_metrics(self, open_blob: OpenBlob | None = None) -> dict[str, Any]:
        """Azure semantics: name → value, or the list of values when logged more than once;
        lists as lists; tables as column → values."""
        # Per key, one value per step (the last logged at that step, SPEC.md §9), in step
        # order; a None that was logged is a value, unlike a step without the key.
        history: dict[str, dict[int, Any]] = {}
        for chunk in self.chunks:
            steps = chunk.steps.tolist()
            for key, col in chunk.columns.items():
                values = col.values.tolist() if isinstance(col.values, np.ndarray) else col.values
                rows = range(chunk.rows) if col.present is None else col.present.tolist()
                by_step = history.setdefault(key, {})
                for row, value in zip(rows, values, strict=True):
                    by_step[steps[row]] = value
        out = {key: _one_or_list(list(v.values())) for key, v in history.items()}
        for key, values in self.metrics.items():
            out[key] = _one_or_list(values)
        out.update(self.lists)
        for key, tbl in self.tables(open_blob).items():
            out[key] = tbl.to_pydict()
        return out

    def tables(self, open_blob: OpenBlob | None = None) -> dict[str, Any]:
        """name → ``pyarrow.Table`` of every row logged under that name, in order."""
        import pyarrow as pa
        import pyarrow.ipc as ipc

        out = {}
        for key, parts in self.table_parts.items():
            pieces = []
            rows: list[dict[str, Any]] = []
            for kind, value in parts:
                if kind == "row":
                    rows.append(value)
                    continue
                if rows:
                    pieces.append(_rows_table(rows))
                    rows = []
                if open_blob is not None:
                    with open_blob(value) as f:
                        pieces.append(ipc.open_file(f).read_all())
            if rows:
                pieces.append(_rows_table(rows))
            if pieces:
                try:
                    out[key] = pa.concat_tables(pieces, promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    out[key] = _rows_table([r for p in pieces for r in p.to_pylist()])
        return out

    def charts(self, open_blob: OpenBlob) -> dict[str, dict[str, Any]]:
        """name → the last Vega-Lite spec logged under it, its data inlined (SPEC.md
        §10.2): ready for any Vega-Lite renderer."""
        import pyarrow.ipc as ipc

        from .vega import inline_data

        out = {}
        for key, entry in self.chart_entries.items():
            with open_blob(entry.sha256) as f:
                table = ipc.open_file(f).read_all()
            out[key] = inline_data(entry.spec, table)
        return out

    @property
    def steps(self) -> int:
        """Number of distinct steps in the history."""
        if not self.chunks:
            return 0
        steps = np.concatenate([c.steps for c in self.chunks])
        return int(1 + np.count_nonzero(steps[1:] != steps[:-1]))


def _rows_table(rows: list[dict[str, Any]]) -> Any:
    """A table of rows whose columns may differ: every column any row has, missing cells
    null, a column of mixed types as JSON text (as history columns, SPEC.md §11)."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return pa.table({name: _arrow_column([row.get(name) for row in rows]) for name in names})


def _arrow_column(values: list[Any], json_text: bool = False) -> Any:
    import pyarrow as pa

    if not json_text:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else json.dumps(v, default=repr) for v in values],
                    pa.string())


def _key(body: dict[str, Any]) -> str:
    key = body["key"]
    if type(key) is not str or not key:
        raise ValueError("key is not a non-empty str")
    return key


def _sha(body: dict[str, Any]) -> str:
    sha = body["sha256"]
    if type(sha) is not str or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        raise ValueError(f"sha256 {sha!r} is not 64 lowercase hex digits")
    return sha


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


def _merge_column(parts: list[_Part], group: npt.NDArray[np.int64], n_out: int) -> Any:
    import pyarrow as pa

    kinds = {part[0] for part in parts}
    unique_steps = n_out == len(group)
    if (unique_steps and kinds <= {"f64", "i64"} and all(p[1] is None for p in parts)
            and sum(p[3] for p in parts) == n_out):
        # The common case: one input row per step and a value in every row.
        wide: Any = np.int64 if kinds == {"i64"} else np.float64
        return pa.array(np.concatenate([np.asarray(p[4], dtype=wide) for p in parts]))
    rows = _input_rows(parts)
    if unique_steps:
        # Common case: one input row per step. No merging; a dense column is just the
        # concatenation of its parts.
        targets = rows
        last: Any = slice(None)
    else:
        groups = group[rows]
        # The last value of each run of equal groups wins (rows are in log order).
        last = np.append(groups[1:] != groups[:-1], True)
        targets = groups[last]
    dense = len(targets) == n_out
    if kinds <= {"f64", "i64"} or kinds == {"bool"}:
        dtype: Any = (np.bool_ if kinds == {"bool"} else np.int64 if kinds == {"i64"}
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
    # bool mixed with numbers is no numeric column: JSON text (SPEC.md §11).
    return _arrow_column(objects, json_text="bool" in kinds and len(kinds) > 1)
