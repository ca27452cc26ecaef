"""The training-side API (``flightlog.init`` / ``Run``) round-tripped through ``open_run``.

Every call of the public contract is written, finished and read back; values must come
back exactly (types included), errors must be the documented ``FlightlogError``s and
leave the run usable.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from flightlog.format import RecordType, iter_records
from flightlog.format.segment import list_segments
from writer_helpers import stop_writer_threads, verify, wait_until, writer_threads

import flightlog

# ---------------------------------------------------------------- helpers


def bits(value: float) -> str:
    return struct.pack("<d", value).hex()


def assert_same(got: Any, want: Any, where: str = "value") -> None:
    """Equal values of the same types; floats compared bit for bit (NaN == NaN)."""
    assert type(got) is type(want), f"{where}: {got!r} ({type(got).__name__}) != {want!r}"
    if isinstance(want, float):
        assert bits(got) == bits(want), f"{where}: {got!r} != {want!r}"
    elif isinstance(want, dict):
        assert list(got) == list(want) or set(got) == set(want), f"{where}: keys {got} {want}"
        for key in want:
            assert_same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def column(run_dir: Path, key: str) -> list[Any]:
    return flightlog.open_run(run_dir).history()[key].to_pylist()


class Scalarish:
    """A framework tensor stand-in: a 0-d value with ``.item()`` (torch is not installed)."""

    shape = ()

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value


NAN_PAYLOAD = struct.unpack("<d", bytes.fromhex("0100000000c0ff7f"))[0]


# ---------------------------------------------------------------- the whole contract


def test_contract_example_round_trips(root: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x80\x04pickled-model" * 1000)
    run = flightlog.init(project="diabetes", name="ridge-0.1", config={"alpha": 0.1},
                         tags=["baseline"], dir=root, flush_interval=0.05)
    assert run.dir == root / "diabetes" / run.id
    assert (run.name, run.project) == ("ridge-0.1", "diabetes")
    run.log({"rmse": 57.2, "epoch": 1})
    run.log({"loss": 0.3}, step=10)
    run.log("alpha", 0.1)
    run.log(name="Sigmoid", value=0.5)
    run.log_list("accuracies", [0.6, 0.7, 0.87])
    run.log_row("Y over X", x=1, y=0.4)
    run.log_row("Y over X", x=2, y=0.5)
    run.log_table("Sine Wave", {"x": [1, 2, 3], "y": [0.6, 0.7, 0.89]})
    run.summary["best_rmse"] = 57.2
    run.config.update({"optimizer": "adam"})
    run.tag("selected", "yes")
    sha = run.upload_file("outputs/model.pkl", model)
    live_summary = dict(run.summary)
    run.finish()

    r = flightlog.open_run(run.dir)
    assert (r.id, r.name, r.project, r.status) == (run.id, "ridge-0.1", "diabetes", "finished")
    h = r.history()
    assert h.column_names == ["_step", "_timestamp", "rmse", "epoch", "loss"]
    assert h.schema.field("_step").type == pa.int64()
    assert h.schema.field("_timestamp").type == pa.float64()
    assert h.schema.field("epoch").type == pa.int64()
    assert h.schema.field("rmse").type == pa.float64()
    assert h["_step"].to_pylist() == [0, 10]
    assert h["rmse"].to_pylist() == [57.2, None]
    assert h["epoch"].to_pylist() == [1, None]
    assert h["loss"].to_pylist() == [None, 0.3]
    assert_same(r.get_metrics(), {
        "rmse": 57.2, "epoch": 1, "loss": 0.3, "alpha": 0.1, "Sigmoid": 0.5,
        "accuracies": [0.6, 0.7, 0.87],
        "Y over X": {"x": [1, 2], "y": [0.4, 0.5]},
        "Sine Wave": {"x": [1, 2, 3], "y": [0.6, 0.7, 0.89]}})
    want_summary = {"rmse": 57.2, "epoch": 1, "loss": 0.3, "alpha": 0.1, "Sigmoid": 0.5,
                    "best_rmse": 57.2}
    assert_same(r.summary, want_summary)
    assert_same(live_summary, want_summary)
    assert_same(r.config, {"alpha": 0.1, "optimizer": "adam"})
    assert r.tags == {"baseline": None, "selected": "yes"}
    tables = r.tables()
    assert tables["Y over X"].to_pydict() == {"x": [1, 2], "y": [0.4, 0.5]}
    assert tables["Sine Wave"].to_pydict() == {"x": [1, 2, 3], "y": [0.6, 0.7, 0.89]}
    assert r.get_file_names() == ["outputs/model.pkl"]
    out = r.download_file("outputs/model.pkl", tmp_path / "out" / "m.pkl")
    assert out.read_bytes() == model.read_bytes()
    assert sha == hashlib.sha256(model.read_bytes()).hexdigest()
    assert verify(run.dir)[0] == 0


# ---------------------------------------------------------------- values and types


def test_scalar_types_become_typed_columns(new_run: Any) -> None:
    run = new_run()
    rows = [
        {"int": 1, "float": 0.5, "bool": True, "str": "a", "none": None},
        {"int": -(2**63), "float": -1e300, "bool": False, "str": "ü€😀\x00", "none": None},
        {"int": 2**63 - 1, "float": 5e-324, "bool": True, "str": "", "none": None},
    ]
    for row in rows:
        run.log(row)
    run.finish()
    r = flightlog.open_run(run.dir)
    h = r.history()
    assert h.schema.field("int").type == pa.int64()
    assert h.schema.field("float").type == pa.float64()
    assert h.schema.field("bool").type == pa.bool_()
    assert h.schema.field("str").type == pa.string()
    for key in rows[0]:
        assert_same(h[key].to_pylist(), [row[key] for row in rows], key)
    assert_same(r.summary, rows[-1])
    metrics = r.get_metrics()
    for key in ("int", "float", "bool", "str"):
        assert_same(metrics[key], [row[key] for row in rows], key)


def test_nan_and_infinity_round_trip_exactly(new_run: Any) -> None:
    specials = [float("nan"), NAN_PAYLOAD, -float("nan"), float("inf"), -float("inf")]
    run = new_run()
    for v in specials:
        run.log({"f": v})
        run.log("m", v)
    run.log("single", float("-inf"))
    run.summary["explicit"] = NAN_PAYLOAD
    run.config["bad_lr"] = float("inf")
    run.log_row("t", v=float("nan"))
    run.finish()
    r = flightlog.open_run(run.dir)
    assert [bits(v) for v in r.history()["f"].to_pylist()] == [bits(v) for v in specials]
    metrics = r.get_metrics()
    assert [bits(v) for v in metrics["f"]] == [bits(v) for v in specials]
    assert [bits(v) for v in metrics["m"]] == [bits(v) for v in specials]
    assert bits(metrics["single"]) == bits(float("-inf"))
    summary = r.summary
    assert bits(summary["f"]) == bits(specials[-1])
    assert bits(summary["m"]) == bits(specials[-1])
    assert bits(summary["explicit"]) == bits(NAN_PAYLOAD)
    assert bits(r.config["bad_lr"]) == bits(float("inf"))
    assert math.isnan(r.tables()["t"].to_pydict()["v"][0])


def test_numpy_scalars_zero_d_arrays_and_item_objects(new_run: Any) -> None:
    run = new_run()
    run.log({
        "f32": np.float32(0.1), "f64": np.float64(2.5), "i64": np.int64(7),
        "i32": np.int32(-3), "u8": np.uint8(200), "b": np.bool_(True),
        "zero_d_float": np.array(2.5), "zero_d_int": np.array(3), "one_elem": np.array([4.5]),
        "tensor": Scalarish(4.25),
    })
    run.log("azure_np", np.float32(1.5))
    run.log("azure_tensor", Scalarish(-1.0))
    run.summary["np_summary"] = np.int64(9)
    run.config.update({"np_config": np.float64(0.25), "np_list": np.array([1, 2])})
    run.finish()
    r = flightlog.open_run(run.dir)
    h = r.history()
    want = {"f32": float(np.float32(0.1)), "f64": 2.5, "i64": 7, "i32": -3, "u8": 200,
            "b": True, "zero_d_float": 2.5, "zero_d_int": 3, "one_elem": 4.5, "tensor": 4.25}
    for key, value in want.items():
        assert_same(h[key].to_pylist(), [value], key)
    for key in ("i64", "i32", "u8", "zero_d_int"):
        assert h.schema.field(key).type == pa.int64(), key
    assert h.schema.field("b").type == pa.bool_()
    assert h.schema.field("f32").type == pa.float64()
    metrics = r.get_metrics()
    assert_same(metrics["azure_np"], 1.5)
    assert_same(metrics["azure_tensor"], -1.0)
    assert_same(r.summary["np_summary"], 9)
    assert_same(r.config, {"np_config": 0.25, "np_list": [1, 2]})


def test_nested_dicts_flatten_with_slash(new_run: Any) -> None:
    run = new_run(config={"optim": {"name": "adam", "betas": [0.9, 0.99]}})
    run.log({"train": {"loss": 0.5, "acc": {"top1": 0.7, "top5": 0.9}}, "epoch": 1})
    run.log({"train/loss": 0.4, "_private": 1})
    run.finish()
    r = flightlog.open_run(run.dir)
    h = r.history()
    assert h.column_names == ["_step", "_timestamp", "train/loss", "train/acc/top1",
                              "train/acc/top5", "epoch", "_private"]
    assert h["train/loss"].to_pylist() == [0.5, 0.4]
    assert h["train/acc/top5"].to_pylist() == [0.9, None]
    assert r.summary["train/acc/top1"] == 0.7
    # config is kept nested, as given
    assert r.config == {"optim": {"name": "adam", "betas": [0.9, 0.99]}}


def test_large_strings_and_rows_split_into_several_records(new_run: Any) -> None:
    run = new_run()
    big_a, big_b = "a" * 30_000, "b" * 30_000
    run.log({"s1": big_a, "s2": big_b, "n": 1})  # one row over the frame bound
    for i in range(5):
        run.log({"s1": big_a[:-i - 1], "n": i})
    run.log("azure", big_b)
    run.finish()
    r = flightlog.open_run(run.dir)
    h = r.history()
    assert h["_step"].to_pylist() == list(range(6))
    assert h["s1"].to_pylist() == [big_a] + [big_a[:-i - 1] for i in range(5)]
    assert h["s2"].to_pylist() == [big_b] + [None] * 5
    assert r.get_metrics()["azure"] == big_b
    assert verify(run.dir)[0] == 0


def test_bool_then_int_keeps_the_bool_column_whatever_the_flush_timing(new_run: Any) -> None:
    # SPEC §9.2: a key keeps the kind of its first value; the int goes beside it, so the
    # column is never the JSON-text mix of SPEC §11.2, whether the values share a history
    # chunk or not.
    for flush in (5.0, None):
        run = new_run(flush_interval=5.0) if flush else new_run()
        run.log({"k": True})
        if not flush:
            wait_until(lambda run=run: flightlog.open_run(run.dir).history().num_rows == 1,
                       what="flush")
        with pytest.warns(flightlog.ValueTypeChanged, match="'k' was logged as a bool"):
            run.log({"k": 5})
        run.finish()
        h = flightlog.open_run(run.dir).history()
        assert h.schema.field("k").type == pa.bool_()
        assert h["k"].to_pylist() == [True, None]
        assert h["k:number"].to_pylist() == [None, 5]


# ---------------------------------------------------------------- W&B steps


def test_default_step_increments(new_run: Any) -> None:
    run = new_run()
    assert run.step == 0
    for i in range(3):
        run.log({"a": i})
    assert run.step == 3
    run.finish()
    assert column(run.dir, "_step") == [0, 1, 2]
    assert column(run.dir, "a") == [0, 1, 2]


def test_commit_false_merges_into_one_row(new_run: Any) -> None:
    run = new_run()
    run.log({"a": 1}, commit=False)
    run.log({"b": 2.0}, commit=False)
    run.log({"a": 10})  # same key again: the last value wins
    run.log({"a": 3})
    run.finish()
    h = flightlog.open_run(run.dir).history()
    assert h["_step"].to_pylist() == [0, 1]
    assert h["a"].to_pylist() == [10, 3]
    assert h["b"].to_pylist() == [2.0, None]


def test_commit_false_merges_across_flushes_and_other_records(new_run: Any) -> None:
    run = new_run()
    run.log({"a": 1}, commit=False)
    wait_until(lambda: flightlog.open_run(run.dir).history().num_rows == 1, what="flush")
    run.log("azure", 5)  # another record between the two halves of the row
    run.log({"b": 2})
    run.finish()
    h = flightlog.open_run(run.dir).history()
    assert h.num_rows == 1
    assert (h["_step"].to_pylist(), h["a"].to_pylist(), h["b"].to_pylist()) == ([0], [1], [2])


def test_explicit_steps(new_run: Any) -> None:
    run = new_run()
    run.log({"a": 0})  # step 0
    run.log({"a": 1}, step=10)  # jumps; the row stays open (commit defaults to False)
    assert run.step == 10
    run.log({"b": 2}, step=10)  # merges
    run.log({"c": 3})  # no step: writes to the open row 10 and commits it
    assert run.step == 11
    run.log({"a": 4})  # 11
    run.log({"a": 5}, step=20, commit=True)
    assert run.step == 21
    run.log({"a": 6})  # 21
    run.log({"a": 7}, step=np.int64(30))
    run.log({"a": 8}, step=40.0)  # an integral float is an int step
    run.finish()
    h = flightlog.open_run(run.dir).history()
    assert h["_step"].to_pylist() == [0, 10, 11, 20, 21, 30, 40]
    assert h["a"].to_pylist() == [0, 1, 4, 5, 6, 7, 8]
    assert h["b"].to_pylist() == [None, 2, None, None, None, None, None]
    assert h["c"].to_pylist() == [None, 3, None, None, None, None, None]


@pytest.mark.parametrize("bad_step", [4, 0, -1, 1.5, 6.5, "7", "x"])
def test_bad_step_raises_step_error_and_writes_nothing(new_run: Any, bad_step: Any) -> None:
    run = new_run()
    run.log({"a": 1}, step=5, commit=True)  # current step is now 6
    with pytest.raises(flightlog.StepError) as info:
        run.log({"a": 2, "poison": 1}, step=bad_step)
    assert isinstance(info.value, flightlog.FlightlogError)
    assert isinstance(info.value, ValueError)
    assert run.step == 6
    run.log({"a": 3})  # the run goes on
    run.finish()
    h = flightlog.open_run(run.dir).history()
    assert h["_step"].to_pylist() == [5, 6]
    assert h["a"].to_pylist() == [1, 3]
    assert "poison" not in h.column_names


def test_lower_step_message_names_both_steps(new_run: Any) -> None:
    run = new_run()
    run.log({"a": 1}, step=8)
    with pytest.raises(flightlog.StepError, match=r"step 3 .*current step 8"):
        run.log({"a": 2}, step=3)
    run.finish()


# ---------------------------------------------------------------- Azure form


def test_azure_metrics_value_or_list(new_run: Any) -> None:
    run = new_run()
    run.log("alpha", 0.1)
    run.log("loss", 1)
    run.log("loss", 2)
    run.log("loss", 3.5)
    run.log(name="Sigmoid", value=0.5)
    run.log("described", 1, description="a metric with a description")
    run.log_metric("via_log_metric", "text")
    run.log_list("accuracies", [0.6, 0.7, 0.87])
    run.log_list("np_list", np.array([1, 2, 3]))
    run.log_list("once", [42])
    assert run.step == 0  # the Azure form never advances the step
    run.log({"h": 1})
    run.log({"h": 2})
    run.log({"single_h": 1.5})
    run.finish()
    metrics = flightlog.open_run(run.dir).get_metrics()
    assert_same(metrics, {
        "h": [1, 2], "single_h": 1.5, "alpha": 0.1, "loss": [1, 2, 3.5], "Sigmoid": 0.5,
        "described": 1, "via_log_metric": "text", "accuracies": [0.6, 0.7, 0.87],
        "np_list": [1, 2, 3], "once": [42]})
    assert column(run.dir, "_step") == [0, 1, 2]


def test_tables_from_rows_and_whole_tables(new_run: Any) -> None:
    run = new_run()
    for x in range(3):
        run.log_row("Y over X", x=x, y=x / 10, label=f"p{x}")
    run.log_table("Sine Wave", {"x": np.arange(4), "y": np.sin(np.arange(4.0))})
    run.log_table("Sine Wave", {"x": [9], "y": [0.5]})  # appends to the same table
    run.finish()
    r = flightlog.open_run(run.dir)
    tables = r.tables()
    assert tables["Y over X"].to_pydict() == {"x": [0, 1, 2], "y": [0.0, 0.1, 0.2],
                                              "label": ["p0", "p1", "p2"]}
    assert tables["Sine Wave"].to_pydict() == {
        "x": [0, 1, 2, 3, 9], "y": [*np.sin(np.arange(4.0)).tolist(), 0.5]}
    assert r.get_metrics()["Y over X"] == tables["Y over X"].to_pydict()
    assert verify(run.dir)[0] == 0


# ---------------------------------------------------------------- summary, config, tags


def test_summary_defaults_overrides_and_deletes(new_run: Any) -> None:
    run = new_run()
    run.log({"rmse": 60.0, "epoch": 1})
    run.log({"rmse": 57.2, "epoch": 2})
    run.log("azure", 1)
    run.log("azure", 2)
    run.log({"gone": 1})
    assert run.summary["rmse"] == 57.2
    run.summary["best_rmse"] = 57.2
    run.log({"rmse": 70.0, "epoch": 3})
    run.summary["rmse"] = 50.0  # an explicit value replaces the last logged one ...
    run.summary.update({"nested": {"a": [1, 2]}}, extra="x")
    del run.summary["gone"]
    run.summary["temp"] = 1
    del run.summary["temp"]
    assert "gone" not in run.summary
    run.log({"again": 1.0})
    run.summary["again"] = 2.0
    run.log({"again": 3.0})  # ... until the key is logged again (log order, SPEC.md §11)
    live = dict(run.summary)
    run.finish()
    want = {"rmse": 50.0, "epoch": 3, "azure": 2, "best_rmse": 57.2,
            "nested": {"a": [1, 2]}, "extra": "x", "again": 3.0}
    assert_same(live, want)
    assert_same(flightlog.open_run(run.dir).summary, want)


def test_config_updates(new_run: Any) -> None:
    run = new_run(config={"alpha": 0.1, "layers": (64, 32)})
    assert run.config["alpha"] == 0.1
    assert run.config.alpha == 0.1  # W&B attribute access
    run.config.update({"optimizer": "adam"})
    run.config["alpha"] = 0.2
    run.config.update(batch=32)
    run.config.update({})  # no change, no record
    live = dict(run.config)
    run.finish()
    want = {"alpha": 0.2, "layers": [64, 32], "optimizer": "adam", "batch": 32}
    assert live == want
    assert flightlog.open_run(run.dir).config == want


@pytest.mark.parametrize(("tags", "want"), [
    (["baseline", "v2"], {"baseline": None, "v2": None}),
    ("single", {"single": None}),
    ({"owner": "ana", "n": 3, "flag": None}, {"owner": "ana", "n": "3", "flag": None}),
    (None, {}),
])
def test_tags(new_run: Any, tags: Any, want: dict[str, Any]) -> None:
    run = new_run(tags=tags)
    run.tag("selected", "yes")
    run.tag("plain")
    run.tag("number", 5)
    want = {**want, "selected": "yes", "plain": None, "number": "5"}
    assert run.tags == want
    run.finish()
    assert flightlog.open_run(run.dir).tags == want


# ---------------------------------------------------------------- files


def test_upload_and_download_with_hash_check(new_run: Any, tmp_path: Path) -> None:
    rng = random.Random(7)
    content = rng.randbytes(300_000)
    src = tmp_path / "weights.bin"
    src.write_bytes(content)
    run = new_run()
    sha = run.upload_file("outputs/model.pkl", src)
    with open(src, "rb") as stream:
        sha2 = run.upload_file("outputs/copy.bin", stream)
    sha3 = run.upload_file("notes.txt", io.BytesIO(b"hello"))
    assert sha == sha2 == hashlib.sha256(content).hexdigest()
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.get_file_names() == ["notes.txt", "outputs/copy.bin", "outputs/model.pkl"]
    out = r.download_file("outputs/model.pkl", tmp_path / "dl" / "model.pkl")
    assert out.read_bytes() == content
    (tmp_path / "dir").mkdir()
    out2 = r.download_file("notes.txt", tmp_path / "dir")
    assert out2 == tmp_path / "dir" / "notes.txt" and out2.read_bytes() == b"hello"
    assert sha3 == hashlib.sha256(b"hello").hexdigest()
    assert verify(run.dir)[0] == 0
    with pytest.raises(flightlog.FileNotInRun) as info:
        r.download_file("missing.bin", tmp_path / "x")
    assert isinstance(info.value, KeyError) and isinstance(info.value, flightlog.FlightlogError)

    # Damage the stored content (same size): download and verify both notice.
    blob = run.dir / "files" / "sha256" / sha[:2] / sha[2:]
    damaged = bytearray(blob.read_bytes())
    damaged[1000] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(damaged))
    with pytest.raises(flightlog.FormatError):
        r.download_file("outputs/model.pkl", tmp_path / "bad.pkl")
    assert not (tmp_path / "bad.pkl").exists()
    status, output = verify(run.dir)
    assert status == 1 and "SHA-256" in output


# ---------------------------------------------------------------- lifecycle


def test_with_block_finishes_the_run(root: Path) -> None:
    with flightlog.init(project="p", dir=root, flush_interval=0.05) as run:
        run.log({"a": 1})
    r = flightlog.open_run(run.dir)
    assert (r.status, r.exit_code) == ("finished", 0)


def test_exception_in_with_block_crashes_the_run(root: Path) -> None:
    with pytest.raises(ZeroDivisionError), flightlog.init(project="p", dir=root) as run:
        run.log({"a": 1})
        _ = 1 / 0
    r = flightlog.open_run(run.dir)
    assert (r.status, r.exit_code) == ("crashed", 1)
    assert r.history()["a"].to_pylist() == [1]


def test_module_level_calls_act_on_the_current_run(root: Path) -> None:
    assert flightlog.run is None
    flightlog.finish()  # no run: a no-op
    with pytest.raises(flightlog.WriterError):
        flightlog.log({"a": 1})
    run = flightlog.init(project="p", dir=root, flush_interval=0.05)
    assert flightlog.run is run
    flightlog.log({"a": 1})
    flightlog.log({"a": 2}, step=5)
    flightlog.log({"b": 3}, step=5, commit=True)
    flightlog.log("azure", 0.5)
    flightlog.log(name="named", value=1)
    flightlog.finish()
    assert flightlog.run is None
    r = flightlog.open_run(run.dir)
    assert r.status == "finished"
    assert r.history()["_step"].to_pylist() == [0, 5]
    assert r.history()["b"].to_pylist() == [None, 3]
    assert r.get_metrics()["azure"] == 0.5 and r.get_metrics()["named"] == 1
    with pytest.raises(flightlog.WriterError):
        flightlog.log({"a": 1})


def test_nested_runs_module_level_uses_the_latest(root: Path) -> None:
    outer = flightlog.init(project="p", dir=root)
    inner = flightlog.init(project="p", dir=root)
    flightlog.log({"who": "inner"})
    inner.finish()
    assert flightlog.run is outer
    flightlog.log({"who": "outer"})
    flightlog.finish()
    assert flightlog.open_run(inner.dir).history()["who"].to_pylist() == ["inner"]
    assert flightlog.open_run(outer.dir).history()["who"].to_pylist() == ["outer"]


def test_every_call_after_finish_raises_writer_closed(new_run: Any, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    run = new_run()
    run.log({"a": 1})
    run.complete()  # alias of finish
    run.finish()  # idempotent
    calls = [
        lambda: run.log({"a": 2}), lambda: run.log("m", 1), lambda: run.log_list("l", [1]),
        lambda: run.log_row("t", x=1), lambda: run.log_table("t", {"x": [1]}),
        lambda: run.summary.__setitem__("s", 1), lambda: run.config.update({"c": 1}),
        lambda: run.tag("t"), lambda: run.upload_file("f", src), lambda: run.flush(),
    ]
    for call in calls:
        with pytest.raises(flightlog.WriterClosed) as info:
            call()
        assert isinstance(info.value, flightlog.WriterError)
        assert isinstance(info.value, flightlog.FlightlogError)
    r = flightlog.open_run(run.dir)
    assert r.status == "finished"
    assert r.history()["a"].to_pylist() == [1]
    assert r.get_metrics() == {"a": 1} and r.config == {} and r.tags == {}


# ---------------------------------------------------------------- invalid keys and values


def test_invalid_keys_raise_and_write_nothing(new_run: Any, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    run = new_run()
    run.log({"a": 1})
    calls = [
        lambda: run.log({"": 1.0}), lambda: run.log({1: 2.0}), lambda: run.log({"b": 1, "": 2}),
        lambda: run.log({"a": {"": 1}}), lambda: run.log({"a": {3: 1}}),
        lambda: run.log({"_step": 1}), lambda: run.log({"_timestamp": 1.0}),
        lambda: run.log("", 1), lambda: run.log(name="", value=1),
        lambda: run.log_list("", [1]), lambda: run.log_row("", x=1),
        lambda: run.log_row("t", **{"": 1}), lambda: run.log_table("", {"x": [1]}),
        lambda: run.log_table("t", {"": [1]}), lambda: run.summary.__setitem__("", 1),
        lambda: run.config.update({5: 1}), lambda: run.config.update({"c": {"": 1}}),
        lambda: run.tag(""), lambda: run.upload_file("", src),
    ]
    for number, call in enumerate(calls):
        with pytest.raises(flightlog.InvalidKey) as info:
            call()
        assert isinstance(info.value, flightlog.FlightlogError), number
        assert isinstance(info.value, ValueError), number
    assert run.step == 1
    run.log({"a": 2})
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.history().column_names == ["_step", "_timestamp", "a"]
    assert r.history()["a"].to_pylist() == [1, 2]
    assert (r.config, r.tags, r.get_file_names(), r.tables()) == ({}, {}, [], {})
    assert r.get_metrics() == {"a": [1, 2]}


@pytest.mark.parametrize("bad", [[1, 2], (1,), {1, 2}, object(), b"bytes", np.arange(3),
                                 np.zeros((2, 2)), 1j], ids=lambda v: type(v).__name__)
def test_unsupported_values_raise_invalid_value(new_run: Any, bad: Any) -> None:
    run = new_run()
    run.log({"ok": 1})
    # Numbers in a list or array are a histogram in history, as in W&B (SPEC §9.1).
    histogram = isinstance(bad, (list, tuple, np.ndarray))
    if not histogram:
        with pytest.raises(flightlog.InvalidValue) as info:
            run.log({"ok": 2, "weird_key": bad})
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, flightlog.FlightlogError)
        assert "weird_key" in str(info.value) and info.value.key == "weird_key"
        with pytest.raises(flightlog.InvalidValue, match="nested_key"):
            run.log({"outer": {"nested_key": bad}})
    with pytest.raises(flightlog.InvalidValue, match="azure_key"):
        run.log("azure_key", bad)
    if not histogram:  # sequences are fine in config
        with pytest.raises(flightlog.InvalidValue, match="cfg_key"):
            run.config.update({"cfg_key": bad})
        with pytest.raises(flightlog.InvalidValue, match="sum_key"):
            run.summary["sum_key"] = bad
        with pytest.raises(flightlog.InvalidValue, match="col"):
            run.log_row("t", col=bad)
    assert run.step == 1
    run.log({"ok": 3})
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.history().column_names == ["_step", "_timestamp", "ok"]
    assert r.history()["ok"].to_pylist() == [1, 3]
    assert r.get_metrics() == {"ok": [1, 3]}
    assert r.summary == {"ok": 3} and r.config == {} and r.tables() == {}


def test_log_needs_a_dict_or_a_name_and_value(new_run: Any) -> None:
    run = new_run()
    for call in (lambda: run.log(None), lambda: run.log(3), lambda: run.log(name="n"),
                 lambda: run.log([("a", 1)])):
        with pytest.raises(flightlog.InvalidValue):
            call()
    run.finish()
    assert flightlog.open_run(run.dir).get_metrics() == {}


def test_regression_log_name_without_value(new_run: Any) -> None:
    run = new_run()
    try:
        with pytest.raises(flightlog.InvalidValue):
            run.log("lonely")
    finally:
        run.finish()
    assert flightlog.open_run(run.dir).get_metrics() == {}


def test_log_table_with_columns_of_different_lengths(new_run: Any) -> None:
    run = new_run()
    with pytest.raises(flightlog.InvalidValue) as info:
        run.log_table("Sine Wave", {"x": [1, 2, 3], "y": [0.6, 0.7]})
    message = str(info.value)
    assert "Sine Wave" in message and "3" in message and "2" in message
    assert "'x'" in message and "'y'" in message
    for bad in ({}, [1, 2], {"x": [object()]}):
        with pytest.raises(flightlog.InvalidValue):
            run.log_table("t", bad)
    with pytest.raises(flightlog.InvalidValue):
        run.log_row("empty")
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.tables() == {}
    assert not (run.dir / "files" / "sha256").exists() or not any(
        (run.dir / "files" / "sha256").iterdir())


def test_too_large_values_raise_record_too_large(new_run: Any) -> None:
    run = new_run()
    run.log({"a": 1})
    huge = "x" * 40_000
    calls = [lambda: run.log({"s": huge}), lambda: run.log("s", huge),
             lambda: run.log({"n": {"s": "é" * 20_000}}),
             lambda: run.summary.__setitem__("s", huge),
             lambda: run.config.update({"c1": "y" * 30_000, "c2": "y" * 30_000,
                                        "c3": "y" * 30_000}),
             lambda: run.log_list("l", ["z" * 30_000] * 3),
             lambda: run.log_row("t", a="z" * 30_000, b="z" * 30_000, c="z" * 30_000)]
    for call in calls:
        with pytest.raises(flightlog.RecordTooLarge) as info:
            call()
        assert isinstance(info.value, flightlog.FlightlogError)
    run.log({"a": 2})
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.history().column_names == ["_step", "_timestamp", "a"]
    assert r.get_metrics() == {"a": [1, 2]}
    assert r.config == {} and r.tables() == {}


def test_error_classes_form_the_documented_tree() -> None:
    for cls in (flightlog.InvalidValue, flightlog.InvalidKey, flightlog.StepError,
                flightlog.WriterError, flightlog.WriterClosed, flightlog.RunLocked,
                flightlog.RunNotFound, flightlog.RecordTooLarge, flightlog.FileNotInRun,
                flightlog.FormatError):
        assert issubclass(cls, flightlog.FlightlogError), cls
    assert issubclass(flightlog.InvalidValue, TypeError)
    assert issubclass(flightlog.InvalidKey, ValueError)
    assert issubclass(flightlog.StepError, ValueError)
    assert issubclass(flightlog.WriterClosed, flightlog.WriterError)
    assert issubclass(flightlog.RunLocked, flightlog.WriterError)
    assert issubclass(flightlog.RunNotFound, FileNotFoundError)


def test_bad_project_or_id_is_invalid_key(root: Path) -> None:
    for kwargs in ({"project": "../escape"}, {"project": ""}, {"project": "p", "id": "a/b"},
                   {"project": "p", "id": ".hidden"}):
        with pytest.raises(flightlog.InvalidKey):
            flightlog.init(dir=root, **kwargs)
    assert list(root.iterdir()) == []


# ---------------------------------------------------------------- imports


def test_import_does_not_pull_in_server_or_network_code(root: Path) -> None:
    script = (
        "import json, sys\n"
        "import flightlog\n"
        "banned = ('httpx', 'starlette', 'fastapi', 'uvicorn', 'flightlog.server',"
        " 'flightlog.syncd')\n"
        "def loaded():\n"
        "    return sorted(m for m in sys.modules"
        " if any(m == b or m.startswith(b + '.') for b in banned))\n"
        "after_import = loaded()\n"
        f"run = flightlog.init(project='p', dir={str(root)!r})\n"
        "run.log({'a': 1}); run.log('b', 2); run.summary['c'] = 3; run.finish()\n"
        "flightlog.open_run(run.dir).history()\n"
        "print(json.dumps([after_import, loaded()]))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60)
    after_import, after_use = json.loads(out.stdout)
    assert after_import == [], after_import
    assert after_use == [], after_use


# ---------------------------------------------------------------- segments


def test_segment_rotation_keeps_everything(new_run: Any) -> None:
    rng = random.Random(3)
    run = new_run(segment_bytes=4096, flush_interval=0.02)
    rows = [{"i": i, "x": rng.random(), "y": rng.random()} for i in range(6000)]
    for i, row in enumerate(rows):
        run.log(row)
        if i % 1000 == 999:
            run.log("checkpoint", i)
            run.flush()
    run.finish()
    segments = list_segments(run.dir)
    assert len(segments) >= 5, segments
    assert [index for index, _ in segments] == list(range(len(segments)))
    status, output = verify(run.dir)
    assert status == 0, output
    records = iter_records(run.dir, strict=True)
    assert [rec.seq for rec in records] == list(range(len(records)))
    # every segment opens with its segment record
    firsts = {}
    for rec in records:
        firsts.setdefault(rec.segment, rec)
    for index, rec in firsts.items():
        assert rec.type == RecordType.SEGMENT and rec.body["index"] == index
    h = flightlog.open_run(run.dir).history()
    assert h["i"].to_pylist() == list(range(6000))
    assert h["x"].to_pylist() == [row["x"] for row in rows]
    assert h["_step"].to_pylist() == list(range(6000))
    assert flightlog.open_run(run.dir).get_metrics()["checkpoint"] == [999 + 1000 * k
                                                                      for k in range(6)]


# ------------------------------------------ regressions: bugs these tests found, now fixed


def test_huge_history_key_is_refused_and_the_writer_lives(new_run: Any) -> None:
    run = new_run()
    try:
        with pytest.raises(flightlog.InvalidKey):
            run.log({"k" * 70_000: 1.0})
        run.log({"a": 1})
        run.flush()
        wait_until(lambda: flightlog.open_run(run.dir).history().num_rows == 1,
                   timeout=3, what="the next row")
    finally:
        with contextlib.suppress(flightlog.WriterError):
            run.finish()


def test_regression_int_out_of_range_azure_form(new_run: Any) -> None:
    run = new_run()
    try:
        with pytest.raises(flightlog.InvalidValue):
            run.log("big", 2**70)
    finally:
        run.finish()


def test_regression_int_out_of_range_history_kills_writer(new_run: Any) -> None:
    run = new_run()
    try:
        with contextlib.suppress(flightlog.InvalidValue):  # fixed: refused at the call
            run.log({"big": -(2**70)})
        run.log({"a": 1})
        run.flush()
        wait_until(lambda: (flightlog.open_run(run.dir).history().num_rows >= 1
                            or not run._writer.alive()), what="the row after the bad value")
        assert run._writer.error is None, repr(run._writer.error)
    finally:
        with contextlib.suppress(flightlog.WriterError):
            run.finish()


def test_regression_failed_init_leaks_thread_and_lock(root: Path) -> None:
    before = set(writer_threads())
    try:
        with pytest.raises(flightlog.RecordTooLarge):
            flightlog.init(project="p", id="leak", dir=root, tags={"t": "x" * 70_000})
        assert set(writer_threads()) == before, "a flightlog-writer thread was left running"
        run = flightlog.init(project="p", id="leak", dir=root, resume=True)
        run.finish()
    finally:
        stop_writer_threads([t for t in writer_threads() if t not in before])


def test_regression_non_str_name_is_accepted(new_run: Any) -> None:
    run = new_run()
    try:
        with pytest.raises(flightlog.InvalidKey):
            run.log(name=5, value=1)
    finally:
        run.finish()


def test_regression_log_row_later_columns_dropped(new_run: Any) -> None:
    run = new_run()
    run.log_row("t", x=1)
    run.log_row("t", x=2, y=3)
    run.finish()
    assert flightlog.open_run(run.dir).tables()["t"].to_pydict() == {"x": [1, 2],
                                                                    "y": [None, 3]}


def test_regression_log_row_mixed_types_raise_pyarrow_error(new_run: Any) -> None:
    run = new_run()
    run.log_row("t", x=1)
    run.log_row("t", x="a")
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.tables()["t"].num_rows == 2
    assert len(r.get_metrics()["t"]["x"]) == 2


def test_regression_summary_delete_then_log_again(new_run: Any) -> None:
    run = new_run()
    run.log({"x": 1})
    del run.summary["x"]
    run.log({"x": 2})
    live = dict(run.summary)
    run.finish()
    assert flightlog.open_run(run.dir).summary == live


def test_regression_summary_last_value_across_forms(new_run: Any) -> None:
    run = new_run()
    run.log("y", 1)
    run.log({"y": 2})
    assert run.summary["y"] == 2
    run.finish()
    assert flightlog.open_run(run.dir).summary["y"] == 2


def test_regression_history_none_in_get_metrics(new_run: Any) -> None:
    run = new_run()
    run.log({"n": None})
    run.log("azure_n", None)
    run.finish()
    metrics = flightlog.open_run(run.dir).get_metrics()
    assert metrics["azure_n"] is None
    assert metrics["n"] is None


def test_regression_summary_type_depends_on_flush_timing(new_run: Any) -> None:
    one_chunk = new_run(flush_interval=5.0)
    one_chunk.log({"k": 1.5})
    one_chunk.log({"k": 2})
    assert_same(one_chunk.summary["k"], 2)
    one_chunk.finish()
    two_chunks = new_run()
    two_chunks.log({"k": 1.5})
    wait_until(lambda: flightlog.open_run(two_chunks.dir).history().num_rows == 1,
               what="flush")
    two_chunks.log({"k": 2})
    two_chunks.finish()
    assert_same(flightlog.open_run(two_chunks.dir).summary["k"], 2)
    assert_same(flightlog.open_run(one_chunk.dir).summary["k"], 2)
