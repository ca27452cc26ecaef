"""Self-contained pages: the offline report (``flightlog report``) and the notebook view.

The server's UI, the report and the notebook view are one renderer
(``flightlog/server/static/flightlog.js`` and ``flightlog.css``): the server's pages fetch
their data from the HTTP API; the pages made here carry everything inlined instead: the
Vega bundle (from vl-convert), the renderer, the stylesheet and a JSON document of the
runs (history downsampled by the same :mod:`flightlog.server.series` code as the
server's, charts, tables, images as ``data:`` URIs, HTML media as text shown in sandboxed
iframes). Such a page opens from disk with no network at all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from .errors import InvalidValue
from .format.chart_safety import safe_spec
from .format.jsonable import jsonable
from .vega_bundle import vega_bundle

__all__ = ["build_data", "page_html", "report_html", "write_report"]

#: Points of each inlined series (the report's zoom shows what is inlined).
REPORT_POINTS = 4000
#: Attached files up to this size are inlined (downloadable from the report).
MAX_INLINE_FILE = 8 * 1024 * 1024
#: Total bytes of attached files inlined into one report.
MAX_INLINE_FILES = 32 * 1024 * 1024
#: Rows of each logged table shown (and inlined): TABLE_ROWS in static/flightlog.js.
TABLE_ROWS = 500


def static_dir() -> Path:
    """Where the renderer's JS and CSS are (``flightlog.server`` package data)."""
    import flightlog.server

    return Path(flightlog.server.__file__).resolve().parent / "static"


def static_text(name: str) -> str:
    return (static_dir() / name).read_text(encoding="utf-8")


def plotly_js_path() -> Path | None:
    """plotly.min.js of the installed plotly package, if there is one."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def static_version() -> str:
    """A short hash of the renderer's files (cache-busting query of the server's URLs)."""
    digest = hashlib.sha256()
    for name in ("flightlog.js", "experiment.js", "flightlog.css"):
        digest.update((static_dir() / name).read_bytes())
    return digest.hexdigest()[:12]


def _script_text(text: str) -> str:
    # "</script" would end the element early; "<\/" means the same inside JS strings.
    # Newlines as the HTML parser hands them to the script (its CSP hash is of that).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("</script", "<\\/script")


def inline_csp(scripts: Sequence[str]) -> str:
    """The offline report's Content-Security-Policy (a <meta>: the page is a file):
    only its own inline scripts run (by hash: no eval, no injected script), nothing is
    fetched or sent anywhere (connect-src 'none'; images, fonts and media only as
    data:/blob: URIs), no form is submitted. HTML media frames (srcdoc) inherit it:
    their inline scripts are hashed in too (``scripts``), external ones are refused."""
    texts = dict.fromkeys(t.replace("\r\n", "\n").replace("\r", "\n") for t in scripts)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(t.encode("utf-8")).digest()).decode()
        + "'" for t in texts)
    return ("default-src 'none'; script-src " + hashes + "; style-src 'unsafe-inline'; "
            "img-src data: blob:; font-src data:; media-src data: blob:; "
            "connect-src 'none'; frame-src data: blob:; form-action 'none'; "
            "base-uri 'none'")


class _InlineScripts(HTMLParser):
    """The text of each inline <script> element of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self._inside: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._inside = []

    def handle_data(self, data: str) -> None:
        if self._inside is not None:
            self._inside.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._inside is not None:
            self.found.append("".join(self._inside))
            self._inside = None


def _html_media_scripts(data: dict[str, Any]) -> list[str]:
    """The inline scripts of the report's HTML media (logged pages and table cells)."""
    found: list[str] = []
    for run in data["runs"].values():
        pages = {item["sha256"] for items in run.get("media", {}).values()
                 for item in items if item.get("kind") == "html"}
        pages |= {cell["sha256"] for rows in run.get("tables", {}).values()
                  for cell in _media_cells(rows) if cell.get("kind") == "html"}
        for sha in pages:
            uri = run.get("blobs", {}).get(sha)
            if not uri:
                continue
            parser = _InlineScripts()
            parser.feed(base64.b64decode(uri.partition(",")[2]).decode("utf-8", "replace"))
            found.extend(parser.found)
    return found


def _json_for_html(value: Any) -> str:
    # "<" as a JSON escape: the text cannot close the <script> element it sits in.
    return json.dumps(value, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def page_html(boot: dict[str, Any], *, title: str, data: dict[str, Any] | None = None,
              inline: bool = False, nav: bool = True, preload: Sequence[str] = ()) -> str:
    """An HTML page that draws ``boot`` (``{"view": ..., "runs": [...], ...}``).

    Args:
        data: the runs' data to inline (pages that need no server); ``None`` makes the
            page fetch from the server that serves it.
        inline: inline the Vega bundle, the renderer and the stylesheet (no requests).
        preload: same-site URLs the page's script will ``fetch()`` (exactly these
            strings): asked for at once, while the scripts are still being parsed.
    """
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>"]
    # Before the scripts: the preload scanner sends these first. "crossorigin" makes the
    # request's mode that of fetch() (cors, same-origin credentials), or it is not reused.
    parts.extend(f'<link rel="preload" as="fetch" crossorigin href="{html.escape(url)}">'
                 for url in preload if url.startswith("/") and not url.startswith("//"))
    needs_plotly = data is not None and any(
        item.get("kind") == "plotly" for run in data["runs"].values()
        for items in run.get("media", {}).values() for item in items)
    if inline:
        scripts = [vega_bundle()]
        plotly_js = plotly_js_path() if needs_plotly else None
        if plotly_js is not None:
            scripts.append(plotly_js.read_text(encoding="utf-8"))
        scripts.append(static_text("flightlog.js"))
        scripts.append(static_text("experiment.js"))  # the experiment charts
        scripts = [_script_text(text) for text in scripts]
        media_scripts = _html_media_scripts(data) if data is not None else []
        parts.append('<meta http-equiv="Content-Security-Policy" content="'
                     + html.escape(inline_csp(scripts + media_scripts), quote=False) + '">')
        parts.append("<style>" + static_text("flightlog.css") + "</style>")
        parts.extend(f"<script>{text}</script>" for text in scripts)
    else:
        version = static_version()
        parts.append(f'<link rel="stylesheet" href="/static/flightlog.css?v={version}">')
        parts.append('<script src="/static/vega-bundle.js"></script>')
        parts.append(f'<script src="/static/flightlog.js?v={version}"></script>')
        parts.append(f'<script src="/static/experiment.js?v={version}"></script>')
    parts.append("</head><body>")
    if nav:
        home = '<a href="/">flightlog</a>' if not inline else "flightlog"
        parts.append(f'<nav class="top">{home}</nav>')
    parts.append('<div id="app"></div>')
    if data is not None:
        parts.append('<script type="application/json" id="flightlog-data">'
                     + _json_for_html(data) + "</script>")
    # Data, not code (no inline script runs under the pages' CSP): flightlog.js reads it.
    parts.append('<script type="application/json" id="flightlog-boot">'
                 + _json_for_html(boot) + "</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------- the runs' data


def _data_uri(mime: str, content: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(content).decode("ascii")


def _local(run: Any) -> Any:
    """A writer ``Run`` as its run directory read back; anything else unchanged."""
    from .format.localrun import LocalRun, open_run

    if isinstance(run, LocalRun) or not hasattr(run, "dir") or hasattr(run, "history"):
        return run
    flush = getattr(run, "flush", None)
    if callable(flush):
        flush()
    return open_run(run.dir)


def _blob_reader(run: Any) -> Any:
    """A function (sha256, size) -> bytes | None for the run's attached files; ``size``
    bounds what a server may send (the record's size, or the inlining limit)."""
    from .format.localrun import LocalRun
    from .format.rundir import blob_path

    if isinstance(run, LocalRun):
        def read(sha: str, size: int) -> bytes | None:
            path = blob_path(run.dir, sha)
            return path.read_bytes() if path.is_file() else None
        return read
    fetch = getattr(run, "_blob", None)
    if callable(fetch):
        def read_remote(sha: str, size: int) -> bytes | None:
            content = fetch(sha, size)
            return bytes(content) if content is not None else None
        return read_remote
    return lambda sha, size: None


def _history_series(history: Any) -> dict[str, dict[str, Any]]:
    from flightlog.server.series import column_array, downsample, metric_columns

    out: dict[str, dict[str, Any]] = {"_step": {}, "_timestamp": {}}
    keys = metric_columns(history)
    for axis in out:
        if axis not in history.column_names:
            continue
        x = column_array(history, axis)
        for key in keys:
            out[axis][key] = downsample(x, column_array(history, key), REPORT_POINTS).to_json()
    return out


def _media_cells(rows: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for row in rows:
        for value in row.values():
            if isinstance(value, dict) and value.get("sha256") and value.get("kind"):
                yield value


def _remote_vectors(run: Any) -> dict[str, Any]:
    """A RemoteRun's vectors (``GET .../vectors``, the shape of series.vector_series),
    checked: the server's answer is untrusted like any other.

    Raises:
        ServerProtocolError: a vector that is not a kind, x and y of equal length (at
            most REPORT_POINTS numbers), total, downsampled and length.
    """
    from flightlog.server.series import MAX_VECTORS

    from .errors import ServerProtocolError

    where = f"GET /api/v1/runs/{run.project}/{run.id}/vectors"
    found = run._get("/vectors", points=REPORT_POINTS)

    def bad(what: str) -> ServerProtocolError:
        return ServerProtocolError(f"vectors answer: {what}", url=where)

    def count(value: Any) -> bool:
        return type(value) is int and value >= 0

    if not isinstance(found, dict) or len(found) > MAX_VECTORS + 1:
        raise bad(f"not a map of at most {MAX_VECTORS} vectors")
    out: dict[str, Any] = {}
    for key, vector in found.items():
        if key == "_truncated":
            if not isinstance(vector, dict) or not count(vector.get("vectors")):
                raise bad("_truncated is not {vectors: N}")
            out[key] = {"vectors": vector["vectors"]}
            continue
        if not isinstance(key, str) or not isinstance(vector, dict):
            raise bad(f"entry {str(key)[:60]!r} is not a named map")
        xs, ys = vector.get("x"), vector.get("y")
        ok = (vector.get("kind") in ("list", "metric") and isinstance(xs, list)
              and isinstance(ys, list) and len(xs) == len(ys) <= REPORT_POINTS
              and all(type(v) in (int, float) for v in xs + ys)
              and count(vector.get("total")) and count(vector.get("length"))
              and isinstance(vector.get("downsampled"), bool))
        if not ok:
            raise bad(f"vector {key[:60]!r} is not kind, x, y (numbers, as many), total, "
                      f"downsampled, length")
        out[key] = {name: vector[name] for name in
                    ("kind", "x", "y", "total", "downsampled", "length")}
    return out


def run_data(run: Any) -> dict[str, Any]:
    """One run's data as the renderer's inline source reads it (the same shapes as the
    server's answers). ``run``: a LocalRun, a RemoteRun or a writer Run."""
    from flightlog.format.vega import table_rows

    run = _local(run)
    read_blob = _blob_reader(run)
    state = getattr(run, "state", None)
    if state is not None:
        files = [{"name": f.name, "sha256": f.sha256, "size": f.size}
                 for f in state.files.values()]
    elif hasattr(run, "files"):  # a RemoteRun: the server's list names their hashes
        files = run.files()
    else:
        files = [{"name": name, "sha256": "", "size": 0} for name in run.get_file_names()]
    history = run.history()
    # A page of each table, as the server's UI shows (a table may have millions of rows).
    all_tables = run.tables()
    tables = {name: table_rows(table.slice(0, TABLE_ROWS))
              for name, table in all_tables.items()}
    table_sizes = {name: table.num_rows for name, table in all_tables.items()}
    detail = {
        "project": run.project, "id": run.id, "name": run.name,
        "created": getattr(run, "created", None), "exit_code": getattr(run, "exit_code", None),
        "config": run.config, "summary": run.summary, "tags": run.tags,
        "steps": history.num_rows, "next_seq": (state.last_seq + 1 if state is not None
                                                 else getattr(run, "next_seq", 0)),
        "files": files, "tables": sorted(tables), "status": run.status,
    }
    entries = getattr(state, "chart_entries", {}) if state is not None else {}
    charts = {}
    for name, spec in (run.charts() if hasattr(run, "charts") else {}).items():
        entry = entries.get(name)
        # Untrusted like any logged data: inlined without what could load or link out.
        cleaned, removed = safe_spec(spec)
        charts[name] = {"kind": getattr(entry, "kind", ""), "step": getattr(entry, "step", None),
                        "spec": cleaned}
        if removed:
            charts[name]["removed"] = removed
    if hasattr(run, "histogram_keys"):  # histogram keys drawn as distributions
        from .histchart import histogram_charts

        charts.update(histogram_charts(run, list(charts)))
    blobs: dict[str, str] = {}
    media: dict[str, list[dict[str, Any]]] = {}
    for name, items in (run.media() if hasattr(run, "media") else {}).items():
        media[name] = []
        for item in items:
            media[name].append(item.as_dict())
            if item.sha256 not in blobs:
                try:
                    blobs[item.sha256] = _data_uri(item.mime, item.read_bytes())
                except Exception:  # a missing blob: the renderer says "not included"
                    continue
    for cell in (c for rows in tables.values() for c in _media_cells(rows)):
        if cell["sha256"] not in blobs:
            content = read_blob(cell["sha256"], int(cell.get("size") or MAX_INLINE_FILE))
            if content is not None:
                blobs[cell["sha256"]] = _data_uri(cell.get("mime") or
                                                  "application/octet-stream", content)
    inlined_files: dict[str, str] = {}
    budget = MAX_INLINE_FILES
    for entry in files:
        if entry["sha256"] and entry["size"] <= min(MAX_INLINE_FILE, budget):
            content = read_blob(entry["sha256"], int(entry["size"]))
            if content is not None:
                inlined_files[entry["name"]] = _data_uri("application/octet-stream", content)
                budget -= len(content)
    vectors: dict[str, Any] = {}  # log_list / repeated run.log(name, v): line charts
    if state is not None:
        from flightlog.server.series import vector_series

        vectors = vector_series(state.metrics, state.lists, REPORT_POINTS)
    elif callable(getattr(run, "_get", None)):  # a RemoteRun: the server's vectors route
        vectors = _remote_vectors(run)
    execution = {}
    if state is not None and hasattr(run, "system_metrics"):
        from flightlog.server.execution import execution_data

        execution = execution_data(run, REPORT_POINTS)
    return {"detail": jsonable(detail), "series": _history_series(history),
            "execution": execution,
            "vectors": vectors,
            "charts": jsonable(charts), "media": jsonable(media), "tables": tables,
            "table_rows": table_sizes,
            "blobs": blobs, "files": inlined_files}


def build_data(runs: Sequence[Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The inline data document of ``runs`` and their refs, in order."""
    data: dict[str, Any] = {"runs": {}}
    refs = []
    for run in runs:
        one = run_data(run)
        ref = {"project": one["detail"]["project"], "id": one["detail"]["id"]}
        data["runs"][f"{ref['project']}/{ref['id']}"] = one
        refs.append(ref)
    return data, refs


def report_html(runs: Sequence[Any], *, nav: bool = True) -> str:
    """A self-contained HTML page of ``runs``: the run page of each, and the comparison
    of all of them when there are several.

    Raises:
        MissingExtra: vl-convert-python is not installed.
    """
    vega_bundle()  # fail early, before reading the runs
    data, refs = build_data(runs)
    names = [data["runs"][f"{r['project']}/{r['id']}"]["detail"]["name"] for r in refs]
    title = "flightlog: " + ", ".join(names[:4]) + (" ..." if len(names) > 4 else "")
    return page_html({"view": "report", "runs": refs}, title=title, data=data, inline=True,
                     nav=nav)


def write_report(run_dirs: Sequence[str | os.PathLike[str]],
                 out_path: str | os.PathLike[str]) -> Path:
    """Write one self-contained HTML file showing the runs in ``run_dirs``.

    Everything is inlined (scripts, styles, data, images): the file opens from disk
    without a network.

    Raises:
        InvalidValue: no run directories given.
        RunNotFound: a path is not a run directory.
        MissingExtra: vl-convert-python is not installed (the ``report`` extra).
    """
    from .format.localrun import open_run

    if not run_dirs:
        raise InvalidValue("write_report needs at least one run directory")
    runs = [open_run(path) for path in run_dirs]
    text = report_html(runs)
    target = Path(out_path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target
