"""``flightlog.show(run)``: the run page inline in Jupyter, live while the run is.

The page is the offline report's (same renderer as the server's UI, everything
inlined), shown in a sandboxed iframe so that its scripts cannot clash with the
notebook's. While the run is ``running`` a background thread re-reads it every few
seconds and, when it grew, replaces the output through its display handle (as Azure
ML's ``RunDetails`` widget does); it stops once the run finished or crashed.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

from .errors import MissingExtra

__all__ = ["show"]

#: Height of the inline view, in CSS pixels (the page scrolls inside it).
HEIGHT = 900


def _page(run: Any) -> str:
    from .report import report_html

    page = report_html([run], nav=False)
    # In a <div>: IPython warns ("Consider using IPython.display.IFrame") on HTML that
    # starts with an iframe, and IFrame cannot take srcdoc.
    return (f'<div class="flightlog-show"><iframe srcdoc="{html.escape(page, quote=True)}" '
            f'sandbox="allow-scripts allow-downloads" style="width:100%;height:{HEIGHT}px;'
            f'border:0" title="flightlog run"></iframe></div>')


def _position(run: Any) -> tuple[Any, str]:
    """What changes as a run grows (its last sequence number: local, or as the server
    holds it), and its status."""
    state = getattr(run, "state", None)
    if state is not None:
        return state.last_seq, str(run.status)
    return getattr(run, "next_seq", None), str(run.status)  # a RemoteRun


def _display_functions() -> tuple[Callable[..., Any], Callable[[str], Any]]:
    try:
        from IPython.display import HTML, display
    except ImportError as exc:
        raise MissingExtra("flightlog.show needs IPython: pip install 'flightlog[notebook]'"
                           ) from exc
    return display, HTML


def show(run: Any, *, every: float = 3.0, display: Callable[..., Any] | None = None,
         wrap: Callable[[str], Any] | None = None) -> None:
    """Draw ``run``'s page (config, summary, metric charts, logged charts, tables,
    media, files) in the notebook output; while it is running, refresh it every
    ``every`` seconds until it stops.

    Args:
        run: a writer ``Run`` (``flightlog.init``), a ``LocalRun`` (``open_run``) or a
            ``RemoteRun`` (``Api.run``).
        display, wrap: IPython's ``display`` and ``HTML`` (injectable for tests).

    Raises:
        MissingExtra: IPython (the ``notebook`` extra) or vl-convert-python (``report``)
            is not installed.
    """
    from .report import _local

    if display is None or wrap is None:
        ipython_display, ipython_html = _display_functions()
        display = display or ipython_display
        wrap = wrap or ipython_html
    view = _local(run)
    seen = _position(view)
    handle = display(wrap(_page(view)), display_id=True)
    if seen[1] != "running" or handle is None:
        return

    def follow() -> None:
        nonlocal seen
        stop = threading.Event()
        while not stop.wait(every):
            try:
                now = _position(view)
                if now != seen:
                    seen = now
                    handle.update(wrap(_page(view)))
            except Exception as exc:  # the notebook must not die with its view
                handle.update(wrap(f"<pre>flightlog.show stopped refreshing: "
                                   f"{html.escape(str(exc))}</pre>"))
                return
            if now[1] != "running":
                return

    threading.Thread(target=follow, name="flightlog-notebook-refresh", daemon=True).start()
