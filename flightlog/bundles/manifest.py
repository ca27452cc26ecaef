"""The bundle manifest (SPEC.md §18.3): what a bundle holds, and the names of its members.

A manifest read from a bundle is untrusted: :func:`parse_manifest` checks every field's
type and bound, and that every member name is exactly the canonical name built from the
fields it stands for (hex digests, run ids of SPEC.md §2, integers), so that a member name
is only ever a key to look a member up by, never a path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flightlog.errors import BundleRefused, FlightlogError
from flightlog.format.rundir import check_name

FORMAT = "flightlog-bundle"
VERSION = (1, 0)
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"
#: Bound on the manifest member (a bundle of many runs and files stays far below it).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: Bound on one frames member: the server's largest batch (server/storage.py).
MAX_PART_BYTES = 32 * 1024 * 1024
#: The writer cuts frames members at frame boundaries past this size.
PART_BYTES = 8 * 1024 * 1024

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_MAX_INT = 1 << 63


def part_name(project: str, run_id: str, segment: int, first_seq: int) -> str:
    return f"frames/{project}/{run_id}/{segment:08d}-{first_seq}.frames"


def file_name(sha256: str) -> str:
    return f"files/sha256/{sha256[:2]}/{sha256[2:]}"


@dataclass(frozen=True)
class Part:
    """Frames copied verbatim from bytes ``offset .. offset+size`` of segment ``segment``
    of the run: records ``first_seq .. last_seq``."""

    member: str
    segment: int
    offset: int
    size: int
    first_seq: int
    last_seq: int
    frames: int


@dataclass
class RunEntry:
    project: str
    id: str
    first_seq: int
    last_seq: int
    writer_alive: bool
    parts: list[Part] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # carried here, named by these records
    lost: list[tuple[int, int]] = field(default_factory=list)  # the local log lost these

    @property
    def records(self) -> int:
        return sum(p.last_seq - p.first_seq + 1 for p in self.parts)


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int

    @property
    def member(self) -> str:
        return file_name(self.sha256)


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str


@dataclass
class Manifest:
    bundle_id: str
    number: int
    destination: str
    source_host: str
    created: str  # UTC, "YYYY-MM-DDTHH:MM:SSZ"
    runs: list[RunEntry] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT, "version": list(VERSION), "bundle_id": self.bundle_id,
            "number": self.number, "destination": self.destination,
            "source": {"host": self.source_host}, "created": self.created,
            "runs": [{"project": r.project, "id": r.id, "first_seq": r.first_seq,
                      "last_seq": r.last_seq, "writer_alive": r.writer_alive,
                      "lost": [list(x) for x in r.lost], "files": r.files,
                      "parts": [{"member": p.member, "segment": p.segment,
                                 "offset": p.offset, "size": p.size,
                                 "first_seq": p.first_seq, "last_seq": p.last_seq,
                                 "frames": p.frames} for p in r.parts]}
                     for r in self.runs],
            "files": [{"sha256": f.sha256, "size": f.size} for f in self.files],
            "members": [{"name": m.name, "size": m.size, "sha256": m.sha256}
                        for m in self.members],
        }
        return (json.dumps(doc, indent=1, ensure_ascii=True, allow_nan=False) + "\n").encode()


class _Bad(Exception):
    """Internal: a manifest field that fails its check."""


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise _Bad(f"{where}: no field {key!r}")
    value = obj[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise _Bad(f"{where}.{key} is {type(value).__name__}, not {kind.__name__}")
    if kind is int and not 0 <= value < _MAX_INT:
        raise _Bad(f"{where}.{key} = {value} is out of range")
    if kind is str and len(value) > 4096:
        raise _Bad(f"{where}.{key} is over 4096 characters")
    return value


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value):
        raise _Bad(f"{what} {value[:80]!r} is not well-formed")
    return value


def _name(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except FlightlogError as exc:
        raise _Bad(str(exc)) from exc


def parse_manifest(data: bytes, *, path: str, offset: int) -> Manifest:
    """The manifest of bytes read from a bundle.

    Raises:
        BundleRefused: not JSON, not a flightlog bundle manifest, a newer major version,
            or a field missing, of the wrong type, out of bounds, or a member name that
            is not the canonical one (naming the manifest member and its offset).
    """
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise BundleRefused(f"member {MANIFEST} is not JSON ({exc})", path=path,
                            offset=offset, key=MANIFEST) from exc
    try:
        return _parse(doc)
    except _Bad as exc:
        raise BundleRefused(f"member {MANIFEST}: {exc}", path=path, offset=offset,
                            key=MANIFEST) from None


def _parse(doc: Any) -> Manifest:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _Bad(f"not a flightlog bundle manifest (format is "
                   f"{doc.get('format') if isinstance(doc, dict) else doc!r:.60})")
    version = _get(doc, "version", list, "manifest")
    if len(version) != 2 or not all(type(v) is int for v in version):
        raise _Bad(f"version {version!r:.40} is not [major, minor]")
    if version[0] != VERSION[0]:
        raise _Bad(f"bundle format {version[0]}.{version[1]}; this flightlog reads "
                   f"{VERSION[0]}.x (upgrade flightlog to import it)")
    manifest = Manifest(
        bundle_id=_check(_HEX32, _get(doc, "bundle_id", str, "manifest"), "bundle_id"),
        number=_get(doc, "number", int, "manifest"),
        destination=_name(_get(doc, "destination", str, "manifest"), "destination"),
        source_host=_get(_get(doc, "source", dict, "manifest"), "host", str, "source"),
        created=_check(_TIME, _get(doc, "created", str, "manifest"), "created"))
    for i, raw in enumerate(_get(doc, "files", list, "manifest")):
        where = f"files[{i}]"
        manifest.files.append(FileEntry(
            _check(_HEX64, _get(raw, "sha256", str, where), f"{where}.sha256"),
            _get(raw, "size", int, where)))
    for i, raw in enumerate(_get(doc, "runs", list, "manifest")):
        manifest.runs.append(_parse_run(raw, f"runs[{i}]"))
    for i, raw in enumerate(_get(doc, "members", list, "manifest")):
        where = f"members[{i}]"
        manifest.members.append(Member(
            _get(raw, "name", str, where), _get(raw, "size", int, where),
            _check(_HEX64, _get(raw, "sha256", str, where), f"{where}.sha256")))
    _check_consistent(manifest)
    return manifest


def _parse_run(raw: Any, where: str) -> RunEntry:
    project = _name(_get(raw, "project", str, where), "project")
    run_id = _name(_get(raw, "id", str, where), "run id")
    entry = RunEntry(project, run_id, _get(raw, "first_seq", int, where),
                     _get(raw, "last_seq", int, where),
                     _get(raw, "writer_alive", bool, where))
    for j, f in enumerate(_get(raw, "files", list, where)):
        if not isinstance(f, str):
            raise _Bad(f"{where}.files[{j}] is not a string")
        entry.files.append(_check(_HEX64, f, f"{where}.files[{j}]"))
    for j, lost in enumerate(_get(raw, "lost", list, where)):
        ok = (isinstance(lost, list) and len(lost) == 2
              and all(type(v) is int and 0 <= v < _MAX_INT for v in lost)
              and lost[0] <= lost[1])
        if not ok:
            raise _Bad(f"{where}.lost[{j}] is not a [first, last] range")
        entry.lost.append((lost[0], lost[1]))
    expected = entry.first_seq
    for j, p in enumerate(_get(raw, "parts", list, where)):
        w = f"{where}.parts[{j}]"
        part = Part(_get(p, "member", str, w), _get(p, "segment", int, w),
                    _get(p, "offset", int, w), _get(p, "size", int, w),
                    _get(p, "first_seq", int, w), _get(p, "last_seq", int, w),
                    _get(p, "frames", int, w))
        if part.member != part_name(project, run_id, part.segment, part.first_seq):
            raise _Bad(f"{w}.member {part.member[:120]!r} is not the canonical name "
                       f"{part_name(project, run_id, part.segment, part.first_seq)!r}")
        if part.first_seq > part.last_seq or part.first_seq < expected:
            raise _Bad(f"{w}: records {part.first_seq}..{part.last_seq} are out of order")
        if not 0 < part.size <= MAX_PART_BYTES or part.frames < 1:
            raise _Bad(f"{w}: size {part.size} is not 1..{MAX_PART_BYTES} bytes")
        expected = part.last_seq + 1
        entry.parts.append(part)
    if not entry.parts or entry.parts[0].first_seq != entry.first_seq \
            or entry.parts[-1].last_seq != entry.last_seq:
        raise _Bad(f"{where}: first_seq/last_seq do not match its parts")
    return entry


def _check_consistent(manifest: Manifest) -> None:
    """Every part and file has exactly one member entry of its size; no other member."""
    names: dict[str, Member] = {}
    for member in manifest.members:
        if member.name in names or member.name in (MANIFEST, MANIFEST_DIGEST):
            raise _Bad(f"member {member.name[:120]!r} is listed twice")
        names[member.name] = member
    wanted: dict[str, int] = {}
    carried = set()
    for f in manifest.files:
        wanted[f.member] = f.size
        if f.member != file_name(f.sha256) or f.sha256 in carried:
            raise _Bad(f"file {f.sha256} is listed twice")
        carried.add(f.sha256)
        if names.get(f.member) is not None and names[f.member].sha256 != f.sha256:
            raise _Bad(f"member {f.member} has a SHA-256 other than its name")
    seen_runs = set()
    for run in manifest.runs:
        if (run.project, run.id) in seen_runs:
            raise _Bad(f"run {run.project}/{run.id} is listed twice")
        seen_runs.add((run.project, run.id))
        for part in run.parts:
            if part.member in wanted:
                raise _Bad(f"member {part.member} is listed twice")
            wanted[part.member] = part.size
        missing = [sha for sha in run.files if sha not in carried]
        if missing:
            raise _Bad(f"run {run.project}/{run.id} names file {missing[0]}, which "
                       f"is not in the bundle's files")
    if set(wanted) != set(names):
        extra = sorted(set(names) ^ set(wanted))
        raise _Bad(f"members and contents differ (member {extra[0][:120]!r})")
    for name, size in wanted.items():
        if names[name].size != size:
            raise _Bad(f"member {name} has size {names[name].size}, its entry says {size}")


__all__ = ["FORMAT", "MANIFEST", "MANIFEST_DIGEST", "VERSION", "FileEntry", "Manifest",
           "Member", "Part", "RunEntry", "file_name", "parse_manifest", "part_name"]
