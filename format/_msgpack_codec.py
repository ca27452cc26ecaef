"""Records as msgpack (SPEC.md §7): the subset flightlog writes, checked when read.

msgpack's own exceptions are translated here, at this one boundary, into
:class:`~flightlog.errors.CorruptRecord`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgpack

from flightlog.errors import CorruptRecord

from ._constants import MAX_NESTING, MAX_PAYLOAD


def pack_record(record_type: int, body: dict[str, Any]) -> bytes:
    """msgpack bytes of ``[record_type, body]``. Values must already be of the subset."""
    return msgpack.packb([record_type, body], use_bin_type=True)  # type: ignore[no-any-return]


class _SubsetChecker:
    """Hooks that msgpack calls bottom-up for every array and map: they reject what the
    subset excludes (non-str or duplicate keys, ext values including the timestamp type
    msgpack decodes by itself) and bound nesting depth. Depths of finished containers
    are kept by identity; every container stays alive until decoding ends."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth: dict[int, int] = {}

    def _level(self, values: Any) -> int:
        deepest = 0
        for value in values:
            kind = type(value)
            if kind is list or kind is dict:
                deepest = max(deepest, self.depth[id(value)])
            elif kind is msgpack.Timestamp or kind is msgpack.ExtType:
                raise ValueError("msgpack ext types are not part of the format")
        level = deepest + 1
        if level > self.max_depth:
            raise ValueError(f"nesting deeper than {self.max_depth - 1} levels")
        return level

    def array(self, items: list[Any]) -> list[Any]:
        self.depth[id(items)] = self._level(items)
        return items

    def map(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            raise ValueError("duplicate map key")
        for key in out:
            if type(key) is not str:
                raise ValueError(f"map key of type {type(key).__name__}; only str is allowed")
        self.depth[id(out)] = self._level(out.values())
        return out


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not part of the format")


@contextmanager
def _translated(path: str | None, offset: int | None) -> Iterator[None]:
    try:
        yield
    except CorruptRecord:
        raise
    except (msgpack.UnpackException, ValueError, UnicodeDecodeError, TypeError) as exc:
        raise CorruptRecord(f"payload is not valid record msgpack: {exc}", path=path,
                            offset=offset) from exc


def unpack_records(raw: bytes, count: int, *, path: str | None = None,
                   offset: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The ``count`` records in a frame's decompressed payload.

    The payload is decoded as if it were the elements of one array of ``count`` items
    (an array32 header is put in front), so that msgpack itself reports a missing,
    incomplete or extra value.

    Raises:
        CorruptRecord: malformed msgpack, values outside the subset, a record that is not
            ``[uint, map]``, or a count that differs from ``count``.
    """
    checker = _SubsetChecker(MAX_NESTING + 1)  # +1: the array put in front
    with _translated(path, offset):
        items = msgpack.unpackb(
            b"\xdd" + struct.pack(">I", count) + raw, raw=False, strict_map_key=False,
            list_hook=checker.array, object_pairs_hook=checker.map, ext_hook=_no_ext,
            max_str_len=MAX_PAYLOAD, max_bin_len=MAX_PAYLOAD)
    records: list[tuple[int, dict[str, Any]]] = []
    for item in items:
        if (type(item) is not list or len(item) != 2 or type(item[0]) is not int
                or item[0] < 0 or type(item[1]) is not dict):
            raise CorruptRecord("record is not [type, body]", path=path, offset=offset)
        records.append((item[0], item[1]))
    return records
