"""Images as flightlog stores them: numpy arrays encoded to PNG with numpy and zlib only
(no Pillow on the training side), and image files recognised by their magic bytes."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

from .errors import InvalidValue

__all__ = ["image_mime", "png_from_array"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG color type by number of channels: gray, RGB, RGBA.
_PNG_COLOR_TYPES = {1: 0, 3: 2, 4: 6}


def png_from_array(array: Any) -> tuple[bytes, int, int]:
    """Encode a numpy image as PNG (8 bits per channel), with its width and height.

    Args:
        array: HxW (grayscale), HxWx1 (grayscale), HxWx3 (RGB) or HxWx4 (RGBA).
            ``uint8`` is stored as is; floats must lie in [0, 1] and are scaled to
            0..255 (rounded); other integers must lie in 0..255; booleans become 0/255.

    Raises:
        InvalidValue: another shape (named), an empty image, NaN or out-of-range
            values, or a non-numeric dtype.
    """
    image = np.asarray(array)
    if image.ndim == 3 and image.shape[2] in _PNG_COLOR_TYPES:
        channels = image.shape[2]
    elif image.ndim == 2:
        channels = 1
    else:
        raise InvalidValue(f"an image array must be HxW (grayscale), HxWx3 (RGB) or "
                           f"HxWx4 (RGBA), got shape {image.shape}")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise InvalidValue(f"an image array must not be empty, got shape {image.shape}")
    image = _as_uint8(image)
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    # Every scanline starts with its filter type: 0 (None).
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPES[channels], 0, 0, 0)
    png = b"".join([_PNG_SIGNATURE, _png_chunk(b"IHDR", header),
                    _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
                    _png_chunk(b"IEND", b"")])
    return png, int(width), int(height)


def _as_uint8(image: Any) -> Any:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        if np.isnan(image).any():
            raise InvalidValue(f"a float image array holds NaN ({int(np.isnan(image).sum())} "
                               f"of {image.size} values)")
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            raise InvalidValue(f"a float image array must lie in [0, 1], got values from "
                               f"{low} to {high} (scale it, or pass uint8 0..255)")
        return np.rint(image.astype(np.float64) * 255.0).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer):
        low, high = int(image.min()), int(image.max())
        if low < 0 or high > 255:
            raise InvalidValue(f"an integer image array must lie in 0..255, got values "
                               f"from {low} to {high}")
        return image.astype(np.uint8)
    raise InvalidValue(f"an image array must be numeric (uint8, or float in [0, 1]), got "
                       f"dtype {image.dtype}")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def image_mime(data: bytes) -> str | None:
    """The image type of ``data`` from its first bytes: ``image/png``, ``image/jpeg``,
    ``image/gif``, ``image/webp``, ``image/bmp`` or ``image/svg+xml``; None otherwise."""
    head = bytes(data[:1024])
    if head.startswith(_PNG_SIGNATURE):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"BM") and len(head) >= 26:
        return "image/bmp"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!doctype svg", b"<!--"))
                                    and b"<svg" in text):
        return "image/svg+xml"
    return None
