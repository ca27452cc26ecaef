"""Where an import commits: a running server over HTTP (the sync protocol, through
:class:`~flightlog.syncd.client.HttpSyncClient`), or a server's data directory through
:class:`~flightlog.server.storage.Storage` itself. Either way every frame is validated by
the server's own strict code path and committed atomically, batch by batch; attached
files are stored by the resumable, hash-checked blob upload.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from flightlog.errors import BundleError, FlightlogError, ServerRejected

#: Attached files go up in chunks of this size, the sync client's (measured on a loaded
#: 2-core machine, 128 MiB to a local server: 8 MiB 5.1-6.3 s, 4 MiB 6.4-6.6 s, 2 MiB
#: 9.4-9.7 s, 16 MiB 5.7-6.7 s, 32 MiB 6.2-8.6 s: the server buffers each request whole).
FILE_CHUNK = 8 * 1024 * 1024
#: How long one request of an import keeps being retried while the server says "slow
#: down" (429) or "not now" (503, or a balancer's 502/504), each wait the longer of the
#: sync daemon's jittered backoff and the answer's Retry-After (syncd/retry.py bounds it).
BUSY_RETRY_FOR = 120.0
_BUSY = frozenset({429, 502, 503, 504})
_T = TypeVar("_T")


class Rejected(FlightlogError):
    """The target refused a batch. ``incomplete``: a gap or a missing file, which a later
    bundle fills (exit 3); otherwise the batch itself is bad (exit 1)."""

    def __init__(self, message: str, *, incomplete: bool) -> None:
        self.incomplete = incomplete
        super().__init__(message)


class Target(Protocol):
    label: str  # named in receipts
    file_chunk: int  # put_file takes an attached file in blocks of this size

    def position(self, project: str, run_id: str) -> int: ...

    def commit(self, project: str, run_id: str, segment: int, frames: bytes,
               writer_alive: bool | None, gaps: list[tuple[int, int]]) -> int:
        """Commit a batch; ``gaps``: holes it leaves that the sender's log lost (declared
        in the bundle's manifest), each exactly (SPEC.md §18.6)."""

    def set_writer(self, project: str, run_id: str, alive: bool) -> None: ...

    def file_offset(self, sha256: str) -> int | None:
        """None when the target has the file; else bytes of it received so far."""

    def put_file(self, sha256: str, offset: int, size: int, blocks: Iterator[bytes], *,
                 final: bool = True) -> None:
        """Append ``blocks`` to the upload at ``offset``; with ``final``, the last block
        completes it (the target checks the SHA-256; only then does the file exist)."""

    def close(self) -> None: ...


class DataDirTarget:
    """A server's data directory, with no server running on it (``--data``). An exclusive
    lock on ``DIR/.import.lock`` keeps two imports from interleaving."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        from flightlog.server.storage import Storage

        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(self.dir / ".import.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise BundleError("another flightlog import into this data directory is "
                              "running", path=str(self.dir)) from None
        self.storage = Storage(self.dir, log=_storage_log)
        self.label = f"data:{self.dir.resolve().name}"
        self.file_chunk = 4 << 20

    def position(self, project: str, run_id: str) -> int:
        if not self.storage.exists(project, run_id):
            return 0
        with self.storage.lock(project, run_id):
            return self.storage.load(project, run_id).next_seq

    def commit(self, project: str, run_id: str, segment: int, frames: bytes,
               writer_alive: bool | None, gaps: list[tuple[int, int]]) -> int:
        from flightlog.server.storage import BadBatch, Conflict

        try:
            return self.storage.commit(project, run_id, segment, frames, gaps=gaps,
                                       writer_alive=writer_alive).next_seq
        except Conflict as exc:
            raise Rejected(f"{exc.code}: {exc.message}",
                           incomplete=exc.code in ("gap", "missing-blob")) from exc
        except BadBatch as exc:
            raise Rejected(exc.message, incomplete=False) from exc

    def set_writer(self, project: str, run_id: str, alive: bool) -> None:
        if self.storage.exists(project, run_id):
            self.storage.set_writer_alive(project, run_id, alive)

    def file_offset(self, sha256: str) -> int | None:
        complete, size = self.storage.blob_state(sha256)
        return None if complete else size

    def put_file(self, sha256: str, offset: int, size: int, blocks: Iterator[bytes], *,
                 final: bool = True) -> None:
        from flightlog.server.storage import BadBatch, Conflict

        try:
            self.storage.append_blob(sha256, offset, blocks, final, size - offset)
        except (BadBatch, Conflict) as exc:
            raise Rejected(f"attached file {sha256}: {exc.message}", incomplete=False) from exc

    def close(self) -> None:
        os.close(self._lock)


def _storage_log(line: str) -> None:
    """The storage's lines as an import's: its routine index-check summary is a server's
    start-up news, not an import's, so only problems are shown."""
    if not line.startswith("index checked against"):
        print(f"flightlog import: {line}", file=sys.stderr, flush=True)


class ServerTarget:
    """A running server (``--server URL``), spoken to with the sync daemon's client."""

    def __init__(self, url: str, token: str | None, timeout: float = 60.0) -> None:
        from flightlog.syncd.client import HttpSyncClient

        self.client = HttpSyncClient(url, token, timeout=timeout)
        self.label = self.client.url
        self.file_chunk = FILE_CHUNK

    def position(self, project: str, run_id: str) -> int:
        return self._when_not_busy(lambda: self.client.position(project, run_id).next_seq)

    def commit(self, project: str, run_id: str, segment: int, frames: bytes,
               writer_alive: bool | None, gaps: list[tuple[int, int]]) -> int:
        # A batch sent again after a 503 the server committed anyway is a no-op there.
        try:
            return self._when_not_busy(lambda: self.client.send_frames(
                project, run_id, segment, frames, gaps=gaps, writer_alive=writer_alive))
        except ServerRejected as exc:
            if exc.status_code in (409, 400):
                raise Rejected(str(exc), incomplete=exc.status_code == 409) from exc
            raise

    def set_writer(self, project: str, run_id: str, alive: bool) -> None:
        with contextlib.suppress(ServerRejected):  # a run the server does not have yet
            self.client.set_writer(project, run_id, alive)

    def file_offset(self, sha256: str) -> int | None:
        response = self._http("HEAD", f"/api/v1/blobs/{sha256}")
        if response.status_code == 200:
            return None
        offset = response.headers.get("upload-offset", "0")
        if response.status_code != 404 or not offset.isdigit():
            raise Rejected(f"HEAD /api/v1/blobs/{sha256}: HTTP {response.status_code}",
                           incomplete=False)
        return int(offset)

    def put_file(self, sha256: str, offset: int, size: int, blocks: Iterator[bytes], *,
                 final: bool = True) -> None:
        """One PATCH per block (``file_chunk`` bytes), as the sync client uploads."""
        if offset >= size and final:  # all received, not checked yet: the final request
            self._patch(sha256, offset, b"", final=True)
        for block in blocks:
            last = final and offset + len(block) >= size
            offset = self._patch(sha256, offset, block, final=last)

    def _patch(self, sha256: str, offset: int, chunk: bytes, *, final: bool) -> int:
        response = self._http("PATCH", f"/api/v1/blobs/{sha256}", content=chunk,
                              params={"offset": offset, "final": str(final).lower()})
        if response.status_code >= 400:
            raise Rejected(f"PATCH /api/v1/blobs/{sha256}: HTTP {response.status_code} "
                           f"{response.text[:200]}", incomplete=False)
        try:
            answered = response.json()["size"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Rejected(f"PATCH /api/v1/blobs/{sha256}: answer {response.text[:80]!r}",
                           incomplete=False) from exc
        if not isinstance(answered, int) or answered != offset + len(chunk):
            raise Rejected(f"upload of {sha256} did not advance to {offset + len(chunk)} "
                           f"(the server says {answered!r})", incomplete=False)
        return answered

    def _http(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request on the sync client's own session (its base URL, token, timeouts),
        transport errors translated as the client does."""
        import httpx

        from flightlog.errors import TransportError

        def once() -> Any:
            try:
                response = self.client._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise TransportError(f"{self.client.url}: {type(exc).__name__}: {exc}"
                                     ) from exc
            if response.status_code in _BUSY:
                raise ServerRejected(f"{method} {path}: HTTP {response.status_code}",
                                     status_code=response.status_code,
                                     retry_after=_retry_after(response))
            return response

        try:
            return self._when_not_busy(once)
        except ServerRejected as exc:
            raise Rejected(f"{exc}: the server stayed busy for {BUSY_RETRY_FOR:g} s",
                           incomplete=True) from exc

    def _when_not_busy(self, call: Callable[[], _T]) -> _T:
        """``call()``, again while the server answers 429/502/503/504, for at most
        ``BUSY_RETRY_FOR`` seconds; any other answer or error is the caller's."""
        from flightlog.syncd.retry import Backoff

        backoff, deadline = Backoff(), time.monotonic() + BUSY_RETRY_FOR
        while True:
            try:
                return call()
            except ServerRejected as exc:
                if exc.status_code not in _BUSY:
                    raise
                delay = backoff.failed(retry_after=exc.retry_after)
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)  # the server asked us to wait: a real wait, not a sync

    def close(self) -> None:
        self.client.close()


def _retry_after(response: Any) -> float | None:
    from flightlog.syncd.retry import retry_after_seconds

    return retry_after_seconds(response.headers.get("retry-after"))


__all__ = ["DataDirTarget", "Rejected", "ServerTarget", "Target"]
