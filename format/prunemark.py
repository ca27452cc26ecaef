"""The prune mark ``pruned.json`` (SPEC.md §18.7): which segments and records of a run
``flightlog prune`` deleted by design, once a receipt acknowledged them.

Readers read it so that a pruned run reads as pruned, not as damaged: segments
``0..segments-1`` and records ``0..next_seq-1`` are known absent. A mark that breaks the
rules below is ignored (the run reads as if never pruned) and ``verify`` says so.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from flightlog.errors import FormatError

PRUNE_MARK: Final = "pruned.json"
#: A mark is a few hundred bytes; a reader reads no more than this of one.
MAX_MARK_BYTES: Final = 1 << 20
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class PruneMark:
    """Segments ``0..segments-1`` and records ``0..next_seq-1`` of run ``project/id``
    were pruned."""

    project: str
    id: str
    segments: int
    next_seq: int


def read_prune_mark(run_dir: str | os.PathLike[str]) -> PruneMark | None:
    """The run's prune mark, None when it has none.

    Raises:
        FormatError: ``pruned.json`` exists but breaks SPEC.md §18.7 (readers then ignore
            it; the message says why, the path where).
    """
    path = Path(run_dir) / PRUNE_MARK
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MARK_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FormatError(f"prune mark cannot be read: {exc.strerror or exc}",
                          path=str(path)) from None
    if len(data) > MAX_MARK_BYTES:
        raise FormatError(f"prune mark over {MAX_MARK_BYTES} bytes", path=str(path))
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"prune mark is not JSON: {exc}", path=str(path)) from None
    if not isinstance(doc, dict):
        raise FormatError("prune mark is not a JSON object", path=str(path))
    project, run_id = doc.get("project"), doc.get("id")
    segments, next_seq = doc.get("segments"), doc.get("next_seq")
    for what, value in (("project", project), ("id", run_id)):
        if not isinstance(value, str) or _NAME.fullmatch(value) is None:
            raise FormatError(f"prune mark's {what} {value!r} is not a name (SPEC.md §2)",
                              path=str(path))
    for what, count in (("segments", segments), ("next_seq", next_seq)):
        if type(count) is not int or count < 1:
            raise FormatError(f"prune mark's {what} {count!r} is not an integer >= 1",
                              path=str(path))
    assert isinstance(project, str) and isinstance(run_id, str)
    assert isinstance(segments, int) and isinstance(next_seq, int)
    return PruneMark(project, run_id, segments, next_seq)


def prune_mark_or_none(run_dir: str | os.PathLike[str]) -> PruneMark | None:
    """:func:`read_prune_mark`, a mark that breaks the rules read as none (§18.7)."""
    try:
        return read_prune_mark(run_dir)
    except FormatError:
        return None


__all__ = ["PRUNE_MARK", "PruneMark", "prune_mark_or_none", "read_prune_mark"]
