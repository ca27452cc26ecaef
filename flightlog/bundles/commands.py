"""The bundle commands as ``flightlog`` runs them: arguments in, lines out, an exit code.

Exit codes: 0 done; 1 a bundle or receipt refused (truncated, tampered, foreign) or a
batch the target refused; 2 usage; 3 incomplete: gaps remain that a later bundle fills, or
the target could not be reached mid-way (rerun: an import is idempotent).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from flightlog.errors import BundleRefused, FlightlogError, FormatError, SyncError

OK, REFUSED, USAGE, INCOMPLETE = 0, 1, 2, 3


def _ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in ranges)


def _receipts(paths: list[str]) -> list[object]:
    from .receipt import read_receipt

    return [read_receipt(p) for p in paths]


def run_bundle(args: argparse.Namespace) -> int:
    from .ledger import LedgerStore
    from .receipt import Receipt
    from .write import make_bundle

    if args.repeat < 0:
        print("flightlog bundle: --repeat must be 0 or more", file=sys.stderr)
        return USAGE
    try:
        receipts = _receipts(args.since_receipt or [])
    except BundleRefused as exc:
        print(f"flightlog bundle: REFUSED: {exc}", file=sys.stderr)
        return REFUSED
    made = make_bundle(args.roots, args.output, destination=args.dest,
                       store=LedgerStore(args.state),
                       receipts=[r for r in receipts if isinstance(r, Receipt)],
                       resend=args.resend_unacked, repeat=args.repeat)
    if made.path is None or made.manifest is None:
        print(f"nothing to bundle for {args.dest}: every complete record is in a bundle "
              f"already")
        return OK
    for plan in made.plans:
        if plan.pruned_away is not None:
            print(f"warning: records {_ranges([plan.pruned_away])} of {plan.project}/"
                  f"{plan.run_id} were pruned here after another destination acknowledged "
                  f"them: {args.dest} cannot get them from this side", file=sys.stderr)
        lost = f"  (lost locally to corruption: {_ranges(plan.lost)})" if plan.lost else ""
        print(f"  {plan.project}/{plan.run_id}  records {plan.parts[0].first_seq}.."
              f"{plan.parts[-1].last_seq}" + ("  (live)" if plan.writer_alive else "") + lost)
    m = made.manifest
    print(f"wrote {made.path} ({made.size} bytes): bundle {m.number} for {m.destination}, "
          f"{len(m.runs)} run(s), {len(m.files)} attached file(s)")
    return OK


def verify_bundles(paths: list[str]) -> int:
    from .verify import verify_bundle

    bad = 0
    for path in paths:
        try:
            bundle = verify_bundle(path)
        except BundleRefused as exc:
            print(f"CORRUPT: {exc}")
            bad += 1
            continue
        m = bundle.manifest
        records = sum(r.records for r in m.runs)
        print(f"ok: {path}: bundle {m.number} for {m.destination} from {m.source_host} "
              f"({m.created}), {len(m.runs)} run(s), {records} records, {len(m.files)} "
              f"attached file(s), every member's SHA-256 and every frame checked")
    return REFUSED if bad else OK


def run_import(args: argparse.Namespace) -> int:
    from .importer import import_bundles, load_bundles, make_receipt
    from .receipt import write_receipt
    from .targets import DataDirTarget, ServerTarget, Target

    if bool(args.server) == bool(args.data):
        print("flightlog import: give exactly one of --server URL or --data DIR",
              file=sys.stderr)
        return USAGE
    target: Target = (ServerTarget(args.server, args.token) if args.server
                      else DataDirTarget(args.data))
    hold = Path(args.hold) if getattr(args, "hold", None) else Path(args.output) / "held"
    named = {Path(p).resolve() for p in args.bundles}
    waiting = [str(p) for p in sorted(hold.glob("*.flbundle")) if p.resolve() not in named]
    for held in waiting:
        print(f"retrying held bundle {held}")
    try:
        bundles, refused = load_bundles([*args.bundles, *waiting], target)
        for exc in refused:
            print(f"REFUSED: {exc}  (nothing of it was imported)")
        if not bundles:
            return REFUSED if refused else USAGE
        try:
            outcomes = import_bundles(bundles, target)
        except SyncError as exc:
            print(f"flightlog import: {exc}: stopped; what was committed stays, rerun to "
                  f"finish", file=sys.stderr)
            return INCOMPLETE
        receipt = make_receipt(bundles, outcomes, target)
        path = write_receipt(receipt, Path(args.output))
        _hold_or_release(bundles, outcomes, hold)
    finally:
        target.close()
    worst = OK
    for o in outcomes:
        if o.error:
            state = "refused" if o.refused else "incomplete"
            worst = max(worst, REFUSED if o.refused else INCOMPLETE)
        elif o.missing:
            state = "incomplete"
            worst = max(worst, INCOMPLETE)
        else:
            state = "ok"
        holds = f"holds records 0..{o.held - 1}" if o.held else "holds no records"
        print(f"{state:10} {o.project}/{o.id}  {holds} "
              f"(+{o.committed} new, {o.skipped} already held)"
              + (f"  missing {_ranges(o.missing)}: import the bundle that holds them, or "
                 f"send this receipt back and bundle with --since-receipt" if o.missing
                 else "")
              + (f"  (records {_ranges(o.lost)} were lost to corruption on the sending "
                 f"side: they never arrive)" if o.lost else "")
              + (f"  ({o.error})" if o.error else ""))
    print(f"wrote receipt {path}")
    return REFUSED if refused else worst


def _hold_or_release(bundles: list[Any], outcomes: list[Any], hold: Path) -> None:
    """A bundle that arrived ahead of its predecessor (its records start past what the
    target holds) is kept in ``hold`` and imported again by every later import, until the
    missing records have arrived and it is committed; then it is removed from there. So
    bundles imported one by one, in any order, all end up committed."""
    # A bundle named twice (its original and its held copy, as `import /media/usb/*`
    # does) was loaded once: the held copy is found by its bundle id, not by the path
    # loaded, so that it is released too.
    held_by_run = {(o.project, o.id): o.held for o in outcomes}
    for bundle in bundles:
        waiting = any(run.last_seq >= held_by_run.get((run.project, run.id), 0)
                      for run in bundle.manifest.runs)
        source = Path(bundle.path)
        kept = hold / f"{bundle.manifest.bundle_id}.flbundle"
        in_hold = source.parent.resolve() == hold.resolve()
        if waiting and not in_hold and not kept.exists():
            hold.mkdir(parents=True, exist_ok=True)
            partial = kept.with_suffix(".partial")
            shutil.copyfile(source, partial)
            with open(partial, "rb") as f:
                os.fsync(f.fileno())
            os.replace(partial, kept)
            print(f"held       {source.name}: its records follow ones not imported yet; kept "
                  f"as {kept} and imported again by the next import")
        elif not waiting:
            for done in {kept, source} if in_hold else {kept}:
                if done.exists():
                    done.unlink()
                    print(f"released   {done.name}: committed, no longer held")


def run_prune(args: argparse.Namespace) -> int:
    from .prune import prune
    from .receipt import Receipt

    try:
        receipts = [r for r in _receipts(args.acked_by) if isinstance(r, Receipt)]
    except BundleRefused as exc:
        print(f"flightlog prune: REFUSED: {exc}; nothing deleted", file=sys.stderr)
        return REFUSED
    results = prune(args.roots, receipts, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    worst = OK
    for r in results:
        if r.error:
            print(f"kept       {r.project}/{r.run_id}: {r.error}")
            worst = REFUSED
        elif r.segments:
            print(f"pruned     {r.project}/{r.run_id}: {verb} segment(s) "
                  f"{min(r.segments)}..{max(r.segments)} and {r.files} attached file(s), "
                  f"{r.freed} bytes; records up to {r.acked - 1} acknowledged, "
                  f"{r.kept_segments} segment(s) kept")
        else:
            print(f"unchanged  {r.project}/{r.run_id}: no whole closed segment acknowledged "
                  f"yet (acknowledged up to {r.acked}, {r.local} local)")
    if not results:
        print("no run under these roots is named by the receipts")
    return worst


def run_status(args: argparse.Namespace) -> int:
    from .ledger import LedgerStore
    from .status import bundle_status, read_receipts

    receipts, bad = read_receipts(args.receipts)
    for message in bad:
        print(f"ignored: {message}", file=sys.stderr)
    rows = [["RUN", "LOCAL", "BUNDLED", "ACKED", "PRUNED", "STATE"]]
    for s in bundle_status(args.paths, receipts, LedgerStore(args.bundle_state), args.dest):
        rows.append([f"{s.project}/{s.run_id}", str(s.local), str(s.bundled), str(s.acked),
                     str(s.pruned), s.state])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return OK


def guard(fn: object, args: argparse.Namespace) -> int:
    """Run a command, turning a flightlog error into its message and exit code."""
    assert callable(fn)
    try:
        return int(fn(args))
    except BundleRefused as exc:
        print(f"flightlog {args.command}: REFUSED: {exc}", file=sys.stderr)
        return REFUSED
    except FormatError as exc:  # a run directory's bytes (e.g. a newer major format)
        print(f"flightlog {args.command}: {exc}", file=sys.stderr)
        return REFUSED
    except SyncError as exc:
        print(f"flightlog {args.command}: {exc}: rerun to finish", file=sys.stderr)
        return INCOMPLETE
    except FlightlogError as exc:  # cannot go on as asked (a lock held, records pruned)
        print(f"flightlog {args.command}: {exc}", file=sys.stderr)
        return USAGE


__all__ = ["run_bundle", "run_import", "run_prune", "run_status", "verify_bundles"]
