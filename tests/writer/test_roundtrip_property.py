"""Property: any sequence of API calls, finished and read back with ``open_run``, gives
exactly the state a small model of SPEC.md §9/§11 predicts.

Each history key has one value kind (int, float incl. NaN/±Inf, bool, str), so column
types are fixed; history and Azure-metric keys are disjoint (see test_api.py for the
mixed cases, which are product bugs).
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flightlog

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
TEXT = st.text(max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), I64, FLOATS, TEXT)
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c/d"]), inner,
                                                  max_size=3)), max_leaves=6)

#: history key -> its value strategy and arrow type
HISTORY = {"h_int": (I64, pa.int64()), "h_float": (FLOATS, pa.float64()),
           "h_bool": (st.booleans(), pa.bool_()), "h_str": (TEXT, pa.string()),
           "grp/f": (FLOATS, pa.float64())}
METRICS = ["m0", "m1"]
LISTS = ["l0", "l1"]
TABLES = ["t0", "t1"]
SUMMARY_KEYS = ["h_int", "h_float", "m0", "s0", "s1"]
CONFIG_KEYS = ["c0", "c1", "c2"]
TAGS = ["t0", "t1", "t2"]


@st.composite
def history_rows(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, (values, _) in HISTORY.items():
        if key != "grp/f" and draw(st.booleans()):
            row[key] = draw(values)
    if draw(st.booleans()):
        row["grp"] = {"f": draw(FLOATS)}  # nested: flattened to grp/f
    return row


STEP = st.one_of(st.none(), st.tuples(st.just("ahead"), st.integers(0, 3)),
                 st.tuples(st.just("behind"), st.integers(1, 3)))
OPS = st.one_of(
    st.tuples(st.just("log"), history_rows(), STEP, st.sampled_from([None, True, False])),
    st.tuples(st.just("azure"), st.sampled_from(METRICS), SCALARS),
    st.tuples(st.just("log_list"), st.sampled_from(LISTS), st.lists(SCALARS, max_size=4)),
    st.tuples(st.just("log_row"), st.sampled_from(TABLES), I64, FLOATS),
    st.tuples(st.just("summary_set"), st.sampled_from(SUMMARY_KEYS), JSONISH),
    st.tuples(st.just("summary_del"), st.sampled_from([*SUMMARY_KEYS, "h_str", "m1"])),
    st.tuples(st.just("config"), st.dictionaries(st.sampled_from(CONFIG_KEYS), JSONISH,
                                                 max_size=2)),
    st.tuples(st.just("tag"), st.sampled_from(TAGS), st.one_of(st.none(), TEXT)),
)


# ---------------------------------------------------------------- the model


def flat(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "grp"}
    if "grp" in row:
        out["grp/f"] = row["grp"]["f"]
    return out


@dataclass
class Model:
    config: dict[str, Any]
    tags: dict[str, str | None]
    step: int = 0
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # in step order
    last: dict[str, Any] = field(default_factory=dict)  # history + metric last values
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    tables: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # SPEC.md §11: the summary is every logged value and explicit set/delete, in log order.
    summary_values: dict[str, Any] = field(default_factory=dict)

    def apply(self, run: flightlog.Run, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "log":
            _, row, step, commit = op
            if step is not None and step[0] == "behind":
                with pytest.raises(flightlog.StepError):
                    run.log(row, step=self.step - step[1], commit=commit)
                return
            at = self.step if step is None else self.step + step[1]
            run.log(row, step=None if step is None else at, commit=commit)
            advance = (commit is None or commit) if step is None else bool(commit)
            values = flat(row)
            self.rows.setdefault(at, {}).update(values)
            self.last.update(values)
            self.summary_values.update(values)
            self.step = at + 1 if advance else at
        elif kind == "azure":
            run.log(op[1], op[2])
            self.metrics.setdefault(op[1], []).append(op[2])
            self.last[op[1]] = op[2]
            self.summary_values[op[1]] = op[2]
        elif kind == "log_list":
            run.log_list(op[1], op[2])
            self.lists[op[1]] = list(op[2])
        elif kind == "log_row":
            run.log_row(op[1], x=op[2], y=op[3])
            self.tables.setdefault(op[1], []).append((op[2], op[3]))
        elif kind == "summary_set":
            run.summary[op[1]] = op[2]
            self.summary_values[op[1]] = op[2]
        elif kind == "summary_del":
            del run.summary[op[1]]
            self.summary_values.pop(op[1], None)
        elif kind == "config":
            run.config.update(op[1])
            self.config.update(op[1])
        elif kind == "tag":
            run.tag(op[1], op[2])
            self.tags[op[1]] = op[2]

    def summary(self) -> dict[str, Any]:
        return dict(self.summary_values)

    def get_metrics(self) -> dict[str, Any]:
        def one_or_list(values: list[Any]) -> Any:
            return values[0] if len(values) == 1 else list(values)

        out: dict[str, Any] = {}
        for key in HISTORY:
            values = [row[key] for row in self.rows.values() if key in row]
            if values:
                out[key] = one_or_list(values)
        for key, values in self.metrics.items():
            out[key] = one_or_list(values)
        out.update(self.lists)
        for key, rows in self.tables.items():
            out[key] = {"x": [x for x, _ in rows], "y": [y for _, y in rows]}
        return out


def same(got: Any, want: Any, where: str) -> None:
    """Equal, same types; floats bit for bit; tuples compare as lists (msgpack arrays)."""
    if isinstance(want, tuple):
        want = list(want)
    assert type(got) is type(want), f"{where}: {got!r} is not {want!r}"
    if isinstance(want, float):
        if math.isnan(want):
            assert math.isnan(got), f"{where}: {got!r} is not {want!r}"
        else:
            assert struct.pack("<d", got) == struct.pack("<d", want), (
                f"{where}: {got!r} != {want!r}")
    elif isinstance(want, dict):
        assert set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


# ---------------------------------------------------------------- the property

_ids = itertools.count()


@pytest.fixture(scope="module")
def prop_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(config=st.dictionaries(st.sampled_from(CONFIG_KEYS), JSONISH, max_size=2),
       tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
       ops=st.lists(OPS, max_size=30))
def test_any_call_sequence_round_trips(prop_root: Path, config: dict[str, Any],
                                       tags: list[str], ops: list[tuple[Any, ...]]) -> None:
    run = flightlog.init(project="prop", id=f"r{next(_ids)}", dir=prop_root, config=config,
                         tags=tags, flush_interval=0.01)
    model = Model(config=dict(config), tags=dict.fromkeys(tags))
    try:
        for op in ops:
            model.apply(run, op)
        assert run.step == model.step
        same(dict(run.config), model.config, "live config")
        assert run.tags == model.tags
    finally:
        run.finish()

    r = flightlog.open_run(run.dir)
    assert r.status == "finished" and r.findings == []
    h = r.history()
    assert h["_step"].to_pylist() == list(model.rows)
    keys = [k for k in HISTORY if any(k in row for row in model.rows.values())]
    assert set(h.column_names) == {"_step", "_timestamp", *keys}
    for key in keys:
        assert h.schema.field(key).type == HISTORY[key][1], key
        same(h[key].to_pylist(), [row.get(key) for row in model.rows.values()],
             f"history[{key!r}]")
    same(r.get_metrics(), model.get_metrics(), "get_metrics")
    same(r.summary, model.summary(), "summary")
    same(r.config, model.config, "config")
    assert r.tags == model.tags
