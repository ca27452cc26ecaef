"""``outputs/`` attached as files appear: a polling thread (a scan is the truth; no
filesystem events to miss, and a directory of a few files costs microseconds to scan).

A file is attached under ``outputs/<path>`` once it has kept the same size and
modification time for one scan (so a file being written is not attached half-way),
and again whenever it changes; at exit every file that changed is attached whatever
its age (:meth:`OutputsWatcher.final_scan`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("flightlog")

Upload = Callable[[str, Path], None]


class OutputsWatcher:
    def __init__(self, directory: Path, upload: Upload, *, prefix: str = "outputs",
                 interval: float = 2.0) -> None:
        self.directory = directory
        self._upload = upload
        self._prefix = prefix
        self.interval = interval
        self._seen: dict[str, tuple[int, int]] = {}  # last scan's (size, mtime_ns)
        self._attached: dict[str, tuple[int, int]] = {}
        self._failed: set[str] = set()
        self._scan_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="flightlog-outputs",
                                        daemon=True)

    def start(self) -> OutputsWatcher:
        self._thread.start()
        return self

    def _main(self) -> None:
        while not self._stop.wait(self.interval):
            self.scan(stable_only=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def final_scan(self) -> None:
        self.stop()
        self.scan(stable_only=False)

    def _files(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        if not self.directory.is_dir():
            return found
        for dirpath, dirnames, filenames in os.walk(self.directory):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                if full.is_symlink() or name.endswith(".tmp"):
                    continue
                try:
                    st = full.stat()
                except OSError:
                    continue
                found[full.relative_to(self.directory).as_posix()] = (st.st_size, st.st_mtime_ns)
        return found

    def scan(self, stable_only: bool) -> int:
        """Attach new or changed files; how many were attached."""
        with self._scan_lock:
            now = self._files()
            attached = 0
            for rel, state in now.items():
                changing = stable_only and self._seen.get(rel) != state
                if self._attached.get(rel) == state or changing:
                    continue
                try:
                    self._upload(f"{self._prefix}/{rel}", self.directory / rel)
                except Exception as exc:  # an odd name or a vanished file: say once
                    if rel not in self._failed:
                        self._failed.add(rel)
                        log.warning("flightlog: could not attach %s: %s", rel, exc)
                    continue
                self._attached[rel] = state
                attached += 1
            self._seen = now
            return attached
