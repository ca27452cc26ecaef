"""Writing an attached file out of a run (``download_file``, local or remote), safely.

Two invariants, whatever the bytes or the name say:

- A file name is data (from a run's records or a server's answer), never a path: only its
  last component may name the output file, and a last component that is empty, ``.`` or
  ``..`` (or a name with a NUL byte) names nothing: :class:`UnsafeFileName`.
- The target appears only complete and checked: the content goes to a temporary file in
  the target's directory, which is renamed onto the target once its size and SHA-256
  match, and removed on any failure (a mismatch, an I/O error, a dropped connection).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from flightlog.errors import FlightlogError, UnsafeFileName


def download_target(name: str, output_file_path: str | os.PathLike[str] | None,
                    where: str) -> Path:
    """Where ``download_file(name, output_file_path)`` writes: ``output_file_path`` when
    it is a file path; else the name's last component, in that directory (default: the
    current one). ``where`` names the run, for the error."""
    explicit = Path(output_file_path) if output_file_path is not None else None
    if explicit is not None and not explicit.is_dir():
        return explicit
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", "..") or "\0" in name:
        raise UnsafeFileName(f"file name {name!r} of {where} does not name a file in a "
                             f"directory; pass output_file_path to say where it goes",
                             key=name)
    return (explicit or Path()) / base


def write_verified(target: Path, blocks: Iterable[bytes], *, sha256: str, size: int | None,
                   mismatch: Callable[[str], FlightlogError]) -> Path:
    """Write ``blocks`` to ``target`` through a temporary file beside it; ``mismatch(why)``
    is the error raised when more than ``size`` bytes arrive, fewer, or the SHA-256
    differs. Nothing is left behind on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f".{target.name[:80]}.{secrets.token_hex(6)}.partial"
    try:
        digest = hashlib.sha256()
        written = 0
        with open(temp, "xb") as out:  # "x": never an existing file (or a symlink's target)
            for block in blocks:
                written += len(block)
                if size is not None and written > size:
                    raise mismatch(f"more than its {size} bytes arrived")
                digest.update(block)
                out.write(block)
        if size is not None and written != size:
            raise mismatch(f"{written} bytes arrived, not its {size}")
        if digest.hexdigest() != sha256:
            raise mismatch(f"content does not match its SHA-256 {sha256}")
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return target
