"""``MediaItem``: one logged image, HTML page or plotly figure as read back
(``run.media()``, local or from a server)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightlog.errors import FormatError


@dataclass(frozen=True)
class MediaItem:
    """One logged image, HTML page or plotly figure, as read back (``run.media()``).

    Attributes:
        name: the key it was logged under.
        kind: ``image``, ``html`` or ``plotly``.
        path: where its content is (a local run: the attached file; a server run: None
            until :meth:`read_bytes` fetched it).
    """

    name: str
    kind: str
    mime: str
    sha256: str
    size: int
    caption: str | None
    step: int | None
    width: int | None
    height: int | None
    path: Path | None = None
    fetch: Callable[[], bytes] | None = None  # for media not on this machine

    def read_bytes(self) -> bytes:
        """The content, checked against its SHA-256."""
        if self.path is not None:
            data = self.path.read_bytes()
        elif self.fetch is not None:
            data = self.fetch()
        else:
            raise FormatError(f"media {self.name!r} has no content to read", key=self.name)
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise FormatError(f"content of media {self.name!r} does not match its SHA-256",
                              path=None if self.path is None else str(self.path),
                              key=self.name)
        return bytes(data)

    def save(self, path: str | Path) -> Path:
        """Write the content (checked) to ``path``."""
        target = Path(path)
        target.write_bytes(self.read_bytes())
        return target

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "mime": self.mime, "sha256": self.sha256,
                "size": self.size, "caption": self.caption, "step": self.step,
                "width": self.width, "height": self.height}
