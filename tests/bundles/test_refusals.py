"""Bundles and receipts that are not what they claim: refused before anything is imported
or deleted, with a message naming the member and the byte offset."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from syncd_helpers import make_run

from flightlog.bundles.ledger import LedgerStore
from flightlog.bundles.verify import open_bundle
from flightlog.bundles.write import make_bundle
from flightlog.cli import main


@pytest.fixture
def made(tmp_path: Path) -> Path:
    attached = tmp_path / "a.bin"
    attached.write_bytes(b"attached" * 1000)
    # Random columns (width) do not compress: several 4 KiB segments whatever the timing.
    make_run(tmp_path / "root", "r1", 3000, files={"a.bin": attached}, segment_bytes=4096,
             width=4)
    result = make_bundle([tmp_path / "root"], tmp_path / "disk", destination="site",
                         store=LedgerStore(tmp_path / "ledgers"))
    assert result.path is not None
    return result.path


def _refused(capsys: pytest.CaptureFixture[str], bundle: Path, data: Path,
             *words: str) -> str:
    code = main(["import", str(bundle), "--data", str(data), "-o", str(data.parent / "r")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "REFUSED" in out and "nothing of it was imported" in out
    for word in words:
        assert word in out, out
    assert not (data / "runs").exists() or not any((data / "runs").iterdir())
    return out


def _append(bundle: Path, info: tarfile.TarInfo, data: bytes = b"") -> None:
    # Rewrite the archive with one more member (tarfile's append mode needs no end blocks).
    with tarfile.open(bundle, "a") as tar:
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def test_a_foreign_tar_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "other.tar"
    with tarfile.open(foreign, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    _refused(capsys, foreign, tmp_path / "data", "no member manifest.json")
    not_tar = tmp_path / "random.flbundle"
    not_tar.write_bytes(b"\x00\x01garbage" * 100)
    _refused(capsys, not_tar, tmp_path / "data", "offset")


@pytest.mark.parametrize("kind", ["extra", "symlink", "absolute", "executable"])
def test_members_the_manifest_does_not_vouch_for(made: Path, tmp_path: Path, kind: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    last = open_bundle(made).entry("manifest.sha256")
    info = tarfile.TarInfo({"extra": "frames/p/r1/00000009-999.frames",
                            "symlink": "files/link", "absolute": "/etc/cron.d/evil",
                            "executable": "run.sh"}[kind])
    data = b"#!/bin/sh\n"
    info.size = len(data)
    if kind == "symlink":
        info.type, info.linkname, info.size = tarfile.SYMTYPE, "/etc/passwd", 0
    if kind == "executable":
        info.mode = 0o755
    _append(made, info, data)
    out = _refused(capsys, made, tmp_path / "data", "offset")
    assert info.name[:20] in out
    offset = int(out.split("offset ")[1].split(":")[0].split(",")[0])
    assert offset >= last.data_offset + last.size  # the appended member's header


def test_an_edited_manifest_is_refused(made: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    opened = open_bundle(made)
    entry = opened.entry("manifest.json")
    raw = bytearray(made.read_bytes())
    manifest = bytes(raw[entry.data_offset:entry.data_offset + entry.size])
    edited = manifest.replace(b'"first_seq": 0', b'"first_seq": 1', 1)
    assert edited != manifest and len(edited) == len(manifest)
    raw[entry.data_offset:entry.data_offset + entry.size] = edited
    made.write_bytes(bytes(raw))
    out = _refused(capsys, made, tmp_path / "data", "manifest.json",
                   f"offset {entry.data_offset}", "does not match manifest.sha256")
    assert "damaged or edited" in out


def test_a_consistent_forgery_cannot_name_paths(made: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A manifest rewritten with its digest recomputed still cannot make a member name a
    path: every name must be the canonical one built from checked fields."""
    with tarfile.open(made) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    doc = json.loads(members["manifest.json"])
    part = doc["runs"][0]["parts"][0]
    old = part["member"]
    part["member"] = "../../../tmp/evil.frames"
    for m in doc["members"]:
        if m["name"] == old:
            m["name"] = part["member"]
    members[part["member"]] = members.pop(old)
    members["manifest.json"] = json.dumps(doc).encode()
    members["manifest.sha256"] = (hashlib.sha256(members["manifest.json"]).hexdigest()
                                  + "  manifest.json\n").encode()
    forged = tmp_path / "forged.flbundle"
    with tarfile.open(forged, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _refused(capsys, forged, tmp_path / "data", "offset")
    assert not (tmp_path.parent / "tmp" / "evil.frames").exists()


def test_receipts_that_cannot_be_trusted_prune_nothing(
        made: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, back = tmp_path / "data", tmp_path / "back"
    assert main(["import", str(made), "--data", str(data), "-o", str(back)]) == 0
    (receipt,) = back.glob("*.json")
    segments = sorted((tmp_path / "root" / "p" / "r1" / "log").iterdir())
    assert len(segments) >= 2
    doc = json.loads(receipt.read_text())
    doc["runs"][0]["next_seq"] += 1000  # more than the run has: edited
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["prune", str(tmp_path / "root"), "--acked-by", str(edited)]) == 1
    assert "does not match" in capsys.readouterr().err
    # The same claim with its digest recomputed: a receipt of some other run "r1".
    from flightlog.bundles.receipt import canonical

    doc.pop("sha256")
    doc["sha256"] = hashlib.sha256(canonical(doc)).hexdigest()
    edited.write_text(json.dumps(doc))
    assert main(["prune", str(tmp_path / "root"), "--acked-by", str(edited)]) == 1
    assert "not this run's receipt" in capsys.readouterr().out
    assert sorted((tmp_path / "root" / "p" / "r1" / "log").iterdir()) == segments
    # The true receipt prunes every segment but the last.
    assert main(["prune", str(tmp_path / "root"), "--acked-by", str(receipt)]) == 0
    assert sorted((tmp_path / "root" / "p" / "r1" / "log").iterdir()) == segments[-1:]


def test_import_of_other_trackers_is_routed_apart(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "wandb", "some/run"]) == 2
    assert "wandb" in capsys.readouterr().err
    assert main(["import", "x.flbundle"]) == 2  # neither --server nor --data: usage
    assert "exactly one of --server URL or --data DIR" in capsys.readouterr().err


# Reading a copy with a declared gap warns of it (the gap is real: the records are lost).
@pytest.mark.filterwarnings("ignore:.*sequence gap")
def test_records_the_sender_lost_are_declared_not_waited_for(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A frame damaged in the sender's log: the bundle declares its records lost, the
    import commits past exactly that hole (exit 0, reported), and nothing else is missing."""
    from flightlog.format.reader import RunLogReader
    from flightlog.format.segment import SegmentTail, list_segments

    run_dir = make_run(tmp_path / "root", "dmg", 2000, segment_bytes=4096, width=4)
    _, path = list_segments(run_dir)[1]
    frames = SegmentTail(path).poll()
    victim = frames[1]
    raw = bytearray(path.read_bytes())
    raw[victim.offset + 28 + len(victim.payload) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    result = make_bundle([tmp_path / "root"], tmp_path / "disk", destination="site",
                         store=LedgerStore(tmp_path / "ledgers"))
    assert result.path is not None and result.manifest is not None
    assert result.manifest.runs[0].lost == [(victim.first_seq, victim.last_seq)]
    data = tmp_path / "data"
    assert main(["import", str(result.path), "--data", str(data), "-o",
                 str(tmp_path / "back")]) == 0
    out = capsys.readouterr().out
    assert f"records {victim.first_seq}" in out and "lost to corruption" in out
    ours = RunLogReader(data / "runs" / "p" / "dmg").poll()
    theirs = RunLogReader(run_dir).poll()
    assert [(r.seq, r.type, r.body) for r in ours] == [(r.seq, r.type, r.body) for r in theirs]


def test_a_damaged_tar_header_is_refused_at_its_offset(
        made: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tarfile alone would take a damaged header for the end of the archive."""
    second = list(open_bundle(made).entries.values())[1]
    raw = bytearray(made.read_bytes())
    raw[second.header_offset + 10] ^= 0x20  # inside the name: the header checksum fails
    made.write_bytes(bytes(raw))
    _refused(capsys, made, tmp_path / "data", f"offset {second.header_offset}",
             "damaged tar header")


def test_uploads_begun_during_verification_never_complete_a_refused_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Attached files go up while a bundle is verified, but only their last block makes
    them exist: a damaged copy leaves no file behind, and the intact copy then imports."""
    import os

    attached = tmp_path / "big.bin"
    attached.write_bytes(os.urandom(10 << 20))
    sha = hashlib.sha256(attached.read_bytes()).hexdigest()
    make_run(tmp_path / "root", "big", 50, files={"big.bin": attached})
    made = make_bundle([tmp_path / "root"], tmp_path / "disk", destination="site",
                       store=LedgerStore(tmp_path / "ledgers")).path
    assert made is not None
    entry = open_bundle(made).entry(f"files/sha256/{sha[:2]}/{sha[2:]}")
    damaged = tmp_path / "damaged.flbundle"
    raw = bytearray(made.read_bytes())
    raw[entry.data_offset + 100] ^= 0xFF  # in the first block, which goes up ahead
    damaged.write_bytes(bytes(raw))
    data = tmp_path / "data"
    out = _refused(capsys, damaged, data, entry.name, f"offset {entry.data_offset}")
    assert "does not match its SHA-256" in out
    assert not (data / "blobs" / "sha256" / sha[:2] / sha[2:]).exists()
    assert main(["import", str(made), "--data", str(data), "-o", str(tmp_path / "r")]) == 0
    stored = data / "blobs" / "sha256" / sha[:2] / sha[2:]
    assert stored.read_bytes() == attached.read_bytes()
