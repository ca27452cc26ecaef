"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between the sync daemon and a server.

For each request, in arrival order, a seeded schedule picks one action:

- ``forward``: pass the request on and the server's response back.
- ``drop``: close the client's connection before forwarding anything.
- ``delay``: wait a little (under the client's timeout), then forward.
- ``unavailable``: answer ``503`` itself; the server never sees the request.
- ``reject``: answer ``400`` itself (a refusal that must not be retried).
- ``cut``: forward, read the server's whole response, then close the client's connection
  without sending it: the batch is committed but the client never hears so.
- ``stall``: wait longer than the client's timeout, then forward anyway (the client has
  given up and retried: the server sees a late duplicate).

Requests are parsed (request line, headers, a ``Content-Length`` body; chunked bodies are
refused with 501, httpx sends bytes bodies with a length), client connections are kept
alive across requests, and each request goes to the server on a fresh connection
(``Connection: close``), whose response is read to its end.

    proxy = FaultProxy(server_port, seed=7, weights={"forward": 6, "cut": 1})
    proxy.start()      # proxy.url: give it to the client
    ...
    proxy.close()
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

ACTIONS = ("forward", "drop", "delay", "unavailable", "reject", "cut", "stall")
_MAX_HEAD = 64 * 1024


class _Closed(Exception):
    """The peer closed the connection (or sent something unusable)."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        conn = (self.header("connection") or "").lower()
        return conn != "close" if self.version == "HTTP/1.1" else conn == "keep-alive"

    def upstream_bytes(self) -> bytes:
        """The request as sent to the server: ``Connection: close``, body unchanged."""
        lines = [f"{self.method} {self.target} {self.version}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() != "connection"]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class _Reader:
    """Buffered reads from a socket: up to a delimiter, or an exact length."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except OSError as exc:
            raise _Closed(str(exc)) from exc
        if not chunk:
            raise _Closed("EOF")
        self.buf += chunk

    def until(self, delimiter: bytes, limit: int = _MAX_HEAD) -> bytes:
        while (end := self.buf.find(delimiter)) < 0:
            if len(self.buf) > limit:
                raise _Closed("header too long")
            self._fill()
        end += len(delimiter)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        """Everything until the peer closes."""
        while True:
            try:
                self._fill()
            except _Closed:
                out, self.buf = self.buf, b""
                return out


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            raise _Closed(f"bad header line {line!r}")
        headers.append((key.strip(), value.strip()))
    return headers


def read_request(reader: _Reader) -> Request:
    head = reader.until(b"\r\n\r\n").decode("latin-1")
    first, *lines = head[:-4].split("\r\n")
    parts = first.split(" ")
    if len(parts) != 3:
        raise _Closed(f"bad request line {first!r}")
    method, target, version = parts
    request = Request(method, target, version, _parse_headers(lines), b"")
    if (request.header("transfer-encoding") or "").lower() not in ("", "identity"):
        raise NotImplementedError("chunked request body")
    length = int(request.header("content-length") or "0")
    request.body = reader.exactly(length)
    return request


@dataclass
class Response:
    raw_head: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    delimited: bool  # the client can tell where it ends without the connection closing

    def client_bytes(self, keep_alive: bool) -> bytes:
        first = self.raw_head.split("\r\n", 1)[0]
        lines = [first] + [f"{k}: {v}" for k, v in self.headers if k.lower() != "connection"]
        if not (keep_alive and self.delimited):
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def read_response(reader: _Reader, method: str) -> Response:
    """A response from a server that closes the connection after it."""
    head = reader.until(b"\r\n\r\n").decode("latin-1")
    first, *lines = head[:-4].split("\r\n")
    status = int(first.split(" ")[1])
    headers = _parse_headers(lines)
    values = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(head, status, headers, b"", True)
    if "content-length" in values:
        return Response(head, status, headers, reader.exactly(int(values["content-length"])),
                        True)
    # Chunked or delimited by the close: pass the bytes on as they are.
    return Response(head, status, headers, reader.rest(),
                    values.get("transfer-encoding", "").lower() == "chunked")


def _answer(status: int, reason: str, code: str) -> bytes:
    body = json.dumps({"error": code, "message": "injected by the fault proxy"}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class FaultProxy:
    """Listens on 127.0.0.1 (``url``); forwards to ``127.0.0.1:upstream_port``.

    Args:
        weights: relative weight of each action in the schedule (default: forward only).
        delay: seconds of a ``delay``; ``stall``: seconds of a ``stall`` (choose it longer
            than the client's timeout).
        only: apply faults only to requests whose path contains this; others forward.
        script: the actions of the first (faultable) requests, in order; the seeded
            schedule takes over after them.
    """

    upstream_port: int
    seed: int = 0
    weights: dict[str, float] = field(default_factory=lambda: {"forward": 1.0})
    delay: float = 0.05
    stall: float = 2.5
    only: str = ""
    script: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # action, method, target
    times: list[float] = field(default_factory=list)  # time.monotonic() of each event
    # (time.monotonic() just before it is sent, method, target, status, Retry-After or "")
    # of each server answer passed on to the client.
    answers: list[tuple[float, str, str, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = (set(self.weights) | set(self.script)) - set(ACTIONS)
        assert not unknown, unknown
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FaultProxy:
        self._spawn(self._accept_loop)
        return self

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(10)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,  # type: ignore[arg-type]
                                  name="faultproxy")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(conn)
            self._spawn(self._serve, conn)

    # ------------------------------------------------------------ one client connection

    def _choose(self, request: Request) -> str:
        with self._lock:
            actions = list(self.weights)
            action = self._rng.choices(actions, [self.weights[a] for a in actions])[0]
            if self.only not in request.target:
                action = "forward"
            elif self.script:
                action = self.script.pop(0)
            self.stats[action] += 1
            self.events.append((action, request.method, request.target))
            self.times.append(time.monotonic())
            return action

    def _serve(self, conn: socket.socket) -> None:
        reader = _Reader(conn)
        try:
            while not self._stop.is_set():
                try:
                    request = read_request(reader)
                except NotImplementedError:
                    self.stats["chunked"] += 1
                    conn.sendall(b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\n"
                                 b"connection: close\r\n\r\n")
                    return
                if not self._handle(conn, request):
                    return
        except (_Closed, OSError):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _handle(self, conn: socket.socket, request: Request) -> bool:
        """Carry out the scheduled action; False when the client connection is done."""
        action = self._choose(request)
        if action == "drop":
            return False
        if action in ("unavailable", "reject"):
            conn.sendall(_answer(503, "Service Unavailable", "unavailable")
                         if action == "unavailable" else _answer(400, "Bad Request", "invalid"))
            return request.keep_alive
        if action in ("delay", "stall") and self._stop.wait(
                self.delay if action == "delay" else self.stall):
            return False
        response = self._forward(request)
        if response is None:  # the server is down: the client sees a closed connection
            self.stats["upstream-failed"] += 1
            return False
        if action == "cut":
            return False  # committed upstream, never acknowledged downstream
        retry_after = next((v for k, v in response.headers if k.lower() == "retry-after"), "")
        with self._lock:
            self.answers.append((time.monotonic(), request.method, request.target,
                                 response.status, retry_after))
        conn.sendall(response.client_bytes(request.keep_alive))
        return request.keep_alive and response.delimited

    def _forward(self, request: Request) -> Response | None:
        try:
            with socket.create_connection(("127.0.0.1", self.upstream_port),
                                          timeout=30) as upstream:
                upstream.sendall(request.upstream_bytes())
                return read_response(_Reader(upstream), request.method)
        except (_Closed, OSError):
            return None
