"""Record types (SPEC.md §8) and the decoded form of a record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class RecordType(IntEnum):
    SEGMENT = 1
    RUN = 2
    HISTORY = 3
    METRIC = 4
    LIST = 5
    ROW = 6
    TABLE = 7
    SUMMARY = 8
    CONFIG = 9
    TAGS = 10
    FILE = 11
    FINISH = 12
    DROPPED = 13
    CHART = 14
    MEDIA = 15


KNOWN_TYPES = frozenset(int(t) for t in RecordType)


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read: its sequence number, type number and body map. ``type`` is an
    int, not a :class:`RecordType`, so that unknown types of newer minor versions survive."""

    seq: int
    type: int
    body: dict[str, Any]
    segment: int = 0
    offset: int = 0

    @property
    def type_name(self) -> str:
        try:
            return RecordType(self.type).name.lower()
        except ValueError:
            return f"unknown-{self.type}"


def attached_blobs(body: dict[str, Any]) -> list[str]:
    """The SHA-256s of the attached files a record needs (SPEC.md §10): its ``sha256``
    and every entry of its ``blobs``. The rule holds for every record type, unknown ones
    included, so a reader or the sync daemon of an older minor version still ships and
    checks the files of newer record types. Values that are not str are left out here
    (the record's type handler reports them)."""
    found = []
    sha = body.get("sha256")
    if type(sha) is str:
        found.append(sha)
    extra = body.get("blobs")
    if type(extra) is list:
        found.extend(b for b in extra if type(b) is str)
    return found
