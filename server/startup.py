"""Start order: the server listens first, its background work begins after.

A server starts background threads: the index check against every run directory
(storage.py; ~1 s of CPU at 10,000 runs), the overview warm-up (chartdata.py; up to
4,096 runs read) and the Vega bundle read (ui.py). Begun while the app's routes are still
being built and uvicorn is still binding, they compete with start for the GIL and the
two cores, and delay the first answer by seconds. None of them is needed to answer
correctly: the index is trusted until checked, overviews and the bundle are made on
demand when not warm. So ``create_app`` registers them with :func:`defer`, and they begin
(:func:`begin`) once the server listens (:func:`run`), or at the end of ``create_app``
for an app served some other way.

``/healthz`` says the app is built and the port open: every route answers correctly
from then on (a request may wait behind a run being loaded, never get a wrong answer).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["begin", "defer", "run"]

#: uvicorn's exit status when the server could not start (port in use, ...).
STARTUP_FAILURE = 3


def defer(app: Any, work: Callable[[], None]) -> None:
    """Run ``work`` (which should return quickly, e.g. start a thread) at :func:`begin`."""
    state = app.state
    if not hasattr(state, "deferred"):
        state.deferred = []
        state.deferred_lock = threading.Lock()
    state.deferred.append(work)


def begin(app: Any) -> None:
    """Run the work :func:`defer` registered on ``app``, each once (later calls: no-op)."""
    state = app.state
    if not hasattr(state, "deferred"):
        return
    with state.deferred_lock:
        work, state.deferred = state.deferred, []
    for item in work:
        item()


def run(app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM; the deferred work begins as soon
    as the socket listens.

    Raises:
        SystemExit: the server could not start (uvicorn logged why).
    """
    import uvicorn

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:  # listening: what comes next no longer delays readiness
                begin(app)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False)
    server = _Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn.run's behaviour on Ctrl-C
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
