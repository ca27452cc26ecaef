"""The sender's ledger: per destination, what was bundled and what receipts acknowledged.

One JSON file per destination under the state directory, replaced atomically (temp file,
fsync, rename, fsync the directory) like sync positions, and only after the bundle it
describes is in place: a crash between the two makes the next bundle repeat some records,
which an import skips; it never makes a bundle skip records. Keyed by run id (a moved run
directory keeps its identity). A ``flock`` on ``<destination>.lock`` keeps two ``flightlog
bundle`` of one destination from interleaving.

Invariants: ``bundled_seq`` is one past the last record put in a bundle, ``acked_seq`` one
past the last record a receipt says the other side holds; (``segment``, ``offset``) is where
record ``bundled_seq`` starts (a hint that makes the next bundle read only new bytes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flightlog.errors import BundleError
from flightlog.format._fsutil import fsync_dir
from flightlog.format.rundir import check_name

#: Bundles remembered per destination (for --repeat K and resend hints).
HISTORY = 256


@dataclass
class RunMark:
    project: str
    bundled_seq: int = 0
    segment: int = -1
    offset: int = 0
    acked_seq: int = 0
    path: str = ""


@dataclass
class Sent:
    """One bundle as the ledger remembers it: per run id [first_seq, end_seq, segment,
    offset of first_seq, new_from, segment, offset of end_seq]: it held records
    ``first_seq..end_seq-1``, of which ``new_from..end_seq-1`` were in no earlier bundle
    (ledgers written before new_from was kept have only the first four: new_from is then
    taken as first_seq, and no end hint)."""

    number: int
    bundle_id: str
    file: str
    created: str
    runs: dict[str, list[int]] = field(default_factory=dict)

    @staticmethod
    def new_from(entry: list[int]) -> int:
        return entry[4] if len(entry) > 4 else entry[0]


@dataclass
class Ledger:
    destination: str
    next_number: int = 1
    runs: dict[str, RunMark] = field(default_factory=dict)
    history: list[Sent] = field(default_factory=list)
    #: sha256 -> [run id, seq of the first record sent that names it, bundle number]
    files: dict[str, list[Any]] = field(default_factory=dict)
    receipts: list[str] = field(default_factory=list)  # digests of receipts taken in

    def mark(self, run_id: str, project: str) -> RunMark:
        return self.runs.setdefault(run_id, RunMark(project))

    def start_hint(self, run_id: str, seq: int) -> tuple[int, int] | None:
        """(segment, offset) where record ``seq`` starts, if a bundle began or ended there."""
        mark = self.runs.get(run_id)
        if mark is not None and mark.bundled_seq == seq and mark.segment >= 0:
            return mark.segment, mark.offset
        for sent in reversed(self.history):
            entry = sent.runs.get(run_id)
            if entry is not None and entry[0] == seq:
                return entry[2], entry[3]
            if entry is not None and len(entry) > 6 and entry[1] == seq and entry[5] >= 0:
                return entry[5], entry[6]
        return None

    def file_held(self, sha: str) -> bool:
        """The other side holds this file: a receipt acknowledged a record naming it."""
        sent = self.files.get(sha)
        if sent is None:
            return False
        mark = self.runs.get(sent[0])
        return mark is not None and mark.acked_seq > sent[1]


def default_state_dir() -> Path:
    base = os.environ.get("FLIGHTLOG_BUNDLE_STATE")
    if base:
        return Path(base)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flightlog" / "bundles"


class LedgerStore:
    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_state_dir()

    def _path(self, destination: str) -> Path:
        return self.dir / f"{check_name(destination, 'destination')}.json"

    @contextlib.contextmanager
    def locked(self, destination: str) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / f"{check_name(destination, 'destination')}.lock",
                     os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BundleError(f"another flightlog bundle for destination "
                                  f"{destination!r} is running (lock {self.dir})") from None
            yield
        finally:
            os.close(fd)

    def destinations(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def load(self, destination: str) -> Ledger:
        path = self._path(destination)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return Ledger(destination)
        except ValueError as exc:
            raise BundleError(f"ledger is not JSON ({exc}); move it away to start the "
                              f"destination afresh (the next bundle then holds everything)",
                              path=str(path)) from exc
        try:
            return Ledger(
                destination=doc["destination"], next_number=int(doc["next_number"]),
                runs={k: RunMark(**v) for k, v in doc["runs"].items()},
                history=[Sent(**s) for s in doc["history"]],
                files={k: list(v) for k, v in doc["files"].items()},
                receipts=list(doc.get("receipts", [])))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"ledger is not a flightlog bundle ledger ({exc!r})",
                              path=str(path)) from exc

    def save(self, ledger: Ledger) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ledger.history = ledger.history[-HISTORY:]
        ledger.receipts = ledger.receipts[-HISTORY:]
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".ledger-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(ledger), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path(ledger.destination))
            fsync_dir(self.dir)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


__all__ = ["Ledger", "LedgerStore", "RunMark", "Sent", "default_state_dir"]
