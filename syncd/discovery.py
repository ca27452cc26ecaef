"""Finding run directories under the roots, at a cost that grows with what changed.

A full walk of the roots lists every directory of every run on every rescan (10,000
runs: 10,000 listings a rescan). :class:`RunDirScanner` keeps what it saw: a run
directory, once found, is never listed again (its contents are the shipper's business);
any other directory is listed again only when its mtime changed (an entry was added,
removed or renamed in it), else its remembered subdirectories are visited. A scan then
costs one ``stat`` per directory that is not a run (the roots, project directories) plus
one per directory not yet a run (created, its ``log/`` not yet there).

:func:`log_dir_stamp` is the cheap "has this run changed?" check of a run whose
shipping is finished: a writer that resumes it starts a new segment file, which changes
the mtime of its ``log/`` directory (SPEC.md §3: a writer never appends to a segment
another writer closed).
"""

from __future__ import annotations

import os
from pathlib import Path

from flightlog.format._constants import SEGMENT_DIR


class RunDirScanner:
    """Every run directory at or below the roots, as :func:`find_run_dirs` finds them
    (not descending into a run directory, not following symlinks), remembered between
    scans."""

    def __init__(self) -> None:
        self._runs: set[str] = set()
        # A directory that is not a run: (its mtime when listed, its subdirectories).
        self._listed: dict[str, tuple[int, list[str]]] = {}
        self.listings = 0  # directories listed so far (a measure of the scan's cost)
        self._found: dict[str, list[Path]] = {}  # root -> its runs at the last scan

    def scan(self, root: Path) -> tuple[list[Path], bool]:
        """(run directories at or below ``root``, sorted; whether that list may differ
        from the last scan's: False when no directory had to be listed again)."""
        found: list[str] = []
        before = (self.listings, len(self._runs))
        self._visit(str(root), found)
        key = str(root)
        if (self.listings, len(self._runs)) == before and key in self._found:
            return self._found[key], False
        self._found[key] = runs = [Path(p) for p in sorted(found)]
        return runs, True

    def _visit(self, path: str, found: list[str]) -> None:
        if path in self._runs:
            found.append(path)
            return
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:  # gone, or unreadable: looked at again next scan
            self._listed.pop(path, None)
            return
        if os.path.isdir(os.path.join(path, SEGMENT_DIR)):
            self._runs.add(path)
            self._listed.pop(path, None)
            found.append(path)
            return
        known = self._listed.get(path)
        if known is None or known[0] != mtime:
            try:
                with os.scandir(path) as entries:
                    subdirs = sorted(e.path for e in entries
                                     if e.is_dir(follow_symlinks=False))
            except OSError:
                return
            self.listings += 1
            known = (mtime, subdirs)
            self._listed[path] = known
        for sub in known[1]:
            self._visit(sub, found)

    def forget(self, run_dir: Path) -> None:
        """``run_dir`` is no longer a run directory here (moved away): look again."""
        self._runs.discard(str(run_dir))


def log_dir_stamp(run_dir: Path) -> int | None:
    """The mtime (ns) of the run's ``log/`` directory; None when it is not there."""
    try:
        return os.stat(os.path.join(run_dir, SEGMENT_DIR)).st_mtime_ns
    except OSError:
        return None
