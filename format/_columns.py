"""History chunks: rows of metrics as byte-shuffled columns (SPEC.md §9).

:func:`encode_history` turns the rows of one flush into as many chunk bodies as the
64 KiB frame bound needs; :func:`decode_history` reads one body back into numpy arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from flightlog.errors import CorruptRecord, RecordTooLarge

from ._constants import MAX_PAYLOAD

_F64 = np.dtype("<f8")
_I64 = np.dtype("<i8")
_U32 = np.dtype("<u4")
# Bytes a chunk body spends outside its arrays: keys, msgpack headers, the record array.
_BODY_OVERHEAD = 64
_COLUMN_OVERHEAD = 24

Present = npt.NDArray[np.uint32] | None


@dataclass(slots=True)
class Column:
    """One metric's values in a chunk. ``present`` is None when every row has a value;
    otherwise the sorted row indexes that have one. ``values`` is a numpy array for
    f64/i64/bool, a list for any."""

    kind: str
    present: Present
    values: Any

    def __len__(self) -> int:
        return len(self.values)


@dataclass(slots=True)
class Chunk:
    steps: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    columns: dict[str, Column]

    @property
    def rows(self) -> int:
        return len(self.steps)


def shuffle(array: npt.NDArray[Any]) -> bytes:
    """Byte shuffle of width 8 (SPEC.md §9): all byte-0s, then all byte-1s, ..."""
    return array.view(np.uint8).reshape(-1, 8).T.tobytes()


def unshuffle(data: bytes, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    if len(data) % 8:
        raise CorruptRecord(f"shuffled array of {len(data)} bytes is not a multiple of 8")
    planes = np.frombuffer(data, dtype=np.uint8).reshape(8, -1)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(-1)


# ---------------------------------------------------------------- building columns


def column_from_values(rows: Sequence[int], values: list[Any], n_rows: int) -> Column:
    """A column from the Python values a writer buffered (already normalised to
    float/int/bool/str/None/list/dict) and the row indexes they belong to."""
    present: Present = None if len(rows) == n_rows else np.array(rows, dtype=_U32)
    types = set(map(type, values))
    if types == {float}:
        return Column("f64", present, np.array(values, dtype=_F64))
    if types == {int}:
        try:
            return Column("i64", present, np.array(values, dtype=_I64))
        except OverflowError:
            return Column("any", present, values)
    if types == {bool}:
        return Column("bool", present, np.array(values, dtype=np.bool_))
    # Mixed ints and floats stay "any": each value keeps its type (SPEC.md §9).
    return Column("any", present, values)


def _slice_column(col: Column, start: int, stop: int) -> Column | None:
    if col.present is None:
        return Column(col.kind, None, col.values[start:stop])
    lo, hi = np.searchsorted(col.present, [start, stop])
    if lo == hi:
        return None
    present = (col.present[lo:hi] - start).astype(_U32)
    return Column(col.kind, None if hi - lo == stop - start else present, col.values[lo:hi])


def slice_chunk(chunk: Chunk, start: int, stop: int) -> Chunk:
    cols = {}
    for key, col in chunk.columns.items():
        part = _slice_column(col, start, stop)
        if part is not None:
            cols[key] = part
    return Chunk(chunk.steps[start:stop], chunk.times[start:stop], cols)


# ---------------------------------------------------------------- encoding


def _encode_column(col: Column) -> list[Any]:
    present = None if col.present is None else col.present.astype(_U32).tobytes()
    if col.kind in ("f64", "i64"):
        values: Any = shuffle(np.ascontiguousarray(col.values))
    elif col.kind == "bool":
        values = np.asarray(col.values, dtype=np.uint8).tobytes()
    else:
        values = list(col.values)
    return [col.kind, present, values]


def encode_body(chunk: Chunk) -> dict[str, Any]:
    return {
        "rows": chunk.rows,
        "step": shuffle(np.ascontiguousarray(chunk.steps, dtype=_I64)),
        "time": shuffle(np.ascontiguousarray(chunk.times, dtype=_F64)),
        "columns": {key: _encode_column(col) for key, col in chunk.columns.items()},
    }


def _estimate(chunk: Chunk) -> int:
    size = _BODY_OVERHEAD + 16 * chunk.rows
    for key, col in chunk.columns.items():
        size += _COLUMN_OVERHEAD + len(key.encode())
        if col.present is not None:
            size += 4 * len(col)
        if col.kind in ("f64", "i64"):
            size += 8 * len(col)
        elif col.kind == "bool":
            size += len(col)
        else:
            size += len(msgpack.packb(list(col.values), use_bin_type=True))
    return size


def encode_history(chunk: Chunk, pack: Any, limit: int = MAX_PAYLOAD) -> list[bytes]:
    """Packed history records for ``chunk``, each at most ``limit`` bytes.

    ``pack(body) -> bytes`` packs one record. Rows are split into consecutive ranges;
    a single row too large on its own is split by columns (SPEC.md §9).

    Raises:
        RecordTooLarge: one value alone does not fit in a record.
    """
    if chunk.rows == 0:
        return []
    estimate = _estimate(chunk)
    if estimate <= limit:
        packed: bytes = pack(encode_body(chunk))
        if len(packed) <= limit:
            return [packed]
    if chunk.rows > 1:
        parts = max(2, -(-estimate // (limit * 9 // 10)))
        bounds = np.linspace(0, chunk.rows, min(parts, chunk.rows) + 1).astype(int)
        out: list[bytes] = []
        for start, stop in itertools.pairwise(bounds):
            out.extend(encode_history(slice_chunk(chunk, int(start), int(stop)), pack, limit))
        return out
    return _split_row_by_columns(chunk, pack, limit)


def _split_row_by_columns(chunk: Chunk, pack: Any, limit: int) -> list[bytes]:
    keys = list(chunk.columns)
    if len(keys) <= 1:
        key = keys[0] if keys else "?"
        raise RecordTooLarge(f"the value of {key!r} is too large for one record "
                             f"({_estimate(chunk)} bytes, limit {limit})", key=key)
    half = len(keys) // 2
    out: list[bytes] = []
    for group in (keys[:half], keys[half:]):
        part = Chunk(chunk.steps, chunk.times, {k: chunk.columns[k] for k in group})
        out.extend(encode_history(part, pack, limit))
    return out


# ---------------------------------------------------------------- decoding

_DTYPES = {"f64": _F64, "i64": _I64}


def _decode_column(key: str, raw: Any, n_rows: int) -> Column | None:
    if type(raw) is not list or len(raw) != 3 or type(raw[0]) is not str:
        raise CorruptRecord(f"history column {key!r} is not [kind, present, values]", key=key)
    kind, present_raw, values_raw = raw
    present: Present = None
    if present_raw is not None:
        if type(present_raw) is not bytes or len(present_raw) % 4:
            raise CorruptRecord(f"history column {key!r} has a malformed row index", key=key)
        present = np.frombuffer(present_raw, dtype=_U32)
        ordered = np.all(np.diff(present.astype(np.int64)) > 0)
        if len(present) and (present[-1] >= n_rows or not ordered):
            raise CorruptRecord(f"history column {key!r} row index out of order or range",
                                key=key)
    m = n_rows if present is None else len(present)
    values: Any
    if kind in _DTYPES:
        if type(values_raw) is not bytes:
            raise CorruptRecord(f"history column {key!r} values are not bin", key=key)
        values = unshuffle(values_raw, _DTYPES[kind])
    elif kind == "bool":
        if type(values_raw) is not bytes:
            raise CorruptRecord(f"history column {key!r} values are not bin", key=key)
        raw_bools = np.frombuffer(values_raw, dtype=np.uint8)
        if np.any(raw_bools > 1):  # SPEC.md §9: each byte 0 or 1
            raise CorruptRecord(f"history column {key!r} has a bool byte other than 0 or 1",
                                key=key)
        values = raw_bools.astype(np.bool_)
    elif kind == "any":
        if type(values_raw) is not list:
            raise CorruptRecord(f"history column {key!r} values are not an array", key=key)
        values = values_raw
    else:
        return None  # a kind of a newer minor version: skip this column (SPEC.md §14)
    if len(values) != m:
        raise CorruptRecord(f"history column {key!r} has {len(values)} values for {m} rows",
                            key=key)
    return Column(kind, present, values)


def decode_history(body: dict[str, Any]) -> Chunk:
    """The chunk of a ``history`` record body.

    Raises:
        CorruptRecord: fields missing, of the wrong type, or of inconsistent lengths.
    """
    rows, step_raw, time_raw, cols_raw = (body.get(k) for k in ("rows", "step", "time",
                                                                "columns"))
    if (type(rows) is not int or rows < 1 or type(step_raw) is not bytes
            or type(time_raw) is not bytes or type(cols_raw) is not dict):
        raise CorruptRecord("history chunk lacks rows/step/time/columns")
    steps = unshuffle(step_raw, _I64)
    times = unshuffle(time_raw, _F64)
    if len(steps) != rows or len(times) != rows:
        raise CorruptRecord(f"history chunk of {rows} rows has {len(steps)} steps and "
                            f"{len(times)} times")
    columns = {}
    for key, raw in cols_raw.items():
        col = _decode_column(key, raw, rows)
        if col is not None:
            columns[key] = col
    return Chunk(steps, times, columns)
