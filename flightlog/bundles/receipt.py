"""Receipts (SPEC.md §18.6): what the receiving side holds, per run, carried back.

A receipt is a small JSON object whose ``sha256`` field is the SHA-256 of the canonical
JSON of every other field (keys sorted, no whitespace, ASCII escapes). It is read as
untrusted input: digest, types and bounds are checked before any field is believed,
because a receipt tells ``prune`` what it may delete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightlog.errors import BundleRefused, FlightlogError
from flightlog.format._fsutil import fsync_dir
from flightlog.format.rundir import check_name

FORMAT = "flightlog-receipt"
VERSION = (1, 0)
MAX_RECEIPT_BYTES = 16 * 1024 * 1024
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")


@dataclass
class RunHeld:
    project: str
    id: str
    next_seq: int  # records 0..next_seq-1 are held (committed) on the receiving side
    missing: list[tuple[int, int]] = field(default_factory=list)  # seen, not importable yet


@dataclass
class Receipt:
    receipt_id: str
    created: str
    receiver_host: str
    receiver: str  # the server URL or the data directory's name
    destinations: list[str]
    bundles: list[str]
    runs: list[RunHeld]
    digest: str = ""

    def body(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": list(VERSION), "receipt_id": self.receipt_id,
                "created": self.created,
                "receiver": {"host": self.receiver_host, "target": self.receiver},
                "destinations": self.destinations, "bundles": self.bundles,
                "runs": [{"project": r.project, "id": r.id, "next_seq": r.next_seq,
                          "missing": [list(m) for m in r.missing]} for r in self.runs]}

    def held(self) -> dict[tuple[str, str], int]:
        return {(r.project, r.id): r.next_seq for r in self.runs}


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def receipt_bytes(receipt: Receipt) -> bytes:
    body = receipt.body()
    receipt.digest = hashlib.sha256(canonical(body)).hexdigest()
    return (json.dumps({**body, "sha256": receipt.digest}, indent=1, sort_keys=True,
                       ensure_ascii=True) + "\n").encode("ascii")


def write_receipt(receipt: Receipt, out_dir: Path) -> Path:
    """``out_dir/receipt-<created>-<id8>.json``, written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = receipt_bytes(receipt)
    target = out_dir / (f"receipt-{receipt.created.replace(':', '').replace('-', '')}-"
                        f"{receipt.receipt_id[:8]}.json")
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".receipt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fsync_dir(out_dir)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _refuse(path: str, why: str) -> BundleRefused:
    return BundleRefused(f"not a valid receipt: {why}", path=path)


def _int(value: Any) -> bool:
    return type(value) is int and 0 <= value < (1 << 63)


def read_receipt(path: str | os.PathLike[str]) -> Receipt:
    """The receipt in ``path``.

    Raises:
        BundleRefused: not a receipt, its digest does not match, a field is wrong.
    """
    where = str(path)
    with open(path, "rb") as f:
        data = f.read(MAX_RECEIPT_BYTES + 1)
    if len(data) > MAX_RECEIPT_BYTES:
        raise _refuse(where, f"over {MAX_RECEIPT_BYTES} bytes")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise _refuse(where, f"not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _refuse(where, "no \"format\": \"flightlog-receipt\"")
    digest = doc.pop("sha256", None)
    if not isinstance(digest, str) or hashlib.sha256(canonical(doc)).hexdigest() != digest:
        raise _refuse(where, "its sha256 does not match its content (damaged or edited)")
    try:
        receipt = _parse(doc)
    except (KeyError, TypeError, ValueError, AttributeError, FlightlogError) as exc:
        raise _refuse(where, f"field check failed ({exc})") from exc
    receipt.digest = digest
    return receipt


def _parse(doc: dict[str, Any]) -> Receipt:
    version = doc["version"]
    if not (isinstance(version, list) and version[:1] == [VERSION[0]]):
        raise ValueError(f"receipt version {version!r:.40}; this flightlog reads "
                         f"{VERSION[0]}.x")
    runs = []
    for raw in doc["runs"]:
        if not _int(raw["next_seq"]):
            raise ValueError(f"next_seq {raw['next_seq']!r:.40}")
        missing = []
        for m in raw["missing"]:
            if not (isinstance(m, list) and len(m) == 2 and _int(m[0]) and _int(m[1])):
                raise ValueError(f"missing range {m!r:.40}")
            missing.append((m[0], m[1]))
        runs.append(RunHeld(check_name(raw["project"], "project"),
                            check_name(raw["id"], "run id"), raw["next_seq"], missing))
    receiver = doc["receiver"]
    receipt = Receipt(
        receipt_id=str(doc["receipt_id"]), created=str(doc["created"]),
        receiver_host=str(receiver["host"])[:255], receiver=str(receiver["target"])[:4096],
        destinations=[check_name(d, "destination") for d in doc["destinations"]],
        bundles=[str(b) for b in doc["bundles"]], runs=runs)
    if not _HEX32.match(receipt.receipt_id) or not all(_HEX32.match(b) for b in receipt.bundles):
        raise ValueError("receipt_id or a bundle id is not 32 hex digits")
    return receipt


def merge_held(receipts: list[Receipt]) -> dict[tuple[str, str], int]:
    """Per (project, run id), the highest mark any of the receipts states."""
    held: dict[tuple[str, str], int] = {}
    for receipt in receipts:
        for key, seq in receipt.held().items():
            held[key] = max(held.get(key, 0), seq)
    return held


__all__ = ["Receipt", "RunHeld", "canonical", "merge_held", "read_receipt", "receipt_bytes",
           "write_receipt"]
