"""Run directories with hostile attached files and chart specs, as someone writing the
bytes by hand would make them (the writer itself refuses to): shared by the format
reader's tests and the server's.

- ``ipc_file(table, compression=None)``: an Arrow IPC file, optionally compressed.
- ``compressed_table()``: ~25 KB of zstd that expands to 480 MB of float64.
- ``null_rows(n)``: a few hundred bytes declaring ``n`` null rows.
- ``deep_spec(depth)``: JSON text nested ``depth`` arrays deep.
- ``hostile_run(root, run_id, tables=, charts=)``: a finished run whose ``table`` and
  ``chart`` records name those files (stored by hash, as SPEC.md §10.1 says).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from flightlog.format.records import RecordType
from flightlog.writer.blobs import store_bytes

import flightlog

GOOD_SPEC = json.dumps({"mark": "point", "data": {"name": "table"},
                        "encoding": {"x": {"field": "x", "type": "quantitative"}}})


def ipc_file(table: Any, compression: str | None = None) -> bytes:
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def compressed_table(rows: int = 60_000_000) -> bytes:
    return ipc_file(pa.table({"x": np.zeros(rows // 8)} | {
        f"c{i}": np.zeros(rows // 8) for i in range(7)}), "zstd")


def null_rows(n: int = 3_000_000) -> bytes:
    return ipc_file(pa.table({"n": pa.nulls(n)}))


def deep_spec(depth: int = 20_000) -> str:
    return '{"mark": "point", "data": {"name": "table"}, "x": ' + "[" * depth + "]" * depth + "}"


def hostile_run(root: Path, run_id: str, *, project: str = "p",
                tables: dict[str, bytes] | None = None,
                charts: dict[str, tuple[bytes, str]] | None = None) -> Path:
    """A finished run whose records name the given table files and (data, spec) charts
    without the writer's checks."""
    run = flightlog.init(project=project, id=run_id, dir=root, flush_interval=0.01)
    run.log({"loss": 0.5})
    for key, data in (tables or {}).items():
        sha, _ = store_bytes(run.dir, data)
        run._queue(RecordType.TABLE, {"key": key, "sha256": sha, "rows": 0, "time": 0.0},
                   key)
    for key, (data, spec) in (charts or {}).items():
        sha, _ = store_bytes(run.dir, data)
        run._queue(RecordType.CHART, {"key": key, "sha256": sha, "rows": 0, "spec": spec,
                                      "kind": "custom", "time": 0.0}, key)
    run.finish()
    return Path(run.dir)
