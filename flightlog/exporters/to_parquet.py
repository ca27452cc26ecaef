"""``flightlog export parquet``: runs as a hive-partitioned Parquet dataset that DuckDB,
polars and pyarrow.dataset read without flightlog (layout: docs/parquet-layout.md).

Runs are read one at a time (memory is bounded by the largest run, not their number).
Incremental: the manifest records, per run, the last history step exported; a later
export appends a part holding only the steps after it, and rewrites a per-run snapshot
file (runs row, tables, files, console, system metrics) only when its content changed.
Part names are deterministic (``part-00000``, ``part-00001``, ...), so an export killed
before its manifest was written rewrites the same names on the rerun: no duplicates.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from flightlog.errors import FlightlogError

from .atomic import write_atomic
from .columns import (
    SCHEMA_VERSION,
    console_table,
    files_table,
    history_columns,
    long_form,
    new_rows,
    runs_row,
)
from .manifest import MANIFEST_NAME, read_manifest, run_entry, write_manifest

#: Rows per Parquet row group: large enough for zstd and column statistics to pay, small
#: enough that a reader filtering on step or key skips most of a long run.
ROW_GROUP_ROWS = 1 << 20
#: Parts encoded or written in the background at most, while the next run is read.
IN_FLIGHT = 4
#: Background threads encoding parts (the machine this was tuned on has 2 cores).
WRITERS = 2
#: Upper bound of a data page; a page holds up to a row group's rows.
PAGE_BYTES = 16 << 20
#: Encodings of the history columns that are not dictionary-encoded.
_HISTORY_ENCODINGS = {"step": "DELTA_BINARY_PACKED", "value_int": "DELTA_BINARY_PACKED",
                      "timestamp": "BYTE_STREAM_SPLIT", "value_double": "BYTE_STREAM_SPLIT"}
#: zstd level of history parts (1: the fastest; 3 is 3 % smaller and 1.5x slower).
ZSTD_LEVEL = 1
#: The manifest is rewritten at least this often during a long export (seconds), so a
#: killed export loses at most this much of its progress.
MANIFEST_EVERY = 5.0


@dataclass
class ExportReport:
    """What one export did."""

    runs: int = 0
    parts: int = 0
    points: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (run, why)


def partition_value(value: str) -> str:
    """A hive partition value: percent-encoded (DuckDB, polars and pyarrow decode it), so
    that any project, run or table name is one safe path segment."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def parquet_bytes(table: Any, dataset: str, extra: dict[str, str] | None = None) -> bytes:
    """``table`` as a zstd Parquet file whose key/value metadata names the schema."""
    meta = dict(table.schema.metadata or {})
    meta.update({b"flightlog.schema": SCHEMA_VERSION.encode(),
                 b"flightlog.dataset": dataset.encode()})
    for k, v in (extra or {}).items():
        meta[f"flightlog.{k}".encode()] = v.encode()
    sink = io.BytesIO()
    if dataset != "history":  # one small table per file: plain pages, no statistics
        table = table.replace_schema_metadata(meta)
        pq.write_table(table, sink, compression="zstd", use_dictionary=False,
                       write_statistics=False)
        return sink.getvalue()
    # Pages as large as the row group: zstd then sees a key's timestamps repeating the
    # previous key's (the long form repeats each step's time once per key), which small
    # pages hide; that is what keeps the archive no larger than the run directory.
    # ``key`` arrives dictionary-encoded (long_form) and is written as its dictionary
    # pages; no Arrow schema is stored, so every reader reads the Parquet types (``key``
    # a string, HISTORY_SCHEMA). It has no statistics: they took a sixth of the write,
    # and a run's row group (rows grouped by key) spans all its keys unless the run has
    # over ROW_GROUP_ROWS points, so a key range would rarely skip one.
    with pq.ParquetWriter(sink, table.schema, compression="zstd",
                          compression_level=ZSTD_LEVEL, data_page_size=PAGE_BYTES,
                          max_rows_per_page=ROW_GROUP_ROWS, store_schema=False,
                          use_dictionary=[n for n in table.column_names
                                          if n not in _HISTORY_ENCODINGS],
                          column_encoding=_HISTORY_ENCODINGS,
                          write_statistics=[n for n in table.column_names if n != "key"]
                          ) as writer:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        writer.add_key_value_metadata(meta)
    return sink.getvalue()


class _Writer:
    """Writes parts under ``out`` and records them in the manifest.

    Encoding and writing a part (pyarrow and zstd, which release the GIL) runs on
    ``WRITERS`` background threads while the next run is read, at most ``IN_FLIGHT``
    parts ahead. A part's manifest entry gets its SHA-256 and size when it is written;
    :meth:`drain` waits for every part (and raises a write error) before the manifest is
    saved."""

    def __init__(self, out: Path, report: ExportReport) -> None:
        self.out = out
        self.report = report
        self._pool = ThreadPoolExecutor(max_workers=WRITERS,
                                        thread_name_prefix="flightlog-export")
        self._pending: deque[tuple[Future[int], dict[str, Any]]] = deque()

    def put(self, rel: str, table: Any, dataset: str, **part: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": rel, "sha256": "", "bytes": 0,
                                 "rows": table.num_rows, **part}
        self._pending.append((self._pool.submit(self._write, rel, table, dataset, entry),
                              entry))
        while len(self._pending) > IN_FLIGHT:
            self._finish_one()
        return entry

    def _write(self, rel: str, table: Any, dataset: str, entry: dict[str, Any]) -> int:
        data = parquet_bytes(table, dataset)
        # Not fsynced one by one: _checkpoint syncs them all before the manifest names them.
        write_atomic(self.out / rel, data, durable=False)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["bytes"] = len(data)
        return len(data)

    def _finish_one(self) -> None:
        future, _ = self._pending.popleft()
        written = future.result()
        self.report.parts += 1
        self.report.bytes += written

    def drain(self) -> None:
        while self._pending:
            self._finish_one()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)


def _digest(table: Any) -> str:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _file_entries(run: Any) -> list[dict[str, Any]]:
    if hasattr(run, "files") and callable(run.files):  # RemoteRun
        return sorted(run.files(), key=lambda f: f["name"])
    files = run.state.files
    return [{"name": n, "size": files[n].size, "sha256": files[n].sha256}
            for n in sorted(files)]


def _snapshot(writer: _Writer, entry: dict[str, Any], name: str, rel: str, table: Any,
              dataset: str) -> None:
    """Write a per-run snapshot file when its content differs from the manifest's."""
    source = _digest(table)
    old = entry["snapshots"].get(name)
    if old is not None and old.get("source") == source:
        return
    entry["snapshots"][name] = writer.put(rel, table, dataset, source=source)


def _append(writer: _Writer, stream: dict[str, Any], rel_dir: str, table: Any,
            dataset: str, steps: Any) -> None:
    """Append one part holding the steps of ``steps`` (an Arrow column) to a stream."""
    first, last = steps[0].as_py(), steps[-1].as_py()
    rel = f"{rel_dir}/part-{len(stream['parts']):05d}.parquet"
    stream["parts"].append(writer.put(rel, table, dataset, first_step=first,
                                      last_step=last))
    stream["last_step"] = last


def export_run(run: Any, writer: _Writer, entry: dict[str, Any], wide: bool) -> None:
    """Export what is new of one run."""
    where = f"project={partition_value(run.project)}/run={partition_value(run.id)}"
    history = run.history()
    hold_last = run.status == "running"
    rows = new_rows(history, entry["history"]["last_step"], hold_last)
    if rows.num_rows:
        points = long_form(rows)
        _append(writer, entry["history"], f"history/{where}", points, "history",
                rows["_step"])
        writer.report.points += points.num_rows
    if wide:
        wide_rows = new_rows(history, entry["wide"]["last_step"], hold_last)
        if wide_rows.num_rows:
            _append(writer, entry["wide"], f"wide/{where}", wide_rows, "wide",
                    wide_rows["_step"])
    _snapshot(writer, entry, "runs", f"runs/{where}/part-00000.parquet",
              runs_row(run, history), "runs")
    files = _file_entries(run)
    if files:
        _snapshot(writer, entry, "files", f"files/{where}/part-00000.parquet",
                  files_table(files), "files")
    for name, table in run.tables().items():
        if table.num_columns:
            _snapshot(writer, entry, f"tables/{name}", f"tables/{where}/table="
                      f"{partition_value(name)}/part-00000.parquet", table, "tables")
    _export_execution(run, writer, entry, where)


def _export_execution(run: Any, writer: _Writer, entry: dict[str, Any], where: str) -> None:
    """Console and system metrics (SPEC.md §19), where the run has them."""
    if hasattr(run, "console"):
        lines = run.console(overwritten=True)
        if lines:
            _snapshot(writer, entry, "console", f"console/{where}/part-00000.parquet",
                      console_table(lines), "console")
    if hasattr(run, "system_metrics"):
        system = run.system_metrics()
        if system.num_rows:
            _snapshot(writer, entry, "system", f"system/{where}/part-00000.parquet",
                      system, "system")


def export_parquet(runs: Iterable[Any], out: str | Path, *, since_manifest: str | Path | None
                   = None, wide: bool = False,
                   progress: Callable[[Any, ExportReport], None] | None = None
                   ) -> ExportReport:
    """Export ``runs`` (``open_run`` or ``Api`` runs) into the dataset at ``out``.

    Args:
        since_manifest: the manifest of an earlier export to continue from (default
            ``out/manifest.json`` when it exists): only what is newer is written.
        wide: also write ``wide/``, each run's history as ``history()`` has it.
        progress: called after each run.

    Raises:
        ExportError: the earlier manifest is damaged or of another major schema.

    Example:
        >>> export_parquet(local_runs(["runs"]), "archive")    # doctest: +SKIP
    """
    out = Path(out)
    base = Path(since_manifest) if since_manifest else out / MANIFEST_NAME
    manifest = read_manifest(base)
    report = ExportReport()
    writer = _Writer(out, report)
    try:
        _export_all(runs, writer, manifest, out, wide, progress)
    finally:
        writer.close()
    _checkpoint(out, manifest)
    return report


def _export_all(runs: Iterable[Any], writer: _Writer, manifest: dict[str, Any], out: Path,
                wide: bool, progress: Callable[[Any, ExportReport], None] | None) -> None:
    report = writer.report
    last_write = time.monotonic()
    for run in runs:
        try:
            entry = run_entry(manifest, run.project, run.id)
            export_run(run, writer, entry, wide)
        except (FlightlogError, pa.ArrowException) as exc:  # that run only; go on
            report.skipped.append((f"{getattr(run, 'project', '?')}/"
                                   f"{getattr(run, 'id', '?')}", str(exc)))
            continue
        report.runs += 1
        if progress is not None:
            progress(run, report)
        if time.monotonic() - last_write > MANIFEST_EVERY:
            writer.drain()
            _checkpoint(out, manifest)
            last_write = time.monotonic()


def _checkpoint(out: Path, manifest: dict[str, Any]) -> None:
    """Make every part written so far durable (one sync(2) instead of an fsync per part),
    then the manifest that names them: a manifest never names a part a crash can lose."""
    os.sync()
    write_manifest(out / MANIFEST_NAME, manifest)


__all__ = ["ExportReport", "export_parquet", "history_columns", "partition_value"]
