"""Property tests of history chunks (SPEC.md §9, §11) and of records (SPEC.md §7, §8).

Floats are compared by their IEEE bits: NaN payloads, the sign of zero and infinities
must survive. On failure, hypothesis prints the blob (``@reproduce_failure``) and seed
that reproduce the example.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest
from flightlog.format._columns import (
    Chunk,
    Column,
    column_from_values,
    decode_history,
    encode_body,
    encode_history,
    slice_chunk,
)
from flightlog.format._compression import pack_payload
from flightlog.format._constants import MAX_PAYLOAD
from flightlog.format._framing import encode_frame, scan_frames
from flightlog.format._msgpack_codec import pack_record, unpack_records
from flightlog.format.reader import decode_frame
from flightlog.format.records import Record, RecordType
from flightlog.format.state import RunState, build_history
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightlog.errors import RecordTooLarge

SETTINGS = settings(max_examples=60, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
T0 = 1_700_000_000.0


def pack_history(body: dict[str, Any]) -> bytes:
    return pack_record(RecordType.HISTORY, body)


# ---------------------------------------------------------------- comparing values


def same(a: Any, b: Any) -> bool:
    """Deep equality that also requires equal types and equal float bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def cells(col: Column) -> list[Any]:
    """A column's values as comparable Python values (f64 as their bits)."""
    if col.kind == "f64":
        return [("f64", int(v)) for v in np.asarray(col.values).view("<u8")]
    if col.kind == "i64":
        return [("i64", int(v)) for v in col.values]
    if col.kind == "bool":
        return [("bool", bool(v)) for v in col.values]
    return [("any", v) for v in col.values]


def assert_chunks_equal(got: Chunk, want: Chunk) -> None:
    assert got.steps.tolist() == want.steps.tolist()
    assert got.times.view("<u8").tolist() == want.times.view("<u8").tolist()
    assert list(got.columns) == list(want.columns)
    for key, col in want.columns.items():
        back = got.columns[key]
        assert back.kind == col.kind, key
        if col.present is None:
            assert back.present is None, key
        else:
            assert back.present is not None and back.present.tolist() == col.present.tolist()
        assert same(cells(back), cells(col)), key


def ref_shuffle(elements: Iterable[bytes]) -> bytes:
    items = list(elements)
    return bytes(e[k] for k in range(8) for e in items)


# ---------------------------------------------------------------- strategies

I64 = st.integers(-(2**63), 2**63 - 1)
SPECIAL_BITS = [0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000ABC,
                0x7FF8DEADBEEF0001, 0x7FF0000000000000, 0xFFF0000000000000,
                0x8000000000000000, 0x0000000000000001, 0x7FEFFFFFFFFFFFFF]
F64_BITS = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(SPECIAL_BITS),
                     st.floats(width=64).map(lambda f: struct.unpack("<Q",
                                                                     struct.pack("<d", f))[0]))
ANY_VALUE = st.one_of(st.text(max_size=10), st.none(), st.integers(-(2**63), 2**64 - 1),
                      st.booleans(), st.floats())
KINDS = ["f64", "i64", "bool", "any"]


def f64_array(bits: list[int]) -> np.ndarray:
    return np.array(bits, dtype="<u8").view("<f8")


@st.composite
def columns(draw: st.DrawFn, n: int, kinds: list[str] = KINDS) -> Column:
    kind = draw(st.sampled_from(kinds))
    present = None
    if n > 1 and draw(st.booleans()):
        rows = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n)))
        if len(rows) < n:
            present = np.array(rows, dtype="<u4")
    m = n if present is None else len(present)
    values: Any
    if kind == "f64":
        values = f64_array(draw(st.lists(F64_BITS, min_size=m, max_size=m)))
    elif kind == "i64":
        values = np.array(draw(st.lists(I64, min_size=m, max_size=m)), dtype="<i8")
    elif kind == "bool":
        values = np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool)
    else:
        values = draw(st.lists(ANY_VALUE, min_size=m, max_size=m))
    return Column(kind, present, values)


@st.composite
def chunks(draw: st.DrawFn, max_rows: int = 30, max_cols: int = 5,
           min_cols: int = 0) -> Chunk:
    n = draw(st.integers(1, max_rows))
    steps = np.array(sorted(draw(st.lists(I64, min_size=n, max_size=n))), dtype="<i8")
    times = f64_array(draw(st.lists(F64_BITS, min_size=n, max_size=n)))
    keys = draw(st.lists(st.text(min_size=1, max_size=8), unique=True, min_size=min_cols,
                         max_size=max_cols))
    return Chunk(steps, times, {k: draw(columns(n)) for k in keys})


# ---------------------------------------------------------------- round trips


@SETTINGS
@given(chunk=chunks())
def test_history_chunk_round_trips_bit_exactly(chunk: Chunk) -> None:
    packed = encode_history(chunk, pack_history)
    assert len(packed) == 1
    assert len(packed[0]) <= MAX_PAYLOAD
    ((rtype, body),) = unpack_records(packed[0], 1)
    assert rtype == 3
    assert body["rows"] == chunk.rows
    # The byte shuffle of SPEC.md §9, computed independently.
    assert body["step"] == ref_shuffle(struct.pack("<q", s) for s in chunk.steps.tolist())
    assert body["time"] == ref_shuffle(struct.pack("<Q", t) for t in
                                       chunk.times.view("<u8").tolist())
    for key, col in chunk.columns.items():
        kind, present, values = body["columns"][key]
        assert kind == col.kind
        assert present == (None if col.present is None else
                           b"".join(struct.pack("<I", r) for r in col.present.tolist()))
        if kind == "f64":
            assert values == ref_shuffle(struct.pack("<Q", v) for v in
                                         col.values.view("<u8").tolist())
        elif kind == "i64":
            assert values == ref_shuffle(struct.pack("<q", v) for v in col.values.tolist())
        elif kind == "bool":
            assert values == bytes(int(v) for v in col.values.tolist())
    assert_chunks_equal(decode_history(body), chunk)


def test_history_extremes_round_trip() -> None:
    chunk = Chunk(np.array([-(2**63), 0, 2**63 - 1], dtype="<i8"),
                  f64_array([0x7FF8000000000ABC, 0x8000000000000000, 0xFFF0000000000000]),
                  {"f": Column("f64", None, f64_array([0x7FF0000000000001,
                                                       0x7FF0000000000000,
                                                       0xFFF8000000000001])),
                   "i": Column("i64", None, np.array([-(2**63), -1, 2**63 - 1], dtype="<i8")),
                   "b": Column("bool", np.array([0, 2], dtype="<u4"),
                               np.array([True, False])),
                   "a": Column("any", None, ["s", None, 2**64 - 1])})
    (packed,) = encode_history(chunk, pack_history)
    ((_, body),) = unpack_records(packed, 1)
    assert_chunks_equal(decode_history(body), chunk)


def _expected_rows(chunk: Chunk) -> list[set[str]]:
    out: list[set[str]] = [set() for _ in range(chunk.rows)]
    for key, col in chunk.columns.items():
        for r in (range(chunk.rows) if col.present is None else col.present.tolist()):
            out[r].add(key)
    return out


def reassemble(parts: list[Chunk], original: Chunk) -> list[tuple[int, int, dict[str, Any]]]:
    """(step, time bits, {key: cell}) per original row, from the decoded parts in order.
    A row split by columns arrives as consecutive one-row parts with disjoint keys."""
    expected = _expected_rows(original)
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for part in parts:
        part_rows: list[dict[str, Any]] = [{} for _ in range(part.rows)]
        for key, col in part.columns.items():
            where = range(part.rows) if col.present is None else col.present.tolist()
            for r, cell in zip(where, cells(col), strict=True):
                part_rows[r][key] = cell
        steps = part.steps.tolist()
        times = part.times.view("<u8").tolist()
        if (part.rows == 1 and rows and set(rows[-1][2]) != expected[len(rows) - 1]):
            step, time, got = rows[-1]
            assert (step, time) == (steps[0], times[0])
            assert not set(got) & set(part_rows[0])
            got.update(part_rows[0])
            continue
        rows.extend(zip(steps, times, part_rows, strict=True))
    return rows


def _original_rows(chunk: Chunk) -> list[tuple[int, int, dict[str, Any]]]:
    return reassemble([chunk], chunk)


def _decode_all(packed: list[bytes]) -> list[Chunk]:
    out = []
    for raw in packed:
        ((rtype, body),) = unpack_records(raw, 1)
        assert rtype == 3
        out.append(decode_history(body))
    return out


SMALL_ANY = st.one_of(st.text(max_size=6), st.none(), st.integers(-(2**63), 2**64 - 1))


@st.composite
def small_value_chunks(draw: st.DrawFn, max_rows: int, min_cols: int, max_cols: int,
                       ) -> Chunk:
    """Chunks whose every single value fits in a few hundred bytes."""
    n = draw(st.integers(1, max_rows))
    steps = np.array(sorted(draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))),
                     dtype="<i8")
    times = f64_array(draw(st.lists(F64_BITS, min_size=n, max_size=n)))
    keys = draw(st.lists(st.text(st.characters(codec="ascii"), min_size=1, max_size=8),
                         unique=True, min_size=min_cols, max_size=max_cols))
    cols = {}
    for key in keys:
        col = draw(columns(n))
        if col.kind == "any":
            col.values = draw(st.lists(SMALL_ANY, min_size=len(col), max_size=len(col)))
        cols[key] = col
    return Chunk(steps, times, cols)


@SETTINGS
@given(chunk=small_value_chunks(max_rows=80, min_cols=1, max_cols=4),
       limit=st.sampled_from([300, 450, 700, 1500]))
def test_splitting_keeps_every_record_within_the_limit(chunk: Chunk, limit: int) -> None:
    packed = encode_history(chunk, pack_history, limit=limit)
    assert all(len(p) <= limit for p in packed)
    parts = _decode_all(packed)
    assert reassemble(parts, chunk) == _original_rows(chunk)
    # Merging by step puts rows (and rows split by columns) back together.
    whole = build_history([chunk])
    merged = build_history(parts)
    assert merged.column_names[:2] == ["_step", "_timestamp"]
    assert sorted(merged.column_names) == sorted(whole.column_names)
    for name in whole.column_names:
        assert merged.column(name).type == whole.column(name).type, name
        assert same(_bits_or_values(merged.column(name)), _bits_or_values(whole.column(name)))


def _bits_or_values(column: Any) -> list[Any]:
    values = column.to_pylist()
    return [struct.unpack("<Q", struct.pack("<d", v))[0] if isinstance(v, float) else v
            for v in values]


@SETTINGS
@given(chunk=small_value_chunks(max_rows=1, min_cols=10, max_cols=20))
def test_a_row_too_large_for_one_record_is_split_by_columns(chunk: Chunk) -> None:
    limit = 300
    packed = encode_history(chunk, pack_history, limit=limit)
    assert len(packed) >= 2
    assert all(len(p) <= limit for p in packed)
    parts = _decode_all(packed)
    assert all(p.rows == 1 for p in parts)
    assert all(p.steps.tolist() == chunk.steps.tolist() for p in parts)
    assert all(p.times.view("<u8").tolist() == chunk.times.view("<u8").tolist()
               for p in parts)
    keys = [k for p in parts for k in p.columns]
    assert sorted(keys) == sorted(chunk.columns)  # each column exactly once
    assert reassemble(parts, chunk) == _original_rows(chunk)
    assert build_history(parts).num_rows == 1


def test_large_chunk_is_split_under_the_default_frame_bound() -> None:
    rng = np.random.default_rng(5)
    n = 20000
    sparse_rows = np.arange(0, n, 3, dtype="<u4")
    text_rows = np.arange(0, n, 100, dtype="<u4")
    chunk = Chunk(np.arange(n, dtype="<i8"), T0 + np.arange(n, dtype="<f8") / 10, {
        "loss": Column("f64", None, rng.standard_normal(n)),
        "epoch": Column("i64", None, np.arange(n, dtype="<i8") // 1000),
        "val": Column("f64", sparse_rows, rng.standard_normal(len(sparse_rows))),
        "phase": Column("any", text_rows, [f"phase-{i}" for i in range(len(text_rows))]),
        "ok": Column("bool", None, rng.integers(0, 2, n).astype(bool)),
    })
    packed = encode_history(chunk, pack_history)
    assert len(packed) >= 10
    assert all(len(p) <= MAX_PAYLOAD for p in packed)
    parts = _decode_all(packed)
    assert sum(p.rows for p in parts) == n
    assert reassemble(parts, chunk) == _original_rows(chunk)


def test_a_single_value_too_large_raises_record_too_large() -> None:
    chunk = Chunk(np.array([0], dtype="<i8"), np.array([T0]),
                  {"big": Column("any", None, ["x" * 70000]), "small": Column(
                      "f64", None, np.array([1.0]))})
    with pytest.raises(RecordTooLarge) as info:
        encode_history(chunk, pack_history)
    assert info.value.key == "big"


def test_empty_chunk_encodes_to_nothing() -> None:
    empty = Chunk(np.array([], dtype="<i8"), np.array([], dtype="<f8"), {})
    assert encode_history(empty, pack_history) == []


def test_slice_drops_columns_without_values_and_rebases_present() -> None:
    chunk = Chunk(np.arange(6, dtype="<i8"), np.arange(6, dtype="<f8"), {
        "a": Column("f64", np.array([1, 4, 5], dtype="<u4"), np.array([1.0, 4.0, 5.0])),
        "b": Column("i64", np.array([0], dtype="<u4"), np.array([7], dtype="<i8"))})
    part = slice_chunk(chunk, 3, 6)
    assert list(part.columns) == ["a"]
    assert part.columns["a"].present.tolist() == [1, 2]
    assert part.columns["a"].values.tolist() == [4.0, 5.0]
    full = slice_chunk(chunk, 4, 6)
    assert full.columns["a"].present is None  # a value in every row of the slice


# ---------------------------------------------------------------- building columns


@pytest.mark.parametrize(("values", "kind"), [
    ([1.0, 2.5], "f64"),
    ([1, -2], "i64"),
    ([True, False], "bool"),
    ([1, 2.5], "any"),  # each value keeps its type
    ([2**53 + 1, 0.5], "any"),  # an int that a float cannot hold exactly
    ([2**63, 1], "any"),  # over i64
    (["a", None], "any"),
    ([True, 1], "any"),
])
def test_column_kind_follows_the_values(values: list[Any], kind: str) -> None:
    col = column_from_values([0, 1], values, 2)
    assert col.kind == kind
    assert col.present is None
    assert column_from_values([1, 3], values, 5).present.tolist() == [1, 3]


# ---------------------------------------------------------------- merging by step (§9, §11)

KEYED: dict[str, Any] = {
    "f": st.floats(allow_nan=False),
    "i": I64,
    "b": st.booleans(),
    "s": st.text(max_size=5),
}
ARROW_TYPES = {"f": "double", "i": "int64", "b": "bool", "s": "string"}


@st.composite
def logged(draw: st.DrawFn) -> tuple[list[tuple[int, float, dict[str, Any]]], list[int]]:
    n = draw(st.integers(1, 25))
    step, rows = 0, []
    for i in range(n):
        step += draw(st.sampled_from([0, 0, 1, 3]))
        cells = {}
        for key in draw(st.permutations(list(KEYED))):
            if draw(st.booleans()):
                cells[key] = draw(KEYED[key])
        rows.append((step, T0 + i, cells))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=4))) if n > 1 else []
    return rows, cuts


def chunk_of(rows: list[tuple[int, float, dict[str, Any]]]) -> Chunk:
    keys: dict[str, tuple[list[int], list[Any]]] = {}
    for r, (_, _, cells) in enumerate(rows):
        for key, value in cells.items():
            keys.setdefault(key, ([], []))
            keys[key][0].append(r)
            keys[key][1].append(value)
    return Chunk(np.array([s for s, _, _ in rows], dtype="<i8"),
                 np.array([t for _, t, _ in rows], dtype="<f8"),
                 {k: column_from_values(idx, vals, len(rows)) for k, (idx, vals) in
                  keys.items()})


@SETTINGS
@given(case=logged())
def test_build_history_merges_equal_steps_last_value_wins(
        case: tuple[list[tuple[int, float, dict[str, Any]]], list[int]]) -> None:
    rows, cuts = case
    bounds = [0, *cuts, len(rows)]
    table = build_history([chunk_of(rows[a:b]) for a, b in itertools.pairwise(bounds)])
    groups: list[tuple[int, float, dict[str, Any]]] = []
    for step, time, cells in rows:
        if groups and groups[-1][0] == step:
            groups[-1] = (step, time, {**groups[-1][2], **cells})
        else:
            groups.append((step, time, dict(cells)))
    assert table.column("_step").to_pylist() == [g[0] for g in groups]
    assert table.column("_timestamp").to_pylist() == [g[1] for g in groups]
    present = {k for _, _, cells in rows for k in cells}
    assert set(table.column_names) == {"_step", "_timestamp", *present}
    for key in present:
        assert str(table.column(key).type) == ARROW_TYPES[key], key
        assert table.column(key).to_pylist() == [g[2].get(key) for g in groups], key


def test_build_history_of_nothing_is_an_empty_table() -> None:
    table = build_history([])
    assert table.column_names == ["_step", "_timestamp"] and table.num_rows == 0


def test_build_history_mixes_i64_and_f64_into_a_float_column() -> None:
    first = chunk_of([(0, T0, {"x": 1})])
    second = chunk_of([(1, T0 + 1, {"x": 0.5})])
    assert (first.columns["x"].kind, second.columns["x"].kind) == ("i64", "f64")
    table = build_history([first, second])
    assert str(table.column("x").type) == "double"
    assert table.column("x").to_pylist() == [1.0, 0.5]


def test_build_history_mixes_other_kinds_into_json_text() -> None:
    first = chunk_of([(0, T0, {"x": 1})])
    second = chunk_of([(1, T0 + 1, {"x": "a"})])
    table = build_history([first, second])
    assert str(table.column("x").type) == "string"
    assert table.column("x").to_pylist() == ["1", '"a"']


@pytest.mark.parametrize("other", [2, 0.5])
def test_build_history_bool_mixed_with_numbers_is_json_text(other: Any) -> None:
    first = chunk_of([(0, T0, {"x": True})])
    second = chunk_of([(1, T0 + 1, {"x": other})])
    table = build_history([first, second])
    assert str(table.column("x").type) == "string"
    assert table.column("x").to_pylist() == ["true", str(other)]


# ---------------------------------------------------------------- records (§7, §8)

TEXT = st.text(max_size=12)
KEY = st.text(min_size=1, max_size=12)
UINT = st.integers(0, 2**64 - 1)
F64 = st.floats()
SHA = st.binary(min_size=32, max_size=32).map(bytes.hex)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(),
                    st.text(max_size=16), st.binary(max_size=16))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
MAP = st.dictionaries(TEXT, VALUES, max_size=5)
TAGS = st.dictionaries(TEXT, st.none() | TEXT, max_size=4)

BODIES: dict[int, Any] = {
    RecordType.SEGMENT: st.fixed_dictionaries({
        "run": TEXT, "index": UINT, "writer": st.fixed_dictionaries({
            "name": TEXT, "version": TEXT, "host": TEXT, "pid": st.integers(0, 2**31)})}),
    RecordType.RUN: st.fixed_dictionaries({
        "id": TEXT, "project": TEXT, "name": TEXT, "created": F64, "config": MAP,
        "tags": TAGS, "resumed": st.booleans(), "host": TEXT,
        "pid": st.integers(0, 2**31)}),
    RecordType.HISTORY: chunks(max_rows=6, max_cols=3).map(encode_body),
    RecordType.METRIC: st.fixed_dictionaries({"key": KEY, "value": VALUES, "time": F64},
                                             optional={"description": TEXT}),
    RecordType.LIST: st.fixed_dictionaries({"key": KEY, "values": st.lists(VALUES,
                                                                           max_size=4),
                                            "time": F64}, optional={"description": TEXT}),
    RecordType.ROW: st.fixed_dictionaries({"key": KEY, "row": MAP, "time": F64}),
    RecordType.TABLE: st.fixed_dictionaries({"key": KEY, "sha256": SHA, "rows": UINT,
                                             "time": F64},
                                            optional={"step": UINT, "replace": st.booleans(),
                                                      "blobs": st.lists(SHA, max_size=3)}),
    RecordType.SUMMARY: st.fixed_dictionaries({"set": MAP},
                                              optional={"delete": st.lists(TEXT,
                                                                           max_size=3)}),
    RecordType.CONFIG: st.fixed_dictionaries({"set": MAP}),
    RecordType.TAGS: st.fixed_dictionaries({"set": TAGS}),
    RecordType.FILE: st.fixed_dictionaries({"name": TEXT, "sha256": SHA, "size": UINT,
                                            "time": F64}),
    RecordType.FINISH: st.fixed_dictionaries({"exit_code": st.integers(-(2**31), 2**31),
                                              "time": F64}),
    RecordType.DROPPED: st.fixed_dictionaries({"records": UINT, "reason": TEXT}),
    RecordType.CHART: st.fixed_dictionaries({"key": KEY, "sha256": SHA, "rows": UINT,
                                             # SPEC.md §10.2: a spec is a JSON object's text
                                             "spec": st.dictionaries(TEXT, TEXT, max_size=3
                                                                     ).map(json.dumps),
                                             "kind": TEXT, "time": F64},
                                            optional={"step": UINT}),
    RecordType.MEDIA: st.fixed_dictionaries({
        "key": KEY, "kind": st.sampled_from(["image", "html", "plotly"]), "mime": TEXT,
        "sha256": SHA, "size": UINT, "time": F64},
        optional={"caption": TEXT, "width": UINT, "height": UINT, "step": UINT}),
    # SPEC.md §19: what the run ran (flightlog run, the system metrics sampler).
    RecordType.CONSOLE: st.integers(0, 4).flatmap(lambda n: st.fixed_dictionaries({
        "stream": st.sampled_from(["stdout", "stderr"]),
        "lines": st.lists(TEXT, min_size=n, max_size=n),
        "times": st.lists(F64, min_size=n, max_size=n)},
        # SPEC.md §19.1: strictly increasing indexes of the record's lines
        optional={"overwritten": (st.sets(st.integers(0, n - 1), max_size=2).map(sorted)
                                  if n else st.just([]))})),
    RecordType.SYSTEM: st.fixed_dictionaries({
        "time": F64, "values": st.dictionaries(KEY, F64, max_size=5)}),
    RecordType.ENVIRONMENT: st.fixed_dictionaries({"time": F64, "facts": MAP}),
    RecordType.CODE: st.fixed_dictionaries({
        "sha256": SHA, "blobs": st.lists(SHA, max_size=3), "files": UINT, "bytes": UINT,
        "time": F64}),
}
RECORDS = st.sampled_from(sorted(BODIES)).flatmap(
    lambda t: st.tuples(st.just(int(t)), BODIES[t]))


def test_every_record_type_has_a_strategy() -> None:
    assert sorted(BODIES) == sorted(RecordType)


@SETTINGS
@given(record=RECORDS)
def test_record_round_trips(record: tuple[int, dict[str, Any]]) -> None:
    rtype, body = record
    raw = pack_record(rtype, body)
    assert raw[0] == 0x92  # array(2)
    ((back_type, back_body),) = unpack_records(raw, 1)
    assert back_type == rtype and type(back_type) is int
    assert same(back_body, body)
    state = RunState()
    state.apply(Record(0, back_type, back_body))
    assert state.bad_records == [] and state.unknown_records == 0


@SETTINGS
@given(records=st.lists(RECORDS, min_size=1, max_size=6), first_seq=st.integers(0, 2**40))
def test_records_round_trip_through_a_frame(records: list[tuple[int, dict[str, Any]]],
                                            first_seq: int) -> None:
    raw = b"".join(pack_record(t, b) for t, b in records)
    stored, flags = pack_payload(raw)
    assert flags in (0, 1) and len(stored) <= len(raw)
    data = encode_frame(stored, first_seq=first_seq, record_count=len(records), flags=flags)
    (frame,) = scan_frames(data, 0).frames
    back = decode_frame(frame)
    assert [r.seq for r in back] == list(range(first_seq, first_seq + len(records)))
    assert all(r.type == t and same(r.body, b) for r, (t, b) in zip(back, records,
                                                                     strict=True))


def test_nan_bits_survive_a_record() -> None:
    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000ABC))[0]
    ((_, body),) = unpack_records(pack_record(4, {"value": nan, "neg0": -0.0}), 1)
    assert struct.pack("<d", body["value"]) == struct.pack("<Q", 0x7FF8000000000ABC)
    assert math.copysign(1.0, body["neg0"]) == -1.0
