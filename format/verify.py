"""``flightlog verify``: check every frame, record and attached file of run directories.

A torn tail (a frame a writer had not finished) is reported but is not corruption
(SPEC.md §5). Everything else found is corruption, named by file and byte offset.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightlog.errors import FlightlogError, FormatError

from ._constants import FILE_HEADER_SIZE
from .reader import RunLogReader, decode_frame
from .records import Record, RecordType, attached_blobs
from .rundir import blob_path, find_run_dirs, is_run_dir, writer_alive
from .segment import SegmentTail
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


def verify_run(run_dir: Path) -> Report:
    report = Report(str(run_dir))
    reader = RunLogReader(run_dir)
    state = RunState()
    segment_records: dict[int, int] = {}
    try:
        records = reader.poll()
    except FormatError as exc:  # UnsupportedVersion is raised even in salvage mode
        report.problems.append(f"{_where(exc)}: {exc.message}")
        return report
    for record in records:
        state.apply(record)
        if record.type == RecordType.SEGMENT:
            segment_records.setdefault(record.segment, record.seq)
            _check_segment_record(report, run_dir, record.segment, record.body, state)
    for finding in reader.findings:
        report.problems.append(f"{_where(finding.error)}: {finding.error.message}")
    for seq, why in state.bad_records:
        report.problems.append(f"{run_dir}: record {seq}: {why}")
    segments = reader.segments()
    report.segments = len(segments)
    _check_segment_indexes(report, run_dir, [i for i, _ in segments], segment_records, reader)
    _check_torn_tails(report, reader, run_dir, segments)
    _check_files(report, run_dir, records)
    report.records = len(records)
    if records:
        report.first_seq, report.last_seq = records[0].seq, records[-1].seq
        if records[0].seq != 0:
            report.problems.append(f"{run_dir}: the first record has sequence number "
                                   f"{records[0].seq}, not 0")
    if state.unknown_records:
        report.notes.append(f"{state.unknown_records} records of unknown types (skipped)")
    return report


def _check_segment_record(report: Report, run_dir: Path, index: int, body: dict[str, object],
                          state: RunState) -> None:
    if body.get("index") != index:
        report.problems.append(f"{run_dir}: segment {index} names itself index "
                               f"{body.get('index')!r}")
    if state.id is not None and body.get("run") != state.id:
        report.problems.append(f"{run_dir}: segment {index} belongs to run "
                               f"{body.get('run')!r}, not {state.id!r}")


def _check_segment_indexes(report: Report, run_dir: Path, indexes: list[int],
                           segment_records: dict[int, int], reader: RunLogReader) -> None:
    for expected, index in enumerate(indexes):
        if index != expected:
            report.problems.append(f"{run_dir}: segment {expected} is missing")
            break
    for index in indexes:
        tail = reader.tail(index)
        if index not in segment_records and tail is not None and tail.torn and not tail.frames_read:
            report.notes.append(f"{run_dir}: segment {index} was being created when its writer "
                                f"stopped (torn, no frames; not corruption)")
        elif index not in segment_records:
            report.problems.append(f"{run_dir}: segment {index} has no readable segment "
                                   f"record")


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
                                f"{size - tail.position} bytes, left by a writer that "
                                f"stopped mid-frame (not corruption)")


def _check_files(report: Report, run_dir: Path, records: list[Record]) -> None:
    seen: set[str] = set()
    for record in records:
        body = record.body
        for sha in attached_blobs(body):
            if sha in seen:
                continue
            seen.add(sha)
            report.files += 1
            _check_file(report, run_dir, body, sha)


def _check_file(report: Report, run_dir: Path, body: dict[str, Any], sha: str) -> None:
    path = blob_path(run_dir, sha)
    what = body.get("name") or body.get("key")
    try:
        digest = _sha256(path)
    except (FileNotFoundError, ValueError):
        report.problems.append(f"{path}: attached file {what!r} is missing")
        return
    if digest != sha:
        report.problems.append(f"{path}: attached file {what!r} does not match its "
                               f"SHA-256 (content {digest})")
    elif "size" in body and body.get("sha256") == sha and body["size"] != path.stat().st_size:
        report.problems.append(f"{path}: attached file {what!r} has "
                               f"{path.stat().st_size} bytes, the record says "
                               f"{body['size']}")


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
        report.problems.append(f"{_where(exc)}: {exc.message}")
        return report
    for frame in frames:
        try:
            report.records += len(decode_frame(frame, path=str(path)))
        except FormatError as exc:
            errors.append(exc)
    report.problems.extend(f"{_where(e)}: {e.message}" for e in errors)
    if tail.torn:
        report.notes.append(f"{path}: offset {max(tail.position, FILE_HEADER_SIZE)}: torn "
                            f"tail (a frame not finished; not corruption)")
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
