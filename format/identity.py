"""Which run a run directory holds, from its first records (SPEC.md §3.2, §11): the first
segment's ``segment`` record names the run id, the ``run`` record its project (and id).

Shared by the sync daemon and the bundle writer, which must agree on it; it needs only the
format, so a sender behind an air gap reads it without the sync stack's HTTP client."""

from __future__ import annotations

from pathlib import Path

from flightlog.errors import FormatError

from .reader import decode_frame
from .records import RecordType
from .segment import SegmentTail, list_segments


def run_identity(run_dir: Path) -> tuple[str, str] | None:
    """(project, run id) from the run's first two frames, or None if not written yet (or
    unreadable: the caller looks again later)."""
    segments = list_segments(run_dir)
    if not segments:
        return None
    run_id = project = None
    try:
        for frame in SegmentTail(segments[0][1], lambda e: None).poll()[:2]:
            for record in decode_frame(frame):
                if record.type == RecordType.SEGMENT:
                    run_id = record.body.get("run")
                elif record.type == RecordType.RUN:
                    project = record.body.get("project")
                    run_id = record.body.get("id", run_id)
    except (FormatError, OSError):
        return None
    if isinstance(run_id, str) and isinstance(project, str):
        return project, run_id
    return None
