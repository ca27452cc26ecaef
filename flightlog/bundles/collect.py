"""What one run contributes to a bundle: its complete frames from a sequence number on, as
byte ranges of its segment files, and the attached files those records name.

Frames are never re-encoded: a part is a byte range of a segment holding consecutive
complete frames (a torn tail, the frame a live writer is still writing, is left for the
next bundle). Reading starts at a (segment, offset) hint from the ledger when there is
one, so an incremental bundle reads only the bytes written since the last one; a hint that
does not lead to the wanted record is dropped and the run is read from its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flightlog.errors import (
    BundleError,
    CorruptRecord,
    FormatError,
    TruncatedRecord,
    UnsupportedVersion,
)
from flightlog.format._constants import FILE_HEADER_SIZE
from flightlog.format._framing import Frame, scan_frames
from flightlog.format.identity import run_identity
from flightlog.format.prunemark import prune_mark_or_none
from flightlog.format.reader import decode_frame
from flightlog.format.records import attached_blobs
from flightlog.format.rundir import blob_path, writer_alive
from flightlog.format.segment import list_segments, parse_file_header

from .manifest import PART_BYTES

#: Written by ``flightlog prune`` into a run directory it pruned (readers ignore it).
PRUNED_MARK = "pruned.json"


@dataclass
class PlannedPart:
    segment: int
    path: Path
    offset: int
    size: int
    first_seq: int
    last_seq: int
    frames: int

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass
class RunPlan:
    run_dir: Path
    project: str
    run_id: str
    start_seq: int
    writer_alive: bool = False
    parts: list[PlannedPart] = field(default_factory=list)
    #: (sha256, seq of the first included record naming it), each sha once, in order
    blobs: list[tuple[str, int]] = field(default_factory=list)
    lost: list[tuple[int, int]] = field(default_factory=list)
    end_seq: int = 0
    end_hint: tuple[int, int] | None = None
    findings: list[FormatError] = field(default_factory=list)
    #: records this destination never acknowledged that ``flightlog prune`` deleted on the
    #: strength of another destination's receipt: this bundle cannot hold them
    pruned_away: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)


def pruned_through(run_dir: Path) -> int:
    """One past the last record ``flightlog prune`` removed from the run (0: none, or a
    mark that breaks SPEC.md §18.7, which every reader ignores alike)."""
    mark = prune_mark_or_none(run_dir)
    return 0 if mark is None else mark.next_seq


def identify(run_dir: Path) -> tuple[str, str] | None:
    """(project, run id) of a run directory: from its first records, or, when those were
    pruned, from the prune mark."""
    found = run_identity(run_dir)
    if found is not None:
        return found
    mark = prune_mark_or_none(run_dir)
    return None if mark is None else (mark.project, mark.id)


def plan_run(run_dir: Path, project: str, run_id: str, start_seq: int,
             hint: tuple[int, int] | None) -> RunPlan:
    """The run's complete frames holding records ``start_seq`` and after.

    Raises:
        BundleError: records asked for were pruned; an attached file is missing.
        UnsupportedVersion: a segment of a newer major format.
    """
    plan = _plan(run_dir, project, run_id, start_seq, hint)
    if plan is None:  # the hint did not lead to start_seq: read from the start
        plan = _plan(run_dir, project, run_id, start_seq, None)
        assert plan is not None
    return plan


def _plan(run_dir: Path, project: str, run_id: str, start_seq: int,
          hint: tuple[int, int] | None) -> RunPlan | None:
    plan = RunPlan(run_dir, project, run_id, start_seq, end_seq=start_seq, end_hint=hint)
    # Liveness first: a writer found gone had written all it ever will before the read.
    plan.writer_alive = writer_alive(run_dir)
    expected = start_seq
    seen: set[str] = set()
    for index, path in list_segments(run_dir):
        if hint is not None and index < hint[0]:
            continue
        start = hint[1] if hint is not None and index == hint[0] else FILE_HEADER_SIZE
        data = _read_segment(path, start, plan)
        if data is None:
            continue
        scan = scan_frames(data, 0, path=str(path), base=start,
                           on_corruption=plan.findings.append)
        for frame in scan.frames:
            if frame.last_seq < expected:
                continue  # before the start, or a duplicate left by corruption
            if frame.first_seq > expected:
                if hint is not None and not plan.parts:
                    return None
                _missing(plan, run_dir, expected, frame.first_seq)
            try:
                records = decode_frame(frame, path=str(path), segment=index)
            except FormatError as exc:  # CRC fine, payload not: the server would refuse it
                plan.findings.append(exc)
                continue
            _add(plan, index, path, frame)
            for record in records:
                for sha in attached_blobs(record.body):
                    if sha not in seen:
                        seen.add(sha)
                        _check_blob(run_dir, sha, record.seq)
                        plan.blobs.append((sha, record.seq))
            expected = frame.last_seq + 1
            plan.end_hint = (index, frame.end)
    plan.end_seq = max(expected, start_seq)
    return plan


def _read_segment(path: Path, start: int, plan: RunPlan) -> bytes | None:
    with open(path, "rb") as f:
        head = f.read(FILE_HEADER_SIZE)
        try:
            parse_file_header(head, str(path))
        except TruncatedRecord:
            return None  # being created: no frame yet
        except UnsupportedVersion:
            raise
        except CorruptRecord as exc:
            plan.findings.append(exc)  # a damaged header costs only itself (SPEC.md §5)
        f.seek(start)
        return f.read()


def _missing(plan: RunPlan, run_dir: Path, first: int, upto: int) -> None:
    if first < pruned_through(run_dir):
        raise BundleError(f"records {first}..{upto - 1} of {plan.project}/{plan.run_id} were "
                          f"pruned from {run_dir}: they cannot be bundled again (the "
                          f"receipt that allowed it says the other side holds them)",
                          path=str(run_dir))
    plan.lost.append((first, upto - 1))


def _add(plan: RunPlan, index: int, path: Path, frame: Frame) -> None:
    size = frame.end - frame.offset
    last = plan.parts[-1] if plan.parts else None
    if (last is not None and last.segment == index and last.end == frame.offset
            and last.size + size <= PART_BYTES and last.last_seq + 1 == frame.first_seq):
        last.size += size
        last.last_seq = frame.last_seq
        last.frames += 1
    else:
        plan.parts.append(PlannedPart(index, path, frame.offset, size, frame.first_seq,
                                      frame.last_seq, 1))


def _check_blob(run_dir: Path, sha: str, seq: int) -> None:
    try:
        path = blob_path(run_dir, sha)
    except FormatError:
        return  # not a SHA-256: the receiving side refuses the record, naming it
    if not path.is_file():
        raise BundleError(f"attached file {sha} named by record {seq} is missing from "
                          f"{run_dir}: the run cannot be bundled past record {seq}",
                          path=str(run_dir))


__all__ = ["PRUNED_MARK", "PlannedPart", "RunPlan", "identify", "plan_run", "pruned_through"]
