"""SPEC.md §11 followed to the letter, in plain Python: a second derivation of a run's
state written from the text, not from flightlog's code (no numpy, no pyarrow, no
flightlog.format.state), to check ``open_run`` against on real runs.

It takes the records a reader returns (frames, checksums and sequence numbers are
flightlog's ``RunLogReader``; the vectors check those byte by byte) and derives config,
tags, identity, history with column types and JSON text, summary, metrics and status.
It does not look for bad records: callers assert ``open_run`` found none.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from flightlog.format.reader import RunLogReader

KNOWN = set(range(1, 16))
I64 = (-(2**63), 2**63 - 1)


def _unshuffle(data: bytes, fmt: str) -> list[Any]:
    m = len(data) // 8  # §9: stored byte k*m + i is byte k of element i
    return [struct.unpack("<" + fmt, bytes(data[k * m + i] for k in range(8)))[0]
            for i in range(m)]


def _chunk(body: dict[str, Any]) -> tuple[list[int], list[float], dict[str, Any]]:
    steps, times = _unshuffle(body["step"], "q"), _unshuffle(body["time"], "d")
    columns = {}
    for key, (kind, present, raw) in body["columns"].items():
        if kind == "f64":
            values, classes = _unshuffle(raw, "d"), ["float"] * (len(raw) // 8)
        elif kind == "i64":
            values, classes = _unshuffle(raw, "q"), ["int"] * (len(raw) // 8)
        elif kind == "bool":
            values, classes = [b == 1 for b in raw], ["bool"] * len(raw)
        elif kind == "any":
            values, classes = list(raw), [_class(v) for v in raw]
        else:
            continue  # §11.2: a kind the reader does not know is left out
        rows = (list(range(body["rows"])) if present is None
                else list(struct.unpack(f"<{len(present) // 4}I", present)))
        columns[key] = list(zip(rows, values, classes, strict=True))
    return steps, times, columns


def _class(v: Any) -> str:
    if v is None:
        return "nil"
    if type(v) is bool:
        return "bool"
    if type(v) is int:
        return "int" if I64[0] <= v <= I64[1] else "bigint"
    if type(v) is float:
        return "float"
    if type(v) is str:
        return "str"
    return "other"


def json_text(v: Any) -> str:
    """§1.1, from its table."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if type(v) is int:
        return str(v)
    if type(v) is float:
        return repr(v) if math.isfinite(v) else "null"
    if type(v) is str:
        out = []
        for ch in v:
            escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                       "\f": "\\f", "\r": "\\r"}
            if ch in escapes:
                out.append(escapes[ch])
            elif ord(ch) < 0x20:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if type(v) is bytes:
        return '"' + v.hex() + '"'
    if type(v) is list:
        return "[" + ",".join(json_text(x) for x in v) + "]"
    return "{" + ",".join(f"{json_text(k)}:{json_text(x)}" for k, x in v.items()) + "}"


def _column_type(classes: set[str]) -> str:
    found = classes - {"nil"}
    if not found:
        return "null"
    if found == {"int"}:
        return "int64"
    if found <= {"int", "float"}:
        return "float64"
    if found == {"bool"}:
        return "bool"
    if found == {"str"}:
        return "string"
    return "json"


def _cell(value: Any, ctype: str) -> Any:
    if value is None or ctype == "null":
        return None
    if ctype == "float64":
        return float(value)
    if ctype == "json":
        return json_text(value)
    return value


def _writer_alive(run_dir: Path) -> bool:
    try:
        fd = os.open(run_dir / "writer.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return False


def derive(run_dir: Path) -> dict[str, Any]:
    records = [r for r in RunLogReader(run_dir).poll() if r.type in KNOWN]
    state: dict[str, Any] = {"id": None, "project": None, "name": None, "created": None,
                             "host": None, "config": {}, "tags": {}}
    summary: dict[str, Any] = {}
    metric_values: dict[str, list[Any]] = {}
    lists: dict[str, Any] = {}
    rows: list[tuple[int, float, dict[str, Any]]] = []  # (step, time, key → (value, class))
    first_appearance: dict[str, None] = {}
    finish: dict[str, Any] | None = None
    seen_run = False
    for record in records:
        body = record.body
        if record.type == 2:
            if not seen_run:
                state.update(id=body["id"], project=body["project"],
                             created=float(body["created"]), host=body.get("host"))
                seen_run = True
            else:
                finish = None  # §11.7: a run record after a finish: it no longer stands
            state["name"] = body["name"]
            state["config"].update(body.get("config") or {})
            state["tags"].update(body.get("tags") or {})
        elif record.type == 9:
            state["config"].update(body["set"])
        elif record.type == 10:
            state["tags"].update(body["set"])
        elif record.type == 3:
            steps, times, columns = _chunk(body)
            chunk_rows: list[dict[str, Any]] = [{} for _ in steps]
            for key, cells in columns.items():
                first_appearance.setdefault(key)
                for row, value, cls in cells:
                    chunk_rows[row][key] = (value, cls)
                summary[key] = cells[-1][1]  # §11.3: the chunk's last value of the key
            for step, time, values in zip(steps, times, chunk_rows, strict=True):
                rows.append((step, time, values))
        elif record.type == 4:
            metric_values.setdefault(body["key"], []).append(body["value"])
            summary[body["key"]] = body["value"]
        elif record.type == 5:
            lists[body["key"]] = body["values"]
        elif record.type == 8:
            summary.update(body.get("set") or {})
            for key in body.get("delete") or []:
                summary.pop(key, None)
        elif record.type == 12:
            finish = body
    # §11.2: consecutive rows of equal step merge; the last value of each key wins.
    merged: list[tuple[int, float, dict[str, Any]]] = []
    classes: dict[str, set[str]] = {}
    for step, time, values in rows:
        for key, (_, cls) in values.items():
            classes.setdefault(key, set()).add(cls)
        if merged and merged[-1][0] == step:
            merged[-1] = (step, time, {**merged[-1][2], **values})
        else:
            merged.append((step, time, dict(values)))
    history: list[dict[str, Any]] = [
        {"name": "_step", "type": "int64", "values": [s for s, _, _ in merged]},
        {"name": "_timestamp", "type": "float64", "values": [t for _, t, _ in merged]}]
    metrics: dict[str, list[Any]] = {}
    for key in first_appearance:
        ctype = _column_type(classes[key])
        cells = [_cell(values[key][0], ctype) if key in values else None
                 for _, _, values in merged]
        history.append({"name": key, "type": "string" if ctype == "json" else ctype,
                        "values": cells})
        metrics[key] = [values[key][0] for _, _, values in merged if key in values]
    for key, values in metric_values.items():
        metrics.setdefault(key, []).extend(values)
    out_metrics: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in metrics.items()}
    out_metrics.update(lists)
    if state["id"] is None:  # §11.1: no readable run record
        state.update(id=run_dir.name, project=run_dir.parent.name)
    if state["name"] is None:
        state["name"] = state["id"]
    if _writer_alive(run_dir):
        status = "running"
    elif finish is not None and finish["exit_code"] == 0:
        status = "finished"
    else:
        status = "crashed"
    return {**state, "summary": summary, "history": history, "metrics": out_metrics,
            "status": status, "exit_code": None if finish is None else finish["exit_code"]}


def json_same(value: Any) -> str:
    """A comparable text of a derived value (NaN equal to NaN)."""
    return json.dumps(value, sort_keys=False, default=repr)
