"""The one-writer-per-run lock (SPEC.md §13)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from flightlog.format.rundir import lock_path

from flightlog.errors import RunLocked

# A reader probes the lock with a shared lock held for microseconds; a writer starting
# at that moment retries for this long before it concludes another writer lives.
_ACQUIRE_SECONDS = 2.0


class WriterLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = lock_path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise RunLocked naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + _ACQUIRE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = self._holder()
                    os.close(fd)
                    raise RunLocked(f"another writer holds this run ({holder}); a run "
                                    f"directory has one writer at a time",
                                    path=str(self.path)) from None
                time.sleep(0.01)
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.write(fd, (json.dumps(info) + "\n").encode())
        self._fd = fd

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
