"""The bundle's container: a POSIX tar file (pax format, uncompressed), SPEC.md §18.2.

Writing: every member is a regular file of mode 0644, owner 0/0, no user or group name,
the bundle's creation time as mtime, so the same contents make the same bytes (vectors).
Reading: the archive's headers are listed once, each member's data offset and size kept;
anything but a regular file, a name seen twice, or a header that does not parse refuses
the bundle, naming the member and the byte offset. Member names are only keys here:
nothing is ever extracted to a path named by the archive.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from flightlog.errors import BundleRefused

_BLOCK = 512
_COPY = 4 << 20


@dataclass(frozen=True)
class Entry:
    """A member of an archive being read: where its data lies in the file."""

    name: str
    header_offset: int
    data_offset: int
    size: int


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it (the tar writer pulls from it)."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block = self.source.read(size)
        self.digest.update(block)
        self.count += len(block)
        return block


class BundleWriter:
    """Appends members to a tar file being written (a temporary file of the caller)."""

    def __init__(self, fileobj: IO[bytes], mtime: int) -> None:
        # Closed by close(): the archive is written member by member by the caller.
        self._tar = tarfile.TarFile(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT,
                                    copybufsize=_COPY)
        self.mtime = mtime

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        info.mtime = self.mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        return info

    def add_bytes(self, name: str, data: bytes) -> str:
        """Add a member; returns the SHA-256 of its content."""
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        return hashlib.sha256(data).hexdigest()

    def add_stream(self, name: str, source: IO[bytes], size: int) -> str:
        """Add ``size`` bytes read from ``source``; returns their SHA-256."""
        hashing = _Hashing(source)
        self._tar.addfile(self._info(name, size), hashing)
        return hashing.digest.hexdigest()

    def close(self) -> None:
        self._tar.close()


def list_members(path: str) -> tuple[list[Entry], int]:
    """(every member, the file's size).

    Raises:
        BundleRefused: not a tar file, a damaged header, a member that is not a regular
            file, an unsafe or repeated name, a member whose data the file does not hold
            (truncated).
    """
    size = os.path.getsize(path)
    entries: list[Entry] = []
    seen: set[str] = set()
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 (closed by the with below)
    except tarfile.TarError as exc:
        raise BundleRefused(f"not a bundle: not a tar archive ({exc})", path=path,
                            offset=0) from exc
    with tar:
        end = 0
        while True:
            try:
                info = tar.next()
            except tarfile.TarError as exc:
                raise BundleRefused(f"damaged or truncated tar header after member "
                                    f"{entries[-1].name if entries else '(none)'!r} ({exc})",
                                    path=path, offset=end,
                                    key=entries[-1].name if entries else None) from exc
            if info is None:
                break
            name = info.name
            if not info.isreg():
                raise BundleRefused(f"member {name[:120]!r} is not a regular file (type "
                                    f"{info.type!r}): bundles hold no links, devices or "
                                    f"directories", path=path, offset=info.offset, key=name)
            if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                raise BundleRefused(f"member name {name[:120]!r} is not a relative name",
                                    path=path, offset=info.offset, key=name)
            if info.mode & 0o111:
                raise BundleRefused(f"member {name[:120]!r} has an executable mode "
                                    f"{info.mode:o}", path=path, offset=info.offset, key=name)
            if name in seen:
                raise BundleRefused(f"member {name[:120]!r} appears twice", path=path,
                                    offset=info.offset, key=name)
            seen.add(name)
            if info.offset_data + info.size > size:
                raise BundleRefused(f"member {name[:120]!r} is truncated: the file ends at "
                                    f"offset {size}, its {info.size} bytes would end at "
                                    f"{info.offset_data + info.size}", path=path,
                                    offset=size, key=name)
            entries.append(Entry(name, info.offset, info.offset_data, info.size))
            end = info.offset_data + -(-info.size // _BLOCK) * _BLOCK
    # tarfile takes a damaged header after the first for the end of the archive: what
    # follows the last member must be the end-of-archive zeros, nothing else.
    damaged = _first_nonzero(path, end)
    if damaged is not None:
        raise BundleRefused(f"damaged tar header after member "
                            f"{entries[-1].name if entries else '(none)'!r}: bytes at offset "
                            f"{damaged} follow the last readable member", path=path,
                            offset=end, key=entries[-1].name if entries else None)
    return entries, size


def _first_nonzero(path: str, start: int) -> int | None:
    with open(path, "rb") as f:
        f.seek(start)
        at = start
        while block := f.read(_COPY):
            stripped = block.lstrip(b"\0")
            if stripped:
                return at + len(block) - len(stripped)
            at += len(block)
    return None


def read_member(f: IO[bytes], entry: Entry) -> bytes:
    f.seek(entry.data_offset)
    data = f.read(entry.size)
    if len(data) != entry.size:
        raise BundleRefused(f"member {entry.name} is truncated", path=getattr(f, "name", None),
                            offset=entry.data_offset + len(data), key=entry.name)
    return data


def iter_member(f: IO[bytes], entry: Entry, start: int = 0, block_size: int = _COPY,
                end: int | None = None) -> Iterator[bytes]:
    """The member's bytes ``start .. end`` (default: its end), in blocks of ``block_size``
    (the last shorter)."""
    f.seek(entry.data_offset + start)
    left = (entry.size if end is None else end) - start
    while left > 0:
        block = f.read(min(block_size, left))
        if not block:
            raise BundleRefused(f"member {entry.name} is truncated",
                                path=getattr(f, "name", None),
                                offset=entry.data_offset + entry.size - left, key=entry.name)
        left -= len(block)
        yield block


__all__ = ["BundleWriter", "Entry", "iter_member", "list_members", "read_member"]
