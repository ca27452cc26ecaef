"""``flightlog.Api``: runs on a server, with the same interface as ``open_run``.

    api = flightlog.Api("http://127.0.0.1:8080", token="...")
    best = api.runs("diabetes-experiment", order="summary.rmse")[0]
    best.download_file("model.pkl", "out/model.pkl")

A script written against a local run directory works against the server: both return
objects of the :class:`RunLike` protocol.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import msgpack

from .errors import FileNotInRun, RunNotFound, ServerRejected
from .format.mediaitem import MediaItem
from .syncd.client import HttpSyncClient, _check

_MSGPACK = {"Accept": "application/msgpack"}


def _segment(name: str) -> str:
    """``name`` (a file or table name: any text) as one URL path segment. Percent-encoded,
    so that "/", "?", "#" and dot segments reach the server as part of the name: httpx
    would otherwise resolve "../" in the path before sending it."""
    quoted = quote(name, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


class RunLike(Protocol):
    """What ``open_run`` and ``Api.run`` both return."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def summary(self) -> dict[str, Any]: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def tags(self) -> dict[str, str | None]: ...
    def history(self) -> Any: ...
    def get_metrics(self) -> dict[str, Any]: ...
    def tables(self) -> dict[str, Any]: ...
    def charts(self) -> dict[str, dict[str, Any]]: ...
    def media(self) -> dict[str, list[MediaItem]]: ...
    def get_file_names(self) -> list[str]: ...
    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None
                      ) -> Path: ...


class RemoteRun:
    """A run on a server. Details are fetched when asked for and not cached, so a live
    run's answers grow as the daemon delivers."""

    def __init__(self, api: Api, project: str, run_id: str, row: dict[str, Any] | None = None
                 ) -> None:
        self._api = api
        self.project = project
        self.id = run_id
        self._row = row or {}

    def _get(self, suffix: str = "", **params: Any) -> Any:
        response = self._api._client._request(
            "GET", f"/api/v1/runs/{self.project}/{self.id}{suffix}", params=params,
            headers=_MSGPACK)
        return msgpack.unpackb(response.content, raw=False, strict_map_key=False)

    def _detail(self) -> dict[str, Any]:
        try:
            detail: dict[str, Any] = self._get()
        except ServerRejected as exc:
            if exc.status_code == 404:
                raise RunNotFound(f"no run {self.project}/{self.id} on {self._api.url}"
                                  ) from exc
            raise
        return detail

    @property
    def name(self) -> str:
        return str(self._row.get("name") or self._detail()["name"])

    @property
    def status(self) -> str:
        return str(self._detail()["status"])

    @property
    def next_seq(self) -> int:
        """The sequence number after the last record the server holds: it grows as the
        daemon delivers (what ``flightlog.show`` watches to refresh)."""
        return int(self._detail()["next_seq"])

    def files(self) -> list[dict[str, Any]]:
        """Each attached file: name, sha256, size."""
        return [dict(f) for f in self._detail()["files"]]

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self._detail()["summary"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._detail()["config"])

    @property
    def tags(self) -> dict[str, str | None]:
        return dict(self._detail()["tags"])

    def history(self) -> Any:
        """A ``pyarrow.Table``, served as Arrow."""
        import pyarrow as pa

        response = self._api._client._request(
            "GET", f"/api/v1/runs/{self.project}/{self.id}/history")
        return pa.ipc.open_stream(io.BytesIO(response.content)).read_all()

    def get_metrics(self) -> dict[str, Any]:
        return dict(self._get("/metrics"))

    def tables(self) -> dict[str, Any]:
        import pyarrow as pa

        out = {}
        for name in self._get("/tables"):
            response = self._api._client._request(
                "GET", f"/api/v1/runs/{self.project}/{self.id}/tables/{_segment(name)}")
            out[name] = pa.ipc.open_stream(io.BytesIO(response.content)).read_all()
        return out

    def charts(self) -> dict[str, dict[str, Any]]:
        """name → the Vega-Lite spec last logged under it, data inlined."""
        return {name: entry["spec"] for name, entry in self._get("/charts").items()}

    def media(self) -> dict[str, list[MediaItem]]:
        """name → every image, HTML page and plotly figure logged under it; an item's
        ``read_bytes()`` downloads it (and checks its SHA-256)."""
        out = {}
        for name, items in self._get("/media").items():
            out[name] = [MediaItem(name, i["kind"], i["mime"], i["sha256"], i["size"],
                                   i["caption"], i["step"], i["width"], i["height"],
                                   fetch=functools.partial(self._blob, i["sha256"]))
                         for i in items]
        return out

    def _blob(self, sha256: str) -> bytes:
        response = self._api._client._request(
            "GET", f"/api/v1/runs/{self.project}/{self.id}/blobs/{sha256}")
        return bytes(response.content)

    def show(self) -> Any:
        """Draw this run's page inline in Jupyter (``flightlog[notebook]``)."""
        from .notebook import show

        return show(self)

    def get_file_names(self) -> list[str]:
        return sorted(f["name"] for f in self._detail()["files"])

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None
                      ) -> Path:
        """Download ``name`` (default: its base name in the current directory), checking
        its SHA-256."""
        files = {f["name"]: f for f in self._detail()["files"]}
        if name not in files:
            raise FileNotInRun(f"no file {name!r} in {self.project}/{self.id}; it has "
                               f"{sorted(files)}", key=name)
        target = Path(output_file_path) if output_file_path is not None else Path(
            Path(name).name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        http = self._api._client._http
        url = f"/api/v1/runs/{self.project}/{self.id}/files/{_segment(name)}"
        with http.stream("GET", url) as response, open(partial, "wb") as out:
            if response.status_code >= 400:
                response.read()
                _check(response)  # raises ServerRejected with the server's reason
            for block in response.iter_bytes():
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != files[name]["sha256"]:
            partial.unlink()
            raise ServerRejected(f"downloaded {name!r} does not match its SHA-256",
                                 status_code=502)
        partial.replace(target)
        return target

    def __repr__(self) -> str:
        return f"<flightlog.RemoteRun {self.project}/{self.id}>"


class Api:
    """Query a flightlog server.

    Args:
        url: default ``$FLIGHTLOG_SERVER``.
        token: default ``$FLIGHTLOG_TOKEN``.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 timeout: float = 30.0) -> None:
        url = url or os.environ.get("FLIGHTLOG_SERVER")
        if not url:
            raise ValueError("flightlog.Api needs a server URL (or $FLIGHTLOG_SERVER)")
        self.url = url.rstrip("/")
        self._client = HttpSyncClient(self.url, token, timeout=timeout)

    def runs(self, project: str | None = None, *, filters: Sequence[str] = (),
             order: str | None = None, limit: int = 1000) -> list[RemoteRun]:
        """Runs of ``project`` (all projects if None), filtered and ordered.

        Args:
            filters: e.g. ``["status=finished", "config.alpha<=0.5", "tags.baseline"]``.
            order: e.g. ``"summary.rmse"`` (ascending) or ``"-summary.accuracy"``.
        """
        params: dict[str, Any] = {"limit": limit, "filter": list(filters)}
        if project is not None:
            params["project"] = project
        if order:
            params["order"] = order
        response = self._client._request("GET", "/api/v1/runs", params=params,
                                         headers=_MSGPACK)
        body = msgpack.unpackb(response.content, raw=False, strict_map_key=False)
        return [RemoteRun(self, r["project"], r["id"], r) for r in body["runs"]]

    def run(self, path: str) -> RemoteRun:
        """``"project/run-id"``."""
        project, _, run_id = path.partition("/")
        if not run_id:
            raise ValueError(f"run path {path!r} is not 'project/run-id'")
        run = RemoteRun(self, project, run_id)
        run._detail()  # RunNotFound now rather than later
        return run

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
