"""The sender's ledger on real run directories: what ``--resend-unacked`` and
``--since-receipt`` bundle again, which attached files go again, and the warning when a
destination asks for records pruned on another destination's receipt."""

from __future__ import annotations

from pathlib import Path

import pytest
from syncd_helpers import make_run

import flightlog
from flightlog.bundles.ledger import LedgerStore
from flightlog.bundles.receipt import read_receipt
from flightlog.bundles.verify import open_bundle
from flightlog.bundles.write import make_bundle
from flightlog.cli import main


def _bundle(tmp_path: Path, **kw: object) -> Path | None:
    made = make_bundle([tmp_path / "root"], tmp_path / "disk", destination="site",
                       store=LedgerStore(tmp_path / "ledgers"), **kw)  # type: ignore[arg-type]
    return made.path


def test_resend_and_since_receipt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    attached = tmp_path / "a.bin"
    attached.write_bytes(b"weights" * 5000)
    run_dir = make_run(tmp_path / "root", "r", 500, files={"a.bin": attached},
                       segment_bytes=4096, width=2)
    first = _bundle(tmp_path)
    assert first is not None
    end = open_bundle(first).manifest.runs[0].last_seq + 1
    assert len(open_bundle(first).manifest.files) == 1
    assert _bundle(tmp_path) is None  # nothing new
    # No receipt yet: --resend-unacked holds everything again, the attached file too.
    again = _bundle(tmp_path, resend=True)
    assert again is not None
    (run,) = open_bundle(again).manifest.runs
    assert (run.first_seq, run.last_seq + 1) == (0, end)
    assert len(open_bundle(again).manifest.files) == 1

    # The first bundle arrives; its receipt comes back while the run goes on.
    data, back = tmp_path / "data", tmp_path / "back"
    assert main(["import", str(first), "--data", str(data), "-o", str(back)]) == 0
    (receipt,) = back.glob("*.json")
    assert read_receipt(receipt).held() == {("p", "r"): end}
    resumed = flightlog.init(project="p", id="r", dir=tmp_path / "root", resume=True,
                             segment_bytes=4096)
    for i in range(500, 600):
        resumed.log({"i": i, "x": i / 2})
    resumed.finish()
    # With the receipt: from what the other side holds on, the file (held there) not again.
    repaired = _bundle(tmp_path, receipts=[read_receipt(receipt)])
    assert repaired is not None
    (run,) = open_bundle(repaired).manifest.runs
    assert run.first_seq == end and not open_bundle(repaired).manifest.files
    # --resend-unacked now starts at the acknowledged mark, not at 0.
    resent = _bundle(tmp_path, resend=True)
    assert resent is not None and open_bundle(resent).manifest.runs[0].first_seq == end

    # Prune on the receipt, then bundle for a destination that never had those records:
    # the bundle starts past them, and says so.
    capsys.readouterr()
    assert main(["prune", str(tmp_path / "root"), "--acked-by", str(receipt)]) == 0
    assert "pruned" in capsys.readouterr().out
    code = main(["bundle", str(tmp_path / "root"), "-o", str(tmp_path / "other"), "--dest",
                 "other", "--state", str(tmp_path / "ledgers")])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "warning: records 0.." in captured.err and "other cannot get them" in captured.err
    (other,) = (tmp_path / "other").glob("*.flbundle")
    assert open_bundle(other).manifest.runs[0].first_seq > 0
    assert run_dir.exists()
