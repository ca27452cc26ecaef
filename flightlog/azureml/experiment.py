"""Azure's ``Experiment``: a flightlog project in a workspace.

Runs are started here (always written locally, offline) and listed newest first, from
the workspace's local root or, when the workspace names a server, from the server.
"""

from __future__ import annotations

import builtins
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from flightlog.errors import (
    FlightlogError,
    InvalidKey,
    InvalidValue,
    MissingExtra,
    RunNotFound,
    ServerProtocolError,
)
from flightlog.format.rundir import check_name, is_run_dir

from . import _html
from .run import REPORTS_DIR, LoggingRun, Run, report_url
from .workspace import Workspace

__all__ = ["MAX_REPORT_RUNS", "Experiment"]

#: The offline report of an experiment (``get_portal_url`` without a server) shows its
#: newest runs up to this many: a page that stays small enough to open.
MAX_REPORT_RUNS = 100
#: Runs asked of the server per request while listing.
_PAGE = 1000


class Experiment:
    """Runs of one project in ``workspace``: ``Experiment(workspace=ws, name="...")``.

    Raises:
        InvalidKey: ``name`` is not a valid project name (1-128 letters, digits, ``.``,
            ``_`` or ``-``, starting with a letter or digit).
    """

    def __init__(self, workspace: Workspace, name: str, **kwargs: Any) -> None:
        if not isinstance(workspace, Workspace):
            raise InvalidValue(f"Experiment(workspace=...) takes a flightlog.azureml."
                               f"Workspace, not {type(workspace).__name__}")
        self.workspace = workspace
        self.name = check_name(name, "experiment name")

    # ------------------------------------------------------------ writing

    def start_logging(self, *args: Any, display_name: str | None = None,
                      outputs: str | os.PathLike[str] | None = "outputs",
                      snapshot_directory: Any = None, **kwargs: Any) -> LoggingRun:
        """Start a run, written locally (never waits on a network), and make it the
        current one. It is finished with ``run.complete()``, or at exit.

        Args:
            display_name: the run's name (default: its id).
            outputs: a directory made to exist now (Azure's notebooks save models to
                ``outputs/``); ``None`` makes none. Its files are uploaded only when
                named (``upload_file``, ``upload_folder``).
            snapshot_directory: not supported (flightlog does not snapshot code).
            kwargs: ``config=`` (the run's properties, as ``flightlog.init``).

        Raises:
            InvalidValue: ``snapshot_directory`` given, or an unknown argument.
        """
        if snapshot_directory is not None:
            raise InvalidValue("start_logging(snapshot_directory=...) is not supported: "
                               "flightlog does not snapshot code", key="snapshot_directory")
        unknown = [k for k in kwargs if k != "config"]
        if args or unknown:
            raise InvalidValue(f"start_logging() got unsupported arguments "
                               f"{[*map(repr, args), *unknown]}")
        if outputs is not None:
            Path(outputs).mkdir(parents=True, exist_ok=True)
        return LoggingRun(self, name=display_name, config=kwargs.get("config"))

    # ------------------------------------------------------------ reading

    def _open(self, run_id: str) -> Any:
        """The run ``run_id`` as a ``LocalRun`` or, in a server workspace, a
        ``RemoteRun``."""
        if self.workspace.server is not None:
            return self.workspace.api().run(f"{self.name}/{run_id}")
        from flightlog.format.localrun import open_run

        path = self.workspace.dir / self.name / run_id
        if not is_run_dir(path):
            raise RunNotFound(f"experiment {self.name!r} has no run {run_id!r}",
                              path=str(path))
        return open_run(path)

    def get_runs(self, type: str | None = None, tags: str | Mapping[str, Any] | None = None,
                 properties: Mapping[str, Any] | None = None,
                 include_children: bool = False) -> Iterator[Run]:
        """The experiment's runs, newest first (by creation time).

        Args:
            type: only ``None`` (flightlog has one kind of run).
            tags: a tag name (runs that have it) or ``{name: value}`` (runs with those
                values).
            properties: ``{key: value}``: runs whose config has those values (compared
                as text).
            include_children: accepted; flightlog runs have no children.

        A run directory that cannot be read is skipped with a ``FlightlogWarning``.
        """
        if type is not None:
            raise InvalidValue(f"get_runs(type={type!r}): flightlog has one kind of run; "
                               f"pass type=None", key="type")
        if tags is not None and not isinstance(tags, (str, Mapping)):
            raise InvalidValue(f"get_runs(tags=...) takes a tag name or a {{name: value}} "
                               f"dict, not {builtins.type(tags).__name__}", key="tags")
        if properties is not None and not isinstance(properties, Mapping):
            raise InvalidValue(f"get_runs(properties=...) takes a {{key: value}} dict, not "
                               f"{builtins.type(properties).__name__}", key="properties")
        wanted_tags = {tags: None} if isinstance(tags, str) else dict(tags or {})
        wanted_props = {str(k): str(v) for k, v in (properties or {}).items()}
        for run in self._all_runs():
            if _matches(run, wanted_tags, wanted_props):
                yield run

    def _all_runs(self) -> Iterator[Run]:
        if self.workspace.server is not None:
            yield from self._server_runs()
            return
        from flightlog.format import FlightlogWarning
        from flightlog.format.localrun import open_run

        project_dir = self.workspace.dir / self.name
        opened = []
        if project_dir.is_dir():
            for path in sorted(project_dir.iterdir()):
                if not is_run_dir(path):
                    continue
                try:
                    local = open_run(path)
                    opened.append((local.created or 0.0, local.id, local))
                except FlightlogError as exc:
                    warnings.warn(f"{path}: skipped, cannot be read: {exc}",
                                  FlightlogWarning, stacklevel=3)
        opened.sort(key=lambda item: (item[0], item[1]), reverse=True)
        for _, run_id, local in opened:
            yield Run(self, run_id, _source=local)

    def _server_runs(self) -> Iterator[Run]:
        # The server answers newest first; pages until one comes back short. An id seen on
        # an earlier page (new runs shift the pages) is not yielded twice. The answer is
        # untrusted: every run must be of this project and have a valid run id (it becomes
        # part of request paths and of the portal URL).
        api = self.workspace.api()
        seen: set[str] = set()
        offset = 0
        while True:
            page = api.runs(self.name, limit=_PAGE, offset=offset)
            for remote in page:
                _check_listed(remote.project, remote.id, self.name, api.url)
                if remote.id not in seen:
                    seen.add(remote.id)
                    yield Run(self, remote.id, _source=remote)
            if len(page) < _PAGE:
                return
            offset += len(page)

    # ------------------------------------------------------------ showing

    def get_portal_url(self) -> str:
        """The experiment's page on the workspace's server; without a server, the
        file:// URL of an offline report of its newest runs (up to ``MAX_REPORT_RUNS``),
        written now as ``<root>/.reports/<experiment>.html``.

        Raises:
            MissingExtra: no server and no vl-convert-python (``flightlog[report]``).
            RunNotFound: no server and the experiment has no runs yet.
        """
        if self.workspace.server is not None:
            return f"{self.workspace.server}/projects/{self.name}"
        run_dirs = []
        for run in self.get_runs():
            run_dir = run._run_dir()
            if run_dir is not None:
                run_dirs.append(run_dir)
            if len(run_dirs) >= MAX_REPORT_RUNS:
                break
        if not run_dirs:
            raise RunNotFound(f"experiment {self.name!r} has no runs to report on yet",
                              path=str(self.workspace.dir / self.name))
        return report_url(run_dirs, self.workspace.dir / REPORTS_DIR / f"{self.name}.html")

    def _repr_html_(self) -> str:
        try:
            page: _html.Link | str = _html.Link("Link to the report page",
                                                self.get_portal_url())
        except RunNotFound:
            page = "no runs yet"
        except MissingExtra:
            page = _html.Link("Runs directory",
                              (self.workspace.dir / self.name).resolve().as_uri())
        return _html.table(["Name", "Workspace", "Report Page"],
                           [[self.name, self.workspace.name, page]])

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"


def _check_listed(project: str, run_id: str, wanted: str, url: str) -> None:
    """A run the server listed for project ``wanted`` is one of it, with a valid id.

    Raises:
        ServerProtocolError: it is not.
    """
    if project != wanted:
        raise ServerProtocolError(f"asked for the runs of {wanted!r}, the server listed a "
                                  f"run of {project[:130]!r}", url=f"GET {url}/api/v1/runs")
    try:
        check_name(run_id, "run id")
    except InvalidKey as exc:
        raise ServerProtocolError(f"the server listed a run of {wanted!r} whose id "
                                  f"{run_id[:130]!r} is not a run id",
                                  url=f"GET {url}/api/v1/runs") from exc


def _matches(run: Run, tags: dict[str, Any], properties: dict[str, str]) -> bool:
    if not tags and not properties:
        return True
    have_tags = run.get_tags()
    for key, value in tags.items():
        if key not in have_tags or (value is not None and have_tags[key] != str(value)):
            return False
    have_props = run.get_properties()
    return all(key in have_props and str(have_props[key]) == value
               for key, value in properties.items())
