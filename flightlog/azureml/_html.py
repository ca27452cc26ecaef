"""The small HTML tables Jupyter shows for an experiment and a run, as Azure's do.

Every text and every link is escaped: run names, workspace names and server URLs come
from logs, config files and servers, all untrusted. A link whose scheme is not http,
https or file is shown as text, never as a link.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["Link", "table"]

_SAFE_SCHEMES = ("http://", "https://", "file://")


class Link:
    """A table cell that links ``text`` to ``href``."""

    def __init__(self, text: str, href: str | None) -> None:
        self.text = text
        self.href = href

    def render(self) -> str:
        text = html.escape(self.text, quote=True)
        if not self.href or not self.href.startswith(_SAFE_SCHEMES):
            return text
        href = html.escape(self.href, quote=True)
        return f'<a href="{href}" target="_blank" rel="noopener">{text}</a>'


def _cell(value: str | Link | None) -> str:
    if isinstance(value, Link):
        return value.render()
    return html.escape("" if value is None else str(value), quote=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[str | Link | None]]) -> str:
    """``<table>`` with one header row and ``rows``."""
    head = "".join(f"<th>{html.escape(h, quote=True)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f'<table style="width:100%"><tr>{head}</tr>{body}</table>'
