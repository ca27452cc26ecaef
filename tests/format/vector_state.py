"""A run's state as ``open_run`` derives it, in the form of a vector's ``state``
(SPEC.md §16, tests/vectors/README.md): shared by the vector tests and the literal
reader's."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from flightlog.format.columntype import arrow_type_name
from flightlog.format.histograms import histograms_of
from flightlog.format.reader import Finding

from flightlog import open_run
from flightlog.errors import FormatError

#: The state fields of SPEC.md §19 (what the run ran) and §9.1 (histograms), stated by
#: the vectors of 1.3.
EXECUTION_FIELDS = ("console", "system", "environment", "code", "signal", "histograms")
#: The state fields of unreadable tables and charts (SPEC.md §10.4) and of a prune mark
#: (§18.7), stated by the vectors that came with them (record/table-limits, run/pruned*).
LATER_FIELDS = ("unreadable", "pruned")


def jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def finding_form(f: Finding) -> dict[str, Any]:
    """A finding in the vectors' form (SPEC.md §5.2): kind, segment, offset, and seq and
    skipped range when it has them."""
    out: dict[str, Any] = {"kind": f.kind, "segment": f.segment, "offset": f.offset}
    if f.seq is not None:
        out["seq"] = f.seq
    if f.skipped is not None:
        out["skipped"] = list(f.skipped)
    return out


def columns_form(table: Any) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": arrow_type_name(f.type),
             "values": jsonable(table.column(f.name).to_pylist())} for f in table.schema]


def derived_state(run_dir: Path, *, attached: bool = True) -> dict[str, Any]:
    """What ``open_run`` derives, in the form of a vector's "state" (SPEC.md §11).
    ``attached=False``: tables and charts are not read from their attached files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # findings are compared, not warned about
        run = open_run(run_dir)
        media = {key: [{"kind": m.kind, "mime": m.mime, "sha256": m.sha256, "size": m.size,
                        "caption": m.caption, "step": m.step, "width": m.width,
                        "height": m.height} for m in items]
                 for key, items in run.state.media.items()}
        return jsonable({
            "id": run.id, "project": run.project, "name": run.name, "created": run.created,
            "host": run.state.host, "config": run.config, "tags": run.tags,
            "summary": run.summary, "status": run.status, "exit_code": run.exit_code,
            "history": columns_form(run.history()),
            "metrics": run.get_metrics() if attached else run.state.get_metrics(None),
            "tables": {k: columns_form(t) for k, t in
                       (run.tables() if attached else run.state.tables(None)).items()},
            "charts": run.charts() if attached else {}, "media": media,
            "files": {n: {"sha256": e.sha256, "size": e.size, "time": e.time}
                      for n, e in run.state.files.items()},
            "dropped": run.dropped, "findings": [finding_form(f) for f in run.findings],
            "unreadable": [{"record": what, "key": e.key, "sha256": e.sha256,
                            "reason": e.reason} for what, e in run.unreadable()]
            if attached else [],
            "pruned": None if run.pruned is None else {"segments": run.pruned.segments,
                                                       "next_seq": run.pruned.next_seq},
            **execution_state(run)})


def execution_state(run: Any) -> dict[str, Any]:
    """What ``open_run`` derives of SPEC.md §19, in the form of a 1.3 vector's state."""
    code = run.state.execution.code
    return {
        "console": [{"time": ln.time, "stream": ln.stream, "text": ln.text,
                     "overwritten": ln.overwritten} for ln in run.console(overwritten=True)],
        "system": columns_form(run.system_metrics()), "environment": run.environment(),
        "code": None if code is None else {"sha256": code.sha256, "files": _code_files(run)},
        "signal": run.state.execution.exit_signal,
        "histograms": {key: _histograms(run, key) for key in run.histogram_keys()}}


def _code_files(run: Any) -> list[dict[str, Any]] | None:
    """The snapshot's manifest entries, None when the reader refuses it (SPEC.md §19.4)."""
    try:
        files = run.code_files()
    except FormatError:
        return None
    return [{"mode": f.mode, "path": f.path, "sha256": f.sha256, "size": f.size}
            for f in files]


def _histograms(run: Any, key: str) -> dict[str, Any]:
    """``run.histograms(key)`` (SPEC.md §9.1), and how many malformed ones it left out
    (which it warns about; the count is the reader's)."""
    found = run.histograms(key)
    _, left_out = histograms_of(run.state.chunks, key)
    return {"histograms": [{"step": h.step, "bins": h.edges.tolist(),
                            "values": h.counts.tolist(), "nonfinite": h.nonfinite}
                           for h in found], "left_out": left_out}


