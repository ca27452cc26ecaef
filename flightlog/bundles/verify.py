"""Checking a bundle in full before anything of it is used (SPEC.md §18.5).

Order: the archive's headers; the manifest against ``manifest.sha256``; the manifest's
fields; the members against the manifest (no member missing, none extra, sizes); then
every frames member with the strict frame reader (the reader sync's server uses), its
records decoded and their run and segment checked, and every member's SHA-256. The first
problem refuses the whole bundle with a :class:`~flightlog.errors.BundleRefused` naming
the member and the byte offset in the bundle file.
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from flightlog.errors import BundleRefused, FormatError
from flightlog.format._framing import scan_frames
from flightlog.format.reader import decode_frame
from flightlog.format.records import RecordType
from flightlog.format.state import RunState

from .container import Entry, iter_member, list_members, read_member
from .manifest import (
    MANIFEST,
    MANIFEST_DIGEST,
    MAX_MANIFEST_BYTES,
    Manifest,
    Part,
    RunEntry,
    parse_manifest,
)
from .progress import Progress

#: Threads hashing attached files while frames are checked.
HASH_THREADS = 4
_DIGEST_LINE = re.compile(rb"([0-9a-f]{64})  manifest\.json\n\Z")


@dataclass
class Bundle:
    """A bundle whose structure and manifest were checked: members by name."""

    path: str
    manifest: Manifest
    entries: dict[str, Entry]
    size: int

    def entry(self, name: str) -> Entry:
        return self.entries[name]


def open_bundle(path: str | os.PathLike[str]) -> Bundle:
    """The bundle's manifest and member index, checked against each other (contents are
    not read: :func:`verify_bundle` does that)."""
    where = str(path)
    entries, size = list_members(where)
    by_name = {e.name: e for e in entries}
    for needed in (MANIFEST, MANIFEST_DIGEST):
        if needed not in by_name:
            raise BundleRefused(f"no member {needed}: the bundle is truncated (the archive "
                                f"ends at offset {size}) or is not a flightlog bundle",
                                path=where, offset=size, key=needed)
    with open(where, "rb") as f:
        digest_entry, manifest_entry = by_name[MANIFEST_DIGEST], by_name[MANIFEST]
        if digest_entry.size > 200 or manifest_entry.size > MAX_MANIFEST_BYTES:
            raise BundleRefused("manifest members over their size bound", path=where,
                                offset=manifest_entry.header_offset, key=MANIFEST)
        line = _DIGEST_LINE.match(read_member(f, digest_entry))
        if line is None:
            raise BundleRefused(f"member {MANIFEST_DIGEST} is not '<sha256>  {MANIFEST}'",
                                path=where, offset=digest_entry.data_offset,
                                key=MANIFEST_DIGEST)
        body = read_member(f, manifest_entry)
    got = hashlib.sha256(body).hexdigest()
    if got.encode() != line.group(1):
        raise BundleRefused(f"member {MANIFEST} does not match {MANIFEST_DIGEST} (SHA-256 "
                            f"{got}): damaged or edited", path=where,
                            offset=manifest_entry.data_offset, key=MANIFEST)
    manifest = parse_manifest(body, path=where, offset=manifest_entry.data_offset)
    listed = {m.name: m for m in manifest.members}
    for entry in entries:
        if entry.name in (MANIFEST, MANIFEST_DIGEST):
            continue
        member = listed.get(entry.name)
        if member is None:
            raise BundleRefused(f"member {entry.name[:120]!r} is not in the manifest (foreign "
                                f"content)", path=where, offset=entry.header_offset,
                                key=entry.name)
        if member.size != entry.size:
            raise BundleRefused(f"member {entry.name} has {entry.size} bytes, the manifest "
                                f"says {member.size}", path=where, offset=entry.header_offset,
                                key=entry.name)
    for name in listed:
        if name not in by_name:
            raise BundleRefused(f"member {name} of the manifest is not in the archive",
                                path=where, offset=size, key=name)
    return Bundle(where, manifest, by_name, size)


def verify_bundle(path: str | os.PathLike[str], *, progress: bool = True) -> Bundle:
    """Check every byte of the bundle.

    Raises:
        BundleRefused: the first problem, naming member and offset.
    """
    bundle = open_bundle(path)
    verify_contents(bundle, progress=progress)
    return bundle


def verify_contents(bundle: Bundle, *, progress: bool = True) -> None:
    """Every member of an opened bundle: frames strictly, every SHA-256.

    Raises:
        BundleRefused: the first problem, naming member and offset.
    """
    digests = {m.name: m.sha256 for m in bundle.manifest.members}
    total = sum(m.size for m in bundle.manifest.members)
    bar = Progress(total if progress else 0, f"verify {Path(bundle.path).name}")
    # Attached files are hashed on worker threads (hashlib releases the GIL) while the
    # frames are checked here; problems are still reported in manifest order.
    pool = ThreadPoolExecutor(max_workers=min(HASH_THREADS, os.cpu_count() or 1))
    try:
        hashing = [(bundle.entry(file.member), file.sha256,
                    pool.submit(_hash_member, bundle.path, bundle.entry(file.member), bar))
                   for file in bundle.manifest.files]
        with open(bundle.path, "rb") as f:
            for run in bundle.manifest.runs:
                for part in run.parts:
                    entry = bundle.entry(part.member)
                    data = read_member(f, entry)
                    check_frames(bundle.path, entry, data, run, part)
                    _check_digest(bundle.path, entry, hashlib.sha256(data).hexdigest(),
                                  digests[entry.name])
                    bar.update(entry.size)
        for entry, want, future in hashing:
            _check_digest(bundle.path, entry, future.result(), want)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


def _hash_member(path: str, entry: Entry, bar: Progress) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter_member(f, entry):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _check_digest(path: str, entry: Entry, got: str, want: str) -> None:
    if got != want:
        raise BundleRefused(f"member {entry.name} does not match its SHA-256 in the manifest "
                            f"(content {got}): damaged or edited", path=path,
                            offset=entry.data_offset, key=entry.name)


def check_frames(path: str, entry: Entry, data: bytes, run: RunEntry, part: Part) -> None:
    """The member holds exactly the part's frames, complete and intact, of records
    ``first_seq..last_seq`` of this run and segment (the checks a server makes)."""
    def refuse(why: str, offset: int) -> BundleRefused:
        return BundleRefused(f"member {entry.name}: {why}", path=path, offset=offset,
                             key=entry.name)

    try:
        scan = scan_frames(data, 0, path=path, base=entry.data_offset)
    except FormatError as exc:
        raise refuse(exc.message, exc.offset or entry.data_offset) from exc
    if scan.torn:
        raise refuse("ends inside a frame (truncated)", scan.position)
    expected = part.first_seq
    scratch = RunState()
    for frame in scan.frames:
        if frame.first_seq != expected:
            raise refuse(f"frame starts at record {frame.first_seq}, expected {expected}",
                         frame.offset)
        expected = frame.last_seq + 1
        try:
            records = decode_frame(frame, path=path, segment=part.segment)
        except FormatError as exc:
            raise refuse(exc.message, frame.offset) from exc
        for record in records:
            scratch.apply(record)
            body = record.body
            if record.type == RecordType.SEGMENT and (
                    body.get("run") != run.id or body.get("index") != part.segment):
                raise refuse(f"segment record names run {body.get('run')!r} segment "
                             f"{body.get('index')!r}, the manifest {run.id!r} segment "
                             f"{part.segment}", frame.offset)
            if record.type == RecordType.RUN and (
                    body.get("id") != run.id or body.get("project") != run.project):
                raise refuse(f"run record names {body.get('project')!r}/{body.get('id')!r}, "
                             f"the manifest {run.project}/{run.id}", frame.offset)
    if len(scan.frames) != part.frames or expected != part.last_seq + 1:
        raise refuse(f"{len(scan.frames)} frames up to record {expected - 1}, the manifest "
                     f"says {part.frames} up to {part.last_seq}", entry.data_offset)
    if scratch.bad_records:
        seq, why = scratch.bad_records[0]
        raise refuse(f"record {seq}: {why}", entry.data_offset)


__all__ = ["Bundle", "check_frames", "open_bundle", "verify_bundle", "verify_contents"]
