"""Filesystem events as hints: a watchdog observer that wakes the daemon.

Events only say "look sooner"; the daemon's periodic rescan is the truth, so a missed
event costs latency, never data. Where inotify cannot see other nodes' writes (NFS,
Lustre, GPFS, ...) or cannot start, the daemon polls instead.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

# Filesystems whose writes from other machines inotify does not report.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "beegfs", "ceph",
    "glusterfs", "fuse.sshfs", "fuse.glusterfs", "9p", "afs", "panfs", "wekafs"})


def filesystem_type(path: Path) -> str:
    """The type of the mount holding ``path`` ("" when unknown)."""
    try:
        target = os.path.realpath(path)
        best, kind = "", ""
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3 and (target == parts[1] or target.startswith(
                        parts[1].rstrip("/") + "/")) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
        return kind
    except OSError:
        return ""


def needs_polling(path: Path) -> bool:
    return filesystem_type(path) in NETWORK_FILESYSTEMS


# Events that are no change: the daemon's own reads cause them, and waking on them made
# an idle daemon spin (each round opens the files it watches).
_NOT_CHANGES = frozenset({"opened", "closed_no_write"})


class Watcher:
    """Sets ``wake`` whenever something changes under the roots, and ``new_paths`` when a
    file or directory appears (a new run to discover now, not at the next rescan); keeps
    the paths that changed (:meth:`take_changed`), so that only their runs are read."""

    def __init__(self, roots: list[Path], wake: threading.Event) -> None:
        self.roots = roots
        self.wake = wake
        self.new_paths = threading.Event()
        self._observer: Any = None
        self._changed: set[str] = set()
        self._changed_guard = threading.Lock()

    def take_changed(self) -> set[str]:
        """The paths changed since the last call (files or directories, as reported)."""
        with self._changed_guard:
            changed, self._changed = self._changed, set()
        return changed

    def start(self) -> bool:
        """Start inotify (or the platform's) observer. False when it cannot: poll."""
        from watchdog.events import (
            DirCreatedEvent,
            DirDeletedEvent,
            DirModifiedEvent,
            DirMovedEvent,
            FileClosedEvent,
            FileCreatedEvent,
            FileDeletedEvent,
            FileModifiedEvent,
            FileMovedEvent,
            FileSystemEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        # Changes only, asked of the kernel (inotify's mask): opens and read-only closes,
        # which every read makes (the daemon's, and the observer's own listings of
        # thousands of run directories), overflowed inotify's queue at 10,000 runs, and
        # each overflow made the observer list every directory again.
        changes = [DirCreatedEvent, DirDeletedEvent, DirModifiedEvent, DirMovedEvent,
                   FileClosedEvent, FileCreatedEvent, FileDeletedEvent, FileModifiedEvent,
                   FileMovedEvent]

        wake, new_paths = self.wake, self.new_paths
        guard, watcher = self._changed_guard, self

        class Hint(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in _NOT_CHANGES:
                    return
                if event.event_type in ("created", "moved"):
                    new_paths.set()
                with guard:
                    paths = watcher._changed
                    paths.add(os.fsdecode(event.src_path))
                    if event.event_type == "moved":
                        paths.add(os.fsdecode(event.dest_path))
                wake.set()

        observer = Observer()
        try:
            for root in self.roots:
                observer.schedule(Hint(), str(root), recursive=True, event_filter=changes)
            observer.start()
        except OSError:
            return False
        self._observer = observer
        return True

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
