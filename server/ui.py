"""The server's web UI: HTML pages, their static files, login, and the series endpoint.

Pages (each a small HTML shell; ``static/flightlog.js`` draws it from the HTTP API):
    GET /                              projects
    GET /projects/{project}            the runs table (server-side sort, filter, paging)
    GET /runs/{project}/{run_id}       a run: config, summary, metric charts, logged
                                       charts, tables, media, files; live while running
    GET /compare?runs=p/id,p/id        runs overlaid and side by side
Static files (no CDN: an air-gapped network has everything it needs):
    GET /static/flightlog.js|.css      the renderer (shared with the report and notebook)
    GET /static/experiment.js          the across-run charts (experiment page, compare)
    GET /static/vega-bundle.js         vega + vega-lite + vega-embed from vl-convert
    GET /static/plotly.min.js          from the installed plotly package, when there is one
Data the pages need beyond the query API:
    GET /api/v1/runs/{project}/{run_id}/keys     the history columns a chart can draw
    GET /api/v1/runs/{project}/{run_id}/series   one column, downsampled (series.py)
Login (when the server has a token): ``GET /login`` shows the form, ``POST /login``
takes the token (never in a URL) and sets an HttpOnly, SameSite=Strict cookie holding a
new signed, expiring session (security.py), which ``/api`` accepts as well as the bearer
header; ``POST /logout`` revokes it (``GET /logout`` shows the button).
"""

from __future__ import annotations

import gzip
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, quote

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from flightlog.format.localrun import LocalRun
from starlette.concurrency import run_in_threadpool

from flightlog.report import page_html, plotly_js_path, static_dir
from flightlog.vega_bundle import vega_bundle

from .chartdata import page_series_url
from .security import SESSION_COOKIE, SESSION_LIFETIME, Sessions
from .series import DEFAULT_POINTS, column_array, downsample, metric_columns
from .startup import defer
from .storage import Storage

COOKIE = SESSION_COOKIE
#: Paths anyone may fetch: they hold no run data.
PUBLIC_PREFIXES = ("/static/", "/login", "/healthz", "/openapi.json")
MAX_POINTS = 100_000
#: Bytes of a login form (a token and a path).
MAX_LOGIN_BODY = 16 * 1024
_LONG_CACHE = {"Cache-Control": "public, max-age=31536000, immutable"}


# ---------------------------------------------------------------- login


def is_public(path: str) -> bool:
    return path == "/favicon.ico" or any(path.startswith(p) for p in PUBLIC_PREFIXES)


def authorized(request: Request, token: str, sessions: Sessions) -> bool:
    """The request carries the bearer token or a live session's cookie."""
    given = request.headers.get("authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and sessions.valid(cookie)


def presents_credentials(request: Request) -> bool:
    """The request offers a token or a session cookie (a wrong one is a guess: counted)."""
    return bool(request.headers.get("authorization")) or COOKIE in request.cookies


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//host" or "https://..." would make login an open redirect.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_form(next_url: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    message = f'<p class="error">{error}</p>' if error else ""
    body = (
        '<!doctype html><html><head><meta charset="utf-8"><title>flightlog: log in</title>'
        '<link rel="stylesheet" href="/static/flightlog.css"></head><body>'
        '<nav class="top">flightlog</nav>'
        '<form class="login card" method="post" action="/login">'
        "<h1>Log in</h1><p class=\"meta\">This server needs its token "
        "(<code>flightlog server --token</code>).</p>" + message +
        '<input type="password" name="token" placeholder="token" autofocus>'
        f'<input type="hidden" name="next" value="{_attr(next_url)}">'
        '<button type="submit">Log in</button></form></body></html>')
    return HTMLResponse(body, status_code=status)


def _attr(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _logged_in(target: str, sessions: Sessions, secure: bool) -> Response:
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(COOKIE, sessions.issue(), httponly=True, samesite="strict",
                        secure=secure, path="/", max_age=int(SESSION_LIFETIME))
    return response


def _logout_form() -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html><head><meta charset="utf-8"><title>flightlog: log out</title>'
        '<link rel="stylesheet" href="/static/flightlog.css"></head><body>'
        '<nav class="top">flightlog</nav>'
        '<form class="login card" method="post" action="/logout"><h1>Log out</h1>'
        '<button type="submit">Log out</button></form></body></html>')


# ---------------------------------------------------------------- history cache


class HistoryCache:
    """Runs' history columns as float64 arrays, kept for the latest few runs asked
    about and re-read when a run grew (keyed by its committed sequence number)."""

    def __init__(self, storage: Storage, size: int = 8) -> None:
        self._storage = storage
        self._size = size
        self._runs: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()
        self._columns: dict[tuple[str, str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def table(self, project: str, run_id: str) -> Any:
        def read(view: LocalRun) -> tuple[int, Any]:
            state = view.state
            key = (project, run_id)
            with self._lock:
                cached = self._runs.get(key)
            if cached is not None and cached[0] == state.last_seq:
                return cached
            return state.last_seq, view.history()

        seq, table = self._storage.read(project, run_id, read)
        with self._lock:
            key = (project, run_id)
            old = self._runs.get(key)
            if old is None or old[0] != seq:
                self._columns = {k: v for k, v in self._columns.items() if k[:2] != key}
            self._runs[key] = (seq, table)
            self._runs.move_to_end(key)
            while len(self._runs) > self._size:
                gone, _ = self._runs.popitem(last=False)
                self._columns = {k: v for k, v in self._columns.items() if k[:2] != gone}
        return table

    def column(self, project: str, run_id: str, name: str) -> np.ndarray:
        table = self.table(project, run_id)
        key = (project, run_id, name)
        with self._lock:
            found = self._columns.get(key)
        if found is None:
            if name not in table.column_names:
                raise HTTPException(404, f"{project}/{run_id} has no history column {name!r}")
            found = column_array(table, name)
            with self._lock:
                self._columns[key] = found
        return found


# ---------------------------------------------------------------- routes


def mount_ui(app: FastAPI, storage: Storage, token: str | None = None,
             sessions: Sessions | None = None) -> None:
    """Register the UI's pages, static files, login and series routes on ``app``
    (``sessions``: the login sessions, when the server has a token)."""
    history = HistoryCache(storage)
    bundle: dict[str, bytes] = {}
    bundle_lock = threading.Lock()

    def bundle_bytes(encoding: str = "js") -> bytes:
        """The bundle, plain ("js") or gzip-compressed once ("gz": ~900 KB -> ~250 KB,
        which matters on the slow links of air-gapped sites)."""
        with bundle_lock:
            if "js" not in bundle:
                bundle["js"] = vega_bundle().encode()
                bundle["gz"] = gzip.compress(bundle["js"], compresslevel=9, mtime=0)
            return bundle[encoding]

    # Read (or, once per vl-convert version, make in a child process) the Vega bundle in
    # the background, so that neither readiness nor the first page waits for it; begun
    # once the server listens (startup.py).
    defer(app, threading.Thread(target=bundle_bytes, name="vega-bundle", daemon=True).start)

    def page(boot: dict[str, Any], title: str, preload: Sequence[str] = ()) -> HTMLResponse:
        return HTMLResponse(page_html(boot, title=title, preload=preload),
                            headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def projects_page() -> HTMLResponse:
        return page({"view": "projects"}, "flightlog")

    @app.get("/projects/{project}", include_in_schema=False)
    def runs_page(request: Request, project: str) -> HTMLResponse:
        # The experiment charts' request goes out with the page's scripts, not after.
        first = page_series_url(project, request.query_params.getlist("filter"))
        return page({"view": "runs", "project": project}, f"{project} · flightlog", [first])

    @app.get("/runs/{project}/{run_id}", include_in_schema=False)
    def run_page(project: str, run_id: str) -> HTMLResponse:
        if not storage.exists(project, run_id):
            raise HTTPException(404, f"no run {project}/{run_id}")
        row = storage.index.get(project, run_id) or {}
        return page({"view": "run", "runs": [{"project": project, "id": run_id}]},
                    f"{row.get('name') or run_id} · flightlog")

    @app.get("/compare", include_in_schema=False)
    def compare_page(runs: str = "") -> HTMLResponse:
        refs = []
        for item in (r for r in runs.split(",") if r.strip()):
            project, _, run_id = item.strip().partition("/")
            if not project or not run_id:
                raise HTTPException(400, f"runs= takes PROJECT/RUN_ID,...; got {item!r}")
            refs.append({"project": project, "id": run_id})
        if not refs:
            raise HTTPException(400, "runs= names no run (PROJECT/RUN_ID,...)")
        return page({"view": "compare", "runs": refs}, "compare · flightlog")

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> Response:
        if token is None:
            return RedirectResponse(_safe_next(next), status_code=303)
        if "token" in request.query_params:
            # A token in a URL ends up in history, logs and Referer headers: never taken.
            return _login_form(next, "The token is not taken in a URL: type it here.",
                               status=400)
        return _login_form(next)

    @app.post("/login", include_in_schema=False)
    async def login_submit(request: Request) -> Response:
        # A urlencoded form parsed here: FastAPI's Form() needs python-multipart.
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_LOGIN_BODY:
                raise HTTPException(413, f"login form over {MAX_LOGIN_BODY} bytes")
        fields = parse_qs(body.decode("utf-8", "replace"))
        token_ = fields.get("token", [""])[0]
        next = fields.get("next", ["/"])[0]
        if token is None or sessions is None:
            return RedirectResponse(_safe_next(next), status_code=303)
        throttle = request.app.state.guess_throttle
        address = request.client.host if request.client else ""
        wait = throttle.retry_after(address)
        if wait:  # refused before the token is compared: a blocked guesser learns nothing
            response = _login_form(next, f"Too many wrong tokens from this address: try "
                                   f"again in {wait} s.", status=429)
            response.headers["Retry-After"] = str(wait)
            return response
        if hmac.compare_digest(token_.encode(), token.encode()):
            return _logged_in(next, sessions, request.url.scheme == "https")
        throttle.failed(address)
        return _login_form(next, "Wrong token.", status=401)

    @app.get("/logout", include_in_schema=False)
    def logout_page() -> Response:
        return _logout_form()

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and sessions is not None:
            sessions.revoke(cookie)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/vega-bundle.js", include_in_schema=False)
    async def vega_js(request: Request) -> Response:
        compressed = "gzip" in request.headers.get("accept-encoding", "")
        content = await run_in_threadpool(bundle_bytes, "gz" if compressed else "js")
        headers = {**_LONG_CACHE, "Vary": "Accept-Encoding"}
        if compressed:
            headers["Content-Encoding"] = "gzip"
        return Response(content, media_type="text/javascript", headers=headers)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        path = plotly_js_path()
        if path is None:
            raise HTTPException(404, "plotly is not installed on the server")
        return FileResponse(path, media_type="text/javascript", headers=_LONG_CACHE)

    static_files = {"flightlog.js": "text/javascript", "experiment.js": "text/javascript",
                    "flightlog.css": "text/css"}

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str, v: str | None = None) -> Response:
        mime = static_files.get(name)
        if mime is None:
            raise HTTPException(404, f"no static file {name!r}")
        # Versioned URLs (?v=hash of the files) never change; bare ones are revalidated.
        headers = _LONG_CACHE if v else {"Cache-Control": "no-cache"}
        return FileResponse(static_dir() / name, media_type=mime, headers=headers)

    @app.get("/api/v1/runs/{project}/{run_id}/keys")
    def keys(project: str, run_id: str) -> dict[str, Any]:
        """The history columns a line chart can draw, and the number of rows."""
        table = history.table(project, run_id)
        return {"keys": metric_columns(table), "rows": table.num_rows}

    @app.get("/api/v1/runs/{project}/{run_id}/series")
    def series(project: str, run_id: str, key: str, x: str = "_step",
               points: int = Query(DEFAULT_POINTS, ge=4, le=MAX_POINTS),
               start: float | None = None, end: float | None = None) -> Response:
        """History column ``key`` over ``x`` (``_step`` or ``_timestamp``) in
        ``[start, end]``: every point when the range holds at most ``points``, else
        per-bucket first/last/min/max (every extreme kept)."""
        if x not in ("_step", "_timestamp"):
            raise HTTPException(400, f"x must be _step or _timestamp, not {x!r}")
        if key.startswith("_"):
            raise HTTPException(400, f"{key!r} is not a metric column")
        ys = history.column(project, run_id, key)
        xs = history.column(project, run_id, x)
        found = downsample(xs, ys, points, start, end)
        body = json.dumps({"key": key, "axis": x, **found.to_json()}, allow_nan=False)
        return Response(body, media_type="application/json")
