"""What a user may log, turned into the msgpack subset of SPEC.md §7.

History values are scalars: int, float, bool, str, None, numpy scalars and 0-d arrays,
and objects with ``.item()`` (framework tensors); and histograms: a ``flightlog.Histogram``,
or a numpy array, tensor or list of numbers, which become one as in W&B. Config, summary
and rows take any JSON-like nesting of those. Anything else raises
:class:`~flightlog.errors.InvalidValue` naming the key, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flightlog.errors import InvalidKey, InvalidValue, RecordTooLarge

#: Longest str value accepted in one record; the 64 KiB frame bound must hold it.
MAX_STR_BYTES = 32 * 1024
MAX_DEPTH = 28  # SPEC.md §7: 32 levels per record, of which 4 are the record's own
RESERVED_KEYS = frozenset({"_step", "_timestamp"})
#: Longest metric or column name; a name is repeated in every history chunk.
MAX_KEY_CHARS = 1024

_SCALARS = (float, int, bool, str, type(None))


def check_key(key: object, where: str = "key") -> str:
    if type(key) is not str:
        raise InvalidKey(f"{where} must be a str, got {type(key).__name__} {key!r}",
                         key=repr(key))
    if not key:
        raise InvalidKey(f"{where} must not be empty", key=key)
    if len(key) > MAX_KEY_CHARS:
        raise InvalidKey(f"{where} of {len(key)} characters; the limit is {MAX_KEY_CHARS}",
                         key=key[:64] + "...")
    return key


def scalar(key: str, value: Any) -> Any:
    """``value`` as float/int/bool/str/None, or InvalidValue naming ``key``."""
    kind = type(value)
    if kind is int or (kind is not bool and isinstance(value, int)):
        if not -(2**63) <= value <= 2**64 - 1:
            raise InvalidValue(f"int value of {key!r} does not fit in 64 bits", key=key)
        return int(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is str:
        if len(value) > MAX_STR_BYTES // 4 and len(value.encode()) > MAX_STR_BYTES:
            raise RecordTooLarge(f"str value of {key!r} is {len(value.encode())} bytes; the "
                                 f"limit is {MAX_STR_BYTES} (use upload_file for text)",
                                 key=key)
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return scalar(key, str(value))
    item = getattr(value, "item", None)
    if callable(item):
        shape = getattr(value, "shape", ())
        if shape not in ((), (1,), [1], []) and getattr(value, "size", 1) != 1:
            raise InvalidValue(
                f"value of {key!r} is a {type(value).__name__} of shape {tuple(shape)}; "
                f"log a scalar, a flightlog.Histogram of it, or use log_list or a table",
                key=key)
        try:
            result = item()
        except (ValueError, RuntimeError, TypeError) as exc:
            raise InvalidValue(f"value of {key!r} ({type(value).__name__}) is not a scalar: "
                               f"{exc}", key=key) from exc
        if isinstance(result, _SCALARS) or result is None:
            return scalar(key, result)
        raise InvalidValue(f"value of {key!r}: .item() returned {type(result).__name__}",
                           key=key)
    raise InvalidValue(f"value of {key!r} has unsupported type {type(value).__name__}; "
                       f"supported: int, float, bool, str, None, numpy scalars, tensors "
                       f"with .item()", key=key)


def flatten(data: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None,
            depth: int = 0) -> dict[str, Any]:
    """Nested mappings flattened to ``a/b`` keys; values made scalar (history rows)."""
    if out is None:
        out = {}
    if depth > MAX_DEPTH:
        raise InvalidValue(f"nesting deeper than {MAX_DEPTH} under {prefix!r}", key=prefix)
    for key, value in data.items():
        check_key(key)
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and value.get("_type") == "histogram":
            out[full] = _histogram_map(full, value)  # W&B's exported form, as it is
        elif isinstance(value, Mapping):
            flatten(value, full + "/", out, depth + 1)
        else:
            if not prefix and full in RESERVED_KEYS:
                raise InvalidKey(f"{full!r} is reserved for the history's own column",
                                 key=full)
            out[full] = history_value(full, value)
    return out


def _histogram_map(key: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """A ``{"_type": "histogram", "bins": edges, "values": counts}`` map (W&B's
    ``Histogram.to_json``), checked as a Histogram is (SPEC.md §9.1)."""
    from flightlog.histogram import Histogram

    try:
        pair = (value["values"], value["bins"])
    except KeyError as exc:
        raise InvalidValue(f"histogram map of {key!r} lacks {exc.args[0]!r}", key=key) from None
    return Histogram(np_histogram=pair, key=key).to_record()


def history_value(key: str, value: Any) -> Any:
    """A history row's value: a scalar, or the map of a :class:`flightlog.Histogram`, which
    numpy arrays, tensors and lists of numbers become as in W&B (SPEC.md §9.1)."""
    if type(value) in _SCALARS:
        return scalar(key, value)
    from flightlog.histogram import as_histogram

    histogram = as_histogram(key, value)
    if histogram is not None:
        return histogram.to_record()
    if isinstance(value, (list, tuple)):
        raise InvalidValue(f"value of {key!r} is a list that is not all numbers; log it with "
                           f"run.log_list({key!r}, values), as a flightlog.Table, or as "
                           f"numbers (it becomes a flightlog.Histogram)", key=key)
    return scalar(key, value)


def plain(key: str, value: Any, depth: int = 0) -> Any:
    """Any JSON-like value (config, summary, table rows): nested dicts and lists of
    scalars, made plain."""
    if depth > MAX_DEPTH:
        raise InvalidValue(f"nesting deeper than {MAX_DEPTH} in {key!r}", key=key)
    if isinstance(value, Mapping):
        return {check_key(k, f"key inside {key!r}"): plain(f"{key}/{k}", v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(key, v, depth + 1) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) > 0:
        return plain(key, tolist(), depth + 1)
    return scalar(key, value)
