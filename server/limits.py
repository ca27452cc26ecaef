"""What the server bounds in each request before it does any work for it.

- Path parameters: projects and run ids match SPEC.md §2's name pattern, content hashes
  are 64 lowercase hex digits (declared in the OpenAPI schema; a mismatch is a 400).
- Integer query parameters have explicit ranges (``Query(ge=, le=)``).
- Request bodies: a size bound per route (413), and a read timeout: each chunk must
  arrive within ``body_timeout`` seconds and, after that grace, the body must average
  at least ``MIN_BODY_RATE`` bytes/s (408 otherwise), so a client that sends a few bytes
  and stalls does not hold the request open.
- Errors are JSON ``{"error", "message"}``; an unexpected exception is a 500 that names
  no internals (the traceback goes to the server's log only).

Timeout and the age at which an abandoned upload is deleted (storage.py) come from the
environment, so a deployment (or a test) can tighten them without code:
``FLIGHTLOG_BODY_TIMEOUT`` (seconds, default 30) and ``FLIGHTLOG_PARTIAL_TTL`` (seconds,
default 86400).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from .storage import PARTIAL_TTL

#: SPEC.md §2: projects and run ids.
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
ProjectName = Annotated[str, Path(pattern=NAME_PATTERN, description="project (SPEC.md §2)")]
RunId = Annotated[str, Path(pattern=NAME_PATTERN, description="run id (SPEC.md §2)")]
Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN,
                             description="content SHA-256, lowercase hex")]

#: Upper bounds of integer query parameters (SQLite integers are 64-bit; segment
#: indexes have 8 decimal digits, SPEC.md §2).
MAX_OFFSET: Final = 1 << 40
MAX_SEGMENT: Final = 99_999_999
MAX_PAGE_ROWS: Final = 1 << 40

BODY_TIMEOUT: Final = 30.0
#: After the first ``body_timeout`` seconds, a body slower than this is cut (408).
MIN_BODY_RATE: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerLimits:
    body_timeout: float = BODY_TIMEOUT
    partial_ttl: float = PARTIAL_TTL

    @classmethod
    def from_env(cls) -> ServerLimits:
        return cls(_seconds("FLIGHTLOG_BODY_TIMEOUT", BODY_TIMEOUT),
                   _seconds("FLIGHTLOG_PARTIAL_TTL", PARTIAL_TTL))


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 10**9:
        raise SystemExit(f"{name}={text!r}: give a number of seconds > 0")
    return value


def _described(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"},
                                         "message": {"type": "string"}}}}}}


#: Answers every route may give (the OpenAPI schema lists them on each).
COMMON_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _described("invalid request: a parameter, a name or the body is not valid"),
    401: _described("missing or invalid bearer token (a server started with --token)"),
    404: _described("no such run, table, chart or file"),
}
#: ``POST .../frames`` takes only application/octet-stream (security.py).
FRAMES_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    415: _described("the body is not Content-Type application/octet-stream"),
}
#: Answers of the routes that take a body.
UPLOAD_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    408: _described("the request body stalled or arrived too slowly"),
    409: _described("conflict: gap, divergent frames, missing file, wrong upload offset"),
    413: _described("request body over the route's size limit"),
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (413), arriving in time (408)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise HTTPException(400, f"Content-Length {declared[:40]!r} is not a number")
        if int(declared) > limit:
            raise HTTPException(413, f"request body of {declared} bytes over the {limit} "
                                     f"limit")
    timeout = getattr(request.app.state, "limits", ServerLimits()).body_timeout
    body = bytearray()
    chunks = request.stream().__aiter__()
    start = time.monotonic()
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), timeout)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise HTTPException(408, f"request body stalled: nothing for {timeout:g} s "
                                     f"after {len(body)} bytes") from None
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body over the {limit} byte limit")
        late = time.monotonic() - start - timeout
        if late > 0 and len(body) < MIN_BODY_RATE * late:
            raise HTTPException(408, f"request body arrives slower than {MIN_BODY_RATE} "
                                     f"bytes/s ({len(body)} bytes in {late + timeout:.0f} s)")
    return bytes(body)


def install_error_handlers(app: FastAPI) -> None:
    """Invalid parameters answer 400 like every other invalid request; anything
    unexpected answers a JSON 500 that reveals nothing of the server."""
    log = logging.getLogger("flightlog.server")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', '')}"
            for error in exc.errors()[:5])
        return JSONResponse({"error": "invalid", "message": problems[:2000]},
                            status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal", "message": "the server failed to answer "
                             "this request; its log says why"}, status_code=500)
