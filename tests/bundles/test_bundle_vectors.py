"""The frozen bundle and receipt vectors (SPEC.md §18.8) against the library: verified and
imported as they are, reproduced byte for byte by ``flightlog bundle`` from the same run,
and pinned by their SHA-256."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tarfile
from pathlib import Path
from typing import Any

from flightlog.format.reader import iter_records

from flightlog.bundles.ledger import LedgerStore
from flightlog.bundles.receipt import read_receipt, receipt_bytes
from flightlog.bundles.verify import verify_bundle
from flightlog.bundles.write import make_bundle
from flightlog.cli import main

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BUNDLE = VECTORS / "bundle" / "tiny.flbundle"
RECEIPT = VECTORS / "bundle" / "receipt.json"


def _facts() -> dict[str, Any]:
    return json.loads((VECTORS / "bundle" / "tiny.json").read_text())


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("fl_bundle_vectors",
                                                  VECTORS / "generate_bundles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vectors_are_frozen_and_reproduced() -> None:
    sums = dict(reversed(line.split("  ", 1)) for line in
                (VECTORS / "bundle" / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == ["receipt.json", "tiny.flbundle", "tiny.json"]
    for name, digest in sums.items():
        assert hashlib.sha256((VECTORS / "bundle" / name).read_bytes()).hexdigest() == digest
    built = _generator().build()
    for name, data in built.items():
        assert data == (VECTORS / name).read_bytes(), name


def test_the_vector_reads_as_its_facts_say() -> None:
    facts = _facts()
    bundle = verify_bundle(BUNDLE)
    assert bundle.size == facts["file_size"]
    assert [(e.name, e.header_offset, e.data_offset, e.size) for e in bundle.entries.values()] \
        == [(m["name"], m["header_offset"], m["data_offset"], m["size"])
            for m in facts["members"]]
    with tarfile.open(BUNDLE) as tar:  # stock tools read it: plain tar
        assert [m.name for m in tar.getmembers()] == [m["name"] for m in facts["members"]]
        assert all(m.isreg() and m.mode == 0o644 for m in tar.getmembers())
    (run,) = bundle.manifest.runs
    assert (run.project, run.id, run.first_seq, run.last_seq) == ("p", "8c2kq0zd", 0, 3)


def test_the_vector_imports_and_its_receipt_is_the_vector_receipt(tmp_path: Path) -> None:
    data, back = tmp_path / "data", tmp_path / "back"
    assert main(["import", str(BUNDLE), "--data", str(data), "-o", str(back)]) == 0
    copy = data / "runs" / "p" / "8c2kq0zd"
    records = iter_records(copy, strict=True)
    assert [(r.seq, r.type) for r in records] == [
        (r["seq"], r["type"]) for r in _facts()["run"]["records"]]
    (made,) = back.glob("*.json")
    ours = read_receipt(made)
    vector = read_receipt(RECEIPT)
    assert ours.held() == vector.held() == {("p", "8c2kq0zd"): 4}
    # Same fields, the vector's ids and times: the very bytes of the vector.
    ours.receipt_id, ours.created = vector.receipt_id, vector.created
    ours.receiver_host, ours.receiver = vector.receiver_host, vector.receiver
    assert receipt_bytes(ours) == RECEIPT.read_bytes()


def test_flightlog_bundle_writes_the_vector_bytes(tmp_path: Path) -> None:
    gen = _generator()
    segment, _ = gen.tiny_segment()
    run_dir = tmp_path / "root" / "p" / "8c2kq0zd"
    (run_dir / "log").mkdir(parents=True)
    (run_dir / "log" / "00000000.flseg").write_bytes(segment)
    sha = hashlib.sha256(gen.CONTENT).hexdigest()
    blob = run_dir / "files" / "sha256" / sha[:2] / sha[2:]
    blob.parent.mkdir(parents=True)
    blob.write_bytes(gen.CONTENT)
    made = make_bundle([tmp_path / "root"], tmp_path / "disk", destination="site",
                       store=LedgerStore(tmp_path / "ledgers"), host="sender",
                       created=gen.CREATED, bundle_id=gen.BUNDLE_ID)
    assert made.path is not None
    assert made.path.read_bytes() == BUNDLE.read_bytes()
