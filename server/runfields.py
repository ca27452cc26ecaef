"""Fields of a run as filters and the runs table name them (shared by every index backend).

- Nested config is flattened with dots, as W&B shows it: ``{"arch": {"layers": 3}}`` is the
  field ``config.arch.layers`` (:func:`flat_config`); :func:`json_paths` gives the JSON
  paths a filter on such a name may mean (a literal dotted key, or the nested one).
- A filter on a field that no run has is refused, naming close matches
  (:func:`unknown_field_message`), instead of answering an empty list.
- ``duration`` and ``last_update`` of a run (:func:`run_times`, shared with
  ``flightlog ls``), from its records.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from flightlog.format.runtimes import run_times

#: Deepest nesting flattened; deeper maps stay one value (config nests 28 levels at most).
MAX_FLAT_DEPTH = 28
SECTIONS = ("config", "summary", "tags")
__all__ = ["flat_config", "json_paths", "known_fields", "run_times", "unknown_field_message"]


def flat_config(config: Mapping[str, Any], prefix: str = "", depth: int = 0,
                out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``config`` with nested non-empty maps flattened to dotted keys."""
    if out is None:
        out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth < MAX_FLAT_DEPTH:
            flat_config(value, name + ".", depth + 1, out)
        else:
            out[name] = value
    return out


def _quoted(parts: Iterable[str]) -> str:
    return "$" + "".join('."' + p.replace('"', '""') + '"' for p in parts)


def json_paths(sub: str) -> list[str]:
    """SQLite/JSON paths a config field name ``sub`` may mean: the literal key first
    (``{"a.b": 1}``), then the nested one (``{"a": {"b": 1}}``) when it has dots."""
    paths = [_quoted([sub])]
    if "." in sub and all(sub.split(".")):
        paths.append(_quoted(sub.split(".")))
    return paths


def known_fields(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every ``config.*`` (flattened), ``summary.*`` and ``tags.*`` name of these index
    rows (dicts with ``config``, ``summary``, ``tags``)."""
    names: set[str] = set()
    for row in rows:
        for section in SECTIONS:
            value = row.get(section)
            if not isinstance(value, Mapping):
                continue
            keys = flat_config(value) if section == "config" else value
            names.update(f"{section}.{k}" for k in keys)
    return names


def unknown_field_message(field: str, known: set[str], where: str) -> str | None:
    """The refusal of a filter on ``field`` when no run ``where`` has it, else None."""
    if field in known:
        return None
    # Matched within the field's section on the key alone: every name of a section shares
    # its prefix, which would make them all look close.
    section, _, sub = field.partition(".")
    same = {k.partition(".")[2]: k for k in known if k.partition(".")[0] == section}
    close = [same[k] for k in difflib.get_close_matches(sub, sorted(same), n=3, cutoff=0.6)]
    hint = (f"; did you mean {', '.join(close)}?" if close else
            f"; fields there: {', '.join(sorted(known)[:12])}" if known else "")
    return f"no run {where} has the field {field!r}{hint}"
