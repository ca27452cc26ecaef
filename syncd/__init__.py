"""The sync daemon: streams run directories to a server, exactly once.

``flightlog sync`` ships what is there and exits; ``flightlog syncd`` follows runs as
they grow; ``flightlog status`` compares local records with acknowledged ones. Nothing in
the training path imports this package.

Layout: watching (:mod:`.watch`), positions (:mod:`.positions`), transport
(:mod:`.client`), retry policy (:mod:`.retry`), one run's shipping (:mod:`.shipper`),
the loop (:mod:`.daemon`).
"""

from __future__ import annotations

from .client import HttpSyncClient, SyncClient
from .daemon import Syncer
from .positions import Position, PositionStore

__all__ = ["HttpSyncClient", "Position", "PositionStore", "SyncClient", "Syncer"]
