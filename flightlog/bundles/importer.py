"""``flightlog import BUNDLE...``: commit verified bundles into a server, idempotently.

Every bundle named is verified in full first (:func:`~.verify.verify_bundle`); a refused
one is not touched further and the others go on. Then, per run, the parts of all the
bundles are taken in sequence order: parts the target already holds are skipped, a part
that starts past the target's mark is a gap (reported, filled by a later bundle), the
rest is committed batch by batch through the server's own strict, atomic commit. The same
bundle twice, overlapping bundles and bundles in any order therefore end the same way.
Attached files go first (content-addressed: uploading one twice is a no-op), so that a
record is never committed before the file it names.
"""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass, field

from flightlog.errors import BundleRefused, FlightlogError
from flightlog.format._framing import scan_frames

from .container import iter_member, read_member
from .manifest import FileEntry, Part, RunEntry
from .progress import Progress
from .receipt import Receipt, RunHeld
from .targets import Rejected, Target
from .verify import Bundle, open_bundle, verify_contents
from .write import utc_now


@dataclass
class RunOutcome:
    project: str
    id: str
    held: int = 0  # the target's mark after the import
    committed: int = 0  # records this import added
    skipped: int = 0  # records the target held already
    missing: list[tuple[int, int]] = field(default_factory=list)
    lost: list[tuple[int, int]] = field(default_factory=list)  # lost by the sender's log
    error: str = ""
    refused: bool = False

    @property
    def complete(self) -> bool:
        return not self.missing and not self.error


@dataclass
class Imported:
    bundles: list[Bundle]
    refused: list[BundleRefused]
    runs: list[RunOutcome]
    receipt: Receipt | None = None


@dataclass
class _Source:
    bundle: Bundle
    run: RunEntry
    part: Part


def load_bundles(paths: list[str], target: Target | None = None
                 ) -> tuple[list[Bundle], list[BundleRefused]]:
    """Each bundle verified in full; the refused ones apart, each with its reason.

    With a ``target``, the attached files go up while the bundles are verified, every
    byte of each but not the final request: an upload completes (the target checks its
    SHA-256 and the file exists) only with that request, an empty one sent by
    :func:`import_bundles` after verification; what a refused bundle started stays an
    incomplete upload, which the server discards. (Holding back a whole last block
    instead left up to ``file_chunk`` bytes per file to send after verification, one
    file after the other: measured 1.1 s of 5.7 for 128 MiB in 4 files.)"""
    opened, bad = [], []
    seen: set[str] = set()
    for path in paths:
        try:
            bundle = open_bundle(path)
        except BundleRefused as exc:
            bad.append(exc)
            continue
        except OSError as exc:
            bad.append(BundleRefused(f"cannot read: {exc.strerror or exc}", path=path))
            continue
        if bundle.manifest.bundle_id not in seen:  # the same bundle twice: once is enough
            seen.add(bundle.manifest.bundle_id)
            opened.append(bundle)
    stop = threading.Event()
    ahead = (threading.Thread(target=_upload_ahead, args=(opened, target, stop),
                              name="flightlog-upload-ahead", daemon=True)
             if target is not None and opened else None)
    if ahead is not None:
        ahead.start()
    good: list[Bundle] = []
    verified = False
    try:
        for bundle in opened:
            try:
                verify_contents(bundle)
            except BundleRefused as exc:
                bad.append(exc)
                continue
            except OSError as exc:
                bad.append(BundleRefused(f"cannot read: {exc.strerror or exc}",
                                         path=bundle.path))
                continue
            good.append(bundle)
        verified = bool(good)
    finally:
        if not verified:  # nothing will be imported: stop sending
            stop.set()
        if ahead is not None:
            ahead.join()
    return good, bad


def _carried(bundles: list[Bundle]) -> dict[str, tuple[Bundle, FileEntry]]:
    files: dict[str, tuple[Bundle, FileEntry]] = {}
    for bundle in bundles:
        for f in bundle.manifest.files:
            files.setdefault(f.sha256, (bundle, f))
    return files


def _upload_ahead(bundles: list[Bundle], target: Target, stop: threading.Event) -> None:
    """Every byte of every attached file the target lacks (never completed here).
    Best effort: any failure just leaves the rest to :func:`_put_files`."""
    try:
        for sha, (bundle, entry) in _carried(bundles).items():
            if stop.is_set():
                return
            offset = target.file_offset(sha)
            if offset is None or offset >= entry.size:
                continue
            with open(bundle.path, "rb") as f:
                target.put_file(sha, offset, entry.size,
                                iter_member(f, bundle.entry(entry.member), offset,
                                            target.file_chunk), final=False)
    except (FlightlogError, OSError):
        return


def import_bundles(bundles: list[Bundle], target: Target) -> list[RunOutcome]:
    """Commit verified bundles (:func:`load_bundles`) into ``target``."""
    files = _carried(bundles)
    runs: dict[tuple[str, str], list[_Source]] = {}
    alive: dict[tuple[str, str], tuple[int, bool]] = {}
    for bundle in bundles:
        for run in bundle.manifest.runs:
            key = (run.project, run.id)
            runs.setdefault(key, []).extend(_Source(bundle, run, p) for p in run.parts)
            # The writer's liveness as the newest content says.
            if key not in alive or run.last_seq >= alive[key][0]:
                alive[key] = (run.last_seq, run.writer_alive)
    total = (sum(f.size for _, f in files.values())
             + sum(s.part.size for sources in runs.values() for s in sources))
    bar = Progress(total, "import")
    try:
        _put_files(files, target, bar)
        return [_import_run(key, sorted(sources, key=lambda s: s.part.first_seq),
                            alive[key][1], target, bar)
                for key, sources in sorted(runs.items())]
    finally:
        bar.close()


def _put_files(files: dict[str, tuple[Bundle, FileEntry]], target: Target,
               bar: Progress) -> None:
    for sha, (bundle, entry) in files.items():
        for attempt in (1, 2):
            offset = target.file_offset(sha)
            if offset is None:
                break
            member = bundle.entry(entry.member)
            try:
                with open(bundle.path, "rb") as f:
                    target.put_file(sha, offset, entry.size,
                                    iter_member(f, member, offset, target.file_chunk))
                break
            except Rejected:
                # An upload begun from another (refused) bundle's copy fails its hash and
                # is discarded by the target: once more, from this verified copy.
                if attempt == 2 or offset == 0:
                    raise
        bar.update(entry.size)


def _import_run(key: tuple[str, str], sources: list[_Source], writer_alive: bool,
                target: Target, bar: Progress) -> RunOutcome:
    project, run_id = key
    outcome = RunOutcome(project, run_id)
    mark = target.position(project, run_id)
    last = max(s.part.last_seq for s in sources)
    declared = [lost for s in sources for lost in s.run.lost]
    for source in sources:
        part = source.part
        bar.update(part.size)
        if part.last_seq < mark:
            outcome.skipped += part.last_seq - part.first_seq + 1
            continue
        gaps = []
        if part.first_seq > mark:
            hole = (mark, part.first_seq - 1)
            if not _covered(hole, declared):
                outcome.missing.append(hole)
                break
            gaps = [hole]  # the sender's log lost these: they never arrive
        data = _from(source, max(mark, part.first_seq))
        try:
            new_mark = target.commit(project, run_id, part.segment, data,
                                     writer_alive if part.last_seq == last else None, gaps)
        except Rejected as exc:
            outcome.error = exc.message
            outcome.refused = not exc.incomplete
            break
        outcome.lost.extend(gaps)
        outcome.committed += new_mark - mark - sum(b - a + 1 for a, b in gaps)
        outcome.skipped += max(0, mark - part.first_seq)
        mark = new_mark
    else:
        if outcome.committed == 0:  # nothing new: still say whether the writer lives
            target.set_writer(project, run_id, writer_alive)
    outcome.held = target.position(project, run_id)
    return outcome


def _covered(hole: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    """Every sequence number of ``hole`` lies in one of ``ranges``."""
    at = hole[0]
    for first, last in sorted(ranges):
        if first <= at <= last:
            at = last + 1
        if at > hole[1]:
            return True
    return False


def _from(source: _Source, mark: int) -> bytes:
    """The part's frames from the one holding record ``mark`` (the member was verified:
    its frames are intact and consecutive)."""
    with open(source.bundle.path, "rb") as f:
        data = read_member(f, source.bundle.entry(source.part.member))
    if source.part.first_seq == mark:
        return data
    for frame in scan_frames(data, 0).frames:
        if frame.first_seq <= mark <= frame.last_seq:
            return data[frame.offset:]
    raise AssertionError("a verified part holds every record of its range")


def make_receipt(bundles: list[Bundle], outcomes: list[RunOutcome], target: Target
                 ) -> Receipt:
    return Receipt(
        receipt_id=uuid.uuid4().hex, created=utc_now(), receiver_host=socket.gethostname(),
        receiver=target.label,
        destinations=sorted({b.manifest.destination for b in bundles}),
        bundles=[b.manifest.bundle_id for b in bundles],
        runs=[RunHeld(o.project, o.id, o.held, o.missing) for o in outcomes])


__all__ = ["Imported", "RunOutcome", "import_bundles", "load_bundles", "make_receipt"]
