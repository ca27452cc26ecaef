"""Run directory layout (SPEC.md §2) and the writer-lock probe (SPEC.md §13)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from flightlog.errors import InvalidKey

from ._constants import FILES_DIR, LOCK_FILE, SEGMENT_DIR

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def check_name(value: object, what: str) -> str:
    """``value`` if it is a valid project or run id (SPEC.md §2), else InvalidKey."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidKey(f"{what} {value!r} must be 1-128 characters of letters, digits, "
                         f"'.', '_' or '-', starting with a letter or digit", key=what)
    return value


def default_root() -> Path:
    """``$FLIGHTLOG_DIR``, else ``./flightlog``."""
    return Path(os.environ.get("FLIGHTLOG_DIR") or "flightlog")


def run_dir_for(root: str | os.PathLike[str], project: str, run_id: str) -> Path:
    return Path(root) / check_name(project, "project") / check_name(run_id, "run id")


def blob_path(run_dir: str | os.PathLike[str], sha256: str) -> Path:
    """Where the attached file of that SHA-256 lives (SPEC.md §2). A name that is not 64
    lowercase hex digits is refused, so a record can never point outside the store."""
    if len(sha256) != 64 or not all(c in _HEX for c in sha256):
        from flightlog.errors import FormatError

        raise FormatError(f"attached file name {sha256[:80]!r} is not a lowercase hex "
                          f"SHA-256", path=str(run_dir))
    return Path(run_dir) / FILES_DIR / "sha256" / sha256[:2] / sha256[2:]


_HEX = frozenset("0123456789abcdef")


def lock_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / LOCK_FILE


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / SEGMENT_DIR).is_dir()


def writer_alive(run_dir: str | os.PathLike[str]) -> bool:
    """True while a writer process holds the run's lock.

    Takes a shared lock without blocking and releases it at once; the writer holds an
    exclusive one, so this fails exactly while a writer lives (SPEC.md §13)."""
    try:
        fd = os.open(lock_path(run_dir), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def find_run_dirs(root: str | os.PathLike[str]) -> list[Path]:
    """Every run directory at or below ``root``, sorted by path."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        if SEGMENT_DIR in dirnames and is_run_dir(dirpath):
            found.append(Path(dirpath))
            dirnames[:] = []
    return sorted(found)


def dir_size(path: str | os.PathLike[str]) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(FileNotFoundError):  # removed while we walk
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
