"""The summary's last values stay exact although ``log`` merges a row into them only when
the next row has other keys (writer/run.py ``_last``)."""

from __future__ import annotations

from pathlib import Path

import flightlog


def test_summary_sees_each_keys_latest_value_in_log_order(tmp_path: Path) -> None:
    run = flightlog.init(project="p", dir=tmp_path, quiet=True, system_metrics=False)
    row = {"loss": 3.0, "acc": 0.1}
    for i in range(3):  # the same keys: only the latest row is kept unmerged
        row["loss"] = 3.0 - i
        run.log(row)
    row["loss"] = 99.0  # the caller's dict changing after log is not what was logged
    assert dict(run.summary) == {"loss": 1.0, "acc": 0.1}
    run.log({"loss": 0.5})  # other keys: the previous row is merged first
    run.log({"lr": 0.01})
    assert dict(run.summary) == {"loss": 0.5, "acc": 0.1, "lr": 0.01}
    run.summary["loss"] = 0.25  # an explicit set replaces the logged value ...
    assert run.summary["loss"] == 0.25
    run.log({"loss": 0.2, "lr": 0.02})  # ... until the key is logged again
    run.log("alpha", 0.7)  # an Azure-form metric after a row
    assert dict(run.summary) == {"loss": 0.2, "acc": 0.1, "lr": 0.02, "alpha": 0.7}
    run.finish()
    assert flightlog.open_run(run.dir).summary == {"loss": 0.2, "acc": 0.1, "lr": 0.02,
                                                   "alpha": 0.7}
