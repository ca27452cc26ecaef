"""``flightlog.Api``: runs on a server, with the same interface as ``open_run``.

    api = flightlog.Api("http://127.0.0.1:8080", token="...")
    best = api.runs("diabetes-experiment", order="summary.rmse")[0]
    best.download_file("model.pkl", "out/model.pkl")

A script written against a local run directory works against the server: both return
objects of the :class:`RunLike` protocol.

Answers are untrusted: each is read within a size bound (``QUERY_ANSWER_BYTES``,
``ARROW_ANSWER_BYTES``; a download within the size the run records), decoded with its
decoder's errors translated, and its fields checked, so that a broken or hostile server
costs a :class:`~flightlog.errors.ServerProtocolError` naming the endpoint, and a failed
download leaves no file behind.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import msgpack

from .errors import FileNotInRun, FlightlogError, RunNotFound, ServerProtocolError, ServerRejected
from .format._download import download_target, write_verified
from .format.mediaitem import MediaItem
from .syncd.client import Answer, HttpSyncClient

_MSGPACK = {"Accept": "application/msgpack"}
#: Bound on a msgpack answer: a list of runs, a run's details, charts or media.
QUERY_ANSWER_BYTES = 256 << 20
#: Bound on an Arrow answer: a run's history or one table.
ARROW_ANSWER_BYTES = 1 << 30


def _unpack(answer: Answer) -> Any:
    try:
        return msgpack.unpackb(answer.content, raw=False, strict_map_key=False)
    except (msgpack.UnpackException, ValueError, TypeError) as exc:
        raise ServerProtocolError(f"answer is not msgpack ({type(exc).__name__}: {exc}; it "
                                  f"starts {answer.content[:40]!r})", url=answer.endpoint
                                  ) from exc


def _arrow(answer: Answer) -> Any:
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(io.BytesIO(answer.content)).read_all()
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise ServerProtocolError(f"answer is not an Arrow IPC stream ({exc})",
                                  url=answer.endpoint) from exc


@contextmanager
def _fields(endpoint: str) -> Iterator[None]:
    """Reading a decoded answer: a field missing or of the wrong type is the server's."""
    try:
        yield
    except FlightlogError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise ServerProtocolError(f"answer lacks a field or has one of the wrong type "
                                  f"({type(exc).__name__}: {exc})", url=endpoint) from exc


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
    @property
    def labels(self) -> list[str]: ...
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

    def _endpoint(self, suffix: str = "") -> str:
        return f"GET /api/v1/runs/{self.project}/{self.id}{suffix}"

    def _get(self, suffix: str = "", **params: Any) -> Any:
        answer = self._api._client._request(
            "GET", f"/api/v1/runs/{self.project}/{self.id}{suffix}", params=params,
            headers=_MSGPACK, limit=QUERY_ANSWER_BYTES)
        return _unpack(answer)

    def _get_map(self, suffix: str = "") -> dict[str, Any]:
        body = self._get(suffix)
        if not isinstance(body, dict):
            raise ServerProtocolError(f"answer is a {type(body).__name__}, not a map",
                                      url=self._endpoint(suffix))
        return body

    def _detail(self) -> dict[str, Any]:
        try:
            return self._get_map()
        except ServerRejected as exc:
            if exc.status_code == 404:
                raise RunNotFound(f"no run {self.project}/{self.id} on {self._api.url}"
                                  ) from exc
            raise

    def _field(self, name: str, kind: type[Any]) -> Any:
        """A field of the run's details, which must be of ``kind``."""
        value = self._detail().get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ServerProtocolError(f"field {name!r} is {str(value)[:60]!r}, not "
                                      f"{kind.__name__}", url=self._endpoint())
        return value

    @property
    def name(self) -> str:
        return str(self._row.get("name") or self._field("name", str))

    @property
    def status(self) -> str:
        return str(self._field("status", str))

    @property
    def next_seq(self) -> int:
        """The sequence number after the last record the server holds: it grows as the
        daemon delivers (what ``flightlog.show`` watches to refresh)."""
        return int(self._field("next_seq", int))

    def files(self) -> list[dict[str, Any]]:
        """Each attached file: name, sha256, size (each checked to be of its type)."""
        out = []
        for f in self._field("files", list):
            ok = (isinstance(f, dict) and isinstance(f.get("name"), str)
                  and isinstance(f.get("sha256"), str) and len(f["sha256"]) == 64
                  and isinstance(f.get("size"), int) and not isinstance(f["size"], bool)
                  and f["size"] >= 0)
            if not ok:
                raise ServerProtocolError(f"file entry {str(f)[:80]!r} is not a name, a "
                                          f"SHA-256 and a size", url=self._endpoint())
            out.append(dict(f))
        return out

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self._field("summary", dict))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._field("config", dict))

    @property
    def tags(self) -> dict[str, str | None]:
        return dict(self._field("tags", dict))

    @property
    def labels(self) -> list[str]:
        """The tags as W&B lists them: ``name``, or ``name=value`` for a tag with one."""
        from .format.taglabels import tag_labels

        return list(tag_labels(self.tags))

    def history(self) -> Any:
        """A ``pyarrow.Table``, served as Arrow."""
        return _arrow(self._api._client._request(
            "GET", f"/api/v1/runs/{self.project}/{self.id}/history",
            limit=ARROW_ANSWER_BYTES))

    def get_metrics(self) -> dict[str, Any]:
        return dict(self._get_map("/metrics"))

    def tables(self) -> dict[str, Any]:
        out = {}
        names = self._get("/tables")
        with _fields(self._endpoint("/tables")):
            if not all(isinstance(n, str) for n in names):
                raise TypeError(f"table names {str(names)[:80]} are not all strings")
        for name in names:
            out[name] = _arrow(self._api._client._request(
                "GET", f"/api/v1/runs/{self.project}/{self.id}/tables/{_segment(name)}",
                limit=ARROW_ANSWER_BYTES))
        return out

    def charts(self) -> dict[str, dict[str, Any]]:
        """name → the Vega-Lite spec last logged under it, data inlined."""
        with _fields(self._endpoint("/charts")):
            return {str(name): dict(entry["spec"])
                    for name, entry in self._get_map("/charts").items()}

    def media(self) -> dict[str, list[MediaItem]]:
        """name → every image, HTML page and plotly figure logged under it; an item's
        ``read_bytes()`` downloads it (and checks its SHA-256)."""
        out = {}
        with _fields(self._endpoint("/media")):
            for name, items in self._get_map("/media").items():
                out[str(name)] = [
                    MediaItem(name, i["kind"], i["mime"], i["sha256"], i["size"],
                              i["caption"], i["step"], i["width"], i["height"],
                              fetch=functools.partial(self._blob, str(i["sha256"]),
                                                      int(i["size"])))
                    for i in items]
        return out

    def _blob(self, sha256: str, size: int) -> bytes:
        """An attached file's bytes, read within the size its record gives."""
        return self._api._client._request(
            "GET", f"/api/v1/runs/{self.project}/{self.id}/blobs/{_segment(sha256)}",
            limit=max(0, size)).content

    def show(self) -> Any:
        """Draw this run's page inline in Jupyter (``flightlog[notebook]``)."""
        from .notebook import show

        return show(self)

    def get_file_names(self) -> list[str]:
        return sorted(f["name"] for f in self.files())

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None
                      ) -> Path:
        """Download ``name`` (default: its base name in the current directory), checking
        its size and SHA-256. The target appears only complete and checked (a temporary
        file beside it is renamed); on any failure nothing is left behind.

        Raises:
            FileNotInRun: the run has no such file.
            UnsafeFileName: the name's last component is empty, ``.`` or ``..`` and no
                file path was given.
            ServerProtocolError: the server sent other bytes than the file's.
        """
        files = {f["name"]: f for f in self.files()}
        if name not in files:
            raise FileNotInRun(f"no file {name!r} in {self.project}/{self.id}; it has "
                               f"{sorted(files)}", key=name)
        target = download_target(name, output_file_path, f"{self.project}/{self.id}")
        url = f"/api/v1/runs/{self.project}/{self.id}/files/{_segment(name)}"

        def mismatch(why: str) -> ServerProtocolError:
            return ServerProtocolError(f"download of {name!r}: {why}", url=f"GET {url}")

        with self._api._client.stream(url) as blocks:
            return write_verified(target, blocks, sha256=files[name]["sha256"],
                                  size=files[name]["size"], mismatch=mismatch)

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
             order: str | None = None, limit: int = 1000, offset: int = 0
             ) -> list[RemoteRun]:
        """Runs of ``project`` (all projects if None), filtered and ordered.

        Args:
            filters: e.g. ``["status=finished", "config.alpha<=0.5", "tags.baseline"]``.
            order: e.g. ``"summary.rmse"`` (ascending) or ``"-summary.accuracy"``; default
                newest first.
            limit, offset: one page of the answer (the server allows up to 10000 a page).
        """
        params: dict[str, Any] = {"limit": limit, "offset": offset, "filter": list(filters)}
        if project is not None:
            params["project"] = project
        if order:
            params["order"] = order
        answer = self._client._request("GET", "/api/v1/runs", params=params,
                                       headers=_MSGPACK, limit=QUERY_ANSWER_BYTES)
        body = _unpack(answer)
        with _fields(answer.endpoint):
            rows = body["runs"]
            if not isinstance(rows, list) or not all(
                    isinstance(r, dict) and isinstance(r.get("project"), str)
                    and isinstance(r.get("id"), str) for r in rows):
                raise TypeError(f"'runs' is {str(rows)[:80]}, not a list of runs with a "
                                f"project and an id")
            return [RemoteRun(self, r["project"], r["id"], r) for r in rows]

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
