"""Records as msgpack (SPEC.md §7): the subset flightlog writes, checked when read.

msgpack's own exceptions are translated here, at this one boundary, into
:class:`~flightlog.errors.CorruptRecord`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgpack

from flightlog.errors import CorruptRecord

from ._constants import MAX_PAYLOAD


def pack_record(record_type: int, body: dict[str, Any]) -> bytes:
    """msgpack bytes of ``[record_type, body]``. Values must already be of the subset."""
    return msgpack.packb([record_type, body], use_bin_type=True)  # type: ignore[no-any-return]


def _pairs_to_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate map key")
    for key in out:
        if type(key) is not str:
            raise ValueError(f"map key of type {type(key).__name__}; only str is allowed")
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

    Raises:
        CorruptRecord: malformed msgpack, values outside the subset, a record that is not
            ``[uint, map]``, or a count that differs from ``count``.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    with _translated(path, offset):
        unpacker = msgpack.Unpacker(
            raw=False, strict_map_key=False, object_pairs_hook=_pairs_to_map,
            ext_hook=_no_ext, max_buffer_size=MAX_PAYLOAD)
        unpacker.feed(raw)
        for item in unpacker:
            if (type(item) is not list or len(item) != 2 or type(item[0]) is not int
                    or item[0] < 0 or type(item[1]) is not dict):
                raise CorruptRecord("record is not [type, body]", path=path, offset=offset)
            records.append((item[0], item[1]))
        if unpacker.tell() != len(raw):
            raise CorruptRecord(f"{len(raw) - unpacker.tell()} bytes after the last record",
                                path=path, offset=offset)
    if len(records) != count:
        raise CorruptRecord(f"payload holds {len(records)} records, header says {count}",
                            path=path, offset=offset)
    return records
