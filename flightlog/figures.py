"""Matplotlib and Plotly figures, and numpy images, as flightlog stores them.

``run.log({"chart": plt})`` (or a ``Figure`` / ``Axes``) stores a PNG of the figure and,
when the figure can be converted faithfully, an interactive Vega-Lite :class:`Chart` of
the same data (W&B converts to Plotly; flightlog converts to Vega-Lite, which it can
store as a table plus a spec, SPEC.md §10). A Plotly figure is stored as its JSON and
drawn by :func:`plotly_html`. Numpy images: :mod:`flightlog.images`.

Nothing here imports matplotlib or plotly at module import time: :func:`is_matplotlib`
and :func:`is_plotly` look only at modules the user has already imported.
"""

from __future__ import annotations

import functools
import html
import io
import json
import math
import struct
import sys
from dataclasses import dataclass, field
from importlib import util as importlib_util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flightlog.format.vega import VEGA_LITE_SCHEMA

from .errors import InvalidValue

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .charts import Chart

__all__ = [
    "MAX_CHART_ROWS",
    "MAX_LINE_POINTS",
    "MAX_SCATTER_POINTS",
    "figure_png",
    "figure_to_chart",
    "is_matplotlib",
    "is_plotly",
    "matplotlib_figure",
    "plotly_html",
    "plotly_js_source",
    "plotly_json",
]

#: A line with more points is reduced to at most this many (per-bucket min/max of y).
MAX_LINE_POINTS = 5000
#: A scatter with more points is not converted (PNG only): thinning would drop outliers.
MAX_SCATTER_POINTS = 20000
#: A figure whose chart table would exceed this many rows is stored as PNG only.
MAX_CHART_ROWS = 100_000

_EMPTY_PLOT_HINT = (
    "You attempted to log an empty plot: the figure has no axes with data. If you logged "
    "pyplot (`plt`), the current figure may have been closed or replaced; keep the figure "
    "in a variable (`fig = plt.figure()` or `fig, ax = plt.subplots()`), plot on it, and "
    "log `fig`."
)


# --------------------------------------------------------------------------- matplotlib


def is_matplotlib(obj: Any) -> bool:
    """Whether ``obj`` is the ``matplotlib.pyplot`` module, a matplotlib ``Figure`` or an
    ``Axes``. Never imports matplotlib: an object of a module that is not loaded cannot
    be one of its figures."""
    if "matplotlib" not in sys.modules:
        return False
    if obj is sys.modules.get("matplotlib.pyplot"):
        return True
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is not None and isinstance(obj, figure_module.Figure):
        return True
    axes_module = sys.modules.get("matplotlib.axes")
    return axes_module is not None and isinstance(obj, axes_module.Axes)


def matplotlib_figure(obj: Any) -> Figure:
    """The figure to log for ``obj``: ``plt.gcf()`` for pyplot, the figure of an Axes,
    or the Figure itself.

    Args:
        obj: ``matplotlib.pyplot``, a ``Figure`` or an ``Axes``.

    Raises:
        InvalidValue: ``obj`` is none of those, or the figure is empty (no axes, or no
            axes holding any artist), as W&B's "You attempted to log an empty plot".
    """
    if not is_matplotlib(obj):
        raise InvalidValue(f"expected matplotlib.pyplot, a matplotlib Figure or Axes, got "
                           f"{type(obj).__name__}")
    figure_class = sys.modules["matplotlib.figure"].Figure
    pyplot: Any = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and obj is pyplot:
        had_figures = bool(pyplot.get_fignums())
        fig = pyplot.gcf()
        if not had_figures:
            # gcf() just created an empty figure; do not leave it behind in pyplot.
            pyplot.close(fig)
            raise InvalidValue(f"{_EMPTY_PLOT_HINT} (pyplot has no open figure)")
    else:
        fig = obj
        # An Axes' .figure may be a SubFigure, whose .figure is the root Figure.
        for _ in range(8):
            if fig is None or isinstance(fig, figure_class):
                break
            fig = fig.figure
    if not isinstance(fig, figure_class):
        raise InvalidValue(f"{_EMPTY_PLOT_HINT} (the Axes belongs to no figure)")
    if not fig.axes:
        raise InvalidValue(f"{_EMPTY_PLOT_HINT} (the figure has no axes)")
    if not any(_has_content(ax) for ax in fig.axes):
        raise InvalidValue(f"{_EMPTY_PLOT_HINT} (its {len(fig.axes)} axes hold no data)")
    result: Figure = fig
    return result


def _has_content(ax: Any) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images or ax.texts
                or ax.tables or ax.artists or ax.child_axes)


def figure_png(fig: Any, dpi: int = 100) -> tuple[bytes, int, int]:
    """The figure as PNG bytes, with its width and height in pixels.

    Rendered with Agg into memory (``bbox_inches="tight"``), so it works headless and
    whatever backend pyplot uses.

    Args:
        fig: a matplotlib ``Figure``.
        dpi: pixels per inch, 1..1000.

    Raises:
        InvalidValue: ``fig`` is not a Figure, ``dpi`` is out of range, or matplotlib
            cannot render it (e.g. larger than Agg's 2**16 pixels per side).
    """
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is None or not isinstance(fig, figure_module.Figure):
        raise InvalidValue(f"figure_png takes a matplotlib Figure, got {type(fig).__name__}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 1 <= dpi <= 1000:
        raise InvalidValue(f"dpi must be a number in 1..1000, got {dpi!r}")
    buffer = io.BytesIO()
    try:
        # backend="agg": render with Agg whatever canvas (maybe a GUI one with no
        # display) the figure has; the figure keeps its own canvas afterwards.
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", backend="agg")
    except (ValueError, OverflowError, MemoryError) as exc:
        raise InvalidValue(f"matplotlib could not render the figure to PNG: {exc}") from exc
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])
    return png, int(width), int(height)


# ------------------------------------------------------- matplotlib -> Vega-Lite chart


class _Unconvertible(Exception):
    """The figure holds something the chart would not show faithfully."""


#: The chart table's columns and their numpy types. For lines and points ``x``/``y`` is
#: the point; for bars the rectangle: ``x``..``x2`` horizontally, ``y`` (top, the value
#: of a vertical bar) down to ``y2`` (bottom). ``i`` is the point's index in its artist.
_COLUMNS: dict[str, Any] = {
    "axes": np.int32, "series": object, "mark": object, "i": np.int64,
    "x": np.float64, "y": np.float64, "x2": np.float64, "y2": np.float64,
    "interpolate": object, "marker": np.bool_, "x_category": object, "y_category": object,
}
#: Columns stored only when some row has a value (categorical axes).
_OPTIONAL_COLUMNS = ("x_category", "y_category")


@dataclass
class _Rows:
    """The chart table being built, as numpy chunks per column."""

    chunks: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in _COLUMNS})
    count: int = 0

    def add(self, n: int, **columns: Any) -> None:
        if n == 0:
            return
        self.count += n
        if self.count > MAX_CHART_ROWS:
            raise _Unconvertible(f"more than {MAX_CHART_ROWS} rows")
        for name, dtype in _COLUMNS.items():
            value = columns.get(name)
            if value is None and dtype is np.float64:
                value = math.nan
            array = (np.full(n, value, dtype=dtype) if value is None or np.ndim(value) == 0
                     else np.asarray(value, dtype=dtype))
            self.chunks[name].append(array)

    def to_arrow(self) -> Any:
        import pyarrow as pa

        arrays: dict[str, Any] = {}
        for name, dtype in _COLUMNS.items():
            values = np.concatenate(self.chunks[name])
            if dtype is object:
                if name in _OPTIONAL_COLUMNS and all(v is None for v in values):
                    continue
                arrays[name] = pa.array(values.tolist(), type=pa.string())
            else:
                # from_pandas: NaN (a gap, or no such coordinate) is stored as null,
                # which Vega-Lite treats as missing.
                arrays[name] = pa.array(values, from_pandas=True)
        return pa.table(arrays)


_DRAWSTYLES = {"default": "linear", "steps": "step-before", "steps-pre": "step-before",
               "steps-post": "step-after", "steps-mid": "step"}
_NO_MARKER = {None, "None", "none", "", " ", ","}
_NO_LINE = {"None", "none", "", " "}
_MS_PER_DAY = 86_400_000.0


@dataclass
class _AxisKind:
    """How one matplotlib axis maps to a Vega-Lite position encoding."""

    coord: str  # "x" or "y"
    type: str  # quantitative, temporal or nominal
    title: str | None
    scale: dict[str, Any]
    categories: dict[int, str] | None = None  # nominal: position -> category
    epoch_ms: float = 0.0  # temporal: matplotlib's date epoch, ms since 1970

    def values(self, data: Any) -> Any:
        """Matplotlib data coordinates as stored in the table (dates: ms since 1970)."""
        values = np.asarray(data, dtype=np.float64)
        if self.type == "temporal":
            return values * _MS_PER_DAY + self.epoch_ms
        return values

    def category_of(self, positions: Any) -> Any:
        if self.categories is None:
            return None
        out = [self.categories.get(round(p)) if math.isfinite(p) else None
               for p in np.asarray(positions, dtype=np.float64).tolist()]
        return np.array(out, dtype=object)

    def encoding(self, *, field_name: str | None = None) -> dict[str, Any]:
        if self.type == "nominal":
                # Category order as matplotlib places them: left to right, bottom to top.
            order = "ascending" if self.coord == "x" else "descending"
            return {"field": f"{self.coord}_category", "type": "nominal", "title": self.title,
                    "sort": {"field": self.coord, "op": "min", "order": order},
                    "axis": {"labelAngle": 0}}
        return {"field": field_name or self.coord, "type": self.type, "title": self.title,
                "scale": dict(self.scale)}


def figure_to_chart(fig: Any) -> Chart | None:
    """An interactive Vega-Lite version of a matplotlib figure, or None.

    Converted: ``Line2D`` lines (labels become the series and its legend entry; colors,
    markers and step draw styles are kept), scatter ``PathCollection`` points, and
    ``BarContainer`` bars (``bar``, ``barh``, ``hist``). They become ONE table with
    columns ``axes, series, mark, i, x, y, x2, y2, interpolate, marker`` (plus
    ``x_category``/``y_category`` on categorical axes; ``mark`` is line, point or bar;
    bars store their rectangle: ``x``..``x2``, top ``y``, bottom ``y2``) and a layered
    spec with one layer per mark, each selecting its rows with a ``filter`` transform.
    Axis labels, titles (and the figure's suptitle), axis limits (so zoom and inverted
    axes match the PNG), log and symlog scales, date and categorical axes are kept. The
    legend is shown when the axes has one or any artist has a label of its own.

    Several axes on one subplot grid become a concatenation (rows of columns) of one
    layered chart per axes, each with its own scales and legend; axes holding no
    artist are left out.

    Bounded: a line with more than :data:`MAX_LINE_POINTS` points is reduced to at most
    that many: its interior is split into equal buckets of consecutive points and each
    bucket keeps its lowest and highest y; the first and last points are kept too. So
    the line's extremes (and every spike) survive; ``i`` keeps the original indices.

    Not kept: marker sizes, line widths and dash styles, per-point colors within one
    scatter or bar series (its first color is used).

    Returns:
        the chart, or None (store the PNG only) when the figure holds anything it could
        not show faithfully: images (``imshow``), contours, meshes, fills, error bars,
        text annotations, 3d or polar axes, colormapped scatters, twin, inset or
        free-floating axes, lines outside data coordinates (``axhline``), non-linear
        scales other than log/symlog, a scatter over :data:`MAX_SCATTER_POINTS`
        points, or more than :data:`MAX_CHART_ROWS` rows in all.

    Raises:
        InvalidValue: ``fig`` is not a matplotlib Figure.
    """
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is None or not isinstance(fig, figure_module.Figure):
        raise InvalidValue(f"figure_to_chart takes a matplotlib Figure, got "
                           f"{type(fig).__name__}")
    try:
        return _convert(fig)
    except _Unconvertible:
        return None


def _convert(fig: Any) -> Chart:
    from .charts import Chart

    _check_figure_artists(fig)
    axes = [ax for ax in fig.axes if ax.get_visible() and _has_content(ax)]
    if not axes:
        raise _Unconvertible("no axes with data")
    cells = _grid_cells(axes)
    rows = _Rows()
    specs = [_convert_axes(fig, ax, index, rows) for index, ax in enumerate(axes)]
    table = rows.to_arrow()

    suptitle = _suptitle(fig)
    top: dict[str, Any] = {"$schema": VEGA_LITE_SCHEMA}
    if len(specs) == 1:
        spec = specs[0]
        if suptitle and "title" in spec:
            spec["title"] = {"text": suptitle, "subtitle": spec["title"]}
        elif suptitle:
            spec["title"] = suptitle
        top.update(spec)
        return Chart(table, top, kind="matplotlib")
    if suptitle:
        top["title"] = suptitle
    by_row: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for (row, column), spec in zip(cells, specs, strict=True):
        by_row.setdefault(row, []).append((column, spec))
    grid = [[spec for _, spec in sorted(cells_of_row, key=lambda cell: cell[0])]
            for _, cells_of_row in sorted(by_row.items())]
    if len(grid) == 1:
        top["hconcat"] = grid[0]
    else:
        top["vconcat"] = [row[0] if len(row) == 1 else {"hconcat": row} for row in grid]
    # Each subplot has its own axes and legend, as in matplotlib.
    top["resolve"] = {"scale": {"x": "independent", "y": "independent",
                                "color": "independent"}}
    return Chart(table, top, kind="matplotlib")


def _check_figure_artists(fig: Any) -> None:
    if getattr(fig, "subfigs", None):
        raise _Unconvertible("subfigures")
    suplabels = {id(getattr(fig, name, None))
                 for name in ("_suptitle", "_supxlabel", "_supylabel")}
    if any(id(text) not in suplabels for text in fig.texts):
        raise _Unconvertible("figure text")
    if fig.images or fig.lines or fig.patches or fig.artists:
        raise _Unconvertible("figure-level artists")


def _suptitle(fig: Any) -> str:
    text = getattr(fig, "_suptitle", None)
    return str(text.get_text()) if text is not None else ""


def _grid_cells(axes: list[Any]) -> list[tuple[int, int]]:
    """(row, column) of each axes on their common subplot grid."""
    if len(axes) == 1:
        return [(0, 0)]
    cells = []
    gridspecs = set()
    for ax in axes:
        spec = ax.get_subplotspec() if hasattr(ax, "get_subplotspec") else None
        if spec is None:
            raise _Unconvertible("axes outside a subplot grid (inset or add_axes)")
        gridspecs.add(id(spec.get_topmost_subplotspec().get_gridspec()))
        cells.append((spec.rowspan.start, spec.colspan.start))
    if len(gridspecs) > 1:
        raise _Unconvertible("axes on different grids")
    if len(set(cells)) != len(cells):
        raise _Unconvertible("twin or overlapping axes")
    return cells


def _axis_kind(ax: Any, coord: str) -> _AxisKind:
    axis = ax.xaxis if coord == "x" else ax.yaxis
    scale_name = ax.get_xscale() if coord == "x" else ax.get_yscale()
    low, high = ax.get_xlim() if coord == "x" else ax.get_ylim()
    label = ax.get_xlabel() if coord == "x" else ax.get_ylabel()
    title = str(label) if label else None
    category = sys.modules.get("matplotlib.category")
    if category is not None and isinstance(axis.units, category.UnitData):
        mapping = getattr(axis.units, "_mapping", None)
        if scale_name != "linear" or not isinstance(mapping, dict):
            raise _Unconvertible("categorical axis this matplotlib does not describe")
        return _AxisKind(coord, "nominal", title, {},
                         categories={int(v): str(k) for k, v in mapping.items()})
    scale: dict[str, Any] = {}
    if scale_name == "log":
        scale = {"type": "log", "base": float(axis.get_transform().base)}
    elif scale_name == "symlog":
        scale = {"type": "symlog", "constant": float(axis.get_transform().linthresh)}
    elif scale_name != "linear":
        raise _Unconvertible(f"{scale_name} scale")
    kind = _AxisKind(coord, "quantitative", title, scale)
    dates = sys.modules.get("matplotlib.dates")
    if dates is not None and isinstance(axis.get_major_formatter(), (
            dates.AutoDateFormatter, dates.ConciseDateFormatter, dates.DateFormatter)):
        if scale:
            raise _Unconvertible(f"{scale_name} scale on a date axis")
        kind.type = "temporal"
        # matplotlib draws dates in UTC unless told otherwise (rcParams["timezone"])
        scale["type"] = "utc"
        kind.epoch_ms = float(np.datetime64(dates.get_epoch(), "ms").astype(np.int64))
    low, high = (float(v) for v in kind.values([low, high]))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _Unconvertible("non-finite axis limits")
    # The axes' limits, as drawn: zooming, margins and inverted axes match the PNG.
    scale["domain"] = [min(low, high), max(low, high)]
    scale["nice"] = False
    if low > high:
        scale["reverse"] = True
    return kind


class _SeriesNames:
    """Unique series names per axes: the artist's label, or "line 1", "bars 2"..."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.colors: list[str] = []
        self.own: list[bool] = []  # whether the name is the artist's own label
        self.labelled = False
        self._auto: dict[str, int] = {}

    def take(self, labels: list[Any], kind: str, color: str) -> str:
        label = next((str(x) for x in labels if _user_label(x)), None)
        if label is None:
            self._auto[kind] = self._auto.get(kind, 0) + 1
            name = f"{kind} {self._auto[kind]}"
        else:
            self.labelled = True
            name = label
        unique, n = name, 1
        while unique in self.names:
            n += 1
            unique = f"{name} ({n})"
        self.names.append(unique)
        self.colors.append(color)
        self.own.append(label is not None)
        return unique


def _user_label(label: Any) -> bool:
    # Matplotlib's own labels ("_child0", "_nolegend_", "_container1") start with "_".
    return isinstance(label, str) and bool(label) and not label.startswith("_")


def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex

    try:
        return str(to_hex(color, keep_alpha=False))
    except (ValueError, TypeError):
        return "#000000"


def _reduce_line(y: Any, bound: int = MAX_LINE_POINTS) -> Any:
    """Indices of the points of a line to keep (all of them up to ``bound``): first and
    last, then per bucket of consecutive interior points the lowest and highest y."""
    n = len(y)
    if n <= bound:
        return np.arange(n)
    buckets = (bound - 2) // 2
    size = -(-(n - 2) // buckets)
    interior = np.asarray(y[1:n - 1], dtype=np.float64)
    padded = np.concatenate([interior, np.full(buckets * size - (n - 2), np.nan)])
    padded = padded.reshape(buckets, size)
    missing = np.isnan(padded)
    low = np.where(missing, np.inf, padded).argmin(axis=1)
    high = np.where(missing, -np.inf, padded).argmax(axis=1)
    start = np.arange(buckets) * size + 1
    keep = np.concatenate([[0, n - 1], start + low, start + high])
    # Padding positions map past the last point: dropped (unique also sorts).
    return np.unique(keep[keep <= n - 1])


def _convert_axes(fig: Any, ax: Any, index: int, rows: _Rows) -> dict[str, Any]:
    if ax.name != "rectilinear":
        raise _Unconvertible(f"{ax.name} axes")
    if ax.images or ax.texts or ax.tables or ax.artists or ax.child_axes:
        raise _Unconvertible("images, texts, tables or inset axes")
    x_kind, y_kind = _axis_kind(ax, "x"), _axis_kind(ax, "y")
    if x_kind.type == "nominal" and y_kind.type == "nominal":
        raise _Unconvertible("both axes categorical")
    names = _SeriesNames()
    interpolations: list[str] = []
    has_markers = has_bars = False
    start = rows.count

    def add(n: int, xs: Any, ys: Any, **columns: Any) -> None:
        rows.add(n, axes=index, x=xs, y=ys, x_category=x_kind.category_of(xs),
                 y_category=y_kind.category_of(ys), **columns)

    for line in ax.get_lines():
        if not line.get_visible():
            continue
        if line.get_transform() is not ax.transData:
            raise _Unconvertible("a line outside data coordinates (axhline, axvline)")
        interpolate = _DRAWSTYLES.get(line.get_drawstyle())
        if interpolate is None:
            raise _Unconvertible(f"drawstyle {line.get_drawstyle()}")
        marker = line.get_marker() not in _NO_MARKER
        joined = line.get_linestyle() not in _NO_LINE
        xy = np.asarray(line.get_xydata(), dtype=np.float64).reshape(-1, 2)
        if not (marker or joined) or len(xy) == 0:
            continue
        keep = _reduce_line(xy[:, 1])
        color = line.get_color() if joined else line.get_markerfacecolor()
        name = names.take([line.get_label()], "line" if joined else "points", _hex(color))
        if joined:
            interpolations.append(interpolate)
        has_markers = has_markers or marker
        add(len(keep), x_kind.values(xy[keep, 0]), y_kind.values(xy[keep, 1]),
            series=name, mark="line" if joined else "point", i=keep,
            interpolate=interpolate if joined else None, marker=marker)

    path_collection = sys.modules["matplotlib.collections"].PathCollection
    for collection in ax.collections:
        if not collection.get_visible():
            continue
        if type(collection) is not path_collection:
            raise _Unconvertible(f"a {type(collection).__name__} (fill, errorbar, mesh...)")
        if collection.get_offset_transform() is not ax.transData:
            raise _Unconvertible("a scatter outside data coordinates")
        if collection.get_array() is not None:
            raise _Unconvertible("a colormapped scatter")
        offsets = np.ma.filled(np.ma.asarray(collection.get_offsets(), dtype=np.float64),
                               np.nan).reshape(-1, 2)
        if len(offsets) > MAX_SCATTER_POINTS:
            raise _Unconvertible(f"a scatter of more than {MAX_SCATTER_POINTS} points")
        if len(offsets) == 0:
            continue
        faces = collection.get_facecolor()
        colors = faces if len(faces) else collection.get_edgecolor()
        name = names.take([collection.get_label()], "points",
                          _hex(colors[0]) if len(colors) else "#000000")
        has_markers = True
        add(len(offsets), x_kind.values(offsets[:, 0]), y_kind.values(offsets[:, 1]),
            series=name, mark="point", i=np.arange(len(offsets)), marker=True)

    bar_container = sys.modules["matplotlib.container"].BarContainer
    in_containers: set[int] = set()
    for container in ax.containers:
        if not isinstance(container, bar_container):
            raise _Unconvertible(f"a {type(container).__name__}")
        patches = list(container.patches)
        in_containers.update(id(p) for p in patches)
        shown = [(i, p) for i, p in enumerate(patches) if p.get_visible()]
        if not shown:
            continue
        order = np.array([i for i, _ in shown])
        left = np.array([p.get_x() for _, p in shown], dtype=np.float64)
        width = np.array([p.get_width() for _, p in shown], dtype=np.float64)
        bottom = np.array([p.get_y() for _, p in shown], dtype=np.float64)
        height = np.array([p.get_height() for _, p in shown], dtype=np.float64)
        labels = [container.get_label()] + [p.get_label() for p in patches[:1]]
        name = names.take(labels, "bars", _hex(shown[0][1].get_facecolor()))
        has_bars = True
        # A bar's category is the one its centre sits on.
        rows.add(len(shown), axes=index, series=name, mark="bar", i=order,
                 x=x_kind.values(left), x2=x_kind.values(left + width),
                 y=y_kind.values(bottom + height), y2=y_kind.values(bottom),
                 x_category=x_kind.category_of(left + width / 2),
                 y_category=y_kind.category_of(bottom + height / 2), marker=False)
    if any(id(p) not in in_containers for p in ax.patches if p.get_visible()):
        raise _Unconvertible("patches other than bars (polygons, step histograms...)")
    if rows.count == start:
        raise _Unconvertible("nothing visible to draw")
    return _axes_spec(fig, ax, index, x_kind, y_kind, names,
                      sorted(set(interpolations)), has_markers, has_bars)


def _axes_spec(fig: Any, ax: Any, index: int, x_kind: _AxisKind, y_kind: _AxisKind,
               names: _SeriesNames, interpolations: list[str], has_markers: bool,
               has_bars: bool) -> dict[str, Any]:
    legend: dict[str, Any] | None = None
    if ax.get_legend() is not None or names.labelled:
        legend_title = ax.get_legend().get_title().get_text() if ax.get_legend() else ""
        legend = {"title": legend_title or None}
        if names.labelled:
            # As matplotlib's legend: only artists with a label of their own.
            legend["values"] = [n for n, own in zip(names.names, names.own, strict=True)
                                if own]
    color = {"field": "series", "type": "nominal", "legend": legend,
             "scale": {"domain": names.names, "range": names.colors}}
    tooltip = [{"field": "series", "type": "nominal"},
               _tooltip(x_kind), _tooltip(y_kind)]
    x, y = x_kind.encoding(), y_kind.encoding()
    selects = f"datum.axes == {index}"
    layers: list[dict[str, Any]] = []
    for interpolate in interpolations:
        layers.append({
            "transform": [{"filter": f"{selects} && datum.mark == 'line' && "
                                     f"datum.interpolate == '{interpolate}'"}],
            "mark": {"type": "line", "interpolate": interpolate, "clip": True},
            "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip,
                         # matplotlib joins points in data order, not sorted by x
                         "order": {"field": "i", "type": "quantitative"}}})
    if has_markers:
        layers.append({
            "transform": [{"filter": f"{selects} && datum.marker"}],
            "mark": {"type": "point", "filled": True, "clip": True},
            "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip}})
    if has_bars:
        bars: dict[str, Any] = {"color": color, "tooltip": tooltip}
        if x_kind.type == "nominal":
            mark = "bar"
            bars.update(x=x, y=y_kind.encoding(), y2={"field": "y2"})
        elif y_kind.type == "nominal":
            mark = "bar"
            bars.update(y=y, x=x_kind.encoding(field_name="x2"), x2={"field": "x"})
        else:
            mark = "rect"
            bars.update(x=x, x2={"field": "x2"}, y=y, y2={"field": "y2"})
        layers.append({"transform": [{"filter": f"{selects} && datum.mark == 'bar'"}],
                       "mark": {"type": mark, "clip": True}, "encoding": bars})
    spec: dict[str, Any] = {}
    titles = [str(ax.get_title(loc)) for loc in ("left", "center", "right")]
    title = " — ".join(t for t in titles if t)
    if title:
        spec["title"] = title
    box = ax.get_position()
    fig_width, fig_height = fig.get_size_inches()
    # Vega-Lite's width/height is the plotting area, as the axes box is (at 100 dpi).
    spec["width"] = max(50, round(box.width * fig_width * 100))
    spec["height"] = max(50, round(box.height * fig_height * 100))
    spec["layer"] = layers
    return spec


def _tooltip(kind: _AxisKind) -> dict[str, Any]:
    if kind.type == "nominal":
        return {"field": f"{kind.coord}_category", "type": "nominal", "title": kind.title}
    return {"field": kind.coord, "type": kind.type, "title": kind.title}


# --------------------------------------------------------------------------- plotly


def is_plotly(obj: Any) -> bool:
    """Whether ``obj`` is a Plotly figure (``plotly.graph_objs.Figure`` or any
    ``BaseFigure``). Never imports plotly."""
    base = sys.modules.get("plotly.basedatatypes")
    return base is not None and isinstance(obj, base.BaseFigure)


def plotly_json(fig: Any) -> bytes:
    """The figure as Plotly's JSON (``fig.to_json()``), UTF-8 encoded.

    Raises:
        InvalidValue: ``fig`` is not a Plotly figure, or Plotly cannot serialise it.
    """
    if not is_plotly(fig):
        raise InvalidValue(f"expected a plotly Figure, got {type(fig).__name__}")
    try:
        text = fig.to_json()
    except (ValueError, TypeError) as exc:
        raise InvalidValue(f"the plotly figure is not serialisable to JSON: {exc}") from exc
    return str(text).encode("utf-8")


_PLOTLY_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>html, body {{ margin: 0; height: 100%; }} #plot {{ width: 100%; height: 100%; }}</style>
{script}
</head>
<body>
<div id="plot"></div>
<script type="application/json" id="flightlog-plotly-figure">{figure}</script>
<script>
(function () {{
  var figure = JSON.parse(document.getElementById("flightlog-plotly-figure").textContent);
  var config = Object.assign({{responsive: true}}, figure.config || {{}});
  Plotly.newPlot("plot", {{data: figure.data || [], layout: figure.layout || {{}},
                          frames: figure.frames || [], config: config}});
}})();
</script>
</body>
</html>
"""


def plotly_html(json_bytes: bytes, plotly_js: str | None) -> str:
    """A standalone HTML page that draws a Plotly figure stored as JSON.

    Args:
        json_bytes: the figure's JSON, as :func:`plotly_json` returns it.
        plotly_js: the plotly.js source to inline (:func:`plotly_js_source`), or None
            for a ``<script src="plotly.min.js">`` the viewer serves beside the page.

    Raises:
        InvalidValue: ``json_bytes`` is not UTF-8 JSON of an object.
    """
    try:
        figure = json.loads(bytes(json_bytes).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidValue(f"plotly figure JSON does not parse: {exc}") from exc
    if not isinstance(figure, dict):
        raise InvalidValue(f"plotly figure JSON must be an object, got "
                           f"{type(figure).__name__}")
    title = (figure.get("layout") or {}).get("title")
    if isinstance(title, dict):
        title = title.get("text")
    # "<" occurs in JSON only inside strings, where \u003c means the same: the data can
    # never close its <script> element.
    embedded = json.dumps(figure, ensure_ascii=False).replace("<", "\\u003c")
    if plotly_js is None:
        script = '<script src="plotly.min.js"></script>'
    else:
        script = "<script>" + plotly_js.replace("</script", "<\\/script") + "</script>"
    return _PLOTLY_PAGE.format(title=html.escape(str(title or "plotly figure")),
                               script=script, figure=embedded)


@functools.lru_cache(maxsize=1)
def plotly_js_source() -> str | None:
    """The plotly.js bundle the installed plotly package ships
    (``plotly/package_data/plotly.min.js``), or None without plotly. Does not import
    plotly."""
    try:
        spec = importlib_util.find_spec("plotly")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None
