"""The HTTP API (FastAPI; the OpenAPI schema is served at ``/openapi.json``).

Sync (used by the daemon):
    GET  /api/v1/runs/{project}/{run_id}/sync       committed high-water mark
    POST /api/v1/runs/{project}/{run_id}/frames     a batch of frames of one segment
                                                    (Content-Type: application/octet-stream)
    POST /api/v1/runs/{project}/{run_id}/writer     the local writer's liveness
    HEAD /api/v1/blobs/{sha256}                     complete? bytes received so far
    PATCH /api/v1/blobs/{sha256}?offset=N&final=1   resumable content upload
Query:
    GET /api/v1/projects, /api/v1/runs?project=&filter=&order=&limit=&offset=
    GET /api/v1/runs/{project}/{run_id}[/history|/metrics|/tables[/{name}]|/files[/{name}]]
Charts (chartdata.py): GET /api/v1/runs/{project}/{run_id}/vectors,
    GET /api/v1/projects/{project}/series (many runs' metrics, downsampled, one request)

Every frame and record received is validated by the same reader code as ``open_run``,
strictly, under explicit size limits. Client-supplied names are never used as paths:
run ids and projects must match SPEC.md §2's pattern, files are served by looking the
name up in the run's records and opening the content by its hash. What a browser may
make the server do (Host names answered, cross-origin writes, sessions): security.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgpack
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from flightlog.format.chart_safety import safe_spec
from flightlog.format.jsonable import jsonable
from flightlog.format.localrun import LocalRun
from starlette.concurrency import run_in_threadpool

from flightlog.errors import FlightlogError, FormatError, RunNotFound
from flightlog.histchart import histogram_charts

from .backends import BackendUnavailable, Overloaded, open_storage
from .backends.admission import RETRY_AFTER, CommitGate, RunRate
from .chartdata import mount_chart_data
from .execution import mount_execution
from .index import BadQuery, RunIndex
from .limits import (
    COMMON_RESPONSES,
    FRAMES_RESPONSES,
    MAX_OFFSET,
    MAX_PAGE_ROWS,
    MAX_SEGMENT,
    UPLOAD_RESPONSES,
    ProjectName,
    RunId,
    ServerLimits,
    Sha256,
    install_error_handlers,
    read_body,
)
from .security import HostPolicy, Sessions, install_guard
from .startup import begin, defer
from .storage import MAX_BATCH_BYTES, BadBatch, Conflict, Storage
from .tablestream import arrow_stream_chunks, json_rows_chunks
from .throttle import GuessThrottle
from .ui import authorized, is_public, login_redirect, mount_ui, presents_credentials

MAX_BLOB_CHUNK = 64 * 1024 * 1024
MSGPACK = "application/msgpack"
ARROW = "application/vnd.apache.arrow.stream"
ARROW_FILE = "application/vnd.apache.arrow.file"


def respond(request: Request, data: Any, status: int = 200) -> Response:
    """msgpack (exact: NaN and infinities kept) when asked for, else JSON (NaN and
    infinities as the strings "NaN", "Infinity", "-Infinity")."""
    if MSGPACK in request.headers.get("accept", ""):
        return Response(msgpack.packb(data, use_bin_type=True, default=str),
                        status_code=status, media_type=MSGPACK)
    return JSONResponse(jsonable(data), status_code=status)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _too_many_guesses(wait: int) -> JSONResponse:
    response = _error(429, "too-many-failures", f"too many failed authentications from "
                      f"this address: retry in {wait} s", retry_after=wait)
    response.headers["Retry-After"] = str(wait)
    return response


#: Gaps one frame batch may declare.
MAX_DECLARED_GAPS = 10_000


def _parse_gap(text: str) -> tuple[int, int]:
    """``FIRST-LAST`` (sequence numbers, FIRST <= LAST) of a declared gap."""
    first, sep, last = text.partition("-")
    if (not sep or not (first + last).isascii() or not first.isdigit()
            or not last.isdigit() or len(first) > 19
            or len(last) > 19 or int(first) > int(last)):
        raise HTTPException(400, f"gap {text[:40]!r} is not FIRST-LAST sequence numbers")
    return int(first), int(last)


async def _read_body(request: Request, limit: int) -> bytes:
    return await read_body(request, limit)  # size bound and read timeout: limits.py


def create_app(data_dir: str | None, token: str | None = None, *, host: str | None = None,
               allowed_hosts: Sequence[str] = (), db: str | None = None,
               store: str | None = None, start_background: bool = True) -> FastAPI:
    """The ASGI app serving the runs stored under ``data_dir``.

    Args:
        token: required as ``Authorization: Bearer TOKEN`` on every ``/api`` request
            when set; without it the server is open (keep it on 127.0.0.1).
        host, allowed_hosts: the address the server is bound to and the other names it
            answers for (``Host`` header; security.py's HostPolicy).
        db, store: PostgreSQL and object-store URLs of the scaled backend (both, or
            neither: backends/); ``data_dir`` is then the replica's disposable cache.
        start_background: begin the background work (index check, warm-ups) when the
            app is built; False: the caller begins it (startup.begin) once it listens.
    """
    limits = ServerLimits.from_env()
    storage = open_storage(data_dir, db=db, store=store, partial_ttl=limits.partial_ttl,
                           defer_check=True)
    app = FastAPI(title="flightlog", version="1", docs_url=None, redoc_url=None,
                  responses=COMMON_RESPONSES)
    app.state.storage = storage
    defer(app, storage.start_index_check)  # after start, not during it (startup.py)
    app.state.limits = limits
    install_error_handlers(app)
    sessions = Sessions(token, storage.root / "sessions" / "revoked") if token else None

    throttle = app.state.guess_throttle = GuessThrottle.from_env()

    @app.middleware("http")
    async def authenticate(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The API takes the bearer token or a browser's session cookie (ui.py, /login);
        # pages send a browser without either to the login form. Wrong credentials are
        # counted per client address and throttled (throttle.py).
        if token and sessions and not is_public(request.url.path):
            address = request.client.host if request.client else ""
            wait = throttle.retry_after(address)
            if wait:
                return _too_many_guesses(wait)
            if not authorized(request, token, sessions):
                if presents_credentials(request):
                    throttle.failed(address)
                if request.url.path.startswith("/api/"):
                    return _error(401, "unauthorized", "missing or invalid bearer token")
                return login_redirect(request)
        return await call_next(request)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return _error(409, exc.code, exc.message, next_seq=exc.next_seq)

    @app.exception_handler(BadBatch)
    async def bad_batch(request: Request, exc: BadBatch) -> Response:
        return _error(400, "invalid", exc.message)

    @app.exception_handler(BackendUnavailable)
    async def unavailable(request: Request, exc: BackendUnavailable) -> Response:
        response = _error(503, "unavailable", exc.message)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> Response:
        response = _error(429, exc.code, exc.message, retry_after=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery) -> Response:
        return _error(400, "bad-query", exc.message)

    @app.exception_handler(RunNotFound)
    async def not_found(request: Request, exc: RunNotFound) -> Response:
        return _error(404, "not-found", exc.message)

    @app.exception_handler(FlightlogError)
    async def flightlog_error(request: Request, exc: FlightlogError) -> Response:
        return _error(400, type(exc).__name__, str(exc))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _sync_routes(app, storage)
    _query_routes(app, storage)
    mount_ui(app, storage, token, sessions)
    mount_chart_data(app, storage)
    mount_execution(app, storage)  # flightlog run: console, system metrics, environment
    # Outermost (added last): Host and cross-origin checks run before anything else.
    install_guard(app, HostPolicy(host, allowed_hosts))
    if start_background:
        begin(app)
    return app


def _sync_routes(app: FastAPI, storage: Storage) -> None:
    gate = CommitGate.for_backend(scaled=not isinstance(storage.index, RunIndex))
    # Requests/s per run on these routes: 429 + Retry-After past it (admission.py).
    run_rate = RunRate.for_backend(scaled=not isinstance(storage.index, RunIndex))
    @app.get("/api/v1/runs/{project}/{run_id}/sync")
    def sync_position(project: ProjectName, run_id: RunId) -> dict[str, Any]:
        """The committed high-water mark: the next sequence number the server expects."""
        run_rate.admit(project, run_id)
        return storage.position(project, run_id)

    @app.post("/api/v1/runs/{project}/{run_id}/frames",
              responses={**UPLOAD_RESPONSES, **FRAMES_RESPONSES})
    async def post_frames(request: Request, project: ProjectName, run_id: RunId,
                          segment: int = Query(ge=0, le=MAX_SEGMENT),
                          gap: list[str] = Query(default=[], max_length=MAX_DECLARED_GAPS),
                          writer: str | None = None) -> Response:
        """Commit a batch of complete frames of segment ``segment`` (body: frame bytes
        as in a segment file, SPEC.md §4). Repeated frames are skipped; a hole in the
        sequence is refused (409 ``gap``) unless declared: one ``gap=FIRST-LAST`` per
        range of records the client's log lost to corruption, exactly the holes the
        batch's frames leave (400 otherwise). Declared gaps are answered by ``.../sync``."""
        if "allow_gap" in request.query_params:
            raise HTTPException(400, "allow_gap is no longer accepted: declare each lost "
                                     "range as gap=FIRST-LAST (upgrade the client)")
        gaps = [_parse_gap(g) for g in gap]
        run_rate.admit(project, run_id)
        with gate.admit():  # 429 past the replica's bound (backends/admission.py)
            body = await _read_body(request, MAX_BATCH_BYTES)
            alive = None if writer is None else writer == "alive"
            done = await run_in_threadpool(storage.commit, project, run_id, segment, body,
                                           gaps=gaps, writer_alive=alive)
        return respond(request, {"next_seq": done.next_seq, "segment": done.segment,
                                 "accepted": done.accepted, "skipped": done.skipped})

    @app.post("/api/v1/runs/{project}/{run_id}/writer")
    async def post_writer(request: Request, project: ProjectName, run_id: RunId,
                          alive: bool) -> dict[str, Any]:
        run_rate.admit(project, run_id)
        if not storage.exists(project, run_id):
            raise HTTPException(404, f"no run {project}/{run_id}")
        await run_in_threadpool(storage.set_writer_alive, project, run_id, alive)
        return {"ok": True}

    @app.head("/api/v1/blobs/{sha256}")
    def blob_head(sha256: Sha256) -> Response:
        complete, size = storage.blob_state(sha256)
        return Response(status_code=200 if complete else 404,
                        headers={"Upload-Offset": str(size)})

    @app.patch("/api/v1/blobs/{sha256}", responses=UPLOAD_RESPONSES)
    async def blob_patch(request: Request, sha256: Sha256,
                         offset: int = Query(ge=0, le=MAX_OFFSET),
                         final: bool = False) -> dict[str, Any]:
        body = await _read_body(request, MAX_BLOB_CHUNK)
        complete, size = await run_in_threadpool(storage.append_blob, sha256, offset,
                                                 [body], final, MAX_BLOB_CHUNK)
        return {"complete": complete, "size": size}


def _query_routes(app: FastAPI, storage: Storage) -> None:
    @app.get("/api/v1/projects")
    def projects() -> list[dict[str, Any]]:
        return storage.index.projects()

    @app.get("/api/v1/runs")
    def runs(request: Request, project: str | None = None,
             filter: list[str] = Query(default=[]),
             order: str | None = None, limit: int = Query(100, ge=1, le=10000),
             offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Response:
        rows = storage.index.query(project, filter, order, limit, offset)
        return respond(request, {"runs": rows, "total": storage.index.count(project, filter)})

    # Every read of a run's view goes through storage.read (under the run's lock).

    @app.get("/api/v1/runs/{project}/{run_id}")
    def run_detail(request: Request, project: ProjectName, run_id: RunId) -> Response:
        def detail(view: LocalRun) -> dict[str, Any]:
            state = view.state
            return {
                "project": project, "id": run_id, "name": view.name,
                "created": view.created, "exit_code": state.exit_code,
                "finished_at": state.finished_at,
                "config": view.config, "summary": view.summary, "tags": view.tags,
                "steps": state.steps, "next_seq": state.last_seq + 1,
                "files": [{"name": f.name, "sha256": f.sha256, "size": f.size}
                          for f in state.files.values()],
                "tables": sorted(state.table_parts), "dropped": state.dropped}

        body = storage.read(project, run_id, detail)
        row = storage.index.get(project, run_id) or {}
        return respond(request, {**body, "status": row.get("status", "running")})

    @app.get("/api/v1/runs/{project}/{run_id}/history")
    def history(request: Request, project: ProjectName, run_id: RunId,
                format: str = "arrow") -> Response:
        table = storage.read(project, run_id, lambda view: view.history())
        return _table_response(request, table, format)

    @app.get("/api/v1/runs/{project}/{run_id}/metrics")
    def metrics(request: Request, project: ProjectName, run_id: RunId) -> Response:
        return respond(request, storage.read(project, run_id, lambda v: v.get_metrics()))

    @app.get("/api/v1/runs/{project}/{run_id}/tables")
    def tables(request: Request, project: ProjectName, run_id: RunId) -> Response:
        return respond(request, storage.read(project, run_id,
                                             lambda v: sorted(v.state.table_parts)))

    @app.get("/api/v1/runs/{project}/{run_id}/tables/{name:path}")
    def table(request: Request, project: ProjectName, run_id: RunId, name: str,
              format: str = "arrow",
              limit: int | None = Query(None, ge=0, le=MAX_PAGE_ROWS)) -> Response:
        """The table (Arrow stream, or ``format=json`` rows); ``limit`` keeps its first
        rows (a viewer's page), and ``X-Total-Rows`` says how many it has. A page reads
        only its rows: the table's files are memory-mapped, never expanded whole."""
        try:
            page = storage.read(project, run_id, lambda v: v.table_page(name, limit))
        except FormatError as exc:  # a file SPEC.md §10.4 refuses; no server paths
            return _error(400, "unreadable-table", exc.message)
        if page is None:
            raise HTTPException(404, f"no table {name!r} in {project}/{run_id}")
        found, total = page
        response = _table_response(request, found, format)
        response.headers["X-Total-Rows"] = str(total)
        return response

    @app.get("/api/v1/runs/{project}/{run_id}/charts")
    def charts(request: Request, project: ProjectName, run_id: RunId) -> Response:
        """name → {kind, step, spec[, removed]}: the last chart logged under each name,
        its Vega-Lite spec with the data inlined (SPEC.md §10.2), without the parts that
        would load or link outside the page (``removed`` names them)."""
        def read(view: LocalRun) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, entry in view.state.chart_entries.items():
                out[name] = {"kind": entry.kind, "step": entry.step}
                try:
                    # Specs are untrusted: served without what could make a viewer's
                    # browser load or link elsewhere (format/chart_safety.py).
                    spec, removed = safe_spec(view.chart(name))
                    out[name]["spec"] = spec
                    if removed:
                        out[name]["removed"] = removed
                except (FlightlogError, OSError) as exc:
                    # One unreadable chart (its file refused by SPEC.md §10.4's limits,
                    # or missing) is reported in its place; the others are still drawn.
                    # The message names the record's key and file, not server paths.
                    out[name]["error"] = (exc.message if isinstance(exc, FlightlogError)
                                          else f"its data file cannot be read "
                                               f"({type(exc).__name__})")
            # Histogram keys drawn as TensorBoard's distributions (flightlog/histchart.py).
            out.update(histogram_charts(view, list(out)))
            return out

        return respond(request, storage.read(project, run_id, read))

    @app.get("/api/v1/runs/{project}/{run_id}/media")
    def media(request: Request, project: ProjectName, run_id: RunId) -> Response:
        """name → every image, HTML page and plotly figure logged under it."""
        found = storage.read(project, run_id, lambda v: {
            name: [item.as_dict() for item in items] for name, items in v.media().items()})
        return respond(request, found)

    @app.get("/api/v1/runs/{project}/{run_id}/blobs/{sha256}")
    def blob(project: ProjectName, run_id: RunId, sha256: Sha256) -> Response:
        """An attached file of this run by its hash, with its media type. Only files
        the run's records name are served."""
        mime = storage.read(project, run_id, lambda v: _blob_mime(v, sha256))
        if mime is None:
            raise HTTPException(404, f"{project}/{run_id} names no attached file {sha256}")
        return FileResponse(storage.blob_path(sha256), media_type=mime,
                            headers={"X-Content-SHA256": sha256,
                                     "Cache-Control": "private, max-age=31536000, immutable",
                                     "Content-Security-Policy": "sandbox allow-scripts"})

    def files_of(view: LocalRun) -> list[dict[str, Any]]:
        return [{"name": f.name, "sha256": f.sha256, "size": f.size}
                for f in view.state.files.values()]

    @app.get("/api/v1/runs/{project}/{run_id}/files")
    def files(project: ProjectName, run_id: RunId) -> list[dict[str, Any]]:
        return storage.read(project, run_id, files_of)

    @app.get("/api/v1/runs/{project}/{run_id}/files/{name:path}")
    def file(project: ProjectName, run_id: RunId, name: str) -> Response:
        entry = storage.read(project, run_id, lambda v: v.state.files.get(name))
        if entry is None:
            raise HTTPException(404, f"no file {name!r} in {project}/{run_id}")
        # The name only selects a record; the bytes come from the content store by hash.
        return FileResponse(storage.blob_path(entry.sha256),
                            media_type="application/octet-stream",
                            headers={"X-Content-SHA256": entry.sha256})


def _blob_mime(view: LocalRun, sha256: str) -> str | None:
    """The media type of a run's attached file, or None when the run does not name it."""
    state = view.state
    for items in state.media.values():
        for item in items:
            if item.sha256 == sha256:
                return item.mime
    for entry in state.files.values():
        if entry.sha256 == sha256:
            return "application/octet-stream"
    if any(entry.sha256 == sha256 for entry in state.chart_entries.values()):
        return ARROW_FILE
    for key, parts in state.table_parts.items():
        if any(kind == "file" and value == sha256 for kind, value in parts):
            return ARROW_FILE
        # Media cells of a logged table name their files in the table's own data.
        mime = _cell_mime(view, key, sha256)
        if mime is not None:
            return mime
    return None


def _cell_mime(view: LocalRun, key: str, sha256: str) -> str | None:
    table = view.tables().get(key)
    if table is None:
        return None
    for field in table.schema:
        if field.metadata and field.metadata.get(b"flightlog:media") == b"1":
            for cell in table.column(field.name).to_pylist():
                if cell and cell.get("sha256") == sha256:
                    return str(cell.get("mime") or "application/octet-stream")
    return None


def _table_response(request: Request, table: Any, format: str) -> Response:
    # Streamed a batch at a time (tablestream.py): a whole table of millions of rows costs
    # the server a batch, not a copy of it.
    if format == "json":
        if MSGPACK in request.headers.get("accept", ""):
            return respond(request, table.to_pylist())
        return StreamingResponse(json_rows_chunks(table), media_type="application/json")
    if format != "arrow":
        raise HTTPException(400, f"format must be arrow or json, not {format!r}")
    return StreamingResponse(arrow_stream_chunks(table), media_type=ARROW)

