"""What a logged chart's Vega-Lite (or Vega) spec may make a viewer's browser do.

A logged spec is untrusted data: whoever can log a run (or post frames) writes it, and
everyone who opens the run draws it. :func:`safe_spec` removes what would make the
renderer reach outside the page or change how it is embedded:

- ``usermeta`` anywhere (vega-embed reads ``usermeta.embedOptions`` and lets it turn the
  actions menu, its ``sourceHeader`` HTML, a custom loader or a config URL back on);
- every ``url`` given as a constant that is not a ``data:`` URI (``data.url``, a lookup's
  ``from.data.url``, an image mark's ``url``, an ``{"value": ...}`` url channel), a data
  definition left without a source getting ``"values": []``;
- every ``href`` (links a click on a mark would follow);
- ``config.events`` (vega's switches for listening to events outside the chart).

URLs computed by expressions or read from data fields cannot be seen here: the renderer
(``server/static/flightlog.js``, the same rules as this module) embeds every chart with
a loader that refuses any load but an inline ``data:`` image, and the pages' CSP refuses
connections to other origins. The server applies this module to every spec it serves and
the report to every spec it inlines, so a client that draws a served spec as it is is
protected too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["safe_spec"]

#: Nesting beyond this is dropped (a stored spec is at most 64 deep, SPEC.md §10.2).
_MAX_DEPTH = 256


def _data_uri(value: Any) -> bool:
    return isinstance(value, str) and value[:5].lower() == "data:"


def _constant_url(value: Any) -> bool:
    """A url given as a constant (a string, or a channel's ``{"value": ...}``) that is
    not a data: URI."""
    if isinstance(value, str):
        return not _data_uri(value)
    if isinstance(value, dict) and "value" in value:
        return not _data_uri(value["value"])
    return False


def _clean(node: Any, path: str, removed: list[str], depth: int, parent_key: str) -> Any:
    if depth > _MAX_DEPTH:
        removed.append(path or "/")
        return None
    if isinstance(node, list):
        return [_clean(child, f"{path}/{i}", removed, depth + 1, parent_key)
                for i, child in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, child in node.items():
        where = f"{path}/{key}"
        if key in ("usermeta", "href") or (key == "events" and parent_key == "config"):
            removed.append(where)
            continue
        if key == "url" and _constant_url(child):
            removed.append(where)
            continue
        out[key] = _clean(child, where, removed, depth + 1, key)
    if parent_key == "data" and "url" in node and "url" not in out and "values" not in out:
        out["values"] = []
    return out


def safe_spec(spec: Any) -> tuple[dict[str, Any], list[str]]:
    """``spec`` without what :mod:`this module <flightlog.format.chart_safety>` removes,
    and the JSON pointers of what it removed (empty: nothing was). A spec that is not an
    object becomes an empty one."""
    removed: list[str] = []
    if not isinstance(spec, dict):
        return {}, ["/"]
    cleaned: dict[str, Any] = _clean(spec, "", removed, 0, "")
    return cleaned, removed
