"""``flightlog verify``: check every frame, record and attached file of run directories.

A torn tail (a frame a writer had not finished) is reported but is not corruption
(SPEC.md §5). Everything else found is corruption, named by file and byte offset and by
its kind, a name of the table in SPEC.md §5.2.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.errors import FlightlogError, FormatError

from ._constants import FILE_HEADER_SIZE
from .prunemark import PruneMark, read_prune_mark
from .reader import RunLogReader, decode_frame
from .records import Record, RecordType, attached_blobs
from .rundir import blob_path, find_run_dirs, is_run_dir, writer_alive
from .segment import SegmentTail, segment_path
from .state import RunState


@dataclass
class Report:
    """What verifying one run directory or segment file found."""

    path: str
    problems: list[str] = field(default_factory=list)  # corruption: file, offset, what
    notes: list[str] = field(default_factory=list)  # torn tails and other non-errors
    records: int = 0
    segments: int = 0
    files: int = 0
    first_seq: int | None = None
    last_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _where(error: FlightlogError) -> str:
    parts = [error.path or "?"]
    if error.offset is not None:
        parts.append(f"offset {error.offset}")
    return ", ".join(parts)


def _problem(error: FormatError) -> str:
    """``path, offset N: Kind: message`` (the kind of SPEC.md §5.2), and the skipped
    byte range when bytes were skipped."""
    skipped = f" (skipped bytes {error.skipped[0]}..{error.skipped[1]})" if error.skipped else ""
    return f"{_where(error)}: {type(error).__name__}: {error.message}{skipped}"


def _run_problem(where: Path, kind: str, message: str) -> str:
    return f"{where}: {kind}: {message}"


def verify_run(run_dir: Path) -> Report:
    report = Report(str(run_dir))
    reader = RunLogReader(run_dir)
    state = RunState()
    mark = _prune_mark(report, run_dir)
    segment_records: dict[int, int] = {}
    try:
        records = reader.poll()
    except FormatError as exc:  # UnsupportedVersion is raised even in salvage mode
        report.problems.append(_problem(exc))
        return report
    for record in records:
        state.apply(record)
        if record.type == RecordType.SEGMENT:
            segment_records.setdefault(record.segment, record.seq)
            _check_segment_record(report, run_dir, record.segment, record.body, state)
    errors = [(f.segment or 0, f.offset or 0, 0, f.error) for f in reader.findings]
    for record, error in state.record_errors:
        path = str(segment_path(run_dir, record.segment))
        errors.append((record.segment, record.offset, 1,
                       type(error)(error.message, path=path, offset=error.offset)))
    # In segment and offset order; at one offset the frame's finding before its records'.
    report.problems.extend(_problem(e) for *_, e in sorted(errors, key=lambda x: x[:3]))
    segments = reader.segments()
    report.segments = len(segments)
    _check_segment_indexes(report, run_dir, [i for i, _ in segments], segment_records, reader,
                           mark)
    _check_torn_tails(report, reader, run_dir, segments)
    _check_files(report, run_dir, records, mark)
    report.records = len(records)
    if records:
        # A first record other than 0 is a SequenceError the reader reported.
        report.first_seq, report.last_seq = records[0].seq, records[-1].seq
    if state.unknown_records:
        report.notes.append(f"UnknownRecordType: {state.unknown_records} records of unknown "
                            f"types (skipped)")
    return report


def _prune_mark(report: Report, run_dir: Path) -> PruneMark | None:
    """The run's prune mark (SPEC.md §18.7), noted; one that breaks the rules is noted as
    ignored (the run is then read as never pruned)."""
    try:
        mark = read_prune_mark(run_dir)
    except FormatError as exc:
        report.notes.append(f"{exc.path}: BadPruneMark: {exc.message}; ignored (the run is "
                            f"read as never pruned)")
        return None
    if mark is not None:
        report.notes.append(f"{run_dir}: Pruned: segments 0..{mark.segments - 1} and "
                            f"records 0..{mark.next_seq - 1} were deleted by flightlog "
                            f"prune after a receipt acknowledged them (by design; not "
                            f"corruption)")
    return mark


def _check_segment_record(report: Report, run_dir: Path, index: int, body: dict[str, object],
                          state: RunState) -> None:
    where = segment_path(run_dir, index)
    if body.get("index") != index:
        report.problems.append(_run_problem(where, "SegmentMismatch",
                                            f"segment {index} names itself index "
                                            f"{body.get('index')!r}"))
    if state.id is not None and body.get("run") != state.id:
        report.problems.append(_run_problem(where, "SegmentMismatch",
                                            f"segment {index} belongs to run "
                                            f"{body.get('run')!r}, not {state.id!r}"))


def _check_segment_indexes(report: Report, run_dir: Path, indexes: list[int],
                           segment_records: dict[int, int], reader: RunLogReader,
                           mark: PruneMark | None) -> None:
    # Segments a prune mark lists are absent by design (SPEC.md §18.7); those after it
    # must all be there. (A prune killed between deletions leaves some listed ones.)
    first = min(indexes[0], mark.segments) if mark is not None and indexes else 0
    for expected, index in enumerate(indexes, first):
        if index != expected:
            report.problems.append(_run_problem(run_dir / "log", "MissingSegment",
                                                f"segment {expected} is missing"))
            break
    for index in indexes:
        tail = reader.tail(index)
        where = segment_path(run_dir, index)
        if tail is not None and not tail.frames_read and not _findings_in(reader, index):
            # SPEC.md §3.1: no frame at all (under 16 bytes, the header alone, or the
            # header and a torn tail): a writer stopped before its first frame.
            report.notes.append(f"{where}: EmptySegment: segment {index} holds no frame "
                                f"(its writer stopped before the first one; not "
                                f"corruption)")
        elif index not in segment_records:
            report.problems.append(_run_problem(where, "SegmentMismatch",
                                                f"segment {index} has no readable segment "
                                                f"record"))


def _findings_in(reader: RunLogReader, index: int) -> bool:
    return any(f.segment == index for f in reader.findings)


def _check_torn_tails(report: Report, reader: RunLogReader, run_dir: Path,
                      segments: list[tuple[int, Path]]) -> None:
    last_index = segments[-1][0] if segments else -1
    live = writer_alive(run_dir)
    for index, path in segments:
        tail = reader.tail(index)
        if tail is None or not tail.torn:
            continue
        size = path.stat().st_size
        if index == last_index and live:
            report.notes.append(f"{path}: offset {tail.position}: frame being written by "
                                f"the live writer ({size - tail.position} bytes so far)")
        else:
            report.notes.append(f"{path}: offset {tail.position}: torn tail of "
                                f"{size - tail.position} bytes (TruncatedRecord), left by a "
                                f"writer that stopped mid-frame (not corruption)")


def _check_files(report: Report, run_dir: Path, records: list[Record],
                 mark: PruneMark | None) -> None:
    # A file named only by records of segments a prune mark lists may have been pruned
    # with them (SPEC.md §18.7: a prune killed before it deleted those segments).
    kept = {sha for r in records if mark is None or r.segment >= mark.segments
            for sha in attached_blobs(r.body)}
    seen: set[str] = set()
    for record in records:
        body = record.body
        for sha in attached_blobs(body):
            if sha in seen:
                continue
            seen.add(sha)
            report.files += 1
            _check_file(report, run_dir, record, sha, pruned=sha not in kept)


def _check_file(report: Report, run_dir: Path, record: Record, sha: str, *,
                pruned: bool) -> None:
    body = record.body
    path = blob_path(run_dir, sha)  # a valid name: attached_blobs left out bad ones
    what = body.get("name") or body.get("key")
    try:
        digest = _sha256(path)
    except (FileNotFoundError, IsADirectoryError):
        if pruned:
            report.notes.append(f"{path}: Pruned: attached file {what!r}, named only by "
                                f"records of pruned segments, was pruned with them")
            return
        report.problems.append(_run_problem(path, "MissingFile",
                                            f"attached file {what!r} is missing"))
        return
    if digest != sha:
        report.problems.append(_run_problem(path, "FileMismatch",
                                            f"attached file {what!r} does not match its "
                                            f"SHA-256 (content {digest})"))
    elif "size" in body and body.get("sha256") == sha and body["size"] != path.stat().st_size:
        report.problems.append(_run_problem(path, "FileMismatch",
                                            f"attached file {what!r} has "
                                            f"{path.stat().st_size} bytes, the record says "
                                            f"{body['size']}"))
    elif record.type in (RecordType.TABLE, RecordType.CHART) and body.get("sha256") == sha:
        _check_arrow_file(report, path, record)


def _check_arrow_file(report: Report, path: Path, record: Record) -> None:
    """A table's or chart's Arrow IPC file against SPEC.md §10.4: an ``UnreadableFile``
    note (§5.2: the records are intact and readers read the rest of the run, so it is not
    corruption of the run; the 1.1 vector record/chart-media, whose files are
    placeholders, verifies)."""
    from .arrowlimits import CHART_LIMITS, TABLE_LIMITS, read_ipc_file

    limits = TABLE_LIMITS if record.type == RecordType.TABLE else CHART_LIMITS
    what = "table" if record.type == RecordType.TABLE else "chart"
    try:
        with open(path, "rb") as f:
            read_ipc_file(f, limits, path=str(path))
    except FormatError as exc:
        reason = getattr(exc, "reason", "format")
        report.notes.append(_run_problem(path, "UnreadableFile",
                                         f"{what} {record.body.get('key')!r} cannot be "
                                         f"read ({reason}): {exc.message}; readers leave "
                                         f"it out and read the rest of the run"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_segment_file(path: Path) -> Report:
    """Check one segment file on its own: frames, checksums, payloads."""
    report = Report(str(path), segments=1)
    errors: list[FormatError] = []
    tail = SegmentTail(path, errors.append)
    try:
        frames = tail.poll()
    except FormatError as exc:
        report.problems.append(_problem(exc))
        return report
    for frame in frames:
        try:
            report.records += len(decode_frame(frame, path=str(path)))
        except FormatError as exc:
            errors.append(exc)
    errors.sort(key=lambda e: e.offset or 0)
    report.problems.extend(_problem(e) for e in errors)
    if tail.torn:
        report.notes.append(f"{path}: offset {max(tail.position, FILE_HEADER_SIZE)}: torn "
                            f"tail (TruncatedRecord: a frame not finished; not corruption)")
    return report


def verify_paths(paths: list[str | os.PathLike[str]]) -> list[Report]:
    """Reports for each run directory at or below each path, or each segment file named.

    A path that is neither gives a report with one problem."""
    reports = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            reports.append(verify_segment_file(path))
            continue
        runs = [path] if is_run_dir(path) else find_run_dirs(path) if path.is_dir() else []
        if not runs:
            reports.append(Report(str(path), problems=[
                f"{path}: no run directory or segment file here"]))
        reports.extend(verify_run(run) for run in runs)
    return reports


__all__ = ["Report", "verify_paths", "verify_run", "verify_segment_file"]
