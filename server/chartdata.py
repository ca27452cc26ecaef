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
re-read. Answers downsample the overview further to the asked ``points``; a run with
at most ``OVERVIEW_POINTS`` steps is answered exactly.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import Response
from flightlog.format.localrun import LocalRun

from flightlog.errors import FlightlogError

from .limits import NAME_PATTERN, ProjectName, RunId
from .series import DEFAULT_POINTS, column_array, downsample, metric_columns, vector_series
from .storage import Storage

__all__ = ["MAX_RUNS", "OverviewCache", "mount_chart_data"]

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
#: Points of each vector answered by the vectors route.
MAX_VECTOR_POINTS = 100_000

Points = Annotated[int, Query(ge=4, le=OVERVIEW_POINTS)]


@dataclass(frozen=True)
class Overview:
    """One run's metrics at overview resolution: key -> (steps, timestamps, values), and
    the JSON of the series answered from them (few resolutions are ever asked: the
    page's budget over the runs it overlays), so that a warm answer is string joins."""

    next_seq: int
    metrics: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    answered: dict[tuple[int, int, str], str] = field(default_factory=dict)

    def series_json(self, axis: int, points: int, key: str) -> str | None:
        """``{"x", "y", "total", "downsampled"}`` of ``key`` over axis 0 (steps) or 1
        (timestamps) at most ``points`` points, as JSON; None when the run lacks it."""
        got = self.metrics.get(key)
        if got is None:
            return None
        found = self.answered.get((axis, points, key))
        if found is None:
            # Bounded: a few resolutions per metric. (Threads may race here: the worst
            # case is an answer computed twice.)
            if len(self.answered) >= 4 * max(len(self.metrics), 1):
                self.answered.clear()
            found = json.dumps(downsample(got[axis], got[2], points).to_json(),
                               allow_nan=False)
            self.answered[(axis, points, key)] = found
        return found


def overview_of(view: LocalRun, next_seq: int) -> Overview:
    table = view.history()
    steps = column_array(table, "_step")
    times = column_array(table, "_timestamp")
    metrics = {}
    for key in metric_columns(table):
        ys = column_array(table, key)
        keep = np.isfinite(ys)
        s, t, y = steps[keep], times[keep], ys[keep]
        if len(s) > OVERVIEW_POINTS:
            # Downsampled over the steps; each kept step's timestamp goes along.
            found = downsample(s, y, OVERVIEW_POINTS)
            index = np.searchsorted(s, found.x)
            s, t, y = s[index], t[index], y[index]
        metrics[key] = (s, t, y)
    return Overview(next_seq, metrics)


class OverviewCache:
    """Overviews of the latest :data:`CACHE_RUNS` runs asked about, re-read when the
    index says a run grew."""

    def __init__(self, storage: Storage, size: int = CACHE_RUNS) -> None:
        self._storage = storage
        self._size = size
        self._runs: OrderedDict[tuple[str, str], Overview] = OrderedDict()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Read the overviews of the :data:`CACHE_RUNS` runs updated last. Best effort:
        a run that cannot be read now is read (or reported) when asked for."""
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
        found = self._storage.read(project, run_id, lambda view: overview_of(view, next_seq))
        with self._lock:
            self._runs[key] = found
            self._runs.move_to_end(key)
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)
        return found


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
    overviews = OverviewCache(storage)
    threading.Thread(target=overviews.warm, name="overview-warmup", daemon=True).start()

    @app.get("/api/v1/runs/{project}/{run_id}/vectors")
    def run_vectors(project: ProjectName, run_id: RunId,
                    points: int = Query(DEFAULT_POINTS, ge=4, le=MAX_VECTOR_POINTS)
                    ) -> Response:
        """key -> {kind ("list" | "metric"), x (index), y, total, downsampled, length}:
        each ``log_list`` and each key logged by ``run.log(name, value)`` more than once,
        as a one-variable line chart draws it (format/azure_forms.py)."""
        found = storage.read(project, run_id, lambda view: vector_series(
            view.state.metrics, view.state.lists, points))
        return Response(json.dumps(found, allow_nan=False), media_type="application/json")

    @app.get("/api/v1/projects/{project}/series")
    def project_series(project: ProjectName, keys: str = "", runs: str = "",
                       filter: list[str] = Query(default=[]), order: str | None = None,
                       limit: int = Query(MAX_RUNS, ge=1, le=MAX_RUNS),
                       x: str = "_step", points: Points = 100,
                       budget: int = Query(0, ge=0, le=MAX_ANSWER_POINTS)) -> Response:
        """Runs of ``project`` (those named in ``runs=ID,ID``, else those matching the
        runs table's ``filter``s in its ``order``, the first ``limit``) with their config,
        summary and each metric of ``keys=A,B`` (all, up to MAX_KEYS, when not named)
        over ``x`` (``_step`` or ``_timestamp``), downsampled to ``points`` per run, or
        fewer: with ``budget``, about ``budget`` points per metric over all the runs
        (at least 8 per run), so that a chart of a thousand runs stays drawable."""
        if x not in ("_step", "_timestamp"):
            raise HTTPException(400, f"x must be _step or _timestamp, not {x!r}")
        wanted = _names(keys, "keys", MAX_KEYS)
        picked = _names(runs, "runs", MAX_RUNS)
        if picked:
            rows = [row for row in (storage.index.get(project, r) for r in picked) if row]
            total = len(rows)
        else:
            rows = storage.index.query(project, filter, order, limit, 0)
            total = storage.index.count(project, filter)
        axis = 0 if x == "_step" else 1
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
            series = ",".join(f"{json.dumps(key)}:{text}" for key in chosen
                              if (text := overview.series_json(axis, points, key)) is not None)
            meta = {"id": row["id"], "name": row["name"], "status": row["status"],
                    "created": row["created"], "steps": row["steps"],
                    "config": row["config"], "summary": row["summary"], "tags": row["tags"],
                    **({"error": row["error"]} if "error" in row else {})}
            answer.append(json.dumps(meta, allow_nan=False, default=str)[:-1]
                          + ',"series":{' + series + "}}")
        head = json.dumps({"project": project, "axis": x, "keys": every, "drawn": chosen,
                           "total": total}, allow_nan=False)
        return Response(head[:-1] + ',"runs":[' + ",".join(answer) + "]}",
                        media_type="application/json")

