"""``flightlog status ROOT... --receipts DIR``: per run, records written locally, put in
bundles (per the ledgers) and acknowledged (per the receipts in DIR)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flightlog.errors import BundleRefused
from flightlog.format.reader import RunLogReader
from flightlog.format.rundir import find_run_dirs

from .collect import identify, pruned_through
from .ledger import LedgerStore
from .receipt import Receipt, merge_held, read_receipt


@dataclass
class RunStatus:
    project: str
    run_id: str
    local: int  # one past the last complete record written locally
    bundled: int  # one past the last record put in a bundle (any destination, or --dest)
    acked: int  # one past the last record a receipt acknowledges
    pruned: int  # one past the last record pruned locally

    @property
    def state(self) -> str:
        if self.acked >= self.local:
            return "acknowledged"
        if self.bundled >= self.local:
            return "bundled, not all acknowledged"
        return "not all bundled"


def read_receipts(directory: str | os.PathLike[str]) -> tuple[list[Receipt], list[str]]:
    """The receipts in a directory, and a message per file that is not a valid one."""
    good, bad = [], []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            good.append(read_receipt(path))
        except (BundleRefused, OSError) as exc:
            bad.append(str(exc))
    return good, bad


def bundle_status(roots: list[str], receipts: list[Receipt], store: LedgerStore,
                  destination: str | None = None) -> list[RunStatus]:
    held = merge_held(receipts)
    ledgers = [store.load(d) for d in ([destination] if destination else store.destinations())]
    out = []
    for root in roots:
        for run_dir in find_run_dirs(root):
            identity = identify(run_dir)
            if identity is None:
                continue
            project, run_id = identity
            pruned = pruned_through(run_dir)
            reader = RunLogReader(run_dir)
            records = reader.poll()
            local = max(records[-1].seq + 1 if records else 0, pruned)
            bundled = max([lg.runs[run_id].bundled_seq for lg in ledgers if run_id in lg.runs]
                          + [0])
            acked = max([held.get(identity, 0)]
                        + [lg.runs[run_id].acked_seq for lg in ledgers if run_id in lg.runs])
            out.append(RunStatus(project, run_id, local, bundled, acked, pruned))
    return out


__all__ = ["RunStatus", "bundle_status", "read_receipts"]
