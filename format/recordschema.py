"""The fields of each known record type and their types (SPEC.md §8).

A record of a known type whose body lacks a required field, or has a field of the table
with a value of another type, is a ``BadRecord``: it is left out of the run's state.
Unknown keys are ignored (a newer minor version may add them), and an optional field
whose value is nil counts as absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .records import RecordType

Check = Callable[[Any], bool]


def _str(v: Any) -> bool:
    return type(v) is str


def _key(v: Any) -> bool:
    return type(v) is str and v != ""


def _uint(v: Any) -> bool:
    return type(v) is int and v >= 0


def _int(v: Any) -> bool:
    return type(v) is int


def _num(v: Any) -> bool:
    return type(v) in (int, float)


def _bool(v: Any) -> bool:
    return type(v) is bool


def _map(v: Any) -> bool:
    return type(v) is dict


def _bin(v: Any) -> bool:
    return type(v) is bytes


def _array(v: Any) -> bool:
    return type(v) is list


def _strs(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _tags(v: Any) -> bool:
    return type(v) is dict and all(x is None or type(x) is str for x in v.values())


def _any(v: Any) -> bool:
    return True


def _uints(v: Any) -> bool:
    return type(v) is list and all(type(x) is int and x >= 0 for x in v)


def _stream(v: Any) -> bool:
    return v in ("stdout", "stderr")


#: type → {field: (check, what it must be)}; required fields in _REQUIRED.
_FIELDS: dict[int, dict[str, tuple[Check, str]]] = {
    RecordType.SEGMENT: {"run": (_str, "str"), "index": (_uint, "uint"),
                         "writer": (_map, "map")},
    RecordType.RUN: {"id": (_str, "str"), "project": (_str, "str"), "name": (_str, "str"),
                     "created": (_num, "a number"), "config": (_map, "map"),
                     "tags": (_tags, "map str → str|nil"), "resumed": (_bool, "bool"),
                     "host": (_str, "str"), "pid": (_int, "int")},
    RecordType.HISTORY: {"rows": (_uint, "uint"), "step": (_bin, "bin"),
                         "time": (_bin, "bin"), "columns": (_map, "map")},
    RecordType.METRIC: {"key": (_key, "a non-empty str"), "value": (_any, "any"),
                        "time": (_num, "a number"), "description": (_str, "str")},
    RecordType.LIST: {"key": (_key, "a non-empty str"), "values": (_array, "array"),
                      "time": (_num, "a number"), "description": (_str, "str")},
    RecordType.ROW: {"key": (_key, "a non-empty str"), "row": (_map, "map"),
                     "time": (_num, "a number")},
    RecordType.TABLE: {"key": (_key, "a non-empty str"), "sha256": (_str, "str"),
                       "rows": (_uint, "uint"), "time": (_num, "a number"),
                       "step": (_uint, "uint"), "replace": (_bool, "bool"),
                       "blobs": (_strs, "array of str")},
    RecordType.SUMMARY: {"set": (_map, "map"), "delete": (_strs, "array of str")},
    RecordType.CONFIG: {"set": (_map, "map")},
    RecordType.TAGS: {"set": (_tags, "map str → str|nil")},
    RecordType.FILE: {"name": (_str, "str"), "sha256": (_str, "str"),
                      "size": (_uint, "uint"), "time": (_num, "a number")},
    RecordType.FINISH: {"exit_code": (_int, "int"), "time": (_num, "a number")},
    RecordType.DROPPED: {"records": (_uint, "uint"), "reason": (_str, "str")},
    RecordType.CHART: {"key": (_key, "a non-empty str"), "sha256": (_str, "str"),
                       "rows": (_uint, "uint"), "spec": (_str, "str"), "kind": (_str, "str"),
                       "step": (_uint, "uint"), "time": (_num, "a number")},
    RecordType.MEDIA: {"key": (_key, "a non-empty str"), "kind": (_str, "str"),
                       "mime": (_str, "str"), "sha256": (_str, "str"),
                       "size": (_uint, "uint"), "caption": (_str, "str"),
                       "width": (_uint, "uint"), "height": (_uint, "uint"),
                       "step": (_uint, "uint"), "time": (_num, "a number")},
    # SPEC.md §19: what the run ran.
    RecordType.CONSOLE: {"stream": (_stream, "stdout or stderr"), "lines": (_strs, "array of str"),
                         "times": (_array, "array"), "overwritten": (_uints, "array of uint")},
    RecordType.SYSTEM: {"time": (_num, "a number"), "values": (_map, "map")},
    RecordType.ENVIRONMENT: {"time": (_num, "a number"), "facts": (_map, "map")},
    RecordType.CODE: {"sha256": (_str, "str"), "blobs": (_strs, "array of str"),
                      "files": (_uint, "uint"), "bytes": (_uint, "uint"),
                      "time": (_num, "a number")},
}

#: The fields a reader needs to derive the run (SPEC.md §8): all others are optional.
REQUIRED: dict[int, tuple[str, ...]] = {
    RecordType.SEGMENT: (),
    RecordType.RUN: ("name",),  # the first run record also needs FIRST_RUN_REQUIRED
    RecordType.HISTORY: ("rows", "step", "time", "columns"),
    RecordType.METRIC: ("key", "value"),
    RecordType.LIST: ("key", "values"),
    RecordType.ROW: ("key", "row"),
    RecordType.TABLE: ("key", "sha256"),
    RecordType.SUMMARY: (),
    RecordType.CONFIG: ("set",),
    RecordType.TAGS: ("set",),
    RecordType.FILE: ("name", "sha256", "size"),
    RecordType.FINISH: ("exit_code",),
    RecordType.DROPPED: ("records",),
    RecordType.CHART: ("key", "sha256", "spec"),
    RecordType.MEDIA: ("key", "kind", "mime", "sha256", "size"),
    RecordType.CONSOLE: ("stream", "lines", "times"),
    RecordType.SYSTEM: ("time", "values"),
    RecordType.ENVIRONMENT: ("facts",),
    RecordType.CODE: ("sha256",),
}
FIRST_RUN_REQUIRED = ("id", "project", "name", "created")


def body_problem(record_type: int, body: dict[str, Any], *, first_run: bool = False
                 ) -> str | None:
    """Why ``body`` is not a valid body of a known ``record_type`` (SPEC.md §8), or None.
    ``first_run``: the body is of the run's first readable ``run`` record."""
    fields = _FIELDS.get(record_type)
    if fields is None:
        return None
    required = FIRST_RUN_REQUIRED if first_run else REQUIRED[record_type]
    for name in required:
        if body.get(name) is None and not (name == "value" and "value" in body):
            return f"required field {name!r} is missing"
    for name, (check, what) in fields.items():
        value = body.get(name)
        if value is not None and not check(value):
            return f"field {name!r} is not {what}"
    return None
