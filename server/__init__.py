"""The flightlog server: receives runs from ``flightlog sync``/``syncd``, stores them, and
answers queries. Needs the ``server`` extra (``pip install 'flightlog[server]'``).

Storage layout and the exactly-once rule: :mod:`flightlog.server.storage`. HTTP routes:
:mod:`flightlog.server.app` (OpenAPI schema at ``/openapi.json``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from flightlog.errors import MissingExtra

__all__ = ["create_app", "serve"]


def _require_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(f"the flightlog server needs the 'server' extra: pip install "
                           f"'flightlog[server]' ({exc.name} is not installed)") from exc


def create_app(data_dir: str | os.PathLike[str] | None, token: str | None = None, *,
               host: str | None = None, allowed_hosts: Sequence[str] = (),
               db: str | None = None, store: str | None = None) -> Any:
    """The ASGI application for ``data_dir`` (see :func:`flightlog.server.app.create_app`;
    ``db`` and ``store``: the scaled backend, server/backends/)."""
    _require_extra()
    from .app import create_app as _create

    return _create(None if data_dir is None else str(data_dir), token, host=host,
                   allowed_hosts=allowed_hosts, db=db, store=store)


def serve(data_dir: str | os.PathLike[str] | None, host: str = "127.0.0.1", port: int = 8080,
          token: str | None = None, allowed_hosts: Sequence[str] = (), *,
          db: str | None = None, store: str | None = None) -> None:
    """Run the server in this process until SIGINT/SIGTERM (``allowed_hosts``: host
    names it answers for besides localhost, IP addresses and ``host``)."""
    _require_extra()
    from .app import create_app as _create
    from .startup import run

    # The background work (index check, warm-ups) begins once the port listens.
    app = _create(None if data_dir is None else str(data_dir), token, host=host,
                  allowed_hosts=allowed_hosts, db=db, store=store, start_background=False)
    auth = "bearer token required" if token else "NO token: open to anyone who can connect"
    where = f"data: {data_dir}" if db is None else f"db + store (cache: {data_dir})"
    print(f"flightlog server on http://{host}:{port}  {where}  ({auth})",
          file=sys.stderr, flush=True)
    run(app, host, port)
