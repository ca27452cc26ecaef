"""The framing of W&B's ``.wandb`` files (the run's transaction log), read without wandb.

A ``.wandb`` file is LevelDB's log format (https://github.com/google/leveldb/blob/main/
doc/log_format.md) behind a 7-byte W&B header. Sources: wandb/wandb
``wandb/sdk/internal/datastore.py`` (the Python writer and reader, up to 0.2x) and
``core/pkg/leveldb/record.go`` with ``core/internal/transactionlog/`` (the Go writer of
``wandb-core``, the only one in 0.31)::

    file   := header block*
    header := ident ":W&B" (4 bytes) | magic 0xBEE1 (uint16 LE) | version (uint8)
    block  := chunk* trailer?        32768 bytes; the first block begins after the header,
                                     so it holds 32761; the last block may be short
    chunk  := crc (uint32 LE) | length (uint16 LE) | type (uint8) | data[length]
    type   := FULL 1 | FIRST 2 | MIDDLE 3 | LAST 4
    trailer:= 0..6 zero bytes        when fewer than 7 bytes remain in a block

A record is one FULL chunk or FIRST MIDDLE* LAST; chunks never cross a block boundary.
The payload of a record is a serialized ``wandb_internal.Record`` protobuf (see
:mod:`flightlog.importers.wandb_proto`).

The checksum: W&B's docstring says "crc32c", but both writers use **plain CRC-32 (IEEE,
zlib.crc32), unmasked**, over the type byte followed by the data:
``crc == zlib.crc32(bytes([type]) + data)`` (``datastore.py`` seeds ``zlib.crc32`` with
the CRC of the type byte; ``transactionlog`` passes ``leveldb.CRCAlgoIEEE``). LevelDB's
own masked CRC-32C is never used for ``.wandb`` files. Checked against files written by
wandb 0.16.6 and 0.31.0 (tests/importers/data/wandb*/).

Versions: every wandb release we read (0.16 to 0.31) writes version 0
(``LEVELDBLOG_HEADER_VERSION = 0``, ``wandbStoreVersion = 0``), with identical framing and
checksums. Version 1 is accepted too (the framing of the Go writer does not depend on the
version byte); other versions are refused with :class:`WandbFormatError`.

Reading is bounded and salvaging, like LevelDB's ``log::Reader``: a bad checksum, an
impossible length or an unexpected chunk type drops the rest of that block (reported with
the file offset and bytes skipped) and reading resumes at the next block, at its first
FULL or FIRST chunk; a file that ends inside a chunk or inside a multi-chunk record (a
torn tail, a run still being written, a crash) yields every complete record before it
and reports where it ended. A record is at most :data:`MAX_RECORD_BYTES`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flightlog.errors import ForeignFormatError

__all__ = [
    "BLOCK_SIZE",
    "HEADER_SIZE",
    "MAX_RECORD_BYTES",
    "RecordReader",
    "WandbFormatError",
    "read_header",
]

BLOCK_SIZE = 32768
HEADER_SIZE = 7           # the file header, and also each chunk header
CHUNK_HEADER = struct.Struct("<IHB")
FILE_HEADER = struct.Struct("<4sHB")
IDENT = b":W&B"
MAGIC = 0xBEE1            # zlib.crc32(b"Weights & Biases") & 0xFFFF
VERSIONS = (0, 1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
#: One record's limit: W&B's largest records (config, a summary) are far below it.
MAX_RECORD_BYTES = 64 << 20

# CRC-32 of each type byte: the checksum of a chunk continues from it (as datastore.py).
_TYPE_CRC = [zlib.crc32(bytes([t])) for t in range(256)]


class WandbFormatError(ForeignFormatError):
    """A file that is not a ``.wandb`` log at all (wrong ident, magic or version, shorter
    than its header). Damage after a valid header is never raised: it is reported."""


def read_header(head: bytes, path: str | Path) -> int:
    """Check the 7-byte header; return the format version."""
    if len(head) < HEADER_SIZE:
        raise WandbFormatError(f"{path}: {len(head)} bytes, shorter than the 7-byte W&B "
                               "header", offset=0)
    ident, magic, version = FILE_HEADER.unpack_from(head)
    if ident != IDENT or magic != MAGIC:
        raise WandbFormatError(f"{path}: not a .wandb file (header {head[:7].hex()})",
                               offset=0)
    if version not in VERSIONS:
        raise WandbFormatError(f"{path}: .wandb format version {version} is not known "
                               f"(known: {', '.join(map(str, VERSIONS))})", offset=6)
    return int(version)


@dataclass
class RecordReader:
    """Iterate the records of one ``.wandb`` file as ``(offset, payload)``; ``offset`` is
    where the record's first chunk begins. Damage goes to :attr:`problems` (one sentence
    each, naming the file and offset) and never stops the iteration early.

    ``RecordReader(path).records()`` reads the whole file into memory one block at a
    time; ``buf`` may be given instead (tests, or bytes already read)."""

    path: Path
    buf: bytes | None = None
    problems: list[str] = field(default_factory=list)
    version: int = -1
    #: Where the last complete record ended: a reader of a growing file resumes here.
    end_offset: int = 0

    def records(self) -> Iterator[tuple[int, bytes]]:
        data = self.buf if self.buf is not None else self.path.read_bytes()
        self.version = read_header(data[:HEADER_SIZE], self.path)
        self.end_offset = HEADER_SIZE
        yield from self._scan(data)

    def _problem(self, offset: int, what: str) -> None:
        self.problems.append(f"{self.path}: {what} at offset {offset}")

    def _scan(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        size = len(data)
        pos = HEADER_SIZE
        parts: list[bytes] = []   # chunks of the record being assembled
        start = -1                # its first chunk's offset, -1 when none
        assembled = 0
        resyncing = False         # after damage: skip chunks until a FULL or FIRST
        while pos < size:
            block_end = (pos // BLOCK_SIZE + 1) * BLOCK_SIZE
            if block_end - pos < HEADER_SIZE:
                # Invariant: a chunk header never straddles a block; the rest is trailer.
                pos = block_end
                continue
            if size - pos < HEADER_SIZE:
                if any(data[pos:size]):
                    self._problem(pos, f"file ends inside a chunk header ({size - pos} "
                                       "bytes): torn tail")
                break
            crc, length, kind = CHUNK_HEADER.unpack_from(data, pos)
            if crc == 0 and length == 0 and kind == 0:
                pos = block_end  # zeroed space (preallocated or padded): next block
                continue
            end = pos + HEADER_SIZE + length
            if end > block_end or kind not in (FULL, FIRST, MIDDLE, LAST):
                self._problem(pos, f"impossible chunk (type {kind}, length {length}); "
                                   f"skipped {min(block_end, size) - pos} bytes to the "
                                   "next block")
                pos, parts, start, resyncing = block_end, [], -1, True
                continue
            if end > size:
                self._problem(pos, f"file ends inside a chunk ({size - pos} of "
                                   f"{HEADER_SIZE + length} bytes): torn tail")
                parts, start = [], -1
                break
            chunk = data[pos + HEADER_SIZE:end]
            if zlib.crc32(chunk, _TYPE_CRC[kind]) != crc:
                self._problem(pos, f"checksum mismatch (CRC-32 of a type {kind} chunk of "
                                   f"{length} bytes); skipped {min(block_end, size) - pos} "
                                   "bytes to the next block")
                if start >= 0:
                    self._problem(start, "record lost to the damage that follows it")
                pos, parts, start, resyncing = block_end, [], -1, True
                continue
            at = pos
            pos = end
            if kind in (FULL, FIRST):
                if start >= 0:
                    self._problem(start, "record without its LAST chunk; dropped")
                resyncing = False
                if kind == FULL:
                    parts, start = [], -1
                    self.end_offset = pos
                    yield at, chunk
                    continue
                parts, start, assembled = [chunk], at, length
                continue
            if resyncing:
                continue  # the tail of a record whose beginning was lost
            if start < 0:
                self._problem(at, f"a type {kind} chunk with no FIRST before it; skipped")
                continue
            assembled += length
            if assembled > MAX_RECORD_BYTES:
                self._problem(start, f"record longer than {MAX_RECORD_BYTES} bytes; "
                                     "dropped")
                parts, start, resyncing = [], -1, True
                continue
            parts.append(chunk)
            if kind == LAST:
                record, rec_start = b"".join(parts), start
                parts, start = [], -1
                self.end_offset = pos
                yield rec_start, record
        if start >= 0:
            self._problem(start, "file ends inside a record (its FIRST chunk has no LAST)"
                                 ": torn tail or a run still being written")
