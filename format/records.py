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
