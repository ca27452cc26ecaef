"""Azure's ``Run``: one run of an experiment, read (``Run(experiment, run_id)``) or being
written (``experiment.start_logging()``, ``Run.get_context()``).

A run being written is a flightlog writer run (:class:`flightlog.Run`: offline, always)
that also answers Azure's reading calls from its own run directory. A run opened by id
reads the workspace's local root, or its server when the workspace names one.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flightlog.errors import InvalidKey, InvalidValue, MissingExtra, RunNotFound
from flightlog.format.rundir import check_name
from flightlog.writer import Run as WriterRun

from . import _html
from ._details import CANCELED_EXIT_CODE, RunFacts, azure_status, details, facts_of

if TYPE_CHECKING:
    from .experiment import Experiment

__all__ = ["RUN_DIR_ENV", "LoggingRun", "Run"]

#: The environment variable naming the run directory the script runner (``flightlog
#: run``) started the script for. With the runner's channel (``FLIGHTLOG_RUNNER_FD``, an
#: inherited pipe) ``Run.get_context()`` logs into that run through it, as
#: ``flightlog.init`` does; set alone (no channel variable) it names a run directory to
#: continue. A process that inherited both variables but not the pipe (a grandchild of
#: the runner) ignores them, as the writer does: the runner holds that run's lock.
RUN_DIR_ENV = "FLIGHTLOG_RUN_DIR"
#: The runner's channel variable (flightlog/runner/channel.py).
_CHANNEL_ENV = "FLIGHTLOG_RUNNER_FD"
#: Where offline reports (``get_portal_url`` without a server) are written, under the
#: workspace's root: a name no project can have (project names start with a letter or
#: digit), so no run directory is ever mistaken for it.
REPORTS_DIR = ".reports"


def report_url(run_dirs: list[Path], target: Path) -> str:
    """Write the offline report of ``run_dirs`` to ``target``; its file:// URL."""
    from flightlog.report import write_report

    target.parent.mkdir(parents=True, exist_ok=True)
    return write_report(run_dirs, target).resolve().as_uri()


class _RunReading:
    """Azure's reading calls, shared by the run being written and the run opened by id.
    A subclass provides ``id``, ``experiment`` and ``_source()`` (a ``LocalRun`` or a
    ``RemoteRun``)."""

    id: str
    experiment: Experiment

    def _source(self) -> Any:
        raise NotImplementedError

    def _facts(self) -> RunFacts:
        return facts_of(self._source())

    def _run_dir(self) -> Path | None:
        """The local run directory, when this run is read from one."""
        return None

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    run_type: str | None = None, populate: bool = False) -> dict[str, Any]:
        """Every logged metric: name → value, or the list of values when it was logged more
        than once (Azure's semantics); ``name`` keeps only that one."""
        metrics: dict[str, Any] = self._source().get_metrics()
        if name is not None:
            return {name: metrics[name]} if name in metrics else {}
        return metrics

    def get_details(self) -> dict[str, Any]:
        """Azure's keys: ``runId``, ``status`` (Running, Completed, Failed, Canceled),
        ``startTimeUtc``, ``endTimeUtc`` (ISO 8601, ``Z``; None while running),
        ``properties`` (the run's config), ``inputDatasets`` and ``outputDatasets``
        (empty), ``logFiles`` (empty), ``target`` (``local``)."""
        return details(self.id, self._facts())

    def get_status(self) -> str:
        """Running, Completed, Failed or Canceled."""
        facts = self._facts()
        return azure_status(facts.status, facts.exit_code)

    @property
    def status(self) -> str:
        return self.get_status()

    def get_tags(self) -> dict[str, str]:
        """Tag name → value; a tag set without a value reads as ``""``, as in Azure."""
        return {k: "" if v is None else v for k, v in self._facts().tags.items()}

    def get_properties(self) -> dict[str, Any]:
        """The run's config (what flightlog records at the start of a run)."""
        return dict(self._facts().config)

    def get_file_names(self) -> list[str]:
        """The names of the files uploaded to the run, sorted."""
        names: list[str] = self._source().get_file_names()
        return names

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None,
                      _validate_checksum: bool = False) -> Path:
        """Download the uploaded file ``name`` to ``output_file_path`` (a file, or a
        directory to put it in; default: its base name in the current directory, as
        Azure). Its SHA-256 is always checked. Returns where it was written.

        The name is data (from the run's records or the server's answer), never a path:
        into a directory, only its last component names the file written.

        Raises:
            FileNotInRun: no file of that name was uploaded.
            UnsafeFileName: its last component is empty, ``.`` or ``..`` and no file path
                was given.
        """
        path: Path = self._source().download_file(name, output_file_path)
        return path

    def get_portal_url(self) -> str:
        """The run's page on the workspace's server; without a server, the file:// URL of
        an offline report of the run, written now under ``<root>/.reports/``.

        Raises:
            MissingExtra: no server and no vl-convert-python (``flightlog[report]``).
        """
        workspace = self.experiment.workspace
        if workspace.server is not None:
            return f"{workspace.server}/runs/{self.experiment.name}/{self.id}"
        run_dir = self._run_dir()
        if run_dir is None:  # pragma: no cover - a run read from a server has one
            raise RunNotFound(f"run {self.id} has no local directory to report on")
        target = workspace.dir / REPORTS_DIR / self.experiment.name / f"{self.id}.html"
        return report_url([run_dir], target)

    def _repr_html_(self) -> str:
        facts = self._facts()
        try:
            page = _html.Link("Link to the run's page", self.get_portal_url())
        except MissingExtra:
            run_dir = self._run_dir()
            page = _html.Link("Run directory", run_dir.resolve().as_uri() if run_dir else None)
        return _html.table(["Experiment", "Id", "Name", "Status", "Details Page"],
                           [[self.experiment.name, self.id, facts.name,
                             azure_status(facts.status, facts.exit_code), page]])


class Run(_RunReading):
    """One run of ``experiment``, read: ``Run(experiment=experiment, run_id=...)``.

    Raises:
        RunNotFound: the experiment has no run of that id (locally, or on the server
            of a server workspace).
        InvalidKey: ``run_id`` is not a valid run id.
    """

    def __init__(self, experiment: Experiment, run_id: str, outputs: Any = None, *,
                 _source: Any = None) -> None:
        self.experiment = experiment
        self.id = check_name(run_id, "run id")
        self._opened = _source if _source is not None else experiment._open(self.id)

    def _source(self) -> Any:
        return self._opened

    def _run_dir(self) -> Path | None:
        run_dir = getattr(self._opened, "dir", None)
        return Path(run_dir) if run_dir is not None else None

    @property
    def name(self) -> str:
        return self._facts().name

    display_name = name

    @property
    def tags(self) -> dict[str, str]:
        return self.get_tags()

    @property
    def properties(self) -> dict[str, Any]:
        return self.get_properties()

    @staticmethod
    def get_context(allow_offline: bool = True, used_for_context_manager: bool = False,
                    **kwargs: Any) -> LoggingRun:
        """The run this script logs to.

        Started by ``flightlog run -- python script.py``: the runner's run, logged into
        through the runner's channel (see ``RUN_DIR_ENV``); with ``$FLIGHTLOG_RUN_DIR``
        alone, that run directory, continued. Otherwise, as Azure gives an offline run, a
        new offline run in the experiment named after the script (``train.py`` →
        ``train``; ``interactive`` in a notebook) of ``Workspace.from_config()``. The same
        run for every call in the process until it is completed; finished at exit if it
        was not.

        Raises:
            RunNotFound: ``allow_offline=False`` and no runner started this script.
        """
        global _context
        if _context is not None and not _context._closed:
            return _context
        from .experiment import Experiment
        from .workspace import Workspace

        configured = Workspace.from_config()
        run_dir = os.environ.get(RUN_DIR_ENV)
        channel = os.environ.get(_CHANNEL_ENV)
        if run_dir and channel is not None and not _inherited_pipe(channel):
            run_dir = None  # the writer drops both variables on its first run (below)
        if run_dir:
            path = Path(run_dir)
            try:
                check_name(path.parent.name, "experiment name")
                check_name(path.name, "run id")
            except InvalidKey as exc:
                raise InvalidKey(f"${RUN_DIR_ENV} {run_dir[:200]!r} is not a run directory "
                                 f"ROOT/<experiment>/<run-id>: {exc.message}",
                                 key=RUN_DIR_ENV) from exc
            workspace = Workspace(configured.subscription_id, configured.resource_group,
                                  configured.name, dir=path.parent.parent,
                                  server=configured.server, token=configured.token,
                                  _config_path=configured.config_path)
            _context = LoggingRun(Experiment(workspace, path.parent.name), id=path.name,
                                  resume=True)
        elif not allow_offline:
            raise RunNotFound(f"no run context: no script runner started this process "
                              f"(${RUN_DIR_ENV} unset, or inherited without the runner's "
                              f"channel); start it with `flightlog run -- python ...`, or "
                              f"pass allow_offline=True")
        else:
            _context = LoggingRun(Experiment(configured, _script_experiment()))
        return _context

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self.id})"


_context: LoggingRun | None = None


def _inherited_pipe(fd_text: str) -> bool:
    """The runner's channel variable names a pipe this process holds (the rule of
    ``flightlog.runner.channel.attachment_from_env``, which takes the run only then)."""
    try:
        return stat.S_ISFIFO(os.fstat(int(fd_text)).st_mode)
    except (ValueError, OSError):
        return False


def _script_experiment() -> str:
    """The experiment of an offline context run: the script's name, made a valid
    project name; ``interactive`` for a notebook or ``python -c``."""
    stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).lstrip("._-")[:128]
    return name if name and stem not in ("ipykernel_launcher", "-c") else "interactive"


class LoggingRun(WriterRun, _RunReading):
    """A run being written in an experiment: what ``start_logging()`` and
    ``Run.get_context()`` return. Every ``flightlog.Run`` call works (``log``,
    ``log_list``, ``log_row``, ``log_table``, ``log_image``, ``tag``, ``upload_file``,
    ``complete``...), plus Azure's ``fail``, ``cancel``, ``upload_folder`` and the reading
    calls, which read this run's directory (a live run answers what has reached it: the
    background writer writes every ``flush_interval``, 0.1 s by default).
    """

    def __init__(self, experiment: Experiment, *, name: str | None = None,
                 id: str | None = None, resume: bool = False,
                 config: Mapping[str, Any] | None = None) -> None:
        super().__init__(project=experiment.name, name=name, dir=experiment.workspace.dir,
                         id=id, resume=resume, config=config)
        self.experiment = experiment
        # As flightlog.init: the current run, finished at exit if the script does not.
        from flightlog.writer import _install_exit_hooks
        from flightlog.writer.run import set_current

        _install_exit_hooks()
        set_current(self)

    def _source(self) -> Any:
        from flightlog.format.localrun import open_run

        if not self._closed:
            self.flush()
        return open_run(self.dir)

    def _run_dir(self) -> Path | None:
        return self.dir

    @property
    def display_name(self) -> str:
        return self.name

    def get_tags(self) -> dict[str, str]:
        # What this process set, at once (the log may lag by one flush interval).
        return {k: "" if v is None else v for k, v in self.tags.items()}

    def fail(self, error_details: Any = None, error_code: Any = None,
             _set_status: bool = True) -> None:
        """Azure's ``run.fail()``: finish the run as Failed (exit code 1)."""
        if error_details is not None and not self._closed:
            self.tag("error", str(error_details)[:1024])
        self.finish(exit_code=1)

    def cancel(self) -> None:
        """Azure's ``run.cancel()``: finish the run as Canceled (exit code 130)."""
        self.finish(exit_code=CANCELED_EXIT_CODE)

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> list[str]:
        """Upload every file under the directory ``path`` as ``name/<relative path>``;
        returns the names, sorted."""
        root = Path(path)
        if not root.is_dir():
            raise InvalidValue(f"upload_folder({name!r}): {str(root)!r} is not a directory",
                               key=name)
        names = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            uploaded = f"{name.rstrip('/')}/{file.relative_to(root).as_posix()}"
            self.upload_file(uploaded, file)
            names.append(uploaded)
        return names

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self.id})"
