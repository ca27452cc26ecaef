"""Bounds on attached Arrow IPC files (SPEC.md §10.4), checked before pyarrow reads one.

pyarrow trusts a file's metadata: it decompresses compressed bodies whatever their
ratio, and a column's declared length costs memory when it is turned into Python values
even if the file holds no bytes for it (a null column of three million rows is a few
hundred bytes). Attached files come from whoever wrote the run directory or posted to
the server, so before any table is read its metadata alone is checked here: the file's
footer and each message header (flatbuffers, parsed with bounds checks on every offset),
never its buffers. Then the file is memory-mapped and read without copying, so a reader
that keeps a page of rows touches only those rows' pages.

One check serves every reader: the server when a record names a file (commit), the
writer before it stores one, and ``open_run(...).tables()`` / ``charts()``.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, Any, Final

from flightlog.errors import FormatError, UnreadableFile

_MAGIC: Final = b"ARROW1"
_CONTINUATION: Final = 0xFFFFFFFF
_METADATA_V5: Final = 4  # MetadataVersion.V5: Arrow 1.0.0 and later
_HEADER_DICTIONARY: Final = 2
_HEADER_RECORD_BATCH: Final = 3
_BLOCK_SIZE: Final = 24  # struct Block { offset: long; metaDataLength: int; bodyLength: long }
_STRUCT16: Final = 16  # struct FieldNode / Buffer: two longs


#: Nesting of column types (struct of list of ...) a reader accepts.
MAX_TYPE_DEPTH: Final = 32


@dataclass(frozen=True, slots=True)
class ArrowLimits:
    """What a reader accepts of one attached Arrow IPC file.

    ``cells`` is the sum of the lengths of every field node of every record and
    dictionary batch: how many values a reader materialises. It may not exceed
    ``free_cells + cells_per_byte * file size``: beyond a fixed allowance each value
    must cost file bytes, as every Arrow type but null does (a bit at least).
    """

    max_rows: int
    max_bytes: int
    free_cells: int
    cells_per_byte: int

    def max_cells(self, size: int) -> int:
        return self.free_cells + self.cells_per_byte * size


#: A ``table`` record's file (SPEC.md §10.3, §10.4).
TABLE_LIMITS: Final = ArrowLimits(max_rows=10_000_000, max_bytes=2 << 30,
                                  free_cells=1_000_000, cells_per_byte=8)
#: A ``chart`` record's data (SPEC.md §10.2, §10.4): inlined into the spec as JSON rows.
CHART_LIMITS: Final = ArrowLimits(max_rows=1_000_000, max_bytes=64 << 20,
                                  free_cells=1_000_000, cells_per_byte=0)


@dataclass(frozen=True, slots=True)
class IpcShape:
    rows: int
    cells: int
    size: int


class _Bad(Exception):
    """Internal: the metadata is not what it should be (turned into UnreadableFile).
    ``reason``: the name of the SPEC.md §10.4 rule broken (``format`` unless a bound)."""

    def __init__(self, message: str, reason: str = "format") -> None:
        super().__init__(message)
        self.reason = reason


def _unreadable(message: str, reason: str, path: str | None = None) -> UnreadableFile:
    error = UnreadableFile(message, path=path)
    error.reason = reason
    return error


class _Flatbuffer:
    """Read-only access to one flatbuffer, every read bounds-checked."""

    def __init__(self, data: memoryview) -> None:
        self.data = data

    def _unpack(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise _Bad(f"flatbuffer read at {pos} outside its {len(self.data)} bytes")
        value: int = struct.unpack_from(fmt, self.data, pos)[0]
        return value

    def root(self) -> int:
        return self._unpack("<I", 0)

    def field(self, table: int, index: int) -> int | None:
        """Position of field ``index`` of the table at ``table``, None when absent."""
        vtable = table - self._unpack("<i", table)
        vtable_size = self._unpack("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vtable_size:
            return None
        offset = self._unpack("<H", vtable + slot)
        return table + offset if offset else None

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        pos = self.field(table, index)
        return default if pos is None else self._unpack(fmt, pos)

    def table(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else pos + self._unpack("<I", pos)

    def structs(self, table: int, index: int, size: int) -> list[int]:
        """Positions of the elements of a vector of structs of ``size`` bytes."""
        pos = self.field(table, index)
        if pos is None:
            return []
        start = pos + self._unpack("<I", pos)
        count = self._unpack("<I", start)
        if start + 4 + count * size > len(self.data):
            raise _Bad(f"vector of {count} elements runs past its flatbuffer")
        return [start + 4 + i * size for i in range(count)]

    def i64(self, pos: int) -> int:
        return self._unpack("<q", pos)

    def i32(self, pos: int) -> int:
        return self._unpack("<i", pos)


def check_ipc_file(data: bytes | memoryview, limits: ArrowLimits) -> IpcShape:
    """Check an Arrow IPC file's metadata against ``limits`` without reading its data.

    Raises:
        UnreadableFile: not an Arrow IPC file, metadata version before 1.0.0, big-endian,
            a compressed batch, a buffer outside its message body (``reason`` ``format``),
            or more bytes, rows or cells than ``limits`` allow (``size``, ``rows``,
            ``values``). Carries no path: callers add it.
    """
    view = memoryview(data).cast("B")
    try:
        return _check(view, limits)
    except _Bad as exc:
        raise _unreadable(f"not an acceptable Arrow IPC file (SPEC.md §10.4): {exc}",
                          exc.reason) from None
    finally:
        view.release()


def _check(view: memoryview, limits: ArrowLimits) -> IpcShape:
    size = len(view)
    if size > limits.max_bytes:
        raise _Bad(f"{size} bytes, over the {limits.max_bytes} byte limit", "size")
    if size < 18 or bytes(view[:6]) != _MAGIC or bytes(view[-6:]) != _MAGIC:
        raise _Bad("no ARROW1 magic at both ends (the Arrow IPC file variant)")
    footer_size = struct.unpack_from("<i", view, size - 10)[0]
    footer_start = size - 10 - footer_size
    if footer_size <= 0 or footer_start < 8:
        raise _Bad(f"footer length {footer_size} does not fit the file")
    footer = _Flatbuffer(view[footer_start:size - 10])
    root = footer.root()
    version = footer.scalar(root, 0, "<h")
    if version < _METADATA_V5:
        raise _Bad(f"metadata version {version}, before Arrow 1.0.0's V5")
    schema = footer.table(root, 1)
    if schema is None:
        raise _Bad("the footer has no schema")
    if footer.scalar(schema, 0, "<h") != 0:
        raise _Bad("big-endian data")
    rows = cells = 0
    blocks = ([(_HEADER_DICTIONARY, b) for b in footer.structs(root, 2, _BLOCK_SIZE)]
              + [(_HEADER_RECORD_BATCH, b) for b in footer.structs(root, 3, _BLOCK_SIZE)])
    for number, (kind, block) in enumerate(blocks):
        offset, meta_size, body_size = (footer.i64(block), footer.i32(block + 8),
                                        footer.i64(block + 16))
        if (offset < 8 or meta_size < 8 or body_size < 0
                or offset + meta_size + body_size > footer_start):
            raise _Bad(f"block {number} (offset {offset}) lies outside the file's data")
        batch_rows, batch_cells = _check_message(view[offset:offset + meta_size], kind,
                                                 body_size, offset)
        if kind == _HEADER_RECORD_BATCH:
            rows += batch_rows
        cells += batch_cells
        if rows > limits.max_rows:
            raise _Bad(f"over {limits.max_rows} rows", "rows")
        if cells > limits.max_cells(size):
            raise _Bad(f"declares over {limits.max_cells(size)} values in {size} bytes "
                       f"(columns longer than their data)", "values")
    return IpcShape(rows, cells, size)


def _check_message(meta: memoryview, kind: int, body_size: int, offset: int
                   ) -> tuple[int, int]:
    """(rows, cells) of the batch whose encapsulated message header is ``meta``."""
    if len(meta) < 8:
        raise _Bad(f"message at offset {offset} is truncated")
    prefix = struct.unpack_from("<I", meta, 0)[0]
    start = 8 if prefix == _CONTINUATION else 4
    length = struct.unpack_from("<i", meta, start - 4)[0]
    if length <= 0 or start + length > len(meta):
        raise _Bad(f"message at offset {offset} has a bad metadata length {length}")
    message = _Flatbuffer(meta[start:start + length])
    root = message.root()
    header_type = message.scalar(root, 1, "<B")
    if header_type != kind:
        raise _Bad(f"message at offset {offset} is of type {header_type}, not {kind}")
    if message.scalar(root, 3, "<q") != body_size:
        raise _Bad(f"message at offset {offset} disagrees with the footer on its body size")
    header = message.table(root, 2)
    if header is None:
        raise _Bad(f"message at offset {offset} has no header")
    batch = header if kind == _HEADER_RECORD_BATCH else message.table(header, 1)
    if batch is None:
        raise _Bad(f"dictionary batch at offset {offset} has no data")
    if message.field(batch, 3) is not None:
        raise _Bad(f"the batch at offset {offset} is compressed (tables are uncompressed)")
    rows = message.scalar(batch, 0, "<q")
    if rows < 0:
        raise _Bad(f"the batch at offset {offset} has length {rows}")
    cells = 0
    for node in message.structs(batch, 1, _STRUCT16):
        length, nulls = message.i64(node), message.i64(node + 8)
        if length < 0 or not 0 <= nulls <= length:
            raise _Bad(f"the batch at offset {offset} has a column of length {length} "
                       f"with {nulls} nulls")
        cells += length
    for buffer in message.structs(batch, 2, _STRUCT16):
        start_at, size = message.i64(buffer), message.i64(buffer + 8)
        if start_at < 0 or size < 0 or start_at + size > body_size:
            raise _Bad(f"the batch at offset {offset} has a buffer outside its body")
    return rows, cells


def read_ipc_file(f: IO[bytes], limits: ArrowLimits, *, path: str | None = None,
                  sha256: str | None = None) -> Any:
    """The ``pyarrow.Table`` in the Arrow IPC file ``f``, checked first: its size, then
    (given ``sha256``, the name it is stored under) that its content's SHA-256 is that
    name (SPEC.md §10.1: a reader checks before trusting content), then its form.

    A real file is memory-mapped and read without copying: the table's buffers are the
    file's pages, so slicing a page of rows off it reads only that page.

    Raises:
        UnreadableFile: the file fails :func:`check_ipc_file` (its ``reason``), its
            content is not ``sha256``'s (``digest``) or pyarrow cannot read it
            (``format``).
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    data = _map(f, limits, path)
    if sha256 is not None:
        _check_digest(f, data, sha256, path)
    try:
        check_ipc_file(data, limits)
        table = ipc.open_file(pa.py_buffer(data)).read_all()
        # pyarrow's reader checks buffer sizes only; offsets and UTF-8 are checked here,
        # before anything walks them (a bad offset would crash the process). Reading
        # the mapped pages for that adds no memory of the process's own.
        table.validate(full=True)
        _check_names(table.schema)
        return table
    except FormatError as exc:
        raise _unreadable(exc.message, getattr(exc, "reason", "format"), path) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(f"unreadable Arrow IPC file: {exc}", "format", path) from None


#: Files whose digest was checked, by (device, inode, size, mtime, ctime): an attached file is
#: content-addressed and never rewritten in place, so one that stats the same is the same
#: and paging through a big table hashes it once, not once per page. Bounded.
_DIGEST_CHECKED: OrderedDict[tuple[int, int, int, int, int, str], None] = OrderedDict()
_DIGEST_CHECKED_MAX = 4096
_DIGEST_LOCK = threading.Lock()


def _check_digest(f: IO[bytes], data: Any, sha256: str, path: str | None) -> None:
    try:
        st = os.fstat(f.fileno())
        stamp: tuple[int, int, int, int, int, str] | None = (
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha256)
    except (AttributeError, OSError, io.UnsupportedOperation):
        stamp = None  # not a real file: no stamp to trust, hash every time
    if stamp is not None:
        with _DIGEST_LOCK:
            if stamp in _DIGEST_CHECKED:
                _DIGEST_CHECKED.move_to_end(stamp)
                return
    actual = _sha256_of(f, data)
    if actual != sha256:
        raise _unreadable(f"its content's SHA-256 is {actual}, not the {sha256} it is "
                          f"stored under (changed or damaged after it was written)",
                          "digest", path)
    if stamp is not None:
        with _DIGEST_LOCK:
            _DIGEST_CHECKED[stamp] = None
            while len(_DIGEST_CHECKED) > _DIGEST_CHECKED_MAX:
                _DIGEST_CHECKED.popitem(last=False)


def _sha256_of(f: IO[bytes], data: Any) -> str:
    """OpenSSL's SHA-256 (hashlib) of the file: read through a small buffer rather than
    through the mapping, so hashing does not fault the whole file into the process."""
    if not isinstance(data, mmap.mmap):
        return hashlib.sha256(data).hexdigest()
    digest, buffer = hashlib.sha256(), bytearray(1 << 20)
    view = memoryview(buffer)
    f.seek(0)
    while count := f.readinto(view):  # type: ignore[attr-defined]
        digest.update(view[:count])
    return digest.hexdigest()


def _map(f: IO[bytes], limits: ArrowLimits, path: str | None) -> Any:
    try:
        fileno = f.fileno()
        size = f.seek(0, io.SEEK_END)
    except (AttributeError, OSError, io.UnsupportedOperation):
        data = f.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise _unreadable(f"Arrow IPC file over the {limits.max_bytes} byte limit",
                              "size", path) from None
        return data
    if size == 0:
        raise _unreadable("empty file where an Arrow IPC file should be", "format", path)
    if size > limits.max_bytes:
        raise _unreadable(f"Arrow IPC file of {size} bytes, over the {limits.max_bytes} "
                          f"byte limit", "size", path)
    # The mapping outlives this call through the table's buffers (py_buffer keeps it).
    return mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)



def _check_names(schema: Any) -> None:
    """Every field name, nested ones too, decodes as UTF-8 (UnicodeDecodeError, a
    ValueError, otherwise surfaces later from wherever a name is first used), and types
    nest at most MAX_TYPE_DEPTH deep (converting values to Python recurses)."""
    pending = [(field, 1) for field in schema]
    while pending:
        field, depth = pending.pop()
        field.name  # noqa: B018 - decoding is the check
        if depth > MAX_TYPE_DEPTH:
            raise FormatError(f"column {field.name!r} nests types over {MAX_TYPE_DEPTH} deep")
        kind = field.type
        pending.extend((kind.field(i), depth + 1)
                       for i in range(getattr(kind, "num_fields", 0)))
