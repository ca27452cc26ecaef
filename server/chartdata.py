"""Chart data beyond the query API: a run's vectors, and a project's series across runs.

    GET /api/v1/runs/{project}/{run_id}/vectors   log_list / repeated run.log vectors
    GET /api/v1/projects/{project}/series         every metric of many runs, downsampled,
                                                  in one request (the experiment page)

The experiment page overlays up to :data:`MAX_RUNS` runs. Reading a run's history costs
milliseconds (its log is decoded and merged); a thousand of them would cost seconds on
every page load. So each run's metrics are kept as an *overview* (at most
:data:`OVERVIEW_POINTS` points per metric, downsampled by series.py, which keeps every
extreme) in :class:`OverviewCache`, keyed by the run's committed position
(``next_seq`` in the index): a run that grew is read again, one that did not is never
re-read; and on disk (:class:`OverviewFiles`), so that a restart does not read them all
again either. Answers downsample the overview further to the asked ``points``; a run with
at most ``OVERVIEW_POINTS`` steps is answered exactly.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgpack
import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from flightlog.format.localrun import LocalRun

from flightlog.errors import FlightlogError

from .limits import NAME_PATTERN, ProjectName, RunId
from .series import (
    DEFAULT_POINTS,
    Series,
    column_array,
    downsample,
    metric_columns,
    vector_series,
)
from .startup import defer
from .storage import Storage

__all__ = ["MAX_RUNS", "OverviewCache", "OverviewFiles", "mount_chart_data", "page_series_url"]

#: Runs one series request may name or match.
MAX_RUNS = 1000
#: Metrics one series request answers (the first, in name order, when not named).
MAX_KEYS = 32
#: Points of each run's metric kept in the overview, and the most a request may ask.
OVERVIEW_POINTS = 400
#: runs x keys x points of one answer (about 20 bytes of JSON each).
MAX_ANSWER_POINTS = 2_000_000
#: Runs whose overviews are kept in memory (about 10 KB per metric each).
CACHE_RUNS = 4096
#: The media type of msgpack answers (MSGPACK in app.py, which imports this module).
MSGPACK = "application/msgpack"
#: Points of each vector answered by the vectors route.
MAX_VECTOR_POINTS = 100_000

Points = Annotated[int, Query(ge=4, le=OVERVIEW_POINTS)]
#: Points of one overlay chart over all its runs, as the experiment page asks (BUDGET in
#: static/experiment.js).
PAGE_BUDGET = 12000


def page_series_url(project: str, filters: list[str]) -> str:
    """The series request the experiment page makes first (Experiment.fetch in
    static/experiment.js, before any run is picked), spelled as the browser spells it
    (encodeURIComponent, URLSearchParams; same parameters in the same order): the page
    preloads it, and a preload is reused only for the very same URL."""
    from urllib.parse import quote, quote_plus

    def form(value: str) -> str:  # URLSearchParams keeps only alphanumerics and *-._
        return quote_plus(value, safe="*").replace("~", "%7E")

    params = [("points", str(OVERVIEW_POINTS)), ("budget", str(PAGE_BUDGET)),
              ("x", "_step"), ("limit", str(MAX_RUNS)), *(("filter", f) for f in filters)]
    path = quote(project, safe="!~*'()")  # what encodeURIComponent keeps
    return (f"/api/v1/projects/{path}/series?"
            + "&".join(f"{form(k)}={form(v)}" for k, v in params))


@dataclass(frozen=True)
class Overview:
    """One run's metrics at overview resolution: key -> (steps, timestamps, values), and
    the JSON of the series answered from them (few resolutions are ever asked: the
    page's budget over the runs it overlays), so that a warm answer is string joins."""

    next_seq: int
    metrics: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    #: key -> points of the run's whole history (more than kept: the overview is reduced).
    totals: dict[str, int] = field(default_factory=dict)
    answered: dict[tuple[int, int, str], str] = field(default_factory=dict)

    def _json(self, key: str, found: Series, whole: bool) -> str:
        answer = found.to_json()
        total = self.totals.get(key, len(self.metrics[key][0]))
        if total > len(self.metrics[key][0]):
            # Reduced: never "every point", whatever this answer kept of the overview;
            # the total of a whole answer is the history's (of a range: the overview's).
            answer["downsampled"] = True
            if whole:
                answer["total"] = total
        return json.dumps(answer, allow_nan=False)

    def series_json(self, axis: int, points: int, key: str,
                    start: float | None = None, end: float | None = None) -> str | None:
        """``{"x", "y", "total", "downsampled"}`` of ``key`` over axis 0 (steps) or 1
        (timestamps) at most ``points`` points, as JSON; None when the run lacks it.
        With ``start``/``end``: of the overview's points in that x range (a zoom; not
        kept), one point beyond each end as series.downsample keeps."""
        got = self.metrics.get(key)
        if got is None:
            return None
        if start is not None or end is not None:
            return self._json(key, downsample(got[axis], got[2], points, start, end), False)
        found = self.answered.get((axis, points, key))
        if found is None:
            # Bounded: a few resolutions per metric. (Threads may race here: the worst
            # case is an answer computed twice.)
            if len(self.answered) >= 4 * max(len(self.metrics), 1):
                self.answered.clear()
            found = self._json(key, downsample(got[axis], got[2], points), True)
            self.answered[(axis, points, key)] = found
        return found


def overview_of(view: LocalRun, next_seq: int) -> Overview:
    table = view.history()
    steps = column_array(table, "_step")
    times = column_array(table, "_timestamp")
    metrics = {}
    totals = {}
    for key in metric_columns(table):
        ys = column_array(table, key)
        keep = np.isfinite(ys)
        s, t, y = steps[keep], times[keep], ys[keep]
        totals[key] = len(s)
        if len(s) > OVERVIEW_POINTS:
            # Downsampled over the steps; each kept step's timestamp goes along.
            found = downsample(s, y, OVERVIEW_POINTS)
            index = np.searchsorted(s, found.x)
            s, t, y = s[index], t[index], y[index]
        metrics[key] = (s, t, y)
    return Overview(next_seq, metrics, totals)


class OverviewFiles:
    """Overviews kept on disk, ``DATA/overviews/PROJECT/RUN_ID.npz`` (numpy's archive,
    private to this server, never shipped): a restarted server answers the experiment
    page from them (~1 ms a run) instead of reading every run's history again (~20 ms a
    run at 10,000 steps: 20 s for a thousand). A file is only a cache: one that is
    missing, unreadable, out of bounds or of another ``next_seq`` is rebuilt from the
    run directory and replaced (written whole, then renamed)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, project: str, run_id: str) -> Path:
        # Both are names of SPEC.md §2 (checked where they entered): no separators.
        return self._root / project / f"{run_id}.npz"

    def load(self, project: str, run_id: str, next_seq: int) -> Overview | None:
        try:
            # Opened here: np.load leaves its own file open when the archive is damaged.
            with self._path(project, run_id).open("rb") as raw, \
                    np.load(raw, allow_pickle=False) as archive:
                head = json.loads(str(archive["head"]))
                if head["next_seq"] != next_seq:
                    return None
                metrics: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
                totals: dict[str, int] = {}
                for i, (key, total) in enumerate(head["keys"]):
                    arrays = tuple(archive[f"{name}{i}"] for name in "sty")
                    n = len(arrays[0])
                    if not (isinstance(key, str) and type(total) is int and total >= n
                            and n <= OVERVIEW_POINTS and all(
                                a.dtype == np.float64 and a.shape == (n,) for a in arrays)):
                        return None
                    metrics[key] = (arrays[0], arrays[1], arrays[2])
                    totals[key] = total
                return Overview(next_seq, metrics, totals)
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile):
            return None  # missing or not ours: rebuilt

    def save(self, project: str, run_id: str, overview: Overview) -> None:
        """Best effort: a server that cannot write here only reads histories again."""
        path = self._path(project, run_id)
        keys = list(overview.metrics)
        head = json.dumps({"next_seq": overview.next_seq, "keys": [
            [k, overview.totals.get(k, len(overview.metrics[k][0]))] for k in keys]})
        arrays: dict[str, Any] = {
            f"{name}{i}": np.ascontiguousarray(overview.metrics[k][j], np.float64)
            for i, k in enumerate(keys) for j, name in enumerate("sty")}
        partial = path.with_name(f".{path.name}.{threading.get_ident()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as out:
                np.savez(out, head=np.array(head), **arrays)
            os.replace(partial, path)
        except OSError:
            partial.unlink(missing_ok=True)


class OverviewCache:
    """Overviews of the latest :data:`CACHE_RUNS` runs asked about, re-read when the
    index says a run grew; each also kept in ``files`` (when given) for the next start."""

    def __init__(self, storage: Storage, size: int = CACHE_RUNS,
                 files: OverviewFiles | None = None) -> None:
        self._storage = storage
        self._size = size
        self._files = files
        self._runs: OrderedDict[tuple[str, str], Overview] = OrderedDict()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Read the overviews of the :data:`CACHE_RUNS` runs updated last. Best effort:
        a run that cannot be read now is read (or reported) when asked for. Begins once
        the index check is done (or after a minute): warming is the lowest of the
        start's work, and its reads must not be counted as the check's."""
        checked = getattr(self._storage, "index_checked", None)
        if checked is not None:
            checked.wait(60)
        for row in _warm_rows(self._storage, self._size):
            try:
                self.get(row["project"], row["id"], row["next_seq"])
            except Exception:  # the request path reports it
                continue
            time.sleep(0.001)  # yield to requests: warming must not starve them

    def get(self, project: str, run_id: str, next_seq: int) -> Overview:
        key = (project, run_id)
        with self._lock:
            found = self._runs.get(key)
            if found is not None and found.next_seq == next_seq:
                self._runs.move_to_end(key)
                return found
        kept = self._files.load(project, run_id, next_seq) if self._files else None
        if kept is not None:
            found = kept
        else:
            found = self._storage.read(project, run_id,
                                       lambda view: overview_of(view, next_seq))
            if self._files is not None:
                self._files.save(project, run_id, found)
        with self._lock:
            self._runs[key] = found
            self._runs.move_to_end(key)
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)
        return found


class AnswerCache:
    """The last few series answers, as bytes, each valid for the runs it was made from:
    keyed by the request, checked against each run's (id, next_seq, status, updated)
    in the index (a run's config, summary and tags change only with its records, so
    with next_seq; its status also when its writer is found dead). A repeated page load
    costs the index query, not a thousand runs' JSON."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._answers: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def stamp(rows: list[dict[str, Any]], total: int) -> tuple[Any, ...]:
        return (total, *((r["id"], r["next_seq"], r["status"], r.get("updated")) for r in rows))

    def get(self, key: tuple[Any, ...], stamp: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            found = self._answers.get(key)
            if found is None or found[0] != stamp:
                return None
            self._answers.move_to_end(key)
            return found[1]

    def put(self, key: tuple[Any, ...], stamp: tuple[Any, ...], body: bytes) -> None:
        with self._lock:
            self._answers[key] = (stamp, body)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)


def _warm_rows(storage: Storage, limit: int) -> list[dict[str, Any]]:
    return storage.index.query(None, [], "-updated", limit, 0)


def _names(text: str, what: str, limit: int) -> list[str]:
    import re

    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) > limit:
        raise HTTPException(400, f"{what}= names {len(names)}; at most {limit} per request")
    if what == "runs":
        bad = [n for n in names if not re.match(NAME_PATTERN, n)]
        if bad:
            raise HTTPException(400, f"runs= holds {bad[0][:80]!r}, not a run id (SPEC.md §2)")
    return list(dict.fromkeys(names))


def mount_chart_data(app: FastAPI, storage: Storage) -> None:
    """Register the vectors and project series routes on ``app``, and start reading the
    overviews of the most recently updated runs in the background (so that the first
    visit to a big project after a restart does not wait for a thousand histories)."""
    overviews = OverviewCache(storage, files=OverviewFiles(storage.root / "overviews"))
    answers = AnswerCache()
    warmup = threading.Thread(target=overviews.warm, name="overview-warmup", daemon=True)
    defer(app, warmup.start)  # once the server listens (startup.py)

    @app.get("/api/v1/runs/{project}/{run_id}/vectors")
    def run_vectors(request: Request, project: ProjectName, run_id: RunId,
                    points: int = Query(DEFAULT_POINTS, ge=4, le=MAX_VECTOR_POINTS)
                    ) -> Response:
        """key -> {kind ("list" | "metric"), x (index), y, total, downsampled, length}:
        each ``log_list`` and each key logged by ``run.log(name, value)`` more than once,
        as a one-variable line chart draws it (format/azure_forms.py). msgpack when
        asked for (``Accept: application/msgpack``, as the Api client asks), else JSON."""
        found = storage.read(project, run_id, lambda view: vector_series(
            view.state.metrics, view.state.lists, points))
        if MSGPACK in request.headers.get("accept", ""):
            return Response(msgpack.packb(found, use_bin_type=True), media_type=MSGPACK)
        return Response(json.dumps(found, allow_nan=False), media_type="application/json")

    @app.get("/api/v1/projects/{project}/series")
    def project_series(project: ProjectName, keys: str = "", runs: str = "",
                       filter: list[str] = Query(default=[]), order: str | None = None,
                       limit: int = Query(MAX_RUNS, ge=1, le=MAX_RUNS),
                       x: str = "_step", points: Points = 100,
                       budget: int = Query(0, ge=0, le=MAX_ANSWER_POINTS),
                       start: float | None = None, end: float | None = None) -> Response:
        """Runs of ``project`` (those named in ``runs=ID,ID``, else those matching the
        runs table's ``filter``s in its ``order``, the first ``limit``) with their config,
        summary and each metric of ``keys=A,B`` (all, up to MAX_KEYS, when not named)
        over ``x`` (``_step`` or ``_timestamp``), downsampled to ``points`` per run, or
        fewer: with ``budget``, about ``budget`` points per metric over all the runs
        (at least 8 per run), so that a chart of a thousand runs stays drawable. With
        ``start``/``end`` (a zoomed chart): of that x range only (x in seconds for
        ``_timestamp``), from each run's overview."""
        if x not in ("_step", "_timestamp"):
            raise HTTPException(400, f"x must be _step or _timestamp, not {x!r}")
        for name, value in (("start", start), ("end", end)):
            if value is not None and not math.isfinite(value):
                raise HTTPException(400, f"{name}= must be a finite number, not {value}")
        wanted = _names(keys, "keys", MAX_KEYS)
        picked = _names(runs, "runs", MAX_RUNS)
        if picked:
            rows = [row for row in (storage.index.get(project, r) for r in picked) if row]
            total = len(rows)
        else:
            rows = storage.index.query(project, filter, order, limit, 0)
            total = storage.index.count(project, filter)
        axis = 0 if x == "_step" else 1
        asked = (project, tuple(wanted), tuple(picked), tuple(filter), order, limit, x,
                 points, budget, start, end)
        stamp = answers.stamp(rows, total)
        cached = answers.get(asked, stamp)
        if cached is not None:
            return Response(cached, media_type="application/json")
        found: list[tuple[dict[str, Any], Overview]] = []
        for row in rows:
            try:
                found.append((row, overviews.get(project, row["id"], row["next_seq"])))
            except FlightlogError as exc:  # a run the index lists but storage cannot read
                row["error"] = str(exc)
                found.append((row, Overview(row["next_seq"], {})))
        every = sorted({k for _, o in found for k in o.metrics})
        chosen = [k for k in wanted if k in every] if wanted else every[:MAX_KEYS]
        if budget and found:
            points = max(min(points, budget // len(found)), min(points, 8))
        if len(found) * max(len(chosen), 1) * points > MAX_ANSWER_POINTS:
            raise HTTPException(400, f"{len(found)} runs x {len(chosen)} keys x {points} "
                                     f"points is over {MAX_ANSWER_POINTS}: ask fewer")
        answer = []
        for row, overview in found:
            series = ",".join(
                f"{json.dumps(key)}:{text}" for key in chosen
                if (text := overview.series_json(axis, points, key, start, end)) is not None)
            meta = {"id": row["id"], "name": row["name"], "status": row["status"],
                    "created": row["created"], "steps": row["steps"],
                    "config": row["config"], "summary": row["summary"], "tags": row["tags"],
                    **({"error": row["error"]} if "error" in row else {})}
            answer.append(json.dumps(meta, allow_nan=False, default=str)[:-1]
                          + ',"series":{' + series + "}}")
        head = json.dumps({"project": project, "axis": x, "keys": every, "drawn": chosen,
                           "total": total}, allow_nan=False)
        body = (head[:-1] + ',"runs":[' + ",".join(answer) + "]}").encode()
        if not any("error" in row for row, _ in found):  # an unreadable run: asked again
            answers.put(asked, stamp, body)
        return Response(body, media_type="application/json")

