"""``flightlog dump``: records as JSON lines, for people and bug reports.

Binary fields are shown decoded where SPEC.md says what they are (history columns become
lists) and as lowercase hex otherwise. JSON has no NaN or infinities: those floats are
written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from flightlog.errors import FormatError

from ._columns import decode_history
from .reader import RunLogReader, decode_frame
from .records import Record, RecordType
from .rundir import is_run_dir
from .segment import SegmentTail


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _body(record: Record) -> Any:
    if record.type != RecordType.HISTORY:
        return record.body
    try:
        chunk = decode_history(record.body)
    except FormatError:
        return record.body
    return {"rows": chunk.rows, "step": chunk.steps, "time": chunk.times,
            "columns": {k: {"kind": c.kind,
                            "present": None if c.present is None else c.present,
                            "values": c.values} for k, c in chunk.columns.items()}}


def record_json(record: Record) -> str:
    return json.dumps({"seq": record.seq, "type": record.type, "name": record.type_name,
                       "segment": record.segment, "offset": record.offset,
                       "body": _jsonable(_body(record))}, allow_nan=False)


def dump_records(path: str | os.PathLike[str],
                 on_corruption: Callable[[FormatError], None]) -> Iterator[str]:
    """JSON lines for every intact record of a segment file or run directory, in order.
    Each corruption found is passed to ``on_corruption`` and reading goes on."""
    path = Path(path)
    if is_run_dir(path):
        reader = RunLogReader(path)
        for record in reader.poll():
            yield record_json(record)
        for finding in reader.findings:
            on_corruption(finding.error)
        return
    for frame in SegmentTail(path, on_corruption).poll():
        try:
            records = decode_frame(frame, path=str(path))
        except FormatError as exc:
            on_corruption(exc)
            continue
        for record in records:
            yield record_json(record)
