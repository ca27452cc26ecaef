"""The transport between the daemon and a server: a small protocol and its httpx
implementation. httpx exceptions are translated here, at this one boundary, into
:class:`~flightlog.errors.TransportError` and :class:`~flightlog.errors.ServerRejected`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx

from flightlog.errors import ServerRejected, TransportError

#: Blobs go up in chunks of this size; an interrupted upload resumes at its last chunk.
BLOB_CHUNK = 8 * 1024 * 1024


class SyncClient(Protocol):
    def position(self, project: str, run_id: str) -> int:
        """The server's committed high-water mark (next sequence number) for the run."""

    def send_frames(self, project: str, run_id: str, segment: int, frames: bytes, *,
                    allow_gap: bool, writer_alive: bool | None) -> int:
        """Commit frames; returns the new high-water mark."""

    def set_writer(self, project: str, run_id: str, alive: bool) -> None: ...

    def upload_blob(self, sha256: str, path: Path) -> None:
        """Make sure the server has this content (resuming a partial upload)."""

    def close(self) -> None: ...


@contextmanager
def _translated(url: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransportError(f"{url}: no answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise TransportError(f"{url}: {type(exc).__name__}: {exc}") from exc


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return response
    code, message, next_seq = "", response.text[:300], None
    try:
        body = response.json()
        if isinstance(body, dict):
            code = str(body.get("error", ""))
            message = str(body.get("message", body.get("detail", message)))
            next_seq = body.get("next_seq")
    except ValueError:
        pass
    raise ServerRejected(f"{response.request.method} {response.request.url.path}: HTTP "
                         f"{response.status_code} {code}: {message}".replace(":  :", ":"),
                         status_code=response.status_code, code=code, next_seq=next_seq)


class HttpSyncClient:
    """:class:`SyncClient` over HTTP.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8080``.
        token: bearer token (default ``$FLIGHTLOG_TOKEN``).
        timeout: seconds to connect and for each read; a black-holed server costs this.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        token = token if token is not None else os.environ.get("FLIGHTLOG_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with _translated(self.url):
            return _check(self._http.request(method, path, **kwargs))

    def position(self, project: str, run_id: str) -> int:
        body = self._request("GET", f"/api/v1/runs/{project}/{run_id}/sync").json()
        return int(body["next_seq"])

    def send_frames(self, project: str, run_id: str, segment: int, frames: bytes, *,
                    allow_gap: bool, writer_alive: bool | None) -> int:
        params: dict[str, Any] = {"segment": segment}
        if allow_gap:
            params["allow_gap"] = "true"
        if writer_alive is not None:
            params["writer"] = "alive" if writer_alive else "gone"
        response = self._request("POST", f"/api/v1/runs/{project}/{run_id}/frames",
                                 params=params, content=frames,
                                 headers={"Content-Type": "application/octet-stream"})
        return int(response.json()["next_seq"])

    def set_writer(self, project: str, run_id: str, alive: bool) -> None:
        self._request("POST", f"/api/v1/runs/{project}/{run_id}/writer",
                      params={"alive": "true" if alive else "false"})

    def upload_blob(self, sha256: str, path: Path) -> None:
        with _translated(self.url):
            head = self._http.head(f"/api/v1/blobs/{sha256}")
        if head.status_code == 200:
            return
        if head.status_code != 404:
            _check(head)
        offset = int(head.headers.get("Upload-Offset", "0"))
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(offset)
            while True:
                chunk = f.read(BLOB_CHUNK)
                final = offset + len(chunk) >= size
                body = self._request("PATCH", f"/api/v1/blobs/{sha256}", content=chunk,
                                     params={"offset": offset, "final": str(final).lower()}
                                     ).json()
                offset = int(body["size"])
                if body["complete"] or final:
                    return

    def close(self) -> None:
        self._http.close()
