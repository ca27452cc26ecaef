"""The parts of W&B's ``wandb_internal.Record`` protobuf the importer reads, decoded with
:mod:`flightlog.importers._protowire` (no ``wandb``, no ``protobuf``).

Field numbers are those of ``wandb/proto/wandb_internal.proto`` (wandb/wandb; unchanged
from 0.16 to 0.31)::

    Record        num 1, history 2, summary 3, output 4, config 5, files 6, stats 7,
                  artifact 8, tbrecord 9, alert 10, telemetry 11, metric 12,
                  output_raw 13, control 16, run 17, exit 18, uuid 19, final 20,
                  header 21, footer 22, preempting 23, noop_link_artifact 24,
                  use_artifact 25, environment 26, output_logger 27, request 100, _info 200
    HistoryRecord item 1 (HistoryItem), step 2 (HistoryStep: num 1 int64)
    HistoryItem   key 1, nested_key 2 (repeated), value_json 16; and since the typed
                  values were added (defined in 0.31, written by no SDK we tested):
                  none 3 (NullValue), boolean 4, integer 5 (sint64), number 6 (double),
                  text 7, json 8
    SummaryRecord update 1, remove 2 (SummaryItem: key 1, nested_key 2, value_json 16)
    ConfigRecord  update 1, remove 2 (ConfigItem: the same fields)
    OutputRecord / OutputRawRecord  output_type 1 (STDERR 0, STDOUT 1), timestamp 2, line 3
    StatsRecord   stats_type 1, timestamp 2, item 3 (StatsItem: key 1, value_json 16)
    FilesRecord   files 1 (FilesItem: path 1, policy 2, type 3)
    RunRecord     run_id 1, entity 2, project 3, config 4, summary 5, run_group 6,
                  job_type 7, display_name 8, notes 9, tags 10 (repeated), host 13,
                  sweep_id 12, start_time 17 (Timestamp)
    RunExitRecord exit_code 1 (int32), runtime 2, not_complete 3
    Timestamp     seconds 1 (int64), nanos 2 (int32)

An item's path is ``[key]`` when ``key`` is set, else ``nested_key`` (0.31 writes
``nested_key`` even for flat keys; a logged ``{"samples": Image}`` becomes items
``["samples", "_type"]``, ``["samples", "path"]``...). ``value_json`` is W&B's JSON, with
``NaN``, ``Infinity`` and ``-Infinity`` as bare words (Python's json reads them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flightlog.importers._protowire import (
    ProtoWireError,
    as_double,
    as_int32,
    as_int64,
    iter_fields,
    read_varint,
    utf8,
    zigzag,
)

__all__ = [
    "KIND_NAMES",
    "Item",
    "RawJson",
    "RunInfo",
    "decode_exit",
    "decode_files",
    "decode_history",
    "decode_items",
    "decode_output",
    "decode_run",
    "decode_stats",
    "resolve",
    "split_record",
]

#: Record's oneof ``record_type``: field number -> name (as in the .proto).
KIND_NAMES: dict[int, str] = {
    2: "history", 3: "summary", 4: "output", 5: "config", 6: "files", 7: "stats",
    8: "artifact", 9: "tbrecord", 10: "alert", 11: "telemetry", 12: "metric",
    13: "output_raw", 17: "run", 18: "exit", 20: "final", 21: "header", 22: "footer",
    23: "preempting", 24: "noop_link_artifact", 25: "use_artifact", 26: "environment",
    27: "output_logger", 100: "request",
}


@dataclass
class Item:
    """A history, summary or config item: its path and its decoded value."""

    path: tuple[str, ...]
    value: Any


@dataclass
class RunInfo:
    run_id: str = ""
    entity: str = ""
    project: str = ""
    name: str = ""
    notes: str = ""
    group: str = ""
    job_type: str = ""
    host: str = ""
    sweep_id: str = ""
    tags: list[str] = field(default_factory=list)
    start_time: float | None = None
    config: list[Item] = field(default_factory=list)


def split_record(payload: bytes) -> tuple[str, bytes]:
    """The kind of a Record (its ``record_type`` field's name, or ``"empty"``) and that
    field's bytes. Unknown field numbers are named ``field <n>``."""
    kind, body = "empty", b""
    for number, wire, value in iter_fields(payload):
        if number in (1, 16, 19, 200):  # num, control, uuid, _info: bookkeeping
            continue
        if wire == 2 and isinstance(value, bytes):
            kind, body = KIND_NAMES.get(number, f"field {number}"), value
    return kind, body


def _str(value: int | bytes, what: str) -> str:
    if not isinstance(value, bytes):
        raise ProtoWireError(f"{what} is not a string", offset=0)
    return utf8(value, what)


def _bytes(value: int | bytes, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ProtoWireError(f"{what} is not a message", offset=0)
    return value


def _int(value: int | bytes, what: str) -> int:
    if isinstance(value, bytes):
        raise ProtoWireError(f"{what} is not a varint", offset=0)
    return value


def decode_timestamp(buf: bytes) -> float:
    seconds = nanos = 0
    for number, _wire, value in iter_fields(buf):
        if number == 1:
            seconds = as_int64(_int(value, "Timestamp.seconds"))
        elif number == 2:
            nanos = as_int32(_int(value, "Timestamp.nanos"))
    return seconds + nanos / 1e9


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ProtoWireError(f"{what} is not JSON: {text[:60]!r}", offset=0) from None


_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _json_bytes(raw: bytes, what: Any) -> Any:
    """``value_json``: most are plain JSON numbers, parsed without the json module."""
    m = _NUMBER.fullmatch(raw)
    if m is not None:
        return float(raw) if m.lastindex else int(raw)
    try:
        return json.loads(raw)
    except ValueError:
        raise ProtoWireError(f"value_json of {what} is not JSON: {raw[:60]!r}",
                             offset=0) from None


class RawJson(bytes):
    """A ``value_json`` not decoded yet (see decode_items' ``lazy``)."""


def resolve(value: Any, what: Any) -> Any:
    """A value with every RawJson in it decoded (ProtoWireError if one is not JSON)."""
    if isinstance(value, RawJson):
        return _json_bytes(bytes(value), what)
    if isinstance(value, dict):
        return {k: resolve(v, what) for k, v in value.items()}
    return value


def decode_item(buf: bytes, lazy: bool = False) -> Item:
    """One HistoryItem / SummaryItem / ConfigItem / StatsItem.

    The fast path reads the layout every SDK writes (``key``/``nested_key`` and
    ``value_json``, each shorter than 128 bytes... or not: anything else, including every
    malformed input, goes to the general decoder, which raises ProtoWireError)."""
    key = ""
    nested: list[str] = []
    raw: bytes | None = None
    pos, end = 0, len(buf)
    try:
        while pos < end:
            tag = buf[pos]
            if tag == 0x0A or tag == 0x12:
                n = buf[pos + 1]
                if n & 0x80 or pos + 2 + n > end:
                    return _decode_item(buf)
                text = buf[pos + 2:pos + 2 + n].decode()
                if tag == 0x0A:
                    key = text
                else:
                    nested.append(text)
                pos += 2 + n
            elif tag == 0x82 and buf[pos + 1] == 0x01:
                n = buf[pos + 2]
                if n & 0x80 or pos + 3 + n > end:
                    return _decode_item(buf)
                raw = buf[pos + 3:pos + 3 + n]
                pos += 3 + n
            else:
                return _decode_item(buf)
    except (IndexError, UnicodeDecodeError):
        return _decode_item(buf)
    path = (key,) if key else tuple(nested)
    if raw is None:
        return Item(path, None)
    return Item(path, RawJson(raw) if lazy else _json_bytes(raw, path))


def _decode_item(buf: bytes) -> Item:
    """The general decoder of an item (every field, any length, typed values)."""
    key = ""
    nested: list[str] = []
    value: Any = None
    for number, wire, raw in iter_fields(buf):
        if number == 1:
            key = _str(raw, "item key")
        elif number == 2:
            nested.append(_str(raw, "item nested_key"))
        elif number == 16:
            value = _json(_str(raw, "value_json"), f"value_json of {key or nested}")
        elif number == 3:
            value = None
        elif number == 4:
            value = bool(_int(raw, "boolean"))
        elif number == 5:
            value = zigzag(_int(raw, "integer"))
        elif number == 6 and wire == 1:
            value = as_double(_int(raw, "number"))
        elif number == 7:
            value = _str(raw, "text")
        elif number == 8:
            value = _json(_str(raw, "json"), f"json of {key or nested}")
    return Item((key,) if key else tuple(nested), value)


def _len_fields(buf: bytes) -> list[tuple[int, bytes]]:
    """The fields of a message whose fields are all length-delimited (items, records'
    bodies): a fast path of iter_fields; any other wire type goes through iter_fields."""
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(buf)
    while pos < end:
        tag = buf[pos]
        if tag & 0x80:
            tag, pos = read_varint(buf, pos)
        else:
            pos += 1
        if tag & 7 != 2:
            return [(n, v) for n, _w, v in iter_fields(buf) if isinstance(v, bytes)]
        n = buf[pos] if pos < end else 0x80
        if n & 0x80:
            n, pos = read_varint(buf, pos)
        else:
            pos += 1
        if n > end - pos:
            raise ProtoWireError(f"field {tag >> 3} declares {n} bytes, {end - pos} remain",
                                 offset=pos)
        out.append((tag >> 3, buf[pos:pos + n]))
        pos += n
    return out


def decode_items(buf: bytes, lazy: bool = False) -> tuple[list[Item], list[Item]]:
    """SummaryRecord / ConfigRecord: (updates, removes). ``lazy``: values that are
    ``value_json`` stay :class:`RawJson` (decoded by :func:`resolve`), for records whose
    values are mostly overwritten (a summary)."""
    updates: list[Item] = []
    removes: list[Item] = []
    for number, raw in _len_fields(buf):
        if number == 1:
            updates.append(decode_item(raw, lazy))
        elif number == 2:
            removes.append(decode_item(raw, lazy))
    return updates, removes


def decode_history(buf: bytes) -> tuple[int | None, list[Item]]:
    """HistoryRecord: (step.num, or None when there is no step field; items)."""
    step: int | None = None
    items: list[Item] = []
    for number, raw in _len_fields(buf):
        if number == 1:
            items.append(decode_item(raw))
        elif number == 2:
            step = 0
            for n, _w, v in iter_fields(_bytes(raw, "history step")):
                if n == 1:
                    step = as_int64(_int(v, "step num"))
    return step, items


def decode_output(buf: bytes) -> tuple[str, float | None, str]:
    """OutputRecord / OutputRawRecord: (``stdout`` or ``stderr``, time, text)."""
    stream, when, line = "stderr", None, ""
    for number, _wire, raw in iter_fields(buf):
        if number == 1:
            stream = "stdout" if _int(raw, "output_type") == 1 else "stderr"
        elif number == 2:
            when = decode_timestamp(_bytes(raw, "timestamp"))
        elif number == 3:
            line = _str(raw, "line")
    return stream, when, line


def decode_stats(buf: bytes) -> tuple[float | None, list[Item]]:
    when: float | None = None
    items: list[Item] = []
    for number, _wire, raw in iter_fields(buf):
        if number == 2:
            when = decode_timestamp(_bytes(raw, "timestamp"))
        elif number == 3:
            items.append(decode_item(_bytes(raw, "stats item")))
    return when, items


def decode_files(buf: bytes) -> list[str]:
    paths: list[str] = []
    for number, _wire, raw in iter_fields(buf):
        if number == 1:
            for n, _w, v in iter_fields(_bytes(raw, "files item")):
                if n == 1:
                    paths.append(_str(v, "file path"))
    return paths


def decode_exit(buf: bytes) -> tuple[int, bool]:
    """RunExitRecord: (exit_code, not_complete)."""
    code, not_complete = 0, False
    for number, _wire, raw in iter_fields(buf):
        if number == 1:
            code = as_int32(_int(raw, "exit_code"))
        elif number == 3:
            not_complete = bool(_int(raw, "not_complete"))
    return code, not_complete


_RUN_STRINGS = {1: "run_id", 2: "entity", 3: "project", 6: "group", 7: "job_type",
                8: "name", 9: "notes", 12: "sweep_id", 13: "host"}


def decode_run(buf: bytes) -> RunInfo:
    info = RunInfo()
    for number, _wire, raw in iter_fields(buf):
        if number in _RUN_STRINGS:
            setattr(info, _RUN_STRINGS[number], _str(raw, _RUN_STRINGS[number]))
        elif number == 10:
            info.tags.append(_str(raw, "tag"))
        elif number == 4:
            info.config.extend(decode_items(_bytes(raw, "run config"))[0])
        elif number == 17:
            info.start_time = decode_timestamp(_bytes(raw, "start_time"))
    return info
