"""W&B offline runs imported, compared value by value with what W&B's own protobuf classes
read from the same files (``expected.json``, written by make_wandb_golden.py with wandb
0.16.6's DataStore and 0.31.0's ``wandb_internal_pb2``) and with what the script logged."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from importers_helpers import points_of, tree_bytes

import flightlog
from flightlog.importers.wandb import LARGE_VALUES_FILE, import_wandb
from flightlog.importers.wandb_records import RecordReader, WandbFormatError

DATA = Path(__file__).parent / "data"
VERSIONS = ("016", "031")
SCENARIOS = ("full", "failed", "crashed")
INTERNAL = {"_step", "_timestamp", "_runtime"}


def _expected(version: str, scenario: str) -> dict[str, Any]:
    return json.loads((DATA / f"wandb{version}" / scenario / "expected.json").read_text())


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    root = tmp_path_factory.mktemp("wandb") / "runs"
    out = {}
    for version in VERSIONS:
        for scenario in SCENARIOS:
            (report,) = import_wandb([DATA / f"wandb{version}" / scenario], root)
            out[(version, scenario)] = report
    return out


def _value(item: dict[str, Any]) -> Any:
    return json.loads(item["value_json"])


def _same(a: Any, b: Any) -> bool:
    """Equal values; W&B's JSON writes the float 1.0 as ``1``, so a number equals a number
    of the same value (a bool only a bool, a string only a string)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return bool(a == b and type(a) is type(b))
    return bool(a == b)


def _expected_points(exp: dict[str, Any]) -> dict[str, list[tuple[int, Any, float]]]:
    """Every scalar history item of the file, as W&B's classes decoded it."""
    out: dict[str, list[tuple[int, Any, float]]] = {}
    for rec in exp["history"]:
        items = rec["items"]
        wall = _value(items["_timestamp"])
        step = _value(items["_step"])  # 0.16 writes no step field, only this item
        assert rec["step"] in (step, 0)
        for path, item in items.items():
            value = _value(item)
            head = path.split("/")[0]
            if path in INTERNAL or isinstance(value, dict) or f"{head}/_type" in items:
                continue  # media: checked by their own tests
            out.setdefault(path.replace("/", "."), []).append((step, value, wall))
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_history_point_with_its_step_and_time(imported: Any, version: str,
                                                     scenario: str) -> None:
    exp = _expected(version, scenario)
    want = _expected_points(exp)
    got = points_of(imported[(version, scenario)].dir)
    assert set(got) == set(want)
    for key, points in want.items():
        assert len(got[key]) == len(points), key
        for (gs, gv, gt), (ws, wv, wt) in zip(got[key], points, strict=True):
            assert gs == ws and _same(gv, wv) and gt == wt, (key, gs, gv, gt, ws, wv, wt)
    assert sum(map(len, want.values())) > 0


@pytest.mark.parametrize("version", VERSIONS)
def test_values_are_what_the_script_logged(imported: Any, version: str) -> None:
    exp = _expected(version, "full")
    got = points_of(imported[(version, "full")].dir)
    at = {(k, s): v for k, pts in got.items() for s, v, _t in pts}
    for i, entry in enumerate(exp["logged"]):
        step = entry["step"] if entry["step"] is not None else i
        for key, value in entry["row"].items():
            if value in ("Image", "Table"):
                continue
            if value in ("NaN", "Infinity", "-Infinity"):
                value = float(value.replace("Infinity", "inf"))
            assert _same(at[(key, step)], value), (key, step)
    assert math.isnan(at[("loss", 6)]) and at[("loss", 7)] == math.inf
    assert at[("big", 6)] == 2 ** 40 and at[("flag", 0)] is True and at[("phase", 3)] == "main"


@pytest.mark.parametrize("version", VERSIONS)
def test_status_from_the_exit_record(imported: Any, version: str) -> None:
    full = flightlog.open_run(imported[(version, "full")].dir)
    failed = flightlog.open_run(imported[(version, "failed")].dir)
    crashed = flightlog.open_run(imported[(version, "crashed")].dir)
    assert (full.status, full.exit_code) == ("finished", 0)
    assert failed.exit_code == 1 and failed.status == "crashed"
    assert crashed.exit_code is None and crashed.status == "crashed"


@pytest.mark.parametrize("version", VERSIONS)
def test_config_tags_notes_name_and_start(imported: Any, version: str) -> None:
    report = imported[(version, "full")]
    run = flightlog.open_run(report.dir)
    exp = _expected(version, "full")
    config = {k: v for k, v in run.config.items() if k != "_flightlog_import"}
    assert config == {"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9},
                      "seed": 7, "batch": 32}
    large = json.loads((report.dir / "files" / LARGE_VALUES_FILE).read_bytes()
                       if (report.dir / "files" / LARGE_VALUES_FILE).exists()
                       else Path(run.download_file(LARGE_VALUES_FILE, str(report.dir.parent
                                                   / "large.json"))).read_bytes())
    assert large == {"config.blob": "x" * 33000}
    assert run.name == "golden-full" and run.project == "golden"
    assert {"golden", "full"} <= set(run.tags) and run.tags["notes"] == "notes of full"
    assert run.tags["wandb.id"] == exp["run"]["run_id"]
    assert run.created == pytest.approx(exp["run"]["start_time_s"], abs=1e-6)
    assert "value over 32 KiB (kept in the file wandb-large-values.json)" in \
        report.unmapped.counts


@pytest.mark.parametrize("version", VERSIONS)
def test_summary_is_the_records_applied_in_order(imported: Any, version: str) -> None:
    exp = _expected(version, "full")
    run = flightlog.open_run(imported[(version, "full")].dir)
    want: dict[str, Any] = {}
    for path, item in exp["summary"].items():
        if path.startswith("_"):
            continue
        parts = path.split("/")
        node = want
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _value(item)
    got = run.summary
    for key, value in want.items():
        assert got[key] == value, key
    assert got["best_loss"] == 0.125 and got["acc"] == 99
    own = DATA / f"wandb{version}" / "full" / "files" / "wandb-summary.json"
    if own.exists():  # the summary W&B itself wrote (0.16)
        for key, value in json.loads(own.read_text()).items():
            if not key.startswith("_"):
                assert got[key] == value, key
    assert "flag" not in want  # removed by W&B; flightlog's summary shows its last value


@pytest.mark.parametrize("version", VERSIONS)
def test_console_text_and_each_lines_time(imported: Any, version: str, tmp_path: Path
                                          ) -> None:
    exp = _expected(version, "failed")
    run = flightlog.open_run(imported[(version, "failed")].dir)
    lines = run.console()
    text = "".join(line.text + "\n" for line in lines)
    raw = "".join(o["line"] for o in exp["output"] if o["kind"] == "output_raw")
    assert text == raw and "RuntimeError: boom" in text and "about to fail" in text
    w_log = DATA / f"wandb{version}" / "failed" / "files" / "output.log"
    if w_log.exists():
        assert text == w_log.read_text()  # what W&B itself wrote; attached as it is too
        kept = run.download_file("output.log", str(tmp_path / "output.log"))
        assert Path(kept).read_bytes() == w_log.read_bytes()
    first = exp["output"][0]
    assert lines[0].time == pytest.approx(first["timestamp"], abs=1e-6)
    assert lines[0].stream == ("stdout" if first["stream"] == 1 else "stderr")
    assert {line.stream for line in lines} == {"stdout", "stderr"}


@pytest.mark.parametrize("version", VERSIONS)
def test_image_and_table(imported: Any, version: str) -> None:
    run = flightlog.open_run(imported[(version, "full")].dir)
    exp = _expected(version, "full")
    (image,) = run.media()["samples"]
    png = next((DATA / f"wandb{version}" / "full" / "files" / "media" / "images").glob(
        "*.png")).read_bytes()
    assert image.read_bytes() == png and image.step == 8 and image.caption == "red"
    assert (image.width, image.height) == (4, 3)
    table = run.tables()["preds"].to_pylist()
    assert table == [{"id": 1, "label": "cat", "score": 0.5},
                     {"id": 2, "label": "dog", "score": 0.25}]
    assert any("preds" in r["items"] or "preds/_type" in r["items"] for r in exp["history"])


@pytest.mark.parametrize("version", VERSIONS)
def test_system_metrics_under_their_wandb_names(imported: Any, version: str) -> None:
    exp = _expected(version, "full")
    run = flightlog.open_run(imported[(version, "full")].dir)
    want = sorted((s["timestamp"], "system/" + k, float(json.loads(v)))
                  for s in exp["stats"] for k, v in s["items"].items())
    table = run.system_metrics().to_pylist()
    got = sorted((row["_timestamp"], k, v) for row in table for k, v in row.items()
                 if k != "_timestamp" and v is not None)
    assert [(round(t, 6), k, v) for t, k, v in got] == [(round(t, 6), k, v)
                                                          for t, k, v in want]
    assert len(want) > 0


def test_reimport_changes_no_byte(imported: Any) -> None:
    report = imported[("031", "full")]
    root = report.dir.parent.parent
    before = tree_bytes(root)
    again = import_wandb([DATA / "wandb031" / "full", DATA / "wandb016" / "full"], root)
    assert all(r.unchanged for r in again)
    assert tree_bytes(root) == before


def test_grown_file_adds_only_what_is_new(tmp_path: Path) -> None:
    src = DATA / "wandb016" / "full"
    grown = tmp_path / "run"
    shutil.copytree(src, grown)
    wfile = next(grown.glob("*.wandb"))
    whole = wfile.read_bytes()
    wfile.write_bytes(whole[:len(whole) * 3 // 4])  # a live run, read part-way
    (first,) = import_wandb([grown], tmp_path / "root")
    wfile.write_bytes(whole)
    (second,) = import_wandb([grown], tmp_path / "root")
    assert first.points > 0 and second.points > 0 and second.already > 0
    want = _expected_points(_expected("016", "full"))
    got = points_of(second.dir)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}


@pytest.mark.parametrize("version", VERSIONS)
def test_torn_tail_gives_everything_before_it(version: str, tmp_path: Path) -> None:
    damaged = DATA / f"wandb{version}" / "damaged"
    run_dir = tmp_path / "torn"
    run_dir.mkdir()
    shutil.copy(damaged / "torn-tail.wandb", run_dir / "run-torn.wandb")
    (report,) = import_wandb([run_dir], tmp_path / "root")
    torn_len = json.loads((damaged / "damage.json").read_text())["torn_length"]
    assert any("offset" in p and "torn tail" in p for p in report.problems), report.problems
    want = _expected_points(_expected(version, "full"))
    got = points_of(report.dir)
    lost = sum(map(len, want.values())) - sum(map(len, got.values()))
    assert 0 <= lost <= 5
    for key, points in got.items():
        assert [p[:1] for p in points] == [p[:1] for p in want[key][:len(points)]]
    assert torn_len > 0


@pytest.mark.parametrize("version", VERSIONS)
def test_flipped_byte_loses_one_block_and_says_where(version: str, tmp_path: Path) -> None:
    damaged = DATA / f"wandb{version}" / "damaged"
    flipped_at = json.loads((damaged / "damage.json").read_text())["flipped_offset"]
    reader = RecordReader(damaged / "flipped-byte.wandb")
    got = list(reader.records())
    clean = list(RecordReader(next((DATA / f"wandb{version}" / "full").glob(
        "*.wandb"))).records())
    block = flipped_at // 32768
    lost = [off for off, _ in clean if (off, _) not in got]
    # Lost: the records that begin in the damaged block, or begin before it and end in it.
    assert lost and all(off // 32768 in (block - 1, block) for off in lost)
    assert [r for r in clean if r[0] // 32768 > block] == [r for r in got
                                                          if r[0] // 32768 > block]
    assert any("checksum mismatch" in p for p in reader.problems), reader.problems
    assert any(f"offset {block * 32768}" in p or "offset " in p for p in reader.problems)


def test_truncation_at_every_offset_yields_a_prefix() -> None:
    data = next((DATA / "wandb031" / "failed").glob("*.wandb")).read_bytes()
    whole = list(RecordReader(Path("x"), buf=data).records())
    for cut in range(7, len(data) + 1):
        reader = RecordReader(Path("x"), buf=data[:cut])
        got = list(reader.records())
        assert got == whole[:len(got)]
        if not reader.problems:  # a clean end: at a record boundary (or in a trailer)
            assert not any(data[reader.end_offset:cut])
        else:
            assert all("torn tail" in p and "offset" in p for p in reader.problems)


def test_not_a_wandb_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "run-x.wandb"
    bad.write_bytes(b"hello, world")
    with pytest.raises(WandbFormatError, match=r"not a \.wandb file"):
        import_wandb([bad], tmp_path / "root")
    with pytest.raises(WandbFormatError, match="no such file"):
        import_wandb([tmp_path / "missing"], tmp_path / "root")


def test_cli_import_then_show(tmp_path: Path) -> None:
    root = tmp_path / "root"
    exe = [str(Path(sys.executable).parent / "flightlog")]
    done = subprocess.run([*exe, "import", "wandb", str(DATA / "wandb031" / "failed"), "-o",
                           str(root)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wandb golden/" in done.stdout and "3 points" in done.stdout
    (run_dir,) = [p for p in (root / "golden").iterdir() if p.is_dir()]
    shown = subprocess.run([*exe, "show", str(run_dir)], capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "golden-failed" in shown.stdout and "loss" in shown.stdout


def _frame(records: list[bytes]) -> bytes:
    """A .wandb file as the format's writers lay it out (wandb_records' docstring)."""
    import struct
    import zlib

    out = bytearray(b":W&B\xe1\xbe\x00")
    for rec in records:
        first = True
        while True:
            left = 32768 - len(out) % 32768
            if left < 7:
                out += bytes(left)
                continue
            piece, rec = rec[:left - 7], rec[left - 7:]
            kind = (1 if not rec else 2) if first else (4 if not rec else 3)
            out += struct.pack("<IHB", zlib.crc32(bytes([kind]) + piece), len(piece), kind)
            out += piece
            first = False
            if not rec:
                break
    return bytes(out)


def test_first_middle_last_across_blocks_and_damage_in_one_block() -> None:
    records = [b"a" * 100, bytes(range(256)) * 300, b"b" * 32754, b"c" * 10, b"d" * 5]
    data = _frame(records)
    assert data[7 + 6] == 1 and data[7 + 107 + 6] == 2  # FULL, then FIRST
    assert 3 in {data[32768 + 6], data[65536 + 6]}       # a MIDDLE chunk
    got = RecordReader(Path("v"), buf=data)
    assert [r for _, r in got.records()] == records and not got.problems
    # An impossible chunk type in the first block: its records are lost, with a report;
    # the 76,800-byte record that began there is dropped at its tail, not half-yielded.
    bad = bytearray(data)
    bad[7 + 6] = 9
    reader = RecordReader(Path("v"), buf=bytes(bad))
    assert [r for _, r in reader.records()] == records[2:]
    assert reader.problems[0] == "v: impossible chunk (type 9, length 100); skipped " \
        "32761 bytes to the next block at offset 7"
    # A zeroed block (preallocated space) is skipped silently.
    zeroed = data[:32768] + bytes(32768) + data[65536:]
    reader = RecordReader(Path("v"), buf=zeroed)
    assert next(r for _, r in reader.records()) == records[0]
    assert all("offset" in p for p in reader.problems)


def test_typed_history_values_of_the_031_schema() -> None:
    """0.31's HistoryItem also has typed fields (none 3, boolean 4, integer 5 sint64,
    number 6 double, text 7, json 8); wandb 0.31.0 itself still writes value_json, so
    these bytes are built from wandb_internal.proto's field numbers."""
    import struct

    from flightlog.importers.wandb_proto import decode_item

    key = b"\x0a\x01k"
    assert decode_item(key + b"\x28\x05").value == -3            # zigzag(5) = -3
    assert decode_item(key + b"\x31" + struct.pack("<d", 0.1)).value == 0.1
    assert decode_item(key + b"\x20\x01").value is True
    assert decode_item(key + b"\x3a\x02hi").value == "hi"
    assert decode_item(key + b"\x42\x07[1,2,3]").value == [1, 2, 3]
    assert decode_item(key + b"\x18\x00").value is None
    assert decode_item(b"\x12\x01a\x12\x01b\x82\x01\x03NaN").path == ("a", "b")
