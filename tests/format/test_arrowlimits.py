"""Attached Arrow files and chart specs are bounded by SPEC.md §10 before anything reads
them: a malicious run directory costs ``open_run`` neither memory nor a crash."""

from __future__ import annotations

import io
import random
import resource
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from flightlog.format.arrowlimits import (
    CHART_LIMITS,
    TABLE_LIMITS,
    check_ipc_file,
    read_ipc_file,
)
from flightlog.format.localrun import FlightlogWarning
from flightlog.format.vega import MAX_SPEC_DEPTH
from hostile import GOOD_SPEC, compressed_table, deep_spec, hostile_run, ipc_file, null_rows

import flightlog
import flightlog.errors


def _rss_mib() -> float:
    """This process's resident memory now (VmRSS: mapped file pages it touched too)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_compressed_table_is_refused_without_being_expanded(tmp_path: Path) -> None:
    good = ipc_file(pa.table({"x": [1, 2, 3]}))
    run_dir = hostile_run(tmp_path, "evil", tables={"bomb": compressed_table(),
                                                    "fine": good})
    before = _peak_rss_mib()
    run = flightlog.open_run(run_dir)
    # SPEC.md §10.4: the bad file costs its own table, named with file and rule; the
    # other table reads.
    with pytest.warns(flightlog.FlightlogWarning, match="'bomb'.*compressed"):
        assert list(run.tables()) == ["fine"]
    [(what, error)] = run.unreadable()
    assert (what, error.key, error.reason) == ("table", "bomb", "format")
    assert error.sha256 is not None and error.sha256 in str(error)
    assert run.table_page("fine") is not None and run.table_page("fine")[1] == 3
    with pytest.raises(flightlog.FormatError):
        run.table_page("bomb", 5)
    # 480 MB once decompressed; the check reads only the metadata.
    assert _peak_rss_mib() - before < 100


def test_columns_longer_than_their_bytes_are_refused(tmp_path: Path) -> None:
    nulls = null_rows(3_000_000)
    assert len(nulls) < 1000
    run_dir = hostile_run(tmp_path, "nulls", tables={"t": nulls},
                          charts={"c": (nulls, GOOD_SPEC),
                                  "ok": (ipc_file(pa.table({"x": [1.0, 2.0]})), GOOD_SPEC)})
    run = flightlog.open_run(run_dir)
    with pytest.warns(flightlog.FlightlogWarning, match="values in 394 bytes"):
        assert run.tables() == {}
    with pytest.raises(flightlog.errors.UnreadableFile, match="rows") as caught:
        run.chart("c")
    assert caught.value.key == "c" and caught.value.reason == "rows"
    assert [(w, e.key, e.reason) for w, e in run.unreadable()] == [
        ("table", "t", "values"), ("chart", "c", "rows")]
    assert run.chart("ok")["data"] == {"values": [{"x": 1.0}, {"x": 2.0}]}
    # The same bounds at the writer: it refuses what readers would.
    with flightlog.init(project="p", id="w", dir=tmp_path) as writer, pytest.raises(
            flightlog.InvalidValue, match="rows"):
        writer.log({"big": flightlog.Chart(pa.table({"n": pa.nulls(2_000_000)}),
                                           {"mark": "point"})})


def test_a_page_of_a_big_table_maps_only_that_page(tmp_path: Path) -> None:
    rows = 2_000_000
    table = pa.table({f"c{i}": np.arange(rows, dtype=np.int64) + i for i in range(6)})
    run_dir = hostile_run(tmp_path, "big", tables={"t": ipc_file(table)})  # 96 MB
    del table
    run = flightlog.open_run(run_dir)
    before = _rss_mib()
    page = run.table_page("t", 5)
    assert _rss_mib() - before < 32  # of 96 MB: the file is mapped, not read
    assert page is not None
    assert page[1] == rows and page[0].column("c3").to_pylist() == [3, 4, 5, 6, 7]


def test_a_table_file_is_hashed_once_and_a_replaced_one_is_caught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC.md §10.1: content is checked against its name before it is trusted; paging
    through the same file does not hash it again, a file replaced under its name does."""
    import flightlog.format.arrowlimits as arrowlimits

    run_dir = hostile_run(tmp_path, "paged", tables={"t": ipc_file(pa.table({"a": [1, 2]}))})
    hashed: list[str] = []
    real = arrowlimits._sha256_of

    def counting(f: object, data: object) -> str:
        digest = real(f, data)  # type: ignore[arg-type]
        hashed.append(digest)
        return digest

    monkeypatch.setattr(arrowlimits, "_sha256_of", counting)
    run = flightlog.open_run(run_dir)
    for _ in range(3):
        page = run.table_page("t", 1)
        assert page is not None and page[1] == 2
    assert len(hashed) == 1
    (stored,) = [p for p in (run_dir / "files" / "sha256").rglob("*") if p.is_file()]
    replaced = stored.with_name(stored.name + ".new")
    replaced.write_bytes(ipc_file(pa.table({"a": [7, 8]})))
    replaced.replace(stored)  # a new file (inode) under the old name
    with pytest.raises(flightlog.errors.UnreadableFile) as caught:
        run.table_page("t", 1)
    assert caught.value.reason == "digest" and "SHA-256" in str(caught.value)


def test_a_spec_nested_too_deep_is_kept_out(tmp_path: Path) -> None:
    data = ipc_file(pa.table({"x": [1.0]}))
    run_dir = hostile_run(tmp_path, "deep", charts={
        "deep": (data, deep_spec(20_000)), "limit": (data, deep_spec(MAX_SPEC_DEPTH - 1)),
        "ok": (data, GOOD_SPEC)})
    with pytest.warns(FlightlogWarning, match="record 3 .chart.: spec nests 20001 levels"):
        run = flightlog.open_run(run_dir)
    charts = run.charts()  # no RecursionError: the deep record never became a chart
    assert sorted(charts) == ["limit", "ok"]
    with pytest.raises(flightlog.InvalidValue, match="nests over"):
        flightlog.Chart({"x": [1]}, _nested(MAX_SPEC_DEPTH + 1))
    flightlog.Chart({"x": [1]}, _nested(MAX_SPEC_DEPTH - 2))


def _nested(depth: int) -> dict[str, object]:
    spec: dict[str, object] = {"mark": "point"}
    node: list[object] = []
    spec["x"] = node
    for _ in range(depth - 2):
        child: list[object] = []
        node.append(child)
        node = child
    return spec


def test_damaged_metadata_is_a_format_error_never_a_crash() -> None:
    """Deterministic byte flips in the metadata of a file with every common type: each
    is refused with FormatError or, where harmless, read; the process never crashes."""
    table = pa.table({"i": [1, None, 3], "s": ["a", "bc", None], "l": [[1], [], None],
                      "d": pa.array(["x", "y", "x"]).dictionary_encode(),
                      "st": [{"a": 1}, None, {"a": 2}]})
    good = ipc_file(table)
    assert check_ipc_file(good, TABLE_LIMITS).rows == 3
    rng = random.Random(7)
    refused = 0
    for _ in range(1500):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            read_ipc_file(io.BytesIO(bytes(damaged)), CHART_LIMITS).to_pylist()
        except flightlog.FormatError:
            refused += 1
    assert refused > 100
