"""Reading a run's code snapshot (SPEC.md §19.4): the manifest, checked, and the files
it names written out again. Manifest paths are untrusted: a path that is absolute, holds
``..``, an empty or NUL component is refused, never written."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import IO, Any, NamedTuple

from flightlog.errors import FormatError

from .records import is_attached_name

#: SPEC.md §19.4: bounds a reader enforces on a manifest.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_PATH_CHARS = 4096


class CodeFile(NamedTuple):
    path: str
    sha256: str
    size: int
    mode: int


def safe_relative(path: Any) -> str | None:
    """``path`` when it is a safe relative POSIX path, else None."""
    if type(path) is not str or not path or len(path) > MAX_PATH_CHARS or "\0" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or "\\" in path or any(p in ("", ".", "..") for p in path.split("/")):
        return None
    return str(pure)


def parse_manifest(data: bytes, where: str) -> list[CodeFile]:
    """The files a manifest lists. Raises FormatError naming the first bad entry."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(f"code manifest is {len(data)} bytes, over {MAX_MANIFEST_BYTES}",
                          path=where)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"code manifest is not JSON text: {exc}", path=where) from exc
    entries = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise FormatError("code manifest has no 'files' array", path=where)
    files = []
    for index, entry in enumerate(entries):
        ok = isinstance(entry, dict)
        path = safe_relative(entry.get("path")) if ok else None
        sha, size, mode = (entry.get("sha256"), entry.get("size"), entry.get("mode", 0o644)
                           ) if ok else (None, None, None)
        if (path is None or not is_attached_name(sha) or type(size) is not int or size < 0
                or type(mode) is not int):
            raise FormatError(f"code manifest entry {index} is malformed or names an unsafe "
                              f"path", path=where, key=str(entry)[:200])
        files.append(CodeFile(path, str(sha), size, mode & 0o777))
    return files


def restore(files: list[CodeFile], open_blob: Any, dest: Path) -> list[Path]:
    """Write every file under ``dest``, checking each one's size and SHA-256."""
    written = []
    for f in files:
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open_blob(f.sha256) as src, open(target, "wb") as out:
            size = _copy(src, out, digest)
        if size != f.size or digest.hexdigest() != f.sha256:
            target.unlink()
            raise FormatError(f"stored content of code file {f.path!r} does not match its "
                              f"size or SHA-256", key=f.path)
        os.chmod(target, f.mode | 0o600)
        written.append(target)
    return written


def _copy(src: IO[bytes], out: IO[bytes], digest: Any) -> int:
    size = 0
    while chunk := src.read(1 << 20):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return size
