"""A broken or malicious flightlog server on 127.0.0.1, for the client's tests.

It speaks just enough of the sync and query API for a client to get going, then does one
thing wrong, chosen by ``mode``:

- ``stale-upload``: every ``PATCH`` of a blob upload is answered 200 with the size the
  upload started at (the offset never advances). In the other modes an upload (of one
  chunk) is answered as taken.
- ``hwm-huge`` / ``hwm-negative``: ``GET .../sync`` answers ``next_seq`` 10**12 / -1.
- ``ack-huge``: ``.../sync`` answers 0, then a frame batch is acknowledged with 10**12.
- ``endless``: ``.../sync`` answers 200 and a body that never ends (until the client
  hangs up; ``endless_sent`` counts what got out).
- ``trickle``: ``.../sync`` answers 200 and one byte at a time, forever, each just under
  the client's read timeout (``trickle_interval``).
- ``not-json``: ``.../sync`` answers 200 with an HTML page.
- ``redirect``: every request is answered ``307`` to another host.
- ``garbage-msgpack``: ``GET /api/v1/runs`` answers 200 ``application/msgpack`` garbage.
- ``files``: a run ``p/r`` whose details list ``files`` (name → (bytes served, sha256,
  size claimed)); ``GET .../files/NAME`` serves those bytes, and with ``cut_downloads``
  declares the claimed size but closes the connection half-way.

``requests`` counts requests by "METHOD first-path-part..." so a test can bound them.

    with HostileServer("hwm-huge") as server:
        run_cli("sync", root, "--server", server.url, ...)
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import msgpack

MODES = ("stale-upload", "hwm-huge", "hwm-negative", "ack-huge", "endless", "trickle",
         "not-json", "redirect", "garbage-msgpack", "files")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Listener

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------ answers

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def _msgpack(self, value: Any) -> None:
        self._send(200, msgpack.packb(value, use_bin_type=True), "application/msgpack")

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        block = b'{"next_seq": 0, "padding": "' + b"x" * 65536
        with contextlib.suppress(OSError):
            while not self.server.stopping.is_set():
                self.wfile.write(block)
                self.server.add_sent(len(block))

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.write(b"{")
            self.wfile.flush()
            # Not a sleep for synchronisation: the pacing is the behaviour under test.
            while not self.server.stopping.wait(self.server.trickle_interval):
                self.wfile.write(b" ")
                self.wfile.flush()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ------------------------------------------------------------ routing

    def _handle(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        parts = path.strip("/").split("/")
        self.server.count(f"{self.command} {'/'.join(parts[:3])}"
                          f"{'/' + parts[-1] if len(parts) > 3 else ''}")
        body = self._read_body()
        mode = self.server.mode
        if mode == "redirect":
            self._send(307, b"", headers={"Location": f"http://127.0.0.1:9{path}"})
            return
        if path == "/healthz":
            self._json({"status": "ok"})
            return
        if path.endswith("/sync"):
            if mode == "endless":
                self._endless()
            elif mode == "trickle":
                self._trickle()
            elif mode == "not-json":
                self._send(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
            elif mode == "hwm-huge":
                self._json({"next_seq": 10**12, "segment": 0})
            elif mode == "hwm-negative":
                self._json({"next_seq": -1, "segment": 0})
            else:
                self._json({"next_seq": 0, "segment": -1, "gaps": []})
            return
        if path.endswith("/frames") and self.command == "POST":
            if mode == "ack-huge":
                self._json({"next_seq": 10**12, "segment": 0, "accepted": 1, "skipped": 0})
            else:  # a gap: the client stops right after its blobs went up (or not)
                self._json({"error": "gap", "message": "hostile", "next_seq": 0}, 409)
            return
        if path.startswith("/api/v1/blobs/"):
            if self.command == "HEAD":
                self._send(404, b"", headers={"Upload-Offset": "0"})
            elif mode == "stale-upload":
                self._json({"complete": False, "size": 0})
            else:  # took it (without keeping it)
                final = "final=true" in url.query
                self._json({"complete": final, "size": len(body)})
            return
        if path == "/api/v1/runs" and mode == "garbage-msgpack":
            self._send(200, b"\xc1\xc1 this is not msgpack \x00\xff", "application/msgpack")
            return
        if mode == "files" and path == "/api/v1/runs/p/r":
            self._msgpack({"project": "p", "id": "r", "name": "r", "status": "finished",
                           "files": [{"name": name, "sha256": sha, "size": size}
                                     for name, (_, sha, size) in self.server.files.items()]})
            return
        if mode == "files" and path.startswith("/api/v1/runs/p/r/files/"):
            name = path[len("/api/v1/runs/p/r/files/"):]
            content, _, size = self.server.files[name]
            if self.server.cut_downloads:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.write(content[: size // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, content, "application/octet-stream")
            return
        self._json({"error": "not-found", "message": f"no {path}"}, 404)

    do_GET = do_HEAD = do_POST = do_PATCH = _handle


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.stopping = threading.Event()
        self.requests: Counter[str] = Counter()
        self.sent = 0
        self.trickle_interval = 0.5
        self.files: dict[str, tuple[bytes, str, int]] = {}
        self.cut_downloads = False
        self._lock = threading.Lock()

    def count(self, what: str) -> None:
        with self._lock:
            self.requests[what] += 1

    def add_sent(self, n: int) -> None:
        with self._lock:
            self.sent += n


class HostileServer:
    def __init__(self, mode: str) -> None:
        assert mode in MODES, mode
        self._listener = _Listener(mode)
        self.port = int(self._listener.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._listener.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="hostile-server")

    @property
    def requests(self) -> Counter[str]:
        return self._listener.requests

    @property
    def endless_sent(self) -> int:
        return self._listener.sent

    @property
    def files(self) -> dict[str, tuple[bytes, str, int]]:
        return self._listener.files

    def set(self, **options: Any) -> HostileServer:
        for key, value in options.items():
            assert hasattr(self._listener, key), key
            setattr(self._listener, key, value)
        return self

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.stopping.set()
        self._listener.shutdown()
        self._listener.server_close()
        self._thread.join(10)

