"""Values that change kind, and histograms (issue 13): a key's numbers stay numbers with
the odd value beside them (SPEC.md §9.2), and arrays, lists and ``flightlog.Histogram``
are stored as histograms and read back (SPEC.md §9.1). Real writer, real reader."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from flightlog.format.histograms import parse

import flightlog


def _history(run_dir: Path) -> dict[str, list[object]]:
    return flightlog.open_run(run_dir).history().to_pydict()


def test_a_str_among_floats_goes_beside_them_with_one_warning(tmp_path: Path) -> None:
    run = flightlog.init(project="p", dir=tmp_path, quiet=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log({"acc": 0.5})
        run.log({"acc": 0.75})
        run.log({"acc": "diverged"})       # step 2: kept, beside the numbers
        run.log({"acc": "again"})          # the same change again: no second warning
        run.log({"acc": 1.0})
        run.log({"status": "ok"})          # a key that starts as text stays text
        run.log({"status": 3})
    run.finish()
    changed = [w for w in caught if issubclass(w.category, flightlog.ValueTypeChanged)]
    assert [str(w.message) for w in changed] == [
        "'acc' was logged as a number and at step 2 as a str; its str values go to "
        "'acc:str' so that 'acc' keeps only number values (SPEC.md §9.2)",
        "'status' was logged as a str and at step 6 as a number; its number values go to "
        "'status:number' so that 'status' keeps only str values (SPEC.md §9.2)"]
    warning = changed[0].message
    assert isinstance(warning, flightlog.FlightlogWarning)
    assert (warning.key, warning.step, warning.first, warning.found) == ("acc", 2, "number",
                                                                         "str")
    assert changed[0].filename == __file__  # points at the run.log call
    table = flightlog.open_run(run.dir).history()
    assert table.schema.field("acc").type == pa.float64()
    assert table.schema.field("acc:str").type == pa.string()
    assert table.schema.field("status").type == pa.string()
    assert table.schema.field("status:number").type == pa.int64()
    history = table.to_pydict()
    assert history["acc"] == [0.5, 0.75, None, None, 1.0, None, None]
    assert history["acc:str"] == [None, None, "diverged", "again", None, None, None]
    assert history["status:number"][6] == 3


def test_arrays_lists_and_histograms_are_stored_as_histograms(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = [rng.normal(size=1000) * (step + 1) for step in range(3)]
    run = flightlog.init(project="p", dir=tmp_path, tags=["wandb-style", "smoke"],
                         quiet=True)
    for step, v in enumerate(values):
        run.log({"grads": v,                                   # an array, as W&B
                 "weights": flightlog.Histogram(v, num_bins=8),
                 "given": flightlog.Histogram(np_histogram=np.histogram(v, bins=4)),
                 "loss": 1.0 / (step + 1)})
    run.log({"small": [1, 2, 2, 3], "nan": np.array([1.0, np.nan, np.inf, 2.0]),
             "wandb": {"_type": "histogram", "values": [4, 1], "bins": [0, 1, 2]}})
    run.finish()

    r = flightlog.open_run(run.dir)
    assert r.histogram_keys() == ["grads", "weights", "given", "small", "nan", "wandb"]
    (wandb,) = r.histograms("wandb")  # W&B's exported map, taken as it is
    assert wandb.counts.tolist() == [4, 1] and wandb.edges.tolist() == [0, 1, 2]
    grads = r.histograms("grads")
    assert [h.step for h in grads] == [0, 1, 2]
    counts, edges = np.histogram(values[2], bins=64)  # 64 bins by default, as W&B
    assert np.array_equal(grads[2].counts, counts) and np.array_equal(grads[2].edges, edges)
    assert [len(h.counts) for h in r.histograms("weights")] == [8, 8, 8]
    counts4, edges4 = np.histogram(values[1], bins=4)
    given = r.histograms("given")[1]
    assert given.counts.tolist() == counts4.tolist() and given.edges.tolist() == edges4.tolist()
    (small,) = r.histograms("small")
    assert small.counts.sum() == 4 and small.edges[0] == 1 and small.edges[-1] == 3
    (nan,) = r.histograms("nan")
    assert nan.counts.sum() == 2 and nan.nonfinite == 2  # NaN and inf counted, not binned
    assert r.history().schema.field("loss").type == pa.float64()  # scalars unchanged
    # Tags given as a list read back as labels (the map keeps SPEC.md §8's form).
    assert r.labels == ["wandb-style", "smoke"]
    assert r.tags == {"wandb-style": None, "smoke": None}


def test_what_cannot_be_a_histogram_is_refused_naming_the_alternative(tmp_path: Path
                                                                       ) -> None:
    run = flightlog.init(project="p", dir=tmp_path, quiet=True)
    with pytest.raises(flightlog.InvalidValue) as caught:
        run.log({"words": ["a", 1]})
    assert str(caught.value) == (
        "value of 'words' is a list that is not all numbers; log it with "
        "run.log_list('words', values), as a flightlog.Table, or as numbers (it becomes a "
        "flightlog.Histogram)")
    with pytest.raises(flightlog.InvalidValue, match=r"num_bins must be an int in 1\.\.512"):
        flightlog.Histogram([1.0, 2.0], num_bins=513)
    with pytest.raises(flightlog.InvalidValue, match="3 bin edges for 3 counts"):
        flightlog.Histogram(np_histogram=([1, 2, 3], [0.0, 1.0, 2.0]))
    with pytest.raises(flightlog.InvalidValue, match="bin edges must increase"):
        flightlog.Histogram(np_histogram=([1, 2], [0.0, 2.0, 1.0]))
    run.log({"ok": 1.0})  # a refused call wrote nothing; the run goes on
    run.finish()
    assert _history(run.dir)["ok"] == [1.0]


@pytest.mark.parametrize("stored", [
    {"_type": "histogram", "bins": [0.0, 1.0], "values": [1, 2]},        # edges != counts+1
    {"_type": "histogram", "bins": [1.0, 0.0], "values": [1]},           # decreasing
    {"_type": "histogram", "bins": [0.0, float("nan")], "values": [1]},  # not finite
    {"_type": "histogram", "bins": [0.0, 1.0], "values": [-1]},          # negative count
    {"_type": "histogram", "bins": "0..1", "values": [1]},
    {"_type": "histogram", "bins": list(range(600)), "values": [1] * 599},  # > 512 bins
])
def test_a_malformed_stored_histogram_is_left_out(stored: dict[str, object]) -> None:
    assert parse(stored, 0) is None
    assert parse({"_type": "histogram", "bins": [0.0, 1.0], "values": [3]}, 5) is not None
