"""The embedded backend: SQLite + run directories under ``--data`` (storage.py, index.py).

It is the default and the one-command quickstart. It is :class:`Storage` itself, named
here so that both implementations of :class:`~.base.StorageBackend` sit side by side; its
layout and exactly-once rules are described in :mod:`flightlog.server.storage`.
"""

from __future__ import annotations

from ..storage import Storage as EmbeddedStorage

__all__ = ["EmbeddedStorage"]
