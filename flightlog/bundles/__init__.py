"""Across an air gap: incremental, verifiable bundles of runs, idempotent import, receipts
and pruning (SPEC.md §18).

The sending side writes one bundle file per trip (``flightlog bundle``): a tar file of the
frames, verbatim, that the destination does not have yet, the attached files they name and
a manifest with a SHA-256 per member. The receiving side checks it in full and commits it
through the server's own strict path (``flightlog import``), which writes a receipt; the
receipt carried back lets the sender bundle again from what arrived and delete what is
safe (``flightlog prune``).

Rooms: :mod:`.manifest` (what a bundle says it holds), :mod:`.container` (the tar file),
:mod:`.collect` (a run's new frames as byte ranges), :mod:`.write` (making a bundle),
:mod:`.ledger` (the sender's per-destination memory), :mod:`.verify` (checking a bundle),
:mod:`.targets` and :mod:`.importer` (committing one), :mod:`.receipt`, :mod:`.prune`,
:mod:`.status`, :mod:`.progress`. Nothing in ``import flightlog`` imports this package.
"""

from __future__ import annotations
