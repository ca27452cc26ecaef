"""Attached files stored by content hash (SPEC.md §10)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from flightlog.format._fsutil import fsync_dir
from flightlog.format.rundir import blob_path

_BLOCK = 1 << 20
_T = TypeVar("_T")



def store_blob(run_dir: Path, source: IO[bytes]) -> tuple[str, int]:
    """Copy ``source`` into the run's content store; (sha256 hex, size).

    Durable before it returns: written to a temp file, fsynced, renamed into place, and
    the directory fsynced, so a record naming it never points at nothing."""
    tmp_dir = run_dir / "files"
    tmp = tmp_dir / f".upload-{os.getpid()}-{id(source)}.tmp"
    digest = hashlib.sha256()
    size = 0
    try:
        with _created(tmp, lambda: open(tmp, "wb")) as out:
            while block := source.read(_BLOCK):
                digest.update(block)
                out.write(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        final = blob_path(run_dir, sha)
        if final.exists() and final.stat().st_size == size:
            tmp.unlink()
        else:
            _created(final, lambda: os.replace(tmp, final))
            fsync_dir(final.parent)
        return sha, size
    finally:
        if tmp.exists():
            tmp.unlink()


def _created(path: Path, make: Callable[[], _T]) -> _T:
    """``make()`` after making ``path``'s directory. ``flightlog prune`` removes store
    directories it emptied (rmdir, never one with anything in it); if that happens between
    our mkdir and ``make``, the directory is made again: a few tries, never a lost file."""
    for _ in range(5):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return make()
        except FileNotFoundError:
            if path.parent.exists():
                raise  # not the race: something else is missing
    path.parent.mkdir(parents=True, exist_ok=True)
    return make()


def store_bytes(run_dir: Path, data: bytes) -> tuple[str, int]:
    import io

    return store_blob(run_dir, io.BytesIO(data))
