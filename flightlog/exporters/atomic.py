"""Files that appear whole or not at all: temp file beside the target, fsync, rename,
fsync of the directory (the manifest and ledger rule of SPEC.md §12)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from flightlog.format._fsutil import fsync_dir


def write_atomic(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``target`` by ``data``. A crash leaves the old file or the new one, never a
    mix. ``durable=False`` skips the fsyncs (parts re-derivable from the runs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(target.parent)
