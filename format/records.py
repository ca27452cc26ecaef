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
    CONSOLE = 16
    SYSTEM = 17
    ENVIRONMENT = 18
    CODE = 19


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


_HEX = frozenset("0123456789abcdef")


def is_attached_name(value: Any) -> bool:
    """True for 64 lowercase hex digits: the only form an attached file's name takes."""
    return type(value) is str and len(value) == 64 and _HEX.issuperset(value)


def bad_attached_name(body: dict[str, Any]) -> str | None:
    """Why the record's ``sha256``/``blobs`` do not name attached files (SPEC.md §10.1),
    or None when they do (or are absent). The rule holds for every record type."""
    if "sha256" in body and not is_attached_name(body["sha256"]):
        return f"sha256 {str(body['sha256'])[:80]!r} is not 64 lowercase hex digits"
    if "blobs" in body:
        blobs = body["blobs"]
        if type(blobs) is not list:
            return "blobs is not an array"
        for name in blobs:
            if not is_attached_name(name):
                return f"blobs entry {str(name)[:80]!r} is not 64 lowercase hex digits"
    return None


def attached_blobs(body: dict[str, Any]) -> list[str]:
    """The SHA-256s of the attached files a record needs (SPEC.md §10): its ``sha256``
    and every entry of its ``blobs``. The rule holds for every record type, unknown ones
    included, so a reader or the sync daemon of an older minor version still ships and
    checks the files of newer record types. A record with a malformed name names no
    file at all (:func:`bad_attached_name` says why): such a name is never a path."""
    if bad_attached_name(body) is not None:
        return []
    found = []
    if "sha256" in body:
        found.append(body["sha256"])
    found.extend(body.get("blobs") or [])
    return found
