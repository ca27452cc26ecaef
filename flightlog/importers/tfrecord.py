"""TFRecord framing, as TensorBoard event files use it (no TensorFlow needed).

A file is a sequence of records (``tensorflow/core/lib/io/record_writer.cc``;
https://www.tensorflow.org/tutorials/load_data/tfrecord#tfrecords_format_details)::

    record := length: uint64 LE | length_crc: uint32 LE | data: length bytes | data_crc: uint32 LE

Both CRCs are *masked* CRC-32C (Castagnoli) of the 8 length bytes and of the data
(``mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2**32``, the same mask as
flightlog's own frames, so :mod:`flightlog.format._crc` computes it in native code).

Damage: a file that ends inside a record (a writer killed mid-write, or still writing)
is a torn tail; a length whose CRC fails means the framing can no longer be trusted, so
reading stops there; a data CRC that fails loses that one record (its length was
trustworthy) and reading goes on after it. Each finding is reported with the file and
byte offset, never raised.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import crc32c as _crc32c

from flightlog.format._crc import mask

__all__ = ["MAX_RECORD_BYTES", "TFRecordFile", "read_records"]

#: A bound on one record's length: an event holding one image or histogram is KBs to a
#: few MBs; a length above this is damage, not data.
MAX_RECORD_BYTES = 256 << 20

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


@dataclass
class TFRecordFile:
    """The findings of reading one file (filled while :func:`read_records` runs)."""

    path: str
    problems: list[str] = field(default_factory=list)
    records: int = 0
    end: int = 0  # offset after the last intact record


def read_records(path: str | os.PathLike[str], report: TFRecordFile | None = None
                 ) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(offset, data)`` of each intact record of the file at ``path``.

    ``data`` is a view into a read-only map of the file, valid until the next record is
    asked for. Findings go to ``report.problems``."""
    report = report if report is not None else TFRecordFile(str(path))
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                yield from _records(view, size, report)
            finally:
                view.release()


def _records(view: memoryview, size: int, report: TFRecordFile
             ) -> Iterator[tuple[int, memoryview]]:
    pos = 0
    while pos < size:
        if size - pos < _HEADER.size:
            report.problems.append(f"{report.path}: torn tail at offset {pos} "
                                   f"({size - pos} bytes of a record header)")
            return
        length, length_crc = _HEADER.unpack_from(view, pos)
        if mask(_crc32c.crc32c(view[pos:pos + 8])) != length_crc:
            report.problems.append(f"{report.path}: bad length CRC at offset {pos}; the "
                                   f"{size - pos} bytes from there on were not read")
            return
        if length > MAX_RECORD_BYTES:
            report.problems.append(f"{report.path}: record of {length} bytes at offset "
                                   f"{pos} is over the {MAX_RECORD_BYTES}-byte bound; the "
                                   f"rest of the file was not read")
            return
        end = pos + _HEADER.size + length + _FOOTER.size
        if end > size:
            report.problems.append(f"{report.path}: torn tail at offset {pos} (a record "
                                   f"of {length} bytes, {size - pos} bytes left)")
            return
        data = view[pos + _HEADER.size:pos + _HEADER.size + length]
        (data_crc,) = _FOOTER.unpack_from(view, end - _FOOTER.size)
        if mask(_crc32c.crc32c(data)) != data_crc:
            report.problems.append(f"{report.path}: bad data CRC in the record at offset "
                                   f"{pos}; that record was skipped")
        else:
            report.records += 1
            yield pos, data
        data.release()
        pos = end
        report.end = pos
