"""``flightlog prune ROOT... --acked-by RECEIPT...``: free the sending side's disk of what
the receiving side acknowledged.

Deleted: whole segments, oldest first, every complete record of which lies below the
receipt's mark for the run, never the run's last segment (the one a live writer appends
to, and the one a resumed writer continues the sequence numbers from); and then attached
files named only by records of deleted segments. Nothing else. A receipt that claims more
records than the run has locally is not this run's receipt: the run is left alone.

Order: ``pruned.json`` (the mark pruned up to) is written first, then files, then
segments, so a kill at any point leaves a run that a rerun prunes further and that
``flightlog bundle`` knows not to look for. Last, when no writer holds the run, the
attached-file directories left empty (``files/sha256/xx/``, then ``files/sha256/`` and
``files/``) are removed: ``rmdir`` only ever removes an empty directory, so nothing with
anything left in it goes. A live writer's are left alone (it creates one and renames a
file into it in two steps, which a removal in between would break); the next prune after
it stops removes them (an earlier prune's, once the run was pruned; a run never pruned is
not touched).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.errors import FormatError
from flightlog.format._constants import FILES_DIR
from flightlog.format._fsutil import fsync_dir
from flightlog.format.prunemark import prune_mark_or_none
from flightlog.format.reader import decode_frame
from flightlog.format.records import attached_blobs
from flightlog.format.rundir import blob_path, find_run_dirs, writer_alive
from flightlog.format.segment import SegmentTail, list_segments

from .collect import PRUNED_MARK, identify, pruned_through
from .receipt import Receipt, merge_held


@dataclass
class Pruned:
    run_dir: Path
    project: str
    run_id: str
    acked: int
    local: int = 0
    segments: list[int] = field(default_factory=list)
    files: int = 0
    freed: int = 0
    kept_segments: int = 0
    error: str = ""


@dataclass
class _Segment:
    index: int
    path: Path
    last_seq: int  # -1: no complete record
    blobs: set[str]


def _read(index: int, path: Path) -> _Segment:
    blobs: set[str] = set()
    last = -1
    for frame in SegmentTail(path, lambda e: None).poll():
        last = max(last, frame.last_seq)
        try:
            records = decode_frame(frame, path=str(path))
        except FormatError:
            continue
        for record in records:
            blobs.update(attached_blobs(record.body))
    return _Segment(index, path, last, blobs)


def prune(roots: list[str | os.PathLike[str]], receipts: list[Receipt], *,
          dry_run: bool = False) -> list[Pruned]:
    held = merge_held(receipts)
    out = []
    for root in roots:
        for run_dir in find_run_dirs(root):
            identity = identify(run_dir)
            if identity is None or identity not in held:
                continue
            out.append(_prune_run(run_dir, identity, held[identity], receipts, dry_run))
    return out


def _prune_run(run_dir: Path, identity: tuple[str, str], acked: int,
               receipts: list[Receipt], dry_run: bool) -> Pruned:
    project, run_id = identity
    result = Pruned(run_dir, project, run_id, acked)
    segments = [_read(i, p) for i, p in list_segments(run_dir)]
    result.local = max([s.last_seq + 1 for s in segments] + [pruned_through(run_dir)])
    if acked > result.local:
        result.error = (f"a receipt acknowledges {acked} records, the run has {result.local} "
                        f"here: not this run's receipt; nothing pruned")
        return result
    if not dry_run and (run_dir / PRUNED_MARK).exists():
        _remove_empty_dirs(run_dir)  # those an earlier prune left while the writer lived
    doomed: list[_Segment] = []
    for seg in segments[:-1]:  # the last segment always stays
        if seg.last_seq >= acked:
            break
        doomed.append(seg)
    result.kept_segments = len(segments) - len(doomed)
    if not doomed:
        return result
    kept_blobs = set().union(*(s.blobs for s in segments[len(doomed):]))
    files = sorted(set().union(*(s.blobs for s in doomed)) - kept_blobs)
    result.segments = [s.index for s in doomed]
    through = max(max(s.last_seq for s in doomed) + 1, pruned_through(run_dir))
    for seg in doomed:
        result.freed += seg.path.stat().st_size
    paths = []
    for sha in files:
        try:
            path = blob_path(run_dir, sha)
        except FormatError:
            continue
        if path.is_file():
            paths.append(path)
            result.freed += path.stat().st_size
    result.files = len(paths)
    if dry_run:
        return result
    _write_mark(run_dir, {"project": project, "id": run_id, "next_seq": through,
                          # never lower than an earlier mark's (SPEC.md §18.7)
                          "segments": max(max(result.segments) + 1, _marked_segments(run_dir)),
                          "receipts": sorted(r.digest for r in receipts)})
    for path in paths:
        path.unlink(missing_ok=True)
    for seg in doomed:
        seg.path.unlink(missing_ok=True)
    fsync_dir(run_dir / "log")
    _remove_empty_dirs(run_dir)
    return result


def _marked_segments(run_dir: Path) -> int:
    mark = prune_mark_or_none(run_dir)
    return 0 if mark is None else mark.segments


def _remove_empty_dirs(run_dir: Path) -> None:
    """The empty directories of the attached-file store, deepest first, unless a writer
    holds the run. ``rmdir`` refuses a directory with anything in it (a file, a writer's
    temporary file, another directory), so that one stays, and so does its parent."""
    files = run_dir / FILES_DIR
    store = files / "sha256"
    if not files.is_dir() or writer_alive(run_dir):
        return
    fanout = sorted(p for p in store.iterdir() if p.is_dir()) if store.is_dir() else []
    for d in [*fanout, store, files]:
        try:
            d.rmdir()
        except OSError:  # not empty, or gone already
            continue


def _write_mark(run_dir: Path, doc: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".pruned-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, run_dir / PRUNED_MARK)
        fsync_dir(run_dir)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


__all__ = ["Pruned", "prune"]
