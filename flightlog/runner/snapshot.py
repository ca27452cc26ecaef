"""The code snapshot (SPEC.md §19.4): the source directory's files as content-addressed
attached files, and a manifest naming them.

Which files: every regular file under the directory except what ``.gitignore`` files
(at any level, with git's rules, through pathspec) and ``.flightlogignore`` files (same
syntax, for what git keeps but a snapshot should not) leave out; ``.git/``,
``__pycache__/``, symbolic links and the flightlog root of the run are never taken.
Caps, as Azure's: 300 MB and 2,000 files; past them :class:`SnapshotTooLarge` lists the
largest offenders, before anything is stored.

Identical content is stored once (files are named by their SHA-256, SPEC.md §10.1), so a
second snapshot of unchanged code costs one manifest.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightlog.errors import SnapshotTooLarge

MAX_BYTES = 300 * 1000 * 1000
MAX_FILES = 2000
IGNORE_FILES = (".gitignore", ".flightlogignore")
ALWAYS_SKIPPED = frozenset({".git", "__pycache__"})
#: SPEC.md §19.4: names per ``code`` record, so a record stays inside the 64 KiB bound.
BLOBS_PER_RECORD = 800


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative, POSIX
    abspath: Path
    size: int
    mode: int


def _spec(directory: Path) -> Any:
    import pathspec

    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += (directory / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def collect(root: Path, *, exclude: tuple[Path, ...] = (), max_bytes: int = MAX_BYTES,
            max_files: int = MAX_FILES) -> list[SourceFile]:
    """The files a snapshot of ``root`` takes, sorted by path.

    Raises:
        SnapshotTooLarge: over ``max_files`` or ``max_bytes``.
    """
    root = root.resolve()
    excluded = {p.resolve() for p in exclude}
    files: list[SourceFile] = []
    # (directory relative to root, its ignore spec): the specs of a directory's ancestors.
    specs: list[tuple[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        specs = [(d, s) for d, s in specs if rel_dir == d or rel_dir.startswith(d + "/")
                 or d == ""]
        spec = _spec(here)
        if spec is not None:
            specs.append((rel_dir, spec))
        dirnames[:] = sorted(d for d in dirnames if d not in ALWAYS_SKIPPED
                             and (here / d).resolve() not in excluded
                             and not (here / d).is_symlink()
                             and not _ignored(specs, _join(rel_dir, d) + "/"))
        for name in sorted(filenames):
            rel = _join(rel_dir, name)
            full = here / name
            if full.is_symlink() or _ignored(specs, rel) or name.endswith(".pyc"):
                continue
            try:
                st = full.stat()
            except OSError:
                continue
            files.append(SourceFile(rel, full, st.st_size, st.st_mode & 0o777))
    _check_caps(root, files, max_bytes, max_files)
    return files


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _ignored(specs: list[tuple[str, Any]], rel: str) -> bool:
    ignored = False
    for directory, spec in specs:  # outermost first: a deeper file's rules win
        sub = rel[len(directory) + 1:] if directory else rel
        result = spec.check_file(sub)
        if result.include is not None:
            ignored = bool(result.include)
    return ignored


def _check_caps(root: Path, files: list[SourceFile], max_bytes: int, max_files: int) -> None:
    total = sum(f.size for f in files)
    if len(files) <= max_files and total <= max_bytes:
        return
    by_dir_count: Counter[str] = Counter()
    by_dir_bytes: Counter[str] = Counter()
    for f in files:
        top = f.path.split("/", 1)[0] + ("/" if "/" in f.path else "")
        by_dir_count[top] += 1
        by_dir_bytes[top] += f.size
    if len(files) > max_files:
        worst = ", ".join(f"{d} ({n} files)" for d, n in by_dir_count.most_common(5))
        what = f"{len(files)} files (the cap is {max_files})"
    else:
        worst = ", ".join(f"{d} ({n / 1e6:.1f} MB)" for d, n in by_dir_bytes.most_common(5))
        what = f"{total / 1e6:.1f} MB (the cap is {max_bytes / 1e6:.0f} MB)"
    raise SnapshotTooLarge(
        f"the code snapshot of {root} would hold {what}; largest: {worst}. Leave them out "
        f"with a .flightlogignore (gitignore syntax), snapshot a smaller directory with "
        f"--snapshot DIR, or take none with --no-snapshot", path=str(root))


def manifest_bytes(entries: list[dict[str, Any]]) -> bytes:
    """The manifest's JSON text (SPEC.md §19.4): UTF-8, keys sorted, entries by path."""
    doc = {"version": 1, "files": sorted(entries, key=lambda e: e["path"])}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def store(run_dir: Path, files: list[SourceFile]) -> list[dict[str, Any]]:
    """Store each file's content and the manifest; the ``code`` record bodies."""
    from flightlog.writer.blobs import store_blob, store_bytes

    entries: list[dict[str, Any]] = []
    for f in files:
        try:
            with open(f.abspath, "rb") as src:
                sha, size = store_blob(run_dir, src)
        except OSError:
            continue  # vanished or unreadable since it was listed: not part of the code
        entries.append({"path": f.path, "sha256": sha, "size": size, "mode": f.mode})
    manifest_sha, _ = store_bytes(run_dir, manifest_bytes(entries))
    blobs = sorted({e["sha256"] for e in entries})
    total = sum(e["size"] for e in entries)
    now = time.time()
    parts = [blobs[i:i + BLOBS_PER_RECORD] for i in range(0, len(blobs), BLOBS_PER_RECORD)]
    return [{"sha256": manifest_sha, "blobs": part, "files": len(entries), "bytes": total,
             "time": now} for part in parts or [[]]]
