"""Records of a run directory, in sequence order, resumable (SPEC.md §4.2, §5).

:class:`RunLogReader` follows a run as it grows: each :meth:`~RunLogReader.poll` returns
the records completed since the last one. It is what ``open_run`` reads with, and what
the sync daemon tails live runs with.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.errors import CorruptPayload, CorruptRecord, FormatError, SequenceError

from ._compression import unpack_payload
from ._framing import Frame, OnCorruption
from ._msgpack_codec import unpack_records
from .prunemark import PruneMark, prune_mark_or_none
from .records import Record
from .segment import SegmentTail, list_segments


def decode_frame(frame: Frame, *, path: str | None = None, segment: int = 0) -> list[Record]:
    """The records of a verified frame.

    Raises:
        CorruptPayload: the payload does not decompress or decode (SPEC.md §5 rule 6);
            its ``skipped`` is the whole frame.
    """
    try:
        raw = unpack_payload(frame.payload, frame.flags, path=path, offset=frame.offset)
        items = unpack_records(raw, frame.record_count, path=path, offset=frame.offset)
    except CorruptRecord as exc:
        error = CorruptPayload(exc.message, path=path, offset=frame.offset)
        error.skipped = (frame.offset, frame.end)
        raise error from exc
    return [Record(frame.first_seq + i, rtype, body, segment, frame.offset)
            for i, (rtype, body) in enumerate(items)]


@dataclass
class Finding:
    """One problem a salvage read found: where, what kind (a name of the table in SPEC.md
    §5.2, the error's class name), and the error.

    ``segment`` is the index of the segment file ``path``; ``seq`` the sequence number of
    the record concerned, for findings about one record."""

    path: str
    offset: int | None
    kind: str
    error: FormatError
    segment: int | None = None
    seq: int | None = None

    @property
    def skipped(self) -> tuple[int, int] | None:
        """The half-open byte range ``(start, end)`` skipped because of this finding."""
        return self.error.skipped


def _kind(error: FormatError) -> str:
    return type(error).__name__


@dataclass
class RunLogReader:
    """Resumable reader of every segment of a run directory.

    Args:
        run_dir: the run directory.
        strict: raise the first corruption instead of recording it in ``findings`` and
            resynchronising.

    Example:
        >>> reader = RunLogReader("runs/diabetes/8c2kq0zd")     # doctest: +SKIP
        >>> for record in reader.poll(): ...
    """

    run_dir: str | os.PathLike[str]
    strict: bool = False
    findings: list[Finding] = field(default_factory=list)
    next_seq: int = 0
    #: The run's prune mark (SPEC.md §18.7), read until the first record is.
    prune: PruneMark | None = None
    _tails: dict[int, SegmentTail] = field(default_factory=dict)

    def _on_corruption(self, index: int) -> OnCorruption:
        if self.strict:
            return None

        def report(error: FormatError) -> None:
            self.findings.append(Finding(error.path or "", error.offset, _kind(error), error,
                                         index))
        return report

    def segments(self) -> list[tuple[int, Path]]:
        return list_segments(self.run_dir)

    def tail(self, index: int) -> SegmentTail | None:
        return self._tails.get(index)

    def poll(self) -> list[Record]:
        """Records completed since the last call, in sequence order, each once.

        Raises:
            UnsupportedVersion: a segment of a newer major version.
            FormatError: in strict mode, the first corruption.
        """
        out: list[Record] = []
        if self.next_seq == 0:
            self.prune = prune_mark_or_none(self.run_dir)
        for index, path in self.segments():
            tail = self._tails.get(index)
            if tail is None:
                tail = self._tails[index] = SegmentTail(path, self._on_corruption(index))
            elif not tail.torn and tail.position == _size(path):
                continue  # nothing new in this segment
            for frame in tail.poll():
                out.extend(self._accept(frame, tail.path, index))
        return out

    def _accept(self, frame: Frame, path: str, index: int) -> Iterator[Record]:
        try:
            records = decode_frame(frame, path=path, segment=index)
        except FormatError as exc:
            if self.strict:
                raise
            self.findings.append(Finding(path, frame.offset, _kind(exc), exc, index))
            return
        if (self.next_seq == 0 and self.prune is not None
                and frame.first_seq <= self.prune.next_seq):
            # SPEC.md §18.7: records before the first one read were pruned, not lost.
            self.next_seq = frame.first_seq
        if frame.first_seq > self.next_seq:
            self._problem(index, SequenceError(
                f"sequence gap: expected record {self.next_seq}, frame starts at "
                f"{frame.first_seq} ({frame.first_seq - self.next_seq} records missing)",
                path=path, offset=frame.offset))
        elif frame.first_seq < self.next_seq:
            self._problem(index, SequenceError(
                f"sequence overlap: frame starts at {frame.first_seq}, already read up to "
                f"{self.next_seq - 1}", path=path, offset=frame.offset))
        for record in records:
            if record.seq >= self.next_seq:
                self.next_seq = record.seq + 1
                yield record

    def _problem(self, index: int, error: FormatError) -> None:
        if self.strict:
            raise error
        self.findings.append(Finding(error.path or "", error.offset, _kind(error), error,
                                     index))

    def torn_tails(self) -> list[tuple[str, int]]:
        """(path, offset) of each segment that currently ends in a torn tail."""
        return [(t.path, t.position) for _, t in sorted(self._tails.items()) if t.torn]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def iter_records(run_dir: str | os.PathLike[str], *, strict: bool = False) -> list[Record]:
    """Every complete record of a run directory, in sequence order."""
    return RunLogReader(run_dir, strict=strict).poll()
