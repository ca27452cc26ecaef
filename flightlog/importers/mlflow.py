"""Import MLflow runs as flightlog runs: from a file store (``mlruns/``) read directly, or
from a tracking server through ``MlflowClient``.

``flightlog import mlflow MLRUNS_DIR`` / :func:`import_mlflow_store` reads the file store
with this module's own code, without mlflow installed. The layout (MLflow's
``mlflow/store/tracking/file_store.py``; https://mlflow.org/docs/latest/tracking.html)::

    mlruns/<experiment id>/meta.yaml             name, lifecycle_stage, ...
    mlruns/<experiment id>/<run id>/meta.yaml    run_id, run_name, status, start_time,
                                                 end_time (ms), lifecycle_stage, ...
    .../<run id>/metrics/<key>     one line per value: "<timestamp ms> <value> <step>"
    .../<run id>/params/<key>      the value as text
    .../<run id>/tags/<key>        the value as text
    .../<run id>/artifacts/...     the run's files
    (a key with "/" is a nested path; .trash/ holds deleted experiments)

``meta.yaml`` files are read by a small reader of the flat ``key: value`` subset MLflow
writes (plain and quoted scalars, ``null``, ``[]``); no YAML library. Unknown lines are
ignored.

``flightlog import mlflow --tracking-uri URL`` / :func:`import_mlflow_server` reads any
tracking URI through ``mlflow.tracking.MlflowClient`` (``pip install 'flightlog[mlflow]'``).
MLflow 3.17 refuses to open a ``file:`` store through its client unless
``MLFLOW_ALLOW_FILE_STORE=true``; the direct reader needs nothing.

Mapping: experiment name → project; run id → identity (so the flightlog run id is
deterministic); run name → name; params → config (strings, as MLflow keeps them); tags →
tags (``mlflow.note.content`` also → notes); the status word → the tag ``mlflow.status``;
``FINISHED`` → exit code 0, ``FAILED`` → 1, ``KILLED`` → 130, ``RUNNING``/``SCHEDULED`` →
no finish record (reads as crashed until a later import sees it end); each metric value
→ a point at its step with its timestamp; artifacts → attached files under their paths.
Runs whose ``lifecycle_stage`` is ``deleted`` (or in ``.trash``) are not imported.

Damage: a metric line that does not parse is skipped and reported with its file and
byte offset (a torn last line, without its newline, is what a killed writer leaves).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flightlog.errors import MissingExtra

from ._target import ImportReport, Point, SourceFile, SourceRun, Unmapped, write_run

__all__ = ["import_mlflow_server", "import_mlflow_store", "read_meta_yaml"]

_STATUS_BY_NUMBER = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_EXIT_CODE = {"FINISHED": 0, "FAILED": 1, "KILLED": 130}
#: MLflow limits a param to 6,000 and a tag to 8,000 characters; more is not MLflow's.
_MAX_TEXT_BYTES = 1 << 20
_MAX_META_BYTES = 1 << 20
_MAX_METRIC_LINE = 1024
_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?\Z")


def read_meta_yaml(path: Path) -> dict[str, Any]:
    """The top-level scalar keys of one of MLflow's ``meta.yaml`` files.

    Values: ints, ``null``/``~`` → None, ``[]``/``{}`` → empty, ``'...'`` (``''`` is a
    quote) and ``"..."`` strings, anything else as its text. Indented and list lines
    (nested values) are skipped: MLflow's run and experiment fields are flat."""
    with open(path, "rb") as f:
        raw = f.read(_MAX_META_BYTES + 1)
    if len(raw) > _MAX_META_BYTES:
        raise ValueError(f"{path}: over {_MAX_META_BYTES} bytes")
    out: dict[str, Any] = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        match = _KEY_LINE.match(line.rstrip())
        if match:
            out[match.group(1)] = _scalar(match.group(2) or "")
    return out


def _scalar(text: str) -> Any:
    text = text.strip()
    if text in ("", "null", "~"):
        return None
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _walk_keys(folder: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) of each file below ``folder``, keys with ``/``; links not followed."""
    if not folder.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(folder).as_posix(), path


def _read_text(path: Path, what: str, unmapped: Unmapped) -> str | None:
    with open(path, "rb") as f:
        raw = f.read(_MAX_TEXT_BYTES + 1)
    if len(raw) > _MAX_TEXT_BYTES:
        unmapped.add(f"{what} over {_MAX_TEXT_BYTES} bytes", path.name)
        return None
    return raw.decode("utf-8", errors="replace")


def _read_metric(path: Path, key: str, problems: list[str]
                 ) -> Iterator[tuple[float, int, float, int]]:
    """(timestamp s, step, value, line number) of each intact line of a metric file.

    A line without its newline at the end of the file is torn (a writer killed while
    appending it): skipped and reported. Lines are bounded: an over-long one is skipped."""
    offset = 0
    number = 0
    with open(path, "rb") as f:
        while line := f.readline(_MAX_METRIC_LINE):
            at = offset
            offset += len(line)
            number += 1
            if not line.endswith(b"\n") and len(line) == _MAX_METRIC_LINE:
                while (rest := f.readline(_MAX_METRIC_LINE)) and not rest.endswith(b"\n"):
                    offset += len(rest)
                offset += len(rest)
                problems.append(f"{path}: over-long line at offset {at} of metric {key!r} "
                                f"skipped")
                continue
            if not line.endswith(b"\n"):
                problems.append(f"{path}: torn last line at offset {at} of metric {key!r} "
                                f"skipped")
                return
            parsed = _metric_line(line.split())
            if parsed is None:
                if line.strip():
                    problems.append(f"{path}: malformed line at offset {at} of metric "
                                    f"{key!r} skipped")
                continue
            yield parsed[0], parsed[1], parsed[2], number


def _metric_line(parts: list[bytes]) -> tuple[float, int, float] | None:
    if len(parts) not in (2, 3):  # very old MLflow wrote no step: step 0
        return None
    try:
        timestamp = int(parts[0])
        value = float(parts[1])
        step = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        return None
    return timestamp / 1000.0, step, value


def _status(value: Any) -> str:
    if isinstance(value, int):
        return _STATUS_BY_NUMBER.get(value, str(value))
    return str(value or "RUNNING").upper()


def _millis(value: Any) -> float | None:
    return value / 1000.0 if isinstance(value, int) and value > 0 else None


def _run_from_store(run_dir: Path, project: str) -> SourceRun | None:
    meta = read_meta_yaml(run_dir / "meta.yaml")
    if meta.get("lifecycle_stage") == "deleted":
        return None
    run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
    unmapped = Unmapped()
    problems: list[str] = []
    params = {}
    for key, path in _walk_keys(run_dir / "params"):
        text = _read_text(path, "param", unmapped)
        if text is not None:
            params[key] = text
    tags: dict[str, str | None] = {}
    for key, path in _walk_keys(run_dir / "tags"):
        text = _read_text(path, "tag", unmapped)
        if text is not None:
            tags[key] = text
    status = _status(meta.get("status"))
    tags["mlflow.status"] = status
    rows: list[tuple[float, str, int, Point]] = []
    for key, path in _walk_keys(run_dir / "metrics"):
        for timestamp, step, value, line in _read_metric(path, key, problems):
            rows.append((timestamp, key, line, Point(key, step, value, timestamp)))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))  # logging order: later values win a step
    files = [SourceFile(f"artifacts/{key}", path=path)
             for key, path in _walk_keys(run_dir / "artifacts")]
    name = meta.get("run_name") or tags.get("mlflow.runName") or run_id
    return SourceRun(
        kind="mlflow", identity=run_id, project=project, name=str(name), config=params,
        tags=tags, notes=tags.get("mlflow.note.content"),
        exit_code=_EXIT_CODE.get(status), start_time=_millis(meta.get("start_time")),
        end_time=_millis(meta.get("end_time")), points=[r[3] for r in rows], files=files,
        source_path=str(run_dir), unmapped=unmapped, problems=problems)


def find_store_runs(mlruns: Path) -> Iterator[tuple[str, Path]]:
    """(experiment name, run directory) of each run of a file store, in a stable order."""
    for exp_dir in sorted(p for p in mlruns.iterdir() if p.is_dir()):
        if exp_dir.name.startswith(".") or not (exp_dir / "meta.yaml").is_file():
            continue  # .trash (deleted experiments), models/ (the registry), ...
        exp = read_meta_yaml(exp_dir / "meta.yaml")
        if exp.get("lifecycle_stage") == "deleted":
            continue
        name = str(exp.get("name") or exp_dir.name)
        for run_dir in sorted(p for p in exp_dir.iterdir() if p.is_dir()):
            if (run_dir / "meta.yaml").is_file():
                yield name, run_dir


def import_mlflow_store(mlruns: str | os.PathLike[str], root: str | os.PathLike[str], *,
                        project: str | None = None) -> list[ImportReport]:
    """Import every run of the MLflow file store ``mlruns`` into the flightlog root."""
    from ._target import safe_name

    reports = []
    for experiment, run_dir in find_store_runs(Path(mlruns)):
        try:
            source = _run_from_store(run_dir, safe_name(experiment, "mlflow"))
        except (OSError, ValueError) as exc:
            reports.append(_failed(run_dir, f"{run_dir}: cannot be read ({exc})"))
            continue
        if source is not None:
            reports.append(write_run(source, root, project=project))
    return reports


def _failed(run_dir: Path, problem: str) -> ImportReport:
    report = ImportReport("mlflow", run_dir.name, "-", "-", run_dir, unchanged=True)
    report.problems.append(problem)
    return report


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingExtra("reading an MLflow tracking server needs mlflow: pip install "
                           "'flightlog[mlflow]'") from exc
    return MlflowClient(tracking_uri=tracking_uri)


def import_mlflow_server(tracking_uri: str, root: str | os.PathLike[str], *,
                         project: str | None = None,
                         experiments: Iterable[str] | None = None) -> list[ImportReport]:
    """Import the runs of an MLflow tracking URI (a server, a database, a ``file:`` store)
    through ``MlflowClient``. ``experiments``: names to import (default: all active)."""
    from ._target import safe_name

    client = _client(tracking_uri)
    wanted = set(experiments) if experiments is not None else None
    reports = []
    for exp in client.search_experiments():
        if wanted is not None and exp.name not in wanted:
            continue
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], max_results=1000,
                                      page_token=token)
            for run in page:
                source = _run_from_client(client, run, safe_name(exp.name, "mlflow"))
                reports.append(write_run(source, root, project=project))
            token = page.token
            if not token:
                break
    return reports


def _run_from_client(client: Any, run: Any, project: str) -> SourceRun:
    info, data = run.info, run.data
    tags: dict[str, str | None] = {str(k): str(v) for k, v in data.tags.items()}
    status = _status(info.status)
    tags["mlflow.status"] = status
    rows: list[tuple[float, str, int, Point]] = []
    for key in sorted(data.metrics):
        for index, m in enumerate(client.get_metric_history(info.run_id, key)):
            t = m.timestamp / 1000.0
            rows.append((t, key, index, Point(key, int(m.step), float(m.value), t)))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    files = _client_artifacts(client, info.run_id)
    return SourceRun(
        kind="mlflow", identity=info.run_id, project=project,
        name=info.run_name or tags.get("mlflow.runName") or info.run_id,
        config={str(k): str(v) for k, v in data.params.items()}, tags=tags,
        notes=tags.get("mlflow.note.content"), exit_code=_EXIT_CODE.get(status),
        start_time=_millis(info.start_time), end_time=_millis(info.end_time),
        points=[r[3] for r in rows], files=files, source_path=info.artifact_uri)


def _client_artifacts(client: Any, run_id: str) -> list[SourceFile]:
    out: list[SourceFile] = []
    stack = [""]
    while stack:
        folder = stack.pop()
        for item in client.list_artifacts(run_id, folder or None):
            if item.is_dir:
                stack.append(item.path)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                local = client.download_artifacts(run_id, item.path, tmp)
                out.append(SourceFile(f"artifacts/{item.path}", data=Path(local).read_bytes()))
    out.sort(key=lambda f: f.name)
    return out
