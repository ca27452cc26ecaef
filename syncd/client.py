"""The transport between the daemon and a server: a small protocol and its httpx
implementation. httpx exceptions are translated here, at this one boundary, into
:class:`~flightlog.errors.TransportError` and :class:`~flightlog.errors.ServerRejected`.

Answers are untrusted: each is streamed and read up to a size bound of its endpoint (and,
for the small control answers, a wall-clock bound), redirects are refused, and every body
is decoded and its fields checked here, so that a broken or hostile server costs a
:class:`~flightlog.errors.ServerProtocolError` naming the endpoint and what was wrong,
never a decoder's traceback, unbounded memory or an endless loop.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from flightlog.errors import ServerProtocolError, ServerRejected, TransportError

from .retry import retry_after_seconds

T = TypeVar("T")

#: Blobs go up in chunks of this size; an interrupted upload resumes at its last chunk.
BLOB_CHUNK = 8 * 1024 * 1024
#: Bound on a control answer (a position, an acknowledgement: a few hundred bytes).
CONTROL_ANSWER_BYTES = 1 << 20
#: Bound on what is read of an error answer (its message is cut to 300 characters).
ERROR_ANSWER_BYTES = 64 * 1024
#: A control answer must be complete within this many read timeouts: the per-read timeout
#: alone lets a server that trickles one byte at a time hold the client forever.
CONTROL_ANSWER_TIMEOUTS = 3


@dataclass(frozen=True)
class ServerMark:
    """The server's committed position of a run: ``next_seq`` (records below it are
    committed) and the gaps it holds, each (first, last) sequence numbers a client
    declared lost to corruption (kept visible so that the run's own client can check
    them against its log)."""

    next_seq: int
    gaps: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Answer:
    """A server's answer, read in full within its endpoint's bound."""

    endpoint: str  # "METHOD /path", for messages
    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ServerProtocolError(f"HTTP {self.status_code} answer is not JSON ({exc}; "
                                      f"it starts {self.content[:60]!r})",
                                      url=self.endpoint) from exc

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ServerProtocolError(f"answer is JSON {type(body).__name__}, not an object",
                                      url=self.endpoint)
        return body


def answer_field(body: dict[str, Any], name: str, kind: type[T], endpoint: str) -> T:
    """``body[name]``, which must be of ``kind`` (bool is not an int here)."""
    value = body.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ServerProtocolError(f"answer field {name!r} is {str(value)[:80]!r}, not "
                                  f"{kind.__name__}", url=endpoint)
    return value


def answer_count(body: dict[str, Any], name: str, endpoint: str) -> int:
    """A non-negative integer field (a position, a size)."""
    value = answer_field(body, name, int, endpoint)
    if value < 0:
        raise ServerProtocolError(f"answer field {name!r} is {value}, a negative count",
                                  url=endpoint)
    return value


class SyncClient(Protocol):
    def position(self, project: str, run_id: str) -> ServerMark:
        """The server's committed high-water mark (next sequence number) for the run,
        and the gaps it holds."""

    def send_frames(self, project: str, run_id: str, segment: int, frames: bytes, *,
                    gaps: Sequence[tuple[int, int]], writer_alive: bool | None) -> int:
        """Commit frames; returns the new high-water mark. ``gaps``: the (first, last)
        sequence numbers the local log lost that this batch skips, declared exactly."""

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
    except httpx.DecodingError as exc:  # a Content-Encoding that does not decode
        raise ServerProtocolError(f"answer does not decode: {exc}", url=url) from exc


def _rejected(answer: Answer) -> ServerRejected:
    code, message, next_seq = "", answer.content[:300].decode("utf-8", "replace"), None
    try:
        body = json.loads(answer.content)
        if isinstance(body, dict):
            code = str(body.get("error", ""))[:100]
            message = str(body.get("message", body.get("detail", message)))[:300]
            seq = body.get("next_seq")
            next_seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    except ValueError:
        pass
    if answer.status_code == 401:  # the fix is the client's: say which setting holds it
        message += " (give the server's token: --token or token=, or set FLIGHTLOG_TOKEN)"
    return ServerRejected(f"{answer.endpoint}: HTTP {answer.status_code} {code}: "
                          f"{message}".replace(":  :", ":"),
                          status_code=answer.status_code, code=code, next_seq=next_seq,
                          retry_after=retry_after_seconds(answer.headers.get("retry-after")))


def _read_answer(response: httpx.Response, limit: int, seconds: float | None,
                 accept: tuple[int, ...] = ()) -> Answer:
    """The answer's body, read up to ``limit`` bytes (``seconds`` in all, when given).
    Raises ServerProtocolError for a redirect or an answer over its bound, ServerRejected
    for an HTTP error whose status is not in ``accept``."""
    endpoint = f"{response.request.method} {response.request.url.path}"
    status = response.status_code
    if 300 <= status < 400:
        raise ServerProtocolError(
            f"answered HTTP {status} redirect to {response.headers.get('location', '?')!r}; "
            f"redirects are not followed: give the server's own URL", url=endpoint)
    cap = limit if status < 400 else ERROR_ANSWER_BYTES
    declared = response.headers.get("content-length", "")
    if status < 400 and declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise ServerProtocolError(f"answer of {declared} bytes over this endpoint's "
                                  f"{cap}-byte bound: not read", url=endpoint)
    started = time.monotonic()
    body = bytearray()
    for block in response.iter_bytes():
        body += block
        if len(body) > cap:
            if status >= 400:  # the start of an error answer is all its message needs
                del body[cap:]
                break
            raise ServerProtocolError(f"answer over this endpoint's {cap}-byte bound "
                                      f"({len(body)} bytes read, more coming): not read "
                                      f"further", url=endpoint)
        if seconds is not None and time.monotonic() - started > seconds:
            raise ServerProtocolError(f"answer still arriving after {seconds:.0f} s "
                                      f"({len(body)} bytes): not read further", url=endpoint)
    answer = Answer(endpoint, status, response.headers, bytes(body))
    if status >= 400 and status not in accept:
        raise _rejected(answer)
    return answer


def _blocks(response: httpx.Response, url: str) -> Iterator[bytes]:
    """The body of a streamed answer, transport errors translated."""
    with _translated(url):
        yield from response.iter_bytes()


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
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.url, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        self._blob_locks = [threading.Lock() for _ in range(64)]

    def _request(self, method: str, path: str, *, limit: int = CONTROL_ANSWER_BYTES,
                 accept: tuple[int, ...] = (), **kwargs: Any) -> Answer:
        """One request; its answer read within ``limit`` bytes (a control answer: also
        within CONTROL_ANSWER_TIMEOUTS read timeouts). Raises ServerRejected for an
        HTTP error (unless its status is in ``accept``), ServerProtocolError for a
        redirect or an answer over its bound."""
        seconds = (self.timeout * CONTROL_ANSWER_TIMEOUTS if limit <= CONTROL_ANSWER_BYTES
                   else None)
        with _translated(self.url):
            response = self._http.send(self._http.build_request(method, path, **kwargs),
                                       stream=True)
            try:
                return _read_answer(response, limit, seconds, accept)
            finally:
                response.close()

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[Iterator[bytes]]:
        """GET ``path`` and yield its body in blocks (a download: the caller bounds it).
        Error answers and redirects raise before any block."""
        with _translated(self.url):
            response = self._http.send(self._http.build_request("GET", path, **kwargs),
                                       stream=True)
        try:
            if response.status_code >= 300:
                with _translated(self.url):
                    _read_answer(response, ERROR_ANSWER_BYTES, self.timeout)
            yield _blocks(response, self.url)
        finally:
            response.close()

    def position(self, project: str, run_id: str) -> ServerMark:
        answer = self._request("GET", f"/api/v1/runs/{project}/{run_id}/sync")
        body = answer.json_object()
        next_seq = answer_count(body, "next_seq", answer.endpoint)
        raw = body.get("gaps", [])
        gaps: list[tuple[int, int]] = []
        if not isinstance(raw, list):
            raise ServerProtocolError(f"answer field 'gaps' is {str(raw)[:80]}, not a list",
                                      url=answer.endpoint)
        for gap in raw:
            ok = (isinstance(gap, list) and len(gap) == 2
                  and all(isinstance(g, int) and not isinstance(g, bool) for g in gap))
            if not ok or not (gaps[-1][1] if gaps else -1) < gap[0] <= gap[1] < next_seq:
                raise ServerProtocolError(f"gap {str(gap)[:80]} is not an ascending (first, last) "
                                          f"range below next_seq {next_seq}",
                                          url=answer.endpoint)
            gaps.append((gap[0], gap[1]))
        return ServerMark(next_seq, tuple(gaps))

    def send_frames(self, project: str, run_id: str, segment: int, frames: bytes, *,
                    gaps: Sequence[tuple[int, int]], writer_alive: bool | None) -> int:
        params: dict[str, Any] = {"segment": segment}
        if gaps:
            params["gap"] = [f"{first}-{last}" for first, last in gaps]
        if writer_alive is not None:
            params["writer"] = "alive" if writer_alive else "gone"
        answer = self._request("POST", f"/api/v1/runs/{project}/{run_id}/frames",
                               params=params, content=frames,
                               headers={"Content-Type": "application/octet-stream"})
        return answer_count(answer.json_object(), "next_seq", answer.endpoint)

    def set_writer(self, project: str, run_id: str, alive: bool) -> None:
        self._request("POST", f"/api/v1/runs/{project}/{run_id}/writer",
                      params={"alive": "true" if alive else "false"})

    def upload_blob(self, sha256: str, path: Path) -> None:
        """Uploads of the same content by runs shipped at once take turns (a stripe of
        locks by hash): the later one finds the content on the server (one HEAD) and
        never sends it again."""
        with self._blob_locks[hash(sha256) % len(self._blob_locks)]:
            self._upload_blob(sha256, path)

    def _upload_blob(self, sha256: str, path: Path) -> None:
        """Resumes at the server's offset. Every answer must advance the upload by
        exactly the chunk sent: an upload that does not advance is given up at once
        (ServerProtocolError naming the file and both offsets), so it costs at most one
        request per chunk."""
        endpoint = f"/api/v1/blobs/{sha256}"
        head = self._request("HEAD", endpoint, accept=(404,))
        if head.status_code != 404:
            return  # the server has it
        offset_header = head.headers.get("upload-offset", "0")
        size = path.stat().st_size
        if (not offset_header.isascii() or not offset_header.isdigit()
                or int(offset_header) > size):
            raise ServerProtocolError(f"Upload-Offset {offset_header[:40]!r} for {path} "
                                      f"({size} bytes) is not an offset within it",
                                      url=f"HEAD {endpoint}", path=str(path))
        offset = int(offset_header)
        with open(path, "rb") as f:
            while True:
                f.seek(offset)
                chunk = f.read(BLOB_CHUNK)
                final = offset + len(chunk) >= size
                answer = self._request("PATCH", endpoint, content=chunk,
                                       params={"offset": offset, "final": str(final).lower()})
                body = answer.json_object()
                complete = answer_field(body, "complete", bool, answer.endpoint)
                answered = answer_count(body, "size", answer.endpoint)
                if complete:
                    return
                if final or answered != offset + len(chunk):
                    raise ServerProtocolError(
                        f"upload of {path} does not advance: sent bytes {offset}.."
                        f"{offset + len(chunk)} of {size}{' (the last)' if final else ''}, "
                        f"the server answered size {answered}, complete=false",
                        url=answer.endpoint)
                offset = answered

    def close(self) -> None:
        self._http.close()
