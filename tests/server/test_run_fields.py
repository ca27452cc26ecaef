"""Nested config as dotted fields, filters on fields no run has, the runs table's duration
and last update (issue 13), on the server's index built from real run directories. Over
HTTP, with the histogram charts: tests/ui/test_run_fields_ui.py (one server for both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flightlog.server.index import BadQuery
from flightlog.server.runfields import flat_config, json_paths
from flightlog.server.storage import Storage

import flightlog


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Project "n": three runs of nested config (layers 2, 3, 4), the last with a
    histogram key; one with a literal dotted key."""
    data = tmp_path_factory.mktemp("server")
    for layers in (2, 3, 4):
        run = flightlog.init(project="n", dir=data / "runs", quiet=True,
                             config={"arch": {"layers": layers, "act": "relu"}, "lr": 0.1,
                                     "opt.name": "adam"},
                             tags=["nested", "wandb-style"])
        for step in range(3):
            row: dict[str, object] = {"loss": 1.0 / (step + layers)}
            if layers == 4:
                row["grads"] = np.linspace(-1, 1, 50) * (step + 1)
            run.log(row)
        run.finish()
    return data


def test_flatten_helpers() -> None:
    assert flat_config({"arch": {"layers": 3, "inner": {"k": 1}}, "empty": {}, "x": [1]}) == {
        "arch.layers": 3, "arch.inner.k": 1, "empty": {}, "x": [1]}
    assert json_paths("arch.layers") == ['$."arch.layers"', '$."arch"."layers"']
    assert json_paths("lr") == ['$."lr"']


def test_nested_config_filters_and_orders_by_its_dotted_name(data_dir: Path) -> None:
    index = Storage(data_dir).index
    found = index.query("n", ["config.arch.layers=3"], None, 10, 0)
    assert [r["config"]["arch"]["layers"] for r in found] == [3]
    assert index.count("n", ["config.arch.layers>=3"]) == 2
    ordered = index.query("n", [], "-config.arch.layers", 10, 0)
    assert [r["config"]["arch"]["layers"] for r in ordered] == [4, 3, 2]
    # A key with a dot of its own still answers by its name.
    assert index.count("n", ["config.opt.name=adam"]) == 3
    # A known field that no run matches is an answer, not an error.
    assert index.query("n", ["config.arch.layers=9"], None, 10, 0) == []
    row = found[0]
    assert row["duration"] is not None and row["duration"] >= 0
    assert row["last_update"] >= row["created"]


def test_a_filter_on_a_field_no_run_has_is_refused_with_close_matches(data_dir: Path
                                                                       ) -> None:
    index = Storage(data_dir).index
    with pytest.raises(BadQuery) as caught:
        index.query("n", ["config.arch.layer=3"], None, 10, 0)
    assert str(caught.value).startswith(
        "no run in project 'n' has the field 'config.arch.layer'; did you mean "
        "config.arch.layers")
    with pytest.raises(BadQuery, match=r"'tags\.baseline'"):
        index.query("n", ["tags.baseline"], None, 10, 0)
