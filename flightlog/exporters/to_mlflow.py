"""``flightlog export mlflow``: runs into a running MLflow tracking server.

Each flightlog run becomes one MLflow run in the experiment named by ``--experiment``
(default: the run's project): its config flattened as params, its history as metrics
(step, timestamp in ms), its tags plus ``mlflow.runName`` and ``flightlog.run``
(``project/id``), its attached files as artifacts, and its status (finished → FINISHED,
exited non-zero → FAILED, died without a finish record → KILLED; a running run stays
RUNNING and a later export continues it).

Idempotent and resumable: the :mod:`ledger <.mlflow_ledger>` records the MLflow run of
each flightlog run and how many points were acknowledged; a run without a ledger entry is
looked up by its ``flightlog.run`` tag before one is created (so a crash between creating
it and recording it makes no second run). A rerun sends only what the ledger lacks, and
checks the first batch after the ledger's position against the server (it may hold one
batch more than the ledger after a crash), so no point is sent twice.

mlflow is imported lazily (``pip install 'flightlog[mlflow]'``).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightlog.errors import ExportError, FlightlogError, MissingExtra
from flightlog.format.jsontext import json_text

from .columns import flatten, new_rows
from .mlflow_ledger import Ledger, LedgerEntry, default_ledger_dir
from .mlflow_names import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    PARAM_VALUE_LIMIT,
    TAG_VALUE_LIMIT,
    KeyMap,
)
from .mlflow_points import Points, points_of

RUN_TAG = "flightlog.run"


@dataclass
class MlflowReport:
    """What one export did; ``truncated`` and ``renamed`` name each param or key changed
    to fit MLflow (``run: key``), ``failed`` each run left out and why."""

    runs: int = 0
    metrics: int = 0
    params: int = 0
    artifacts: int = 0
    not_numeric: int = 0
    truncated: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _import_mlflow() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingExtra("the MLflow export needs mlflow: pip install "
                           "'flightlog[mlflow]'") from exc
    return MlflowClient


@contextlib.contextmanager
def _mlflow_errors(what: str) -> Iterator[None]:
    """The one boundary where mlflow's and its HTTP client's errors become ExportError."""
    try:
        yield
    except FlightlogError:
        raise
    except Exception as exc:  # mlflow raises MlflowException, requests errors, OSError
        raise ExportError(f"MLflow refused or failed {what}: {type(exc).__name__}: "
                          f"{str(exc)[:300]}") from exc


def _status(run: Any) -> str | None:
    """The MLflow terminal status of a flightlog run; None while it runs."""
    if run.status == "running":
        return None
    if run.status == "finished":
        return "FINISHED"
    return "FAILED" if getattr(run, "exit_code", None) is not None else "KILLED"


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


class _Exporter:
    def __init__(self, client: Any, ledger: Ledger, experiment: str | None,
                 report: MlflowReport) -> None:
        self.client = client
        self.ledger = ledger
        self.experiment = experiment
        self.report = report
        self._experiments: dict[str, str] = {}

    # ------------------------------------------------------------ runs

    def experiment_id(self, name: str) -> str:
        if name not in self._experiments:
            with _mlflow_errors(f"the experiment {name!r}"):
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    try:
                        self._experiments[name] = self.client.create_experiment(name)
                    except Exception:  # created meanwhile by another exporter
                        found = self.client.get_experiment_by_name(name)
                        if found is None:
                            raise
                if found is not None:
                    self._experiments[name] = found.experiment_id
        return self._experiments[name]

    def mlflow_run(self, run: Any, key: str) -> tuple[LedgerEntry, str]:
        """(the ledger entry, how it was had): ``created`` now (the server has nothing),
        from the ``ledger`` (the server may hold one batch more), or ``found`` by its tag
        without a ledger entry (every point is checked against the server)."""
        entry = self.ledger.get(key)
        if entry is not None:
            return entry, "ledger"
        eid = self.experiment_id(self.experiment or run.project)
        quoted = key.replace("\\", "\\\\").replace("'", "\\'")
        with _mlflow_errors(f"the lookup of {key}"):
            found = self.client.search_runs([eid], f"tags.`{RUN_TAG}` = '{quoted}'",
                                            max_results=1)
            if found:
                entry = LedgerEntry(key, found[0].info.run_id)
                self.ledger.put(entry)
                return entry, "found"
            created = self.client.create_run(eid, start_time=_ms(getattr(run, "created",
                                                                         None)),
                                             tags={RUN_TAG: key}, run_name=run.name)
        entry = LedgerEntry(key, created.info.run_id)
        self.ledger.put(entry)
        return entry, "created"

    def export(self, run: Any) -> None:
        key = f"{run.project}/{run.id}"
        entry, how = self.mlflow_run(run, key)
        self.tags(run, entry, key)
        self.params(run, entry, key)
        history = new_rows(run.history(), None, run.status == "running")
        self.metrics(points_of(history), entry, key, how)
        self.artifacts(run, entry)
        status = _status(run)
        if status is not None and entry.status != status:
            end = history["_timestamp"][-1].as_py() if history.num_rows else None
            with _mlflow_errors(f"the status of {key}"):
                self.client.set_terminated(entry.mlflow_run_id, status, end_time=_ms(end))
            entry.status = status
            self.ledger.put(entry)
        self.report.runs += 1

    # ------------------------------------------------------------ params and tags

    def _batch(self, entry: LedgerEntry, what: str, **items: list[Any]) -> None:
        with _mlflow_errors(what):
            self.client.log_batch(entry.mlflow_run_id, **items)

    def tags(self, run: Any, entry: LedgerEntry, key: str) -> None:
        from mlflow.entities import RunTag

        names = KeyMap()
        tags = {names(k): "" if v is None else str(v) for k, v in run.tags.items()}
        tags.update({"mlflow.runName": run.name, RUN_TAG: key,
                     "flightlog.project": run.project, "flightlog.status": run.status})
        out = []
        for k, v in tags.items():
            if len(v) > TAG_VALUE_LIMIT:
                self.report.truncated.append(f"{key}: tag {k}")
                v = v[:TAG_VALUE_LIMIT]
            out.append(RunTag(k, v))
        self.report.renamed += [f"{key}: tag {a} -> {b}" for a, b in names.renamed.items()]
        for i in range(0, len(out), MAX_PARAMS_TAGS_PER_BATCH):
            self._batch(entry, f"the tags of {key}",
                        tags=out[i:i + MAX_PARAMS_TAGS_PER_BATCH])

    def params(self, run: Any, entry: LedgerEntry, key: str) -> None:
        from mlflow.entities import Param

        names = KeyMap()
        full = {name[len("config."):]: value for name, value in flatten("config",
                                                                       run.config)}
        done = set(entry.params)
        new, truncated = [], False
        for name, value in full.items():
            text = value if isinstance(value, str) else json_text(value)
            pkey = names(name)
            if pkey in done:
                continue
            if len(text) > PARAM_VALUE_LIMIT:
                self.report.truncated.append(f"{key}: param {pkey}")
                text, truncated = text[:PARAM_VALUE_LIMIT], True
            new.append(Param(pkey, text))
        self.report.renamed += [f"{key}: param {a} -> {b}" for a, b in names.renamed.items()]
        if truncated:
            with _mlflow_errors(f"the full params of {key}"):
                self.client.log_text(entry.mlflow_run_id, json_text(full),
                                     "flightlog/params.json")
        for i in range(0, len(new), MAX_PARAMS_TAGS_PER_BATCH):
            batch = new[i:i + MAX_PARAMS_TAGS_PER_BATCH]
            self._batch(entry, f"the params of {key}", params=batch)
            entry.params += [p.key for p in batch]
            self.ledger.put(entry)
            self.report.params += len(batch)

    # ------------------------------------------------------------ metrics

    def metrics(self, points: Points, entry: LedgerEntry, key: str, how: str) -> None:
        from mlflow.entities import Metric

        names = KeyMap()
        mkeys = [names(k) for k in points.keys]
        self.report.renamed += [f"{key}: metric {a} -> {b}" for a, b in
                                names.renamed.items()]
        check_all = how == "found"
        check = how != "created"
        start = entry.metrics_sent
        known: dict[int, set[tuple[int, int, Any]]] = {}
        while start < len(points):
            end = _batch_end(points, start)
            idx = range(start, end)
            batch = []
            for i in idx:
                if not points.numeric[i]:
                    self.report.not_numeric += 1
                    continue
                ki = int(points.key_index[i])
                point = (int(points.step[i]), int(points.timestamp_ms[i]),
                         _value_key(float(points.value[i])))
                if check and point in self._present(entry, mkeys, ki, known):
                    continue
                batch.append(Metric(mkeys[ki], float(points.value[i]), point[1], point[0]))
            if batch:
                self._batch(entry, f"the metrics of {key}", metrics=batch)
            entry.metrics_sent = end
            self.ledger.put(entry)
            self.report.metrics += len(batch)
            check = check_all  # after the first batch the ledger is exact again
            start = end

    def _present(self, entry: LedgerEntry, mkeys: list[str], ki: int,
                 known: dict[int, set[tuple[int, int, Any]]]) -> set[tuple[int, int, Any]]:
        """The points the server already has of key ``ki`` (fetched once per export)."""
        if ki not in known:
            with _mlflow_errors(f"the metric history of {mkeys[ki]}"):
                got = self.client.get_metric_history(entry.mlflow_run_id, mkeys[ki])
            known[ki] = {(m.step, m.timestamp, _value_key(m.value)) for m in got}
        return known[ki]

    # ------------------------------------------------------------ artifacts

    def artifacts(self, run: Any, entry: LedgerEntry) -> None:
        for name in run.get_file_names():
            if name in entry.artifacts:
                continue
            parts = [p for p in name.split("/") if p not in ("", ".", "..")] or ["file"]
            with tempfile.TemporaryDirectory(prefix="flightlog-mlflow-") as tmp:
                local = Path(tmp) / parts[-1]
                run.download_file(name, local)
                with _mlflow_errors(f"the artifact {name!r}"):
                    self.client.log_artifact(entry.mlflow_run_id, str(local),
                                             "/".join(parts[:-1]) or None)
            entry.artifacts.append(name)
            self.ledger.put(entry)
            self.report.artifacts += 1


def _value_key(value: float) -> Any:
    """A metric value as the server holds it: MLflow's SQL store keeps NaN as a flag and
    ±Inf as ±float max, so a point read back compares equal to the one sent."""
    if value != value:
        return "nan"
    return max(-sys.float_info.max, min(sys.float_info.max, value))


def _batch_end(points: Points, start: int) -> int:
    """The end of the batch from ``start``: at most 1000 points (MLflow's limit per
    log_batch). A point is at most ~330 bytes of JSON (a 250-character key, a value, a
    timestamp, a step), so 1000 stay under the 1 MB request limit."""
    return min(len(points), start + MAX_METRICS_PER_BATCH)


def export_mlflow(runs: Iterable[Any], tracking_uri: str, *, experiment: str | None = None,
                  ledger_dir: str | Path | None = None,
                  progress: Callable[[Any, MlflowReport], None] | None = None
                  ) -> MlflowReport:
    """Export ``runs`` into the MLflow tracking server at ``tracking_uri``.

    Args:
        experiment: the MLflow experiment of every run (default: each run's project).
        ledger_dir: where progress is recorded (default :func:`default_ledger_dir`).

    Raises:
        MissingExtra: mlflow is not installed.
        ExportError: the server cannot be reached (runs already done stay done).

    Example:
        >>> export_mlflow(local_runs(["runs"]), "http://127.0.0.1:5000")  # doctest: +SKIP
    """
    client_class = _import_mlflow()
    ledger = Ledger(ledger_dir or default_ledger_dir(tracking_uri, experiment))
    report = MlflowReport()
    exporter = _Exporter(client_class(tracking_uri=tracking_uri), ledger, experiment, report)
    for run in runs:
        try:
            exporter.export(run)
        except ExportError as exc:
            if exc.__cause__ is not None and _unreachable(exc.__cause__):
                raise
            report.failed.append((f"{run.project}/{run.id}", str(exc)))
        except FlightlogError as exc:
            report.failed.append((f"{run.project}/{run.id}", str(exc)))
        if progress is not None:
            progress(run, report)
    return report


def _unreachable(exc: BaseException) -> bool:
    """A connection failure: every later run would fail the same way, so stop."""
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(names & {"ConnectionError", "ConnectTimeout", "MaxRetryError",
                         "NewConnectionError", "ConnectionRefusedError"})


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 20:
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
