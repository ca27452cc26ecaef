"""The runner's pieces without a child process: line splitting, the channel's checks,
snapshot caps and ignore files, credentials in git remotes, the environment allow-list."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.records import RecordType

from flightlog.errors import SnapshotTooLarge
from flightlog.runner import default_project, environment, snapshot
from flightlog.runner.channel import ChannelReceiver
from flightlog.runner.console import MAX_LINE_BYTES, LineSplitter


def _texts(splitter: LineSplitter, *chunks: bytes) -> list[tuple[str, bool]]:
    out = []
    for i, chunk in enumerate(chunks):
        out += splitter.feed(chunk, float(i))
    out += splitter.close(99.0)
    return [(line.text, line.overwritten) for line in out]


def test_progress_bar_keeps_final_state_and_throttled_samples() -> None:
    bar = b"".join(b"\r%d%%" % p for p in range(301))
    # One chunk per second of the clock: one sample every 10 s of redraws at most.
    chunks = [bar[i:i + 40] for i in range(0, len(bar), 40)] + [b"\n", b"next\n"]
    lines = _texts(LineSplitter(sample_every=10.0), *chunks)
    finals = [t for t, over in lines if not over]
    assert finals == ["300%", "next"]
    assert 0 < sum(over for _, over in lines) <= len(chunks) // 10 + 1


def test_crlf_chunk_boundaries_long_lines_and_unterminated_tail() -> None:
    lines = _texts(LineSplitter(), b"a\r", b"\nb", b"c\r\n", b"x" * (MAX_LINE_BYTES + 5),
                   b"\n", b"tail\rlast")
    assert [t for t, _ in lines] == ["a", "bc", "x" * MAX_LINE_BYTES, "xxxxx", "last"]


def test_channel_drops_malformed_and_runner_only_records() -> None:
    r, w = os.pipe()
    got: list[int] = []
    receiver = ChannelReceiver(r, lambda payload, kind: got.append(kind))
    good = pack_record(RecordType.METRIC, {"key": "a", "value": 1, "time": 0.0})
    segment = pack_record(RecordType.SEGMENT, {"run": "x", "index": 0})
    sent = b"".join(struct.pack("<I", len(payload)) + payload
                    for payload in (good, segment, b"\x92\x01", good))
    sent += struct.pack("<I", 1 << 30)  # a length no record has: nothing after it is read
    sent += struct.pack("<I", len(good)) + good
    # One write (well under the pipe's buffer): the receiver closes its end once it sees
    # the bad length, so a later write of ours could meet a closed pipe.
    os.write(w, sent)
    os.close(w)
    receiver.stop(grace=10)
    assert got == [int(RecordType.METRIC)] * 2 and receiver.rejected == 3


def test_snapshot_over_the_file_cap_names_the_largest_directories(tmp_path: Path) -> None:
    (tmp_path / "venv").mkdir()
    for i in range(5):
        (tmp_path / "venv" / f"m{i}.py").write_text("x")
    (tmp_path / "train.py").write_text("x")
    with pytest.raises(SnapshotTooLarge, match=r"6 files .*venv/ \(5 files\)"):
        snapshot.collect(tmp_path, max_files=3)
    (tmp_path / ".flightlogignore").write_text("venv/\n")
    assert [f.path for f in snapshot.collect(tmp_path, max_files=3)] == [
        ".flightlogignore", "train.py"]


def test_nested_gitignore_and_negation(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\n__cache/\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("!keep.log\nsecret.txt\n")
    for name in ("a.log", "sub/keep.log", "sub/drop.log", "sub/secret.txt", "sub/ok.py"):
        (tmp_path / name).write_text("x")
    (tmp_path / "__cache").mkdir()
    (tmp_path / "__cache" / "x.py").write_text("x")
    paths = [f.path for f in snapshot.collect(tmp_path)]
    assert paths == [".gitignore", "sub/.gitignore", "sub/keep.log", "sub/ok.py"]


def test_identical_snapshots_store_one_copy(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("same")
    (tmp_path / "src" / "b.py").write_text("same")
    run_dir = tmp_path / "run"
    first = snapshot.store(run_dir, snapshot.collect(tmp_path / "src"))
    second = snapshot.store(run_dir, snapshot.collect(tmp_path / "src"))
    assert first[0]["sha256"] == second[0]["sha256"] and len(first[0]["blobs"]) == 1
    stored = [p for p in (run_dir / "files").rglob("*") if p.is_file()]
    assert len(stored) == 2  # the content once, the manifest once


@pytest.mark.parametrize(("url", "clean"), [
    ("https://alice:tok@github.com/a/b.git", "https://github.com/a/b.git"),
    ("https://tok@host/x", "https://host/x"),
    ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ("ssh://git:pw@host:22/x", "ssh://host:22/x"),
])
def test_remote_credentials_stripped(url: str, clean: str) -> None:
    assert environment.strip_credentials(url) == clean


def test_environment_takes_allow_listed_variables_only(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("WANDB_API_KEY", "hunter3")
    facts, patch, packages = environment.collect(["no-such-tool-x"], tmp_path, None, None)
    assert facts["env"]["SLURM_JOB_ID"] == "4242"
    assert facts["job"] == {"scheduler": "slurm", "id": "4242"}
    assert "hunter" not in repr(facts) and patch == b"" and packages == []


def test_default_project_is_the_scripts_name() -> None:
    assert default_project(["python", "-u", "src/train.py", "--lr", "1"]) == "train"
    assert default_project(["python3.11", "-c", "pass"]) == "run"
    assert default_project(["./my tool"]) == "my-tool"
    assert time.time() > 0
