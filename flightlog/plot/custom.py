"""``flightlog.plot_table``: W&B's custom charts — a Vega-Lite template whose fields and
strings are placeholders, filled from a table.

A template is a Vega-Lite spec (dict or JSON text) in which ``"${field:NAME}"`` stands
for a column of the table and ``"${string:NAME}"`` for a text (a title, an axis label).
A placeholder is replaced wherever it occurs in a string (or a key); when it is the
whole value of a ``"field"`` key, the column name is escaped for Vega-Lite (``.``, ``[``,
``]``), so columns like ``"val.loss"`` work. Built-in templates (:data:`PRESETS`) are
named ``"flightlog/..."``; :func:`register_preset` adds your own under a name.

Filling rules: every field placeholder of the template must be mapped (else
InvalidValue naming it), to a column the table has (else InvalidValue naming the column
and listing the table's columns); mapping a name the template does not use is an error
too (a typo would otherwise go unnoticed). String placeholders not given become ``""``
(an empty top-level title is dropped).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from flightlog.charts import Chart
from flightlog.errors import InvalidValue
from flightlog.format.vega import VEGA_LITE_SCHEMA

from ._inputs import arrow_table, require_column
from ._specs import HEIGHT, WIDTH, vl_field

__all__ = ["PRESETS", "fill_template", "placeholders", "plot_table", "register_preset"]

PLACEHOLDER = re.compile(r"\$\{(field|string):([^}]*)\}")


def _point_tooltip(*fields: str) -> list[dict[str, str]]:
    return [{"field": "${field:" + name + "}"} for name in fields]


def _preset(mark: Any, encoding: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": VEGA_LITE_SCHEMA, "title": "${string:title}", "width": WIDTH,
            "height": HEIGHT, "mark": mark, "encoding": encoding}


_XY = {"x": {"field": "${field:x}", "type": "quantitative", "title": "${field:x}"},
       "y": {"field": "${field:y}", "type": "quantitative", "title": "${field:y}"}}

_BUILT_IN: dict[str, dict[str, Any]] = {
    "flightlog/line": _preset(
        {"type": "line", "point": {"filled": True, "size": 20}},
        {**_XY, "tooltip": _point_tooltip("x", "y")}),
    "flightlog/multiline": _preset(
        {"type": "line", "point": {"filled": True, "size": 20}},
        {**_XY, "color": {"field": "${field:stroke}", "type": "nominal",
                          "title": "${field:stroke}"},
         "tooltip": _point_tooltip("stroke", "x", "y")}),
    "flightlog/scatter": _preset(
        {"type": "point", "filled": True, "opacity": 0.7},
        {**_XY, "tooltip": _point_tooltip("x", "y")}),
    "flightlog/bar": _preset(
        {"type": "bar"},
        {"y": {"field": "${field:label}", "type": "nominal", "sort": None,
               "title": "${field:label}"},
         "x": {"field": "${field:value}", "type": "quantitative", "title": "${field:value}"},
         "tooltip": _point_tooltip("label", "value")}),
    "flightlog/histogram": _preset(
        {"type": "bar"},
        {"x": {"field": "${field:value}", "type": "quantitative", "bin": {"maxbins": 30},
               "title": "${field:value}"},
         "y": {"aggregate": "count", "type": "quantitative", "title": "count"},
         "tooltip": [{"field": "${field:value}", "type": "quantitative", "bin": {"maxbins": 30},
                      "title": "${field:value}"},
                     {"aggregate": "count", "type": "quantitative", "title": "count"}]}),
}
_user_presets: dict[str, dict[str, Any]] = {}

#: Built-in templates by name (read-only; add yours with :func:`register_preset`).
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(_BUILT_IN)


def _parse_template(what: str, template: Any) -> dict[str, Any]:
    if isinstance(template, str):
        try:
            template = json.loads(template)
        except json.JSONDecodeError as exc:
            raise InvalidValue(f"{what} is not valid JSON: {exc}", key=what) from exc
    if not isinstance(template, Mapping):
        raise InvalidValue(f"{what} must be a Vega-Lite spec (dict or JSON text), got "
                           f"{type(template).__name__}", key=what)
    return copy.deepcopy(dict(template))


def register_preset(name: str, template: Any) -> None:
    """Make ``template`` (a Vega-Lite spec with placeholders, dict or JSON text) usable
    as ``plot_table(name, ...)``. Built-in names (``flightlog/...``) cannot be replaced.

    Raises:
        InvalidValue: not a dict/JSON object, or a built-in name.
    """
    if not isinstance(name, str) or not name or name.startswith("{"):
        raise InvalidValue(f"preset name must be a non-empty string, got {name!r}", key="name")
    if name in _BUILT_IN:
        raise InvalidValue(f"{name!r} is a built-in preset and cannot be replaced", key="name")
    _user_presets[name] = _parse_template("template", template)


def _walk_strings(node: Any, found: set[tuple[str, str]]) -> None:
    if isinstance(node, str):
        found.update((m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(node))
    elif isinstance(node, Mapping):
        for key, child in node.items():
            _walk_strings(str(key), found)
            _walk_strings(child, found)
    elif isinstance(node, list):
        for child in node:
            _walk_strings(child, found)


def placeholders(template: Any) -> dict[str, list[str]]:
    """The placeholders of ``template``: ``{"field": [...], "string": [...]}``, sorted."""
    found: set[tuple[str, str]] = set()
    _walk_strings(_parse_template("template", template), found)
    return {kind: sorted(name for k, name in found if k == kind) for kind in ("field", "string")}


def _substitute(text: str, values: Mapping[tuple[str, str], str], *, escape: bool) -> str:
    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None and escape and whole.group(1) == "field":
        return vl_field(values[(whole.group(1), whole.group(2))])
    return PLACEHOLDER.sub(lambda m: values[(m.group(1), m.group(2))], text)


def _fill(node: Any, values: Mapping[tuple[str, str], str], field_key: bool = False) -> Any:
    if isinstance(node, str):
        return _substitute(node, values, escape=field_key)
    if isinstance(node, Mapping):
        return {_substitute(str(k), values, escape=False): _fill(v, values, k == "field")
                for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(child, values) for child in node]
    return node


def fill_template(template: Any, fields: Mapping[str, str],
                  strings: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``template`` with its placeholders replaced (no check of columns: see
    :func:`plot_table`). Raises InvalidValue for unmapped or unknown placeholders."""
    spec = _parse_template("vega_spec", template)
    wanted = placeholders(spec)
    _check_names("fields", fields, wanted["field"], required=True)
    _check_names("string_fields", strings or {}, wanted["string"], required=False)
    values: dict[tuple[str, str], str] = {("field", k): str(v) for k, v in fields.items()}
    values.update({("string", k): "" for k in wanted["string"]})
    values.update({("string", k): str(v) for k, v in (strings or {}).items()})
    filled: dict[str, Any] = _fill(spec, values)
    if filled.get("title") == "":
        del filled["title"]
    return filled


def _check_names(argument: str, given: Mapping[str, Any], wanted: list[str],
                 *, required: bool) -> None:
    if not isinstance(given, Mapping):
        raise InvalidValue(f"{argument} must be a dict of placeholder name -> "
                           f"{'column' if argument == 'fields' else 'text'}, got "
                           f"{type(given).__name__}", key=argument)
    unknown = [name for name in given if name not in wanted]
    if unknown:
        raise InvalidValue(f"{argument}: the template has no placeholder {unknown[0]!r} "
                           f"(its {argument} placeholders are {wanted})", key=argument)
    missing = [name for name in wanted if name not in given]
    if required and missing:
        raise InvalidValue(f"{argument}: placeholder ${{field:{missing[0]}}} of the template is "
                           f"left unfilled; map it to a column (placeholders: {wanted})",
                           key=argument)


def _template(vega_spec_name: Any) -> tuple[dict[str, Any], str]:
    if isinstance(vega_spec_name, Mapping):
        return _parse_template("vega_spec_name", vega_spec_name), "custom"
    if isinstance(vega_spec_name, str):
        if vega_spec_name in _BUILT_IN:
            return copy.deepcopy(_BUILT_IN[vega_spec_name]), vega_spec_name
        if vega_spec_name in _user_presets:
            return copy.deepcopy(_user_presets[vega_spec_name]), vega_spec_name
        if vega_spec_name.lstrip().startswith("{"):
            return _parse_template("vega_spec_name", vega_spec_name), "custom"
    known = sorted(_BUILT_IN) + sorted(_user_presets)
    raise InvalidValue(f"vega_spec_name={vega_spec_name!r} is neither a preset ({known}) nor "
                       f"a Vega-Lite spec (dict or JSON text)", key="vega_spec_name")


def plot_table(vega_spec_name: Any, data_table: Any, fields: Mapping[str, str],
               string_fields: Mapping[str, str] | None = None) -> Chart:
    """A chart from a template and a table, as ``wandb.plot_table``.

    Args:
        vega_spec_name: a preset name (:data:`PRESETS`, e.g. ``"flightlog/line"``, or
            one registered with :func:`register_preset`), or your own Vega-Lite spec
            (dict or JSON text) using ``${field:NAME}`` / ``${string:NAME}``.
        data_table: a flightlog Table, pyarrow.Table, DataFrame or dict of columns.
        fields: placeholder name -> column of ``data_table``, for every
            ``${field:...}`` of the template.
        string_fields: placeholder name -> text, for ``${string:...}`` (e.g. title).

    Returns:
        A Chart of kind ``"custom"`` (own spec) or the preset's name.

    Raises:
        InvalidValue: unknown preset; a field placeholder left unfilled; a name that is
            not a placeholder of the template; a column the table does not have (named,
            with the table's columns).
    """
    template, kind = _template(vega_spec_name)
    table = arrow_table("data_table", data_table)
    spec = fill_template(template, fields, string_fields)
    for name, column in fields.items():
        require_column(table, column, f"fields[{name!r}]")
    return Chart(table, spec, kind=kind)
