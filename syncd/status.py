"""The daemon's own figures, kept in ``STATE/syncd.status`` (JSON) for tools and tests.

Written atomically (temp file, rename; no fsync: it is informative, never read back by
the daemon) and only when a figure changed: while idle, once per rescan (its count).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

#: Not a position's name (those are RUN_ID.json), whatever the run ids.
STATUS_FILE = "syncd.status"


@dataclass
class DaemonStatus:
    runs: int = 0  # runs known
    quiet: int = 0  # finished and fully acknowledged: not read until they change
    runs_read: int = 0  # times a run's directory was read for shipping (all runs)
    rounds: int = 0  # shipping rounds that read at least one run
    rescans: int = 0  # full rescans (the truth: new runs, changed finished runs)
    woken: int = 0  # finished runs read again because their directory changed


class StatusFile:
    def __init__(self, directory: Path) -> None:
        self.path = directory / STATUS_FILE
        self._written: DaemonStatus | None = None

    def write(self, status: DaemonStatus) -> None:
        if status == self._written:
            return
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".status-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(status), f)
            os.replace(tmp, self.path)
        except OSError:
            return  # the state directory is unwritable: positions say so louder
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._written = DaemonStatus(**asdict(status))


def read_status(directory: Path) -> DaemonStatus | None:
    """The status a daemon with state directory ``directory`` last wrote, if any."""
    try:
        data = json.loads((directory / STATUS_FILE).read_text())
        return DaemonStatus(**{k: v for k, v in data.items()
                               if k in DaemonStatus.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None
