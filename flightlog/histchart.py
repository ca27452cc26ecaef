"""The distribution view of a histogram key: a heatmap of bins over steps (Vega-Lite).

TensorBoard's and W&B's distribution views draw each step's histogram as a column of
cells shaded by count; this is that chart, as a plain Vega-Lite spec with its data inlined,
so the run page and the static report draw it like any logged chart. At most
:data:`MAX_STEPS` histograms are drawn (evenly spaced, first and last kept) so that a long
run's chart stays a few thousand cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flightlog.format.histograms import HistogramAt
from flightlog.format.vega import VEGA_LITE_SCHEMA

MAX_STEPS = 120
KIND = "histogram"


def sampled(histograms: Sequence[HistogramAt], limit: int = MAX_STEPS) -> list[HistogramAt]:
    if len(histograms) <= limit:
        return list(histograms)
    picks = sorted({round(i * (len(histograms) - 1) / (limit - 1)) for i in range(limit)})
    return [histograms[i] for i in picks]


def heatmap_rows(histograms: Sequence[HistogramAt]) -> list[dict[str, Any]]:
    """One row per non-empty bin: its step span ``[step, step_end)``, bin ``[lo, hi)`` and
    ``count``; a step spans up to the next drawn step (the last one, one step)."""
    rows: list[dict[str, Any]] = []
    for i, hist in enumerate(histograms):
        end = histograms[i + 1].step if i + 1 < len(histograms) else hist.step + 1
        edges, counts = hist.edges.tolist(), hist.counts.tolist()
        rows.extend({"step": hist.step, "step_end": end, "lo": edges[b], "hi": edges[b + 1],
                     "count": count} for b, count in enumerate(counts) if count > 0)
    return rows


def histogram_spec(key: str, histograms: Sequence[HistogramAt]) -> dict[str, Any]:
    """A Vega-Lite spec of ``key``'s histograms over steps, data inlined."""
    drawn = sampled(histograms)
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": f"distribution of {key} over steps",
        "width": 360, "height": 220,
        "data": {"values": heatmap_rows(drawn)},
        "mark": {"type": "rect", "tooltip": True},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step"},
            "x2": {"field": "step_end"},
            "y": {"field": "lo", "type": "quantitative", "title": key},
            "y2": {"field": "hi"},
            "color": {"field": "count", "type": "quantitative",
                      "scale": {"type": "sqrt", "scheme": "blues"}},
        },
    }


def histogram_charts(run: Any, taken: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """name → {kind, step, spec} of each histogram key of ``run`` (a LocalRun), named by
    the key (``KEY (histogram)`` when a logged chart has the key's name)."""
    out: dict[str, dict[str, Any]] = {}
    for key in run.histogram_keys():
        found = run.histograms(key)
        if not found:
            continue
        name = key if key not in taken else f"{key} (histogram)"
        out[name] = {"kind": KIND, "step": found[-1].step, "spec": histogram_spec(key, found)}
    return out
