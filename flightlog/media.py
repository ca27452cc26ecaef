"""``flightlog.Image`` and ``flightlog.Html``: media a run logs, alone or in table cells.

Both encode their content when they are made (an image becomes PNG bytes unless it
already is an image file), so logging them later only stores bytes. How they are stored
(a ``media`` record naming an attached file; a table cell naming one): SPEC.md §10.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from .errors import InvalidValue

__all__ = ["Html", "Image"]

#: Field metadata marking a table column of media cells (SPEC.md §10.3).
MEDIA_FIELD_KEY = b"flightlog:media"


def media_cell_type() -> Any:
    """The Arrow type of a media cell (SPEC.md §10.3)."""
    import pyarrow as pa

    return pa.struct([("kind", pa.string()), ("sha256", pa.string()), ("mime", pa.string()),
                      ("caption", pa.string()), ("width", pa.int64()),
                      ("height", pa.int64())])


def media_cell(kind: str, sha256: str, mime: str, caption: str | None, width: int | None,
               height: int | None) -> dict[str, Any]:
    """A media cell's value (SPEC.md §10.3), as a table column of media holds it."""
    return {"kind": kind, "sha256": sha256, "mime": mime, "caption": caption,
            "width": width, "height": height}


def is_media_cell(value: Any) -> bool:
    return type(value) is dict and value.keys() == _CELL_KEYS


_CELL_KEYS = {"kind", "sha256", "mime", "caption", "width", "height"}


class Image:
    """An image to log: ``run.log({"sample": flightlog.Image(x, caption="...")})``.

    Args:
        data_or_path: a numpy array (HxW, HxWx3 or HxWx4; uint8, or floats in [0, 1];
            a tensor with ``.numpy()`` too, CxHxW accepted), a PIL image, a path to an
            image file (PNG, JPEG, GIF, WebP, BMP, SVG: stored as it is), or a matplotlib
            figure / ``pyplot`` (stored as PNG).
        caption: shown under the image.

    Raises:
        InvalidValue: anything else, an array of another shape or range, an empty figure,
            a file that is not an image (each message names what was wrong).
    """

    kind = "image"

    def __init__(self, data_or_path: Any, mode: str | None = None,
                 caption: str | None = None) -> None:
        from . import figures, images

        self.caption = None if caption is None else str(caption)
        self.width: int | None = None
        self.height: int | None = None
        value = data_or_path
        if isinstance(value, (str, os.PathLike)):
            path = Path(value)
            if not path.is_file():
                raise InvalidValue(f"Image path {str(path)!r} is not a file")
            self.data = path.read_bytes()
            mime = images.image_mime(self.data)
            if mime is None:
                raise InvalidValue(f"Image file {str(path)!r} is not a PNG, JPEG, GIF, WebP, "
                                   f"BMP or SVG image")
            self.mime = mime
            return
        self.mime = "image/png"
        if figures.is_matplotlib(value):
            fig = figures.matplotlib_figure(value)
            self.data, self.width, self.height = figures.figure_png(fig)
        elif _is_pil(value):
            import io

            buffer = io.BytesIO()
            value.save(buffer, format="PNG")
            self.data = buffer.getvalue()
            self.width, self.height = value.size
        else:
            array = _as_image_array(value)
            self.data, self.width, self.height = images.png_from_array(array)

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<flightlog.Image {self.mime} {self.size} bytes caption={self.caption!r}>"


class Html:
    """HTML to log: ``flightlog.Html("<b>hi</b>")``, or the path of an ``.html`` file (or
    an open text/binary file). Viewers show it in a sandboxed frame."""

    kind = "html"
    mime = "text/html"

    def __init__(self, data: str | os.PathLike[str] | IO[Any], inject: bool = True,
                 caption: str | None = None) -> None:
        self.caption = None if caption is None else str(caption)
        self.width: int | None = None
        self.height: int | None = None
        if isinstance(data, os.PathLike) or (isinstance(data, str) and "<" not in data
                                             and Path(data).is_file()):
            self.data = Path(data).read_bytes()
        elif isinstance(data, str):
            self.data = data.encode()
        elif hasattr(data, "read"):
            content = data.read()
            self.data = content.encode() if isinstance(content, str) else bytes(content)
        else:
            raise InvalidValue(f"Html takes HTML text, a path or a file, got "
                               f"{type(data).__name__}")

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<flightlog.Html {self.size} bytes>"


class Plotly:
    """A plotly figure, as logged: its JSON (``fig.to_json()``)."""

    kind = "plotly"
    mime = "application/vnd.plotly.v1+json"

    def __init__(self, figure: Any, caption: str | None = None) -> None:
        from . import figures

        self.data = figures.plotly_json(figure)
        self.caption = caption
        self.width: int | None = None
        self.height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def _is_pil(value: Any) -> bool:
    import sys

    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


def _as_image_array(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if not isinstance(value, np.ndarray):
        if isinstance(value, (list, tuple)):
            value = np.asarray(value)
        else:
            raise InvalidValue(f"Image takes an array, a PIL image, a path or a matplotlib "
                               f"figure, got {type(value).__name__}")
    if value.ndim == 3 and value.shape[0] in (1, 3, 4) and value.shape[-1] not in (1, 3, 4):
        value = np.moveaxis(value, 0, -1)  # CxHxW (framework layout) to HxWxC
    if value.ndim == 3 and value.shape[-1] == 1:
        value = value[..., 0]
    return value
