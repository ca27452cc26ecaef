"""``Workspace``: where an experiment's runs are written (always a local root) and read
(that root, or a flightlog server when the workspace names one).

The config file is found the way Azure ML finds its ``config.json``: from the starting
directory (default: the current one) up through every parent, looking in each directory
first for ``.azureml/flightlog.json`` and then for ``flightlog.json``. The name differs
from Azure's on purpose: a checkout that holds an Azure ``config.json`` keeps it, and
flightlog never mistakes Azure's subscription for a server of its own;
``from_config(_file_name="config.json")`` (Azure's argument) reads Azure's file instead.

    {"dir": "runs", "server": "http://127.0.0.1:8080", "token": "...",
     "subscription_id": "...", "resource_group": "...", "workspace_name": "..."}

Every key is optional. ``dir`` (the root of run directories) is relative to the directory
the file was found in (for ``.azureml/flightlog.json``: the one holding ``.azureml``);
``token`` defaults to ``$FLIGHTLOG_TOKEN``; Azure's own three keys are kept as
information (shown, never used). With no file at all: a local workspace on flightlog's
defaults (``$FLIGHTLOG_DIR``, else ``./flightlog``), as ``flightlog.init`` writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flightlog.errors import WorkspaceConfigError
from flightlog.format.rundir import default_root

if TYPE_CHECKING:
    from flightlog.api import Api

__all__ = ["CONFIG_NAME", "CONFIG_PLACES", "Workspace", "find_config"]

#: The config file's name (Azure's is ``config.json``).
CONFIG_NAME = "flightlog.json"
#: Where it is looked for in each directory, in order.
CONFIG_PLACES = (Path(".azureml") / CONFIG_NAME, Path(CONFIG_NAME))
#: A config file is a few lines; anything larger is not one.
MAX_CONFIG_BYTES = 64 * 1024
_FLIGHTLOG_KEYS = ("dir", "server", "token")
_AZURE_KEYS = ("subscription_id", "resource_group", "workspace_name")


def _places(file_name: str | None) -> tuple[Path, ...]:
    """Where a config file of that name is looked for in each directory, in order."""
    if file_name is None:
        return CONFIG_PLACES
    if (not isinstance(file_name, str) or file_name in ("", ".", "..")
            or "/" in file_name or "\\" in file_name or "\0" in file_name):
        raise WorkspaceConfigError(f"_file_name {str(file_name)[:100]!r} is not a file name "
                                   f"(no directory part)", key="_file_name")
    return (Path(".azureml") / file_name, Path(file_name))


def find_config(start: str | os.PathLike[str] | None = None,
                file_name: str | None = None) -> Path | None:
    """The config file that ``Workspace.from_config(start, _file_name=file_name)`` reads,
    or None.

    ``start`` is a directory to search from (default: the current directory), then up
    through its parents; or a file, which is the config itself. ``file_name`` replaces
    ``flightlog.json`` in the search (Azure's ``_file_name``).

    Raises:
        WorkspaceConfigError: ``file_name`` has a directory part.
    """
    places = _places(file_name)
    here = Path(start) if start is not None else Path.cwd()
    if here.is_file():
        return here
    for directory in [here.absolute(), *here.absolute().parents]:
        for place in places:
            candidate = directory / place
            if candidate.is_file():
                return candidate
    return None


def _home_of(config: Path) -> Path:
    """The directory a config's relative ``dir`` is relative to."""
    parent = config.absolute().parent
    return parent.parent if parent.name == ".azureml" else parent


def read_config(path: Path) -> dict[str, str | None]:
    """The config file's keys, checked: a JSON object of known keys with string (or null)
    values, at most ``MAX_CONFIG_BYTES``.

    Raises:
        WorkspaceConfigError: naming the file and, where there is one, the key.
    """
    where = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise WorkspaceConfigError(f"cannot read the workspace config: {exc}",
                                   path=where) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise WorkspaceConfigError(f"a workspace config is at most {MAX_CONFIG_BYTES} bytes",
                                   path=where)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WorkspaceConfigError(f"not JSON: {exc}", path=where) from exc
    if not isinstance(body, dict):
        raise WorkspaceConfigError(f"must be a JSON object, not {type(body).__name__}",
                                   path=where)
    known = (*_FLIGHTLOG_KEYS, *_AZURE_KEYS)
    out: dict[str, str | None] = {}
    for key, value in body.items():
        if key not in known:
            raise WorkspaceConfigError(f"unknown key {key!r}; the keys are "
                                       f"{', '.join(known)}", path=where, key=str(key))
        if value is not None and not isinstance(value, str):
            raise WorkspaceConfigError(f"{key!r} must be a string, not "
                                       f"{type(value).__name__}", path=where, key=key)
        out[key] = value
    return out


def _check_server(url: str | None, path: str | None = None) -> str | None:
    if url is None or url == "":
        return None
    if (not isinstance(url, str) or not url.startswith(("http://", "https://"))
            or any(c.isspace() for c in url) or len(url) > 2048):
        raise WorkspaceConfigError(f"server {str(url)[:100]!r} is not an http:// or https:// "
                                   f"URL", path=path, key="server")
    return url.rstrip("/")


class Workspace:
    """Azure's ``Workspace``, mapped onto flightlog: a root of run directories, and
    optionally the server the runs are synced to.

    Args:
        subscription_id, resource_group, workspace_name: Azure's identity; kept as
            information (``workspace_name`` is what the notebook tables show).
        dir: root of run directories (default ``$FLIGHTLOG_DIR``, else ``./flightlog``),
            made absolute now so a later ``chdir`` does not move it.
        server: a flightlog server URL; when given, ``get_runs`` and ``Run(...)`` read
            from it (runs appear there once ``flightlog sync`` or ``syncd`` shipped them)
            and ``get_portal_url`` links to its pages. Training always writes locally.
        token: the server's bearer token (default ``$FLIGHTLOG_TOKEN``).
        auth: accepted for Azure's signature and not used; flightlog's auth is the token.
    """

    def __init__(self, subscription_id: str | None = None, resource_group: str | None = None,
                 workspace_name: str | None = None, auth: Any = None, *,
                 dir: str | os.PathLike[str] | None = None, server: str | None = None,
                 token: str | None = None, _config_path: Path | None = None) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = workspace_name or "local"
        self.dir = Path(os.path.abspath(dir if dir is not None else default_root()))
        where = str(_config_path) if _config_path is not None else None
        self.server = _check_server(server, where)
        self.token = token if token is not None else (os.environ.get("FLIGHTLOG_TOKEN")
                                                      or None)
        #: The config file this workspace came from (None: made explicitly or defaults).
        self.config_path = _config_path
        self._api: Api | None = None

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, auth: Any = None,
                    _logger: Any = None, _file_name: str | None = None) -> Workspace:
        """The workspace of the nearest ``flightlog.json`` (see the module's doc), or a
        local one on flightlog's defaults when there is none.

        Args:
            path: a directory to search from (then its parents), or the config file.
            auth: accepted for Azure's signature; flightlog's auth is the token.
            _file_name: the file name searched for instead of ``flightlog.json`` (Azure's
                argument of that name; ``"config.json"`` reads an Azure config, whose
                three keys are all known).

        Raises:
            WorkspaceConfigError: the file found is not a valid config, ``path`` names
                something that does not exist, or ``_file_name`` is not a file name.
        """
        if path is not None and not Path(path).exists():
            raise WorkspaceConfigError("no such file or directory to read a workspace "
                                       "config from", path=str(path))
        found = find_config(path, _file_name)
        if found is None:
            return cls()
        keys = read_config(found)
        root = keys.get("dir")
        return cls(keys.get("subscription_id"), keys.get("resource_group"),
                   keys.get("workspace_name"),
                   dir=_home_of(found) / root if root else None,
                   server=keys.get("server"), token=keys.get("token"), _config_path=found)

    def api(self) -> Api:
        """The workspace's server as a ``flightlog.Api`` (one per workspace).

        Raises:
            WorkspaceConfigError: the workspace names no server.
        """
        if self.server is None:
            raise WorkspaceConfigError("this workspace names no server (give server= or a "
                                       "'server' key in flightlog.json)",
                                       path=str(self.config_path or self.dir), key="server")
        if self._api is None:
            from flightlog.api import Api

            self._api = Api(self.server, token=self.token)
        return self._api

    def get_details(self) -> dict[str, Any]:
        """What the workspace is, as a dict (Azure's ``get_details``; the token is not
        in it)."""
        return {"name": self.name, "subscription_id": self.subscription_id,
                "resource_group": self.resource_group, "dir": str(self.dir),
                "server": self.server,
                "config": str(self.config_path) if self.config_path else None}

    def close(self) -> None:
        """Close the connection to the server, if one was opened."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<flightlog.azureml.Workspace {self.name!r} dir={str(self.dir)!r} "
                f"server={self.server!r}>")
