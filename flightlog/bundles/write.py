"""``flightlog bundle``: one bundle file with what a destination does not have yet.

Per run, the bundle starts at the ledger's ``bundled_seq`` (incremental), at the
acknowledged mark (``--since-receipt``, ``--resend-unacked``: what a lost bundle held is
sent again), or at the start of the last K bundles (``--repeat K``, for a one-way link).
Order of durability: the bundle is written to a temporary file, fsynced, renamed into
place and the directory fsynced; only then does the ledger advance. A kill at any point
leaves either no bundle and the old ledger (the rerun makes the same bundle), or a bundle
and the old ledger (the next bundle repeats its records, which an import skips).
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flightlog.errors import BundleError, BundleRefused, FormatError
from flightlog.format._framing import scan_frames
from flightlog.format._fsutil import fsync_dir
from flightlog.format.rundir import blob_path, find_run_dirs

from .collect import RunPlan, identify, plan_run, pruned_through
from .container import BundleWriter
from .ledger import Ledger, LedgerStore, Sent
from .manifest import (
    MANIFEST,
    MANIFEST_DIGEST,
    FileEntry,
    Manifest,
    Member,
    Part,
    RunEntry,
    file_name,
    part_name,
)
from .progress import Progress
from .receipt import Receipt

SUFFIX = ".flbundle"


@dataclass
class Made:
    path: Path | None  # None: nothing to bundle
    manifest: Manifest | None
    plans: list[RunPlan]

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else 0


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(created: str) -> int:
    when = _dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    return int(when.replace(tzinfo=_dt.timezone.utc).timestamp())


def take_receipts(ledger: Ledger, receipts: Sequence[Receipt]) -> None:
    """Raise the ledger's acknowledged marks to what the receipts state.

    Raises:
        BundleRefused: a receipt of another destination's bundles.
    """
    for receipt in receipts:
        if ledger.destination not in receipt.destinations:
            raise BundleRefused(f"receipt {receipt.receipt_id} acknowledges bundles for "
                                f"{', '.join(receipt.destinations) or 'no destination'}, "
                                f"not {ledger.destination!r}", key=receipt.receipt_id)
        for held in receipt.runs:
            mark = ledger.mark(held.id, held.project)
            mark.acked_seq = max(mark.acked_seq, held.next_seq)
        if receipt.digest not in ledger.receipts:
            ledger.receipts.append(receipt.digest)


def _discover(roots: Sequence[Path]) -> list[tuple[Path, str, str]]:
    found: dict[str, tuple[Path, str, str]] = {}
    for root in roots:
        for run_dir in find_run_dirs(root):
            identity = identify(run_dir)
            if identity is not None and identity[1] not in found:
                found[identity[1]] = (run_dir, identity[0], identity[1])
    return sorted(found.values(), key=lambda r: (r[1], r[2]))


def _start(ledger: Ledger, run_id: str, *, resend: bool, repeat: int) -> int:
    """The first record of the run this bundle holds: never one a receipt acknowledged."""
    mark = ledger.runs.get(run_id)
    if mark is None:
        return 0
    start = mark.acked_seq if resend else max(mark.bundled_seq, mark.acked_seq)
    for sent in ledger.history[-repeat:] if repeat > 0 else []:
        entry = sent.runs.get(run_id)
        if entry is not None:
            # Where that bundle's records new to the destination began (not where it
            # began: it repeated older ones too, and repeating those again would make
            # every bundle of a one-way link hold the whole run).
            start = min(start, max(Sent.new_from(entry), mark.acked_seq))
    return start


def make_bundle(roots: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                destination: str, store: LedgerStore, receipts: Sequence[Receipt] = (),
                resend: bool = False, repeat: int = 0, host: str | None = None,
                created: str | None = None, bundle_id: str | None = None) -> Made:
    """Write the next bundle for ``destination`` into ``out_dir``.

    Raises:
        BundleError: another bundle of the destination is being made, records were
            pruned, an attached file is missing or does not match its name.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with store.locked(destination):
        ledger = store.load(destination)
        take_receipts(ledger, receipts)
        resend = resend or bool(receipts)
        plans = []
        for run_dir, project, run_id in _discover([Path(r) for r in roots]):
            # Records pruned here were acknowledged by some receipt: never asked for again.
            asked = _start(ledger, run_id, resend=resend, repeat=repeat)
            start = max(asked, pruned_through(run_dir))
            plan = plan_run(run_dir, project, run_id, start, ledger.start_hint(run_id, start))
            mark = ledger.runs.get(run_id)
            if start > asked and (mark.acked_seq if mark is not None else 0) < start:
                plan.pruned_away = (asked, start - 1)
            if plan.parts:
                plans.append(plan)
        if not plans:
            if receipts:
                store.save(ledger)
            return Made(None, None, [])
        manifest = Manifest(bundle_id or uuid.uuid4().hex, ledger.next_number, destination,
                            host or socket.gethostname(), created or utc_now())
        files = _choose_files(ledger, plans, again=resend or repeat > 0)
        name = f"{destination}-{manifest.number:06d}-{manifest.bundle_id[:8]}{SUFFIX}"
        _clean_stale(out, destination)
        path = _write(out, name, manifest, plans, files)
        _advance(ledger, manifest, plans, files, name)
        store.save(ledger)
        return Made(path, manifest, plans)


def _choose_files(ledger: Ledger, plans: list[RunPlan], *, again: bool
                  ) -> dict[str, tuple[RunPlan, int]]:
    """sha256 -> (the plan whose record names it first, that record's seq): files the
    other side may lack. Each content once per bundle; a file sent before is sent again
    only when records are sent again and no receipt shows it arrived."""
    chosen: dict[str, tuple[RunPlan, int]] = {}
    for plan in plans:
        for sha, seq in plan.blobs:
            if sha in chosen or ledger.file_held(sha):
                continue
            if sha in ledger.files and not again:
                continue
            chosen[sha] = (plan, seq)
    return chosen


def _clean_stale(out: Path, destination: str) -> None:
    """Temporary files of a bundle of this destination that was killed (we hold its lock)."""
    for stale in out.glob(f".{destination}-*{SUFFIX}.tmp"):
        stale.unlink(missing_ok=True)


def _write(out: Path, name: str, manifest: Manifest, plans: list[RunPlan],
           files: dict[str, tuple[RunPlan, int]]) -> Path:
    sizes = {sha: blob_path(plan.run_dir, sha).stat().st_size
             for sha, (plan, _) in files.items()}
    progress = Progress(sum(p.size for p in plans) + sum(sizes.values()), f"bundle {name}")
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name[:-len(SUFFIX)]}-", suffix=f"{SUFFIX}.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer = BundleWriter(f, _epoch(manifest.created))
            for plan in plans:
                entry = RunEntry(plan.project, plan.run_id, plan.parts[0].first_seq,
                                 plan.parts[-1].last_seq, plan.writer_alive, lost=plan.lost)
                for p in plan.parts:
                    member = part_name(plan.project, plan.run_id, p.segment, p.first_seq)
                    data = _read_part(p.path, p.offset, p.size, p.frames)
                    manifest.members.append(Member(member, p.size,
                                                   writer.add_bytes(member, data)))
                    entry.parts.append(Part(member, p.segment, p.offset, p.size, p.first_seq,
                                            p.last_seq, p.frames))
                    progress.update(p.size)
                entry.files = [sha for sha, _ in plan.blobs
                               if sha in files and files[sha][0] is plan]
                manifest.runs.append(entry)
            for sha, (plan, _) in files.items():
                member = file_name(sha)
                with open(blob_path(plan.run_dir, sha), "rb") as src:
                    digest = writer.add_stream(member, src, sizes[sha])
                if digest != sha:
                    raise BundleError(f"attached file {sha} of {plan.project}/{plan.run_id} "
                                      f"does not match its SHA-256 (content {digest}): "
                                      f"`flightlog verify {plan.run_dir}`",
                                      path=str(blob_path(plan.run_dir, sha)))
                manifest.files.append(FileEntry(sha, sizes[sha]))
                manifest.members.append(Member(member, sizes[sha], sha))
                progress.update(sizes[sha])
            body = manifest.to_json()
            digest = writer.add_bytes(MANIFEST, body)
            writer.add_bytes(MANIFEST_DIGEST, f"{digest}  {MANIFEST}\n".encode())
            writer.close()
            f.flush()
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide it from the carrier
            os.fsync(f.fileno())
        target = out / name
        os.replace(tmp, target)
        fsync_dir(out)
        return target
    finally:
        progress.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_part(path: Path, offset: int, size: int, frames: int) -> bytes:
    """The bytes of a part, checked again: they are complete, intact frames (closed
    segments never change and a live one only grows, so this holds unless the disk lies)."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    try:
        scan = scan_frames(data, 0, path=str(path), base=offset)
    except FormatError as exc:
        raise BundleError(f"segment changed while being bundled: {exc}", path=str(path),
                          offset=offset) from exc
    if len(data) != size or scan.torn or len(scan.frames) != frames:
        raise BundleError(f"segment changed while being bundled ({len(scan.frames)} of "
                          f"{frames} frames at {offset}..{offset + size})", path=str(path),
                          offset=offset)
    return data


def _advance(ledger: Ledger, manifest: Manifest, plans: list[RunPlan],
             files: dict[str, tuple[RunPlan, int]], name: str) -> None:
    sent = Sent(manifest.number, manifest.bundle_id, name, manifest.created)
    for plan in plans:
        mark = ledger.mark(plan.run_id, plan.project)
        first = plan.parts[0]
        new_from = max(first.first_seq, min(mark.bundled_seq, plan.end_seq))
        end = plan.end_hint if plan.end_hint is not None else (-1, 0)
        sent.runs[plan.run_id] = [first.first_seq, plan.end_seq, first.segment, first.offset,
                                  new_from, end[0], end[1]]
        if plan.end_seq >= mark.bundled_seq and plan.end_hint is not None:
            mark.bundled_seq = plan.end_seq
            mark.segment, mark.offset = plan.end_hint
        mark.path = str(plan.run_dir)
    for sha, (plan, seq) in files.items():
        ledger.files.setdefault(sha, [plan.run_id, seq, manifest.number])
    ledger.history.append(sent)
    ledger.next_number = manifest.number + 1


__all__ = ["SUFFIX", "Made", "make_bundle", "take_receipts", "utc_now"]
