"""Crash-safe record of what the server acknowledged, per run.

Keyed by run id, never by path: a run directory moved or copied elsewhere keeps its
identity. A position is a hint to skip re-reading; after any error, and at start, the
server's answer is what counts (:mod:`flightlog.syncd.shipper`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flightlog.format.rundir import check_name


@dataclass
class Position:
    run_id: str
    project: str = ""
    path: str = ""  # where the run was last seen (informative)
    acked_seq: int = 0  # the server's high-water mark: records below it are committed
    local_seq: int = 0  # records complete in the local log when last looked
    last_error: str = ""
    set_aside: bool = False  # a non-retryable error: not retried until the daemon restarts
    updated: float = field(default_factory=time.time)


def default_state_dir() -> Path:
    base = os.environ.get("FLIGHTLOG_SYNC_STATE")
    if base:
        return Path(base)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flightlog" / "sync"


class PositionStore:
    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_state_dir()
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, run_id: str) -> Path:
        return self.dir / f"{check_name(run_id, 'run id')}.json"

    def load(self, run_id: str) -> Position | None:
        try:
            data = json.loads(self._path(run_id).read_text())
            return Position(**{k: v for k, v in data.items()
                               if k in Position.__dataclass_fields__})
        except (FileNotFoundError, ValueError, TypeError):
            return None  # missing or unreadable: the server's answer rebuilds it

    def save(self, position: Position) -> None:
        """Write atomically: temp file, fsync, rename, fsync the directory."""
        position.updated = time.time()
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".pos-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(position), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path(position.run_id))
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
