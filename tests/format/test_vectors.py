"""The frozen vectors of tests/vectors (SPEC.md §16) against the reader, verify and dump."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flightlog.format._columns import decode_history, encode_body
from flightlog.format._constants import FORMAT_MINOR
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.reader import RunLogReader, decode_frame
from flightlog.format.segment import SegmentTail
from flightlog.format.state import RunState
from vector_state import EXECUTION_FIELDS, LATER_FIELDS, derived_state, finding_form, jsonable

import flightlog.errors
from flightlog.cli import main
from flightlog.errors import UnsupportedVersion

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SPEC = Path(__file__).resolve().parents[2] / "SPEC.md"
# Released with format 1.0 and 1.1: frozen, their facts have no derived state.
FROZEN_CASES = ["frame/ok-3-records", "frame/torn-tail", "frame/bad-length-crc",
                "frame/bad-payload-crc", "frame/unknown-type", "frame/zstd-payload",
                "header/future-major", "history/chunk", "record/chart-media"]
# Format 1.2: segment files whose facts also state the derived run ("state").
CASES_1_2 = ["header/bad-crc", "frame/corrupt-payload", "frame/resync-skipped",
             "frame/oversized-at-end", "history/column-types", "record/get-metrics",
             "record/bad-sha256-name", "record/bad-body", "record/config-tags",
             "record/arrow-chart-media", "history/histogram-kinds"]
# Format 1.3: the records of SPEC.md §19; their "state" also has the §19 fields.
CASES_1_3 = ["record/what-ran", "history/histogram-rules", "record/bad-history",
             "record/code-unsafe-path", "frame/sequence-overlap", "record/table-versions",
             "record/chart-specs", "record/table-limits"]
SPEC_CASES = FROZEN_CASES + CASES_1_2 + CASES_1_3
# Format 1.2: whole run directories, run/<case>/ beside run/<case>.json.
RUN_CASES = ["run/resume-config", "run/resume-crashed", "run/no-run-record",
             "run/header-only-segment", "run/killed-then-resumed", "run/torn-endings",
             "run/pruned", "run/pruned-interrupted"]
# Format 1.3 run directories: their "state" also has the §19 fields.
RUN_CASES_1_3 = ["run/killed-then-resumed", "run/torn-endings", "run/pruned",
                 "run/pruned-interrupted"]
STATE_CASES = CASES_1_2 + CASES_1_3 + RUN_CASES
RECORD_KINDS = ("BadRecord", "BadAttachedName")  # found deriving the state, not reading


def _facts(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))


def _bin(name: str) -> Path:
    return VECTORS / f"{name}.bin"


def _decoded(body: dict[str, Any]) -> dict[str, Any]:
    chunk = decode_history(body)
    return {"rows": chunk.rows, "step": jsonable(chunk.steps),
            "time": jsonable(chunk.times),
            "columns": {k: {"kind": c.kind,
                            "present": None if c.present is None else jsonable(c.present),
                            "values": jsonable(c.values if isinstance(c.values, np.ndarray)
                                                else list(c.values))}
                        for k, c in chunk.columns.items()}}


def _run_dir(tmp_path: Path, name: str) -> tuple[Path, Path]:
    run = tmp_path / "run"
    (run / "log").mkdir(parents=True)
    seg = run / "log" / "00000000.flseg"
    shutil.copyfile(_bin(name), seg)
    for sha, content in _facts(name).get("attached", {}).items():
        blob = run / "files" / "sha256" / sha[:2] / sha[2:]
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(bytes.fromhex(content))
    return run, seg


def _run_tree(tmp_path: Path, name: str) -> Path:
    """A copy of the run-directory vector ``name`` at ``<tmp>/run/<case>`` (its project
    and id, when no run record says them, are those directory names)."""
    run = tmp_path / "run" / name.split("/")[1]
    shutil.copytree(VECTORS / name, run)
    return run


def _state_run(tmp_path: Path, name: str) -> Path:
    return _run_tree(tmp_path, name) if name in RUN_CASES else _run_dir(tmp_path, name)[0]


def _same_keys(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``got`` cut to the keys of ``want`` (the frozen vectors state kind and offset only)."""
    return [{k: g.get(k) for k in w} for g, w in zip(got, want, strict=False)]


def _expected_exit(facts: dict[str, Any], *, sequence_checked: bool) -> int:
    if sequence_checked and "verify_exit" in facts:
        return int(facts["verify_exit"])
    if facts["fatal"]:
        return 1
    kinds = {f["kind"] for f in facts["findings"]}
    if not sequence_checked:
        kinds.discard("SequenceError")
    return 1 if kinds else 0


# ---------------------------------------------------------------- the set itself


def _own_sections() -> list[Path]:
    """The folders of generate.py's vectors: a folder with a SHA256SUMS of its own is
    another set (the sync bundles), with its own generator and pins."""
    return [d for d in VECTORS.iterdir() if d.is_dir() and d.name != "__pycache__"
            and not (d / "SHA256SUMS").exists()]


def _vector_files() -> list[str]:
    """Every file of generate.py's vector set (not the generator, README, SHA256SUMS)."""
    return sorted(str(p.relative_to(VECTORS)) for d in _own_sections() for p in d.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_vector_set_is_the_one_spec_lists() -> None:
    found = sorted(str(p.relative_to(VECTORS).with_suffix("")) for d in _own_sections()
                   for p in d.glob("*.json"))
    assert found == sorted(SPEC_CASES + RUN_CASES)
    assert sorted(str(p.relative_to(VECTORS).with_suffix("")) for d in _own_sections()
                  for p in d.glob("*.bin")) == sorted(SPEC_CASES)
    listed = re.findall(r"`([a-z]+/[a-z0-9-]+)`", SPEC.read_text(encoding="utf-8")
                        .split("## 16. Test vectors")[1].split("## 17.")[0])
    assert sorted(set(listed)) == sorted(SPEC_CASES + RUN_CASES)
    for name in RUN_CASES:
        assert (VECTORS / name / "log").is_dir()
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    for name in SPEC_CASES + RUN_CASES:
        assert f"`{name}`" in readme, name


def test_vectors_are_frozen() -> None:
    sums = (VECTORS / "SHA256SUMS").read_text().split("\n")
    pinned = dict(reversed(line.split("  ", 1)) for line in sums if line)
    assert sorted(pinned) == _vector_files()
    for name, digest in pinned.items():
        assert hashlib.sha256((VECTORS / name).read_bytes()).hexdigest() == digest, name


def test_vector_facts_are_consistent() -> None:
    for name in SPEC_CASES:
        facts = _facts(name)
        assert facts["file_size"] == _bin(name).stat().st_size
        seqs = [r["seq"] for r in facts["records"]]
        assert seqs == sorted(set(seqs))
        frame_offsets = {f["offset"] for f in facts["frames"]}
        assert {r["offset"] for r in facts["records"]} <= frame_offsets


# ---------------------------------------------------------------- the reader


@pytest.mark.parametrize("name", SPEC_CASES)
def test_run_reader_returns_vector_records_and_findings(tmp_path: Path, name: str) -> None:
    facts = _facts(name)
    run, seg = _run_dir(tmp_path, name)
    reader = RunLogReader(run)
    if facts["fatal"]:
        with pytest.raises(UnsupportedVersion) as info:
            reader.poll()
        assert type(info.value).__name__ == facts["fatal"]["kind"]
        assert info.value.offset == facts["fatal"]["offset"]
        assert info.value.path == str(seg)
        assert info.value.found == tuple(facts["version"])
        assert info.value.supported == (1, 3)
        return
    records = reader.poll()
    got = [{"seq": r.seq, "type": r.type, "offset": r.offset, "body": jsonable(r.body)}
           for r in records]
    want = [{k: v for k, v in r.items() if k != "decoded"} for r in facts["records"]]
    assert got == want
    assert all(r.segment == 0 for r in records)
    assert len(reader.findings) == len(facts["findings"])
    assert _same_keys([finding_form(f) for f in reader.findings], facts["findings"]
                      ) == facts["findings"]
    assert all(f.path == str(seg) and f.error.path == str(seg) for f in reader.findings)
    assert all(f.error.offset == f.offset for f in reader.findings)
    assert reader.torn_tails() == ([(str(seg), facts["torn_offset"])] if facts["torn"]
                                   else [])
    # Nothing more to read: a second poll returns nothing and finds nothing new.
    assert reader.poll() == []
    assert len(reader.findings) == len(facts["findings"])


@pytest.mark.parametrize("name", SPEC_CASES)
def test_strict_reader_raises_the_firstfinding_form(tmp_path: Path, name: str) -> None:
    facts = _facts(name)
    run, seg = _run_dir(tmp_path, name)
    first = facts["fatal"] or (facts["findings"][0] if facts["findings"] else None)
    if first is None:
        assert len(RunLogReader(run, strict=True).poll()) == len(facts["records"])
        return
    cls = getattr(flightlog.errors, first["kind"])
    with pytest.raises(cls) as info:
        RunLogReader(run, strict=True).poll()
    assert type(info.value) is cls
    assert info.value.offset == first["offset"]
    assert info.value.path == str(seg)


@pytest.mark.parametrize("name", SPEC_CASES)
def test_segment_tail_and_decode_frame_match_vector(name: str) -> None:
    facts = _facts(name)
    path = _bin(name)
    errors: list[flightlog.errors.FormatError] = []
    tail = SegmentTail(path, errors.append)
    if facts["fatal"]:
        with pytest.raises(UnsupportedVersion) as info:
            tail.poll()
        assert info.value.offset == facts["fatal"]["offset"]
        return
    frames = tail.poll()
    records = []
    intact = []
    for frame in frames:
        try:
            decoded = decode_frame(frame, path=str(path))
            intact.append(frame)
            # Each sequence number once, from the frame read first (SPEC.md §4.2).
            records.extend(r for r in decoded if not records or r.seq > records[-1].seq)
        except flightlog.errors.CorruptPayload as exc:  # SPEC.md §5 rule 6
            errors.append(exc)
    assert [{"offset": f.offset, "first_seq": f.first_seq, "record_count": f.record_count,
             "flags": f.flags, "payload_len": len(f.payload)} for f in intact] == facts["frames"]
    assert [{"seq": r.seq, "type": r.type, "offset": r.offset, "body": jsonable(r.body)}
            for r in records] == [{k: v for k, v in r.items() if k != "decoded"}
                                  for r in facts["records"]]
    frame_level = [f for f in facts["findings"] if f["kind"] != "SequenceError"]
    errors.sort(key=lambda e: e.offset or 0)
    got = [{"kind": type(e).__name__, "segment": 0, "offset": e.offset,
            "skipped": list(e.skipped) if e.skipped else None} for e in errors]
    assert _same_keys(got, frame_level) == frame_level
    assert tail.torn is facts["torn"]
    if any(f["kind"] == "BadFileHeader" for f in facts["findings"]):
        # The header's version is not trusted: frames are read as the reader's newest 1.x
        # minor (SPEC.md §3.1), which the frozen vector recorded as 1.2 when it was made.
        assert tuple(facts["version"]) == (1, 2) and tail.version == (1, FORMAT_MINOR)
    else:
        assert tail.version == tuple(facts["version"])
    if facts["torn"]:
        assert tail.position == facts["torn_offset"]
    else:
        assert tail.position == facts["file_size"]
    assert tail.poll() == []
    assert len(errors) == len(frame_level)


def test_history_vector_decodes_to_its_columns() -> None:
    facts = _facts("history/chunk")
    frames = SegmentTail(_bin("history/chunk")).poll()
    history = [r for f in frames for r in decode_frame(f) if r.type == 3]
    assert len(history) == 1
    want = [r["decoded"] for r in facts["records"] if r["type"] == 3]
    assert [_decoded(history[0].body)] == want
    chunk = decode_history(history[0].body)
    # The exact IEEE bits survive: NaN payload and the sign of the infinity.
    assert chunk.columns["loss"].values.view("<u8").tolist() == [
        0x3FE0000000000000, 0x7FF8000000000ABC, 0xFFF0000000000000]
    assert chunk.columns["epoch"].values.tolist() == [-(2**63), 0, 2**63 - 1]
    assert chunk.columns["lr"].present.tolist() == [0, 2]
    # Encoding the decoded chunk again gives the frozen record bytes.
    raw = frames[1].payload
    assert pack_record(3, encode_body(chunk)) == raw


def test_history_vector_builds_the_run_history() -> None:
    frames = SegmentTail(_bin("history/chunk")).poll()
    state = RunState()
    for frame in frames:
        for record in decode_frame(frame):
            state.apply(record)
    assert state.bad_records == []
    table = state.history()
    assert table.column("_step").to_pylist() == [0, 1, 2]
    assert table.column("epoch").to_pylist() == [-(2**63), 0, 2**63 - 1]
    assert table.column("ok").to_pylist() == [True, False, True]
    assert table.column("lr").to_pylist() == [0.1, None, 0.001]
    loss = table.column("loss").to_pylist()
    assert loss[0] == 0.5 and math.isnan(loss[1]) and loss[2] == -math.inf


def test_unknown_type_is_skipped_not_corruption(tmp_path: Path) -> None:
    facts = _facts("frame/unknown-type")
    run, _ = _run_dir(tmp_path, "frame/unknown-type")
    reader = RunLogReader(run)
    state = RunState()
    records = reader.poll()
    for record in records:
        state.apply(record)
    assert reader.findings == []
    assert [r.type for r in records if r.type not in range(1, 14)] == facts["unknown_types"]
    assert state.unknown_records == 1
    assert state.bad_records == []
    assert state.metrics == {"loss": [0.5]}
    assert state.exit_code == 0


def test_zstd_vector_frame_is_compressed() -> None:
    facts = _facts("frame/zstd-payload")
    assert [f["flags"] for f in facts["frames"]] == [0, 1, 0]
    data = _bin("frame/zstd-payload").read_bytes()
    zframe = facts["frames"][1]
    payload = data[zframe["offset"] + 28: zframe["offset"] + 28 + zframe["payload_len"]]
    assert payload[:4] == bytes.fromhex("28b52ffd")  # zstd frame magic
    raw_len = sum(len(pack_record(r["type"], r["body"])) for r in facts["records"][1:4])
    assert zframe["payload_len"] < raw_len


# ---------------------------------------------------------------- CLI


@pytest.mark.parametrize("name", SPEC_CASES)
def test_verify_exit_code(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
                          ) -> None:
    facts = _facts(name)
    run, _ = _run_dir(tmp_path, name)
    assert main(["verify", str(_bin(name))]) == _expected_exit(facts, sequence_checked=False)
    out = capsys.readouterr().out
    if facts["torn"]:
        assert f"offset {facts['torn_offset']}: torn tail" in out
    assert main(["verify", str(run)]) == _expected_exit(facts, sequence_checked=True)
    out = capsys.readouterr().out
    for finding in facts["findings"]:
        assert f"offset {finding['offset']}: " in out
    for finding in facts.get("state", {}).get("findings", []):
        assert f": {finding['kind']}: " in out  # the kind of SPEC.md §5.2, by name
    if facts["fatal"]:
        assert "segment format 2.0" in out
    elif not facts["findings"] and not facts.get("verify_exit"):
        seqs = [r["seq"] for r in facts["records"]]
        assert f"{len(seqs)} records, seq {seqs[0]}..{seqs[-1]}" in out
        assert "CORRUPT" not in out
    if facts["unknown_types"]:
        assert f"{len(facts['unknown_types'])} records of unknown types (skipped)" in out
    if facts["torn"]:
        assert f"offset {facts['torn_offset']}: torn tail" in out


@pytest.mark.parametrize("name", SPEC_CASES)
def test_dump_prints_vector_records(tmp_path: Path, name: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    facts = _facts(name)
    run, _ = _run_dir(tmp_path, name)
    want = [{"seq": r["seq"], "type": r["type"], "offset": r["offset"],
             "body": r.get("decoded", r["body"])} for r in facts["records"]]
    for target, sequence_checked in ((_bin(name), False), (run, True)):
        code = main(["dump", str(target)])
        out, err = capsys.readouterr()
        if facts["fatal"]:
            # Not corruption and not a usage error; today dump reports it as an error.
            assert code != 0
            assert "segment format 2.0" in err
            continue
        lines = [json.loads(line) for line in out.splitlines()]
        if not sequence_checked:  # a segment file alone: every frame's records, so a
            # frame that repeats sequence numbers (an overlap) prints them again
            lines = [ln for i, ln in enumerate(lines)
                     if all(ln["seq"] > before["seq"] for before in lines[:i])]
        assert [{k: line[k] for k in ("seq", "type", "offset", "body")} for line in lines
                ] == want
        # dump reads frames and records; what deriving the state finds is verify's.
        reported = [f for f in facts["findings"]
                    if sequence_checked or f["kind"] != "SequenceError"]
        assert code == (1 if reported else 0)
        assert err.count("CORRUPT") == len(reported)
        for finding in reported:
            assert f"offset {finding['offset']}: " in err


# ---------------------------------------------------------------- the generator


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("fl_vectors_generate",
                                                  VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_frozen_vectors() -> None:
    built = _generator().build_vectors()
    assert sorted(built) == sorted(SPEC_CASES)
    for name, (data, facts) in built.items():
        assert facts == _facts(name), name
        if name != "frame/zstd-payload":  # zstd's exact output may change with its version
            assert data == _bin(name).read_bytes(), name
    assert sorted(_generator().build_run_vectors()) == sorted(RUN_CASES)


def test_regenerating_the_vectors_changes_nothing(tmp_path: Path) -> None:
    # generate.py run as a program into an empty directory: every file it writes is
    # byte-identical to the checked-in one (the bundle vectors of SPEC.md §18.8 too), and
    # it writes no other file (CI runs this).
    out = tmp_path / "vectors"
    result = subprocess.run([sys.executable, str(VECTORS / "generate.py"), "--out", str(out)],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _differences(out) == []
    # Run again on its own output (the same bytes): nothing to write, nothing refused.
    again = subprocess.run([sys.executable, str(VECTORS / "generate.py"), "--out",
                            str(out)], capture_output=True, text=True, check=False,
                           timeout=300)
    assert again.returncode == 0 and "wrote" not in again.stdout
    # The check can fail: one changed byte, one file more or one less is each found.
    changed = out / "frame" / "ok-3-records.bin"
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0x01
    changed.write_bytes(bytes(data))
    (out / "run" / "resume-config" / "log" / "00000002.flseg").write_bytes(b"")
    (out / "history" / "chunk.json").unlink()
    (out / "bundle" / "receipt.json").write_bytes(b"{}")
    assert _differences(out) == ["bundle/receipt.json", "frame/ok-3-records.bin",
                                 "history/chunk.json", "run/resume-config/log/00000002.flseg"]


def _differences(out: Path) -> list[str]:
    """The vector files that differ between ``out`` (a regenerated set) and the checked-in
    set: changed bytes, or present in only one of them."""
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    bundles = {str(p.relative_to(VECTORS)) for p in (VECTORS / "bundle").iterdir()}
    names = sorted(written | set(_vector_files()) | bundles)
    return [name for name in names if name not in written or not (VECTORS / name).is_file()
            or (out / name).read_bytes() != (VECTORS / name).read_bytes()]


def test_generator_refuses_to_overwrite(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    gen = _generator()
    assert gen.main(["--out", str(tmp_path)]) == 0
    first = (tmp_path / "frame" / "ok-3-records.bin").read_bytes()
    (tmp_path / "frame" / "ok-3-records.bin").write_bytes(b"changed")
    assert gen.main(["--out", str(tmp_path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "frame" / "ok-3-records.bin").read_bytes() == b"changed"
    assert gen.main(["--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "frame" / "ok-3-records.bin").read_bytes() == first


# ---------------------------------------------------------------- SPEC.md §15


def test_ok_3_records_is_the_worked_example() -> None:
    data = _bin("frame/ok-3-records").read_bytes()
    # file header v1.0
    assert data[:12] == bytes.fromhex("89464C5345470D0A 0100 0000")
    # frame 1: the segment record, seq 0, one record, no flags
    assert data[16:20] == bytes.fromhex("D9464C52")
    assert data[28:40] == bytes.fromhex("00" * 8 + "0100 00 00")
    segment_record = (bytes.fromhex("92 01 83 A3") + b"run" + b"\xa8" + b"8c2kq0zd"
                      + b"\xa5" + b"index" + b"\x00" + b"\xa6" + b"writer" + b"\x80")
    assert data[44: 44 + len(segment_record)] == segment_record
    assert int.from_bytes(data[24:28], "little") == len(segment_record) == 0x1F
    # frame 2: first_seq 1, two records, the finish record first
    f2 = 44 + len(segment_record)
    assert data[f2: f2 + 4] == bytes.fromhex("D9464C52")
    assert data[f2 + 12: f2 + 24] == bytes.fromhex("0100000000000000 0200 00 00")
    finish = bytes.fromhex("92 0C 82 A9") + b"exit_code" + b"\x00\xa4time\xcb"
    assert data[f2 + 28: f2 + 28 + len(finish)] == finish


def test_spec_worked_example_hex_is_the_vector_byte_for_byte() -> None:
    # Every hex line of SPEC.md §15's block, fields separated by '|', is the vector.
    section = SPEC.read_text(encoding="utf-8").split("## 15. Worked example")[1]
    block = section.split("```")[1]
    lines = [line.replace("|", " ") for line in block.splitlines()
             if re.fullmatch(r"[0-9A-F]{2}([ |]+[0-9A-F]{2})*", line.strip())]
    stated = bytes.fromhex(" ".join(lines))
    real = _bin("frame/ok-3-records").read_bytes()
    assert stated == real
    assert f"({len(real)} bytes)" in section.split("```")[0]


def test_spec_worked_example_payload_len_matches_encoder() -> None:
    section = SPEC.read_text(encoding="utf-8").split("## 15. Worked example")[1]
    first_frame_line = next(line for line in section.splitlines()
                            if line.startswith("D9 46 4C 52"))
    stated = bytes.fromhex(first_frame_line.split("|")[2])
    real = _bin("frame/ok-3-records").read_bytes()[24:28]
    assert stated == real


# ---------------------------------------------------------------- derived state (SPEC.md §11)


@pytest.mark.parametrize("name", STATE_CASES)
def test_open_run_derives_the_vector_state(tmp_path: Path, name: str) -> None:
    want = _facts(name)["state"]
    got = derived_state(_state_run(tmp_path, name))
    if name not in CASES_1_3 + RUN_CASES_1_3:  # before 1.3 no vector states §19's fields
        got = {k: v for k, v in got.items() if k not in EXECUTION_FIELDS}
    for key in LATER_FIELDS:  # stated only by the vectors that came with them
        if key not in want:
            assert not got.pop(key), key
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert got[key] == value, key
    # Orders are part of the state: summary keys, history and table columns, findings.
    assert list(got["summary"]) == list(want["summary"])
    assert list(got["config"]) == list(want["config"])


@pytest.mark.parametrize("name", RUN_CASES)
def test_run_vector_segments_read_as_stated(tmp_path: Path, name: str) -> None:
    facts = _facts(name)
    run = _run_tree(tmp_path, name)
    reader = RunLogReader(run)
    records = reader.poll()
    want = [dict({k: v for k, v in r.items() if k != "decoded"}, segment=seg["index"])
            for seg in facts["segments"] for r in seg["records"]]
    assert [{"seq": r.seq, "type": r.type, "offset": r.offset, "body": jsonable(r.body),
             "segment": r.segment} for r in records] == want
    assert [finding_form(f) for f in reader.findings] == [
        f for f in facts["state"]["findings"] if f["kind"] not in RECORD_KINDS]
    assert reader.torn_tails() == [(str(run / seg["path"]), seg["torn_offset"])
                                   for seg in facts["segments"] if seg["torn"]]
    for seg in facts["segments"]:
        assert (run / seg["path"]).stat().st_size == seg["file_size"]
        tail = reader.tail(seg["index"])
        # A segment of fewer than 16 bytes has no version yet (SPEC.md §3.1 rule 1).
        assert tail is not None and tail.version == (
            None if seg["version"] is None else tuple(seg["version"]))


@pytest.mark.parametrize("name", RUN_CASES)
def test_verify_of_run_vectors(tmp_path: Path, name: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    facts = _facts(name)
    run = _run_tree(tmp_path, name)
    assert main(["verify", str(run)]) == facts["verify_exit"]
    out = capsys.readouterr().out
    for finding in facts["state"]["findings"]:
        assert f"offset {finding['offset']}: {finding['kind']}: " in out
    for seg in facts["segments"]:
        if seg["torn"]:
            assert f"offset {seg['torn_offset']}: torn tail" in out
        if not seg["frames"]:
            assert f"{seg['path']}: EmptySegment" in out


def test_strict_reader_raises_bad_file_header(tmp_path: Path) -> None:
    run, seg = _run_dir(tmp_path, "header/bad-crc")
    with pytest.raises(flightlog.errors.BadFileHeader) as info:
        RunLogReader(run, strict=True).poll()
    assert info.value.offset == 0 and info.value.path == str(seg)
    assert info.value.skipped == (0, 16)


def test_an_unsafe_code_manifest_restores_nothing(tmp_path: Path) -> None:
    # SPEC.md §19.4: a manifest path with '..' is never used to name a local file.
    run = _run_dir(tmp_path, "record/code-unsafe-path")[0]
    dest = tmp_path / "deep" / "restore"
    with pytest.raises(flightlog.errors.FormatError, match="unsafe path"):
        flightlog.open_run(run).restore_code(dest)
    assert not dest.exists() and not (tmp_path / "escape.py").exists()


def test_spec_worked_example_derived_state_is_open_runs(tmp_path: Path) -> None:
    # SPEC.md §15 states the derived state of its example in words; open_run agrees.
    section = SPEC.read_text(encoding="utf-8").split("## 15. Worked example")[1]
    stated = " ".join(section.split("## 16.")[0].split())
    assert ('The derived state: config and tags empty, summary `{"loss": 0.5}`, status '
            '`finished`, exit code 0, no findings.') in stated
    got = derived_state(_run_dir(tmp_path, "frame/ok-3-records")[0])
    assert (got["config"], got["tags"], got["summary"]) == ({}, {}, {"loss": 0.5})
    assert (got["status"], got["exit_code"], got["findings"]) == ("finished", 0, [])
