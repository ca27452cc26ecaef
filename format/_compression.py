"""The zstd payload envelope (SPEC.md §6): one independent zstd frame per payload, content
size present, decompressed size bounded by the frame bound."""

from __future__ import annotations

import threading

import zstandard

from flightlog.errors import CorruptRecord

from ._constants import FLAG_ZSTD, MAX_PAYLOAD

# zstandard's (de)compressor objects are not thread-safe: one per thread.
_local = threading.local()
_LEVEL = 3


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = zstandard.ZstdCompressor(level=_LEVEL, write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "d", None)
    if d is None:
        d = _local.d = zstandard.ZstdDecompressor()
    return d


def pack_payload(raw: bytes) -> tuple[bytes, int]:
    """(stored payload, flags): compressed when that is smaller, raw otherwise."""
    packed = _compressor().compress(raw)
    if len(packed) < len(raw):
        return packed, FLAG_ZSTD
    return raw, 0


def unpack_payload(stored: bytes, flags: int, *, path: str | None = None,
                   offset: int | None = None) -> bytes:
    """The record bytes of a stored payload.

    Raises:
        CorruptRecord: not a zstd frame, no content size, over 64 KiB decompressed.
    """
    if not flags & FLAG_ZSTD:
        return stored
    try:
        params = zstandard.get_frame_parameters(stored)
        if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
            raise CorruptRecord("zstd payload without a content size", path=path, offset=offset)
        if params.content_size > MAX_PAYLOAD:
            raise CorruptRecord(
                f"zstd payload declares {params.content_size} bytes, over {MAX_PAYLOAD}",
                path=path, offset=offset)
        out: bytes = _decompressor().decompress(stored, max_output_size=MAX_PAYLOAD,
                                                allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise CorruptRecord(f"zstd payload does not decompress: {exc}", path=path,
                            offset=offset) from exc
    if len(out) != params.content_size:
        raise CorruptRecord("zstd payload shorter than its content size", path=path,
                            offset=offset)
    return out
