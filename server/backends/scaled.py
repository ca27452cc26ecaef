"""The scaled backend: PostgreSQL + an S3-compatible object store, stateless replicas.

``flightlog server --db postgresql://... --store s3://bucket/prefix?endpoint=...``

What is the truth, and where:

- PostgreSQL (postgres.py): each run's committed mark, the list of its committed batches
  (one object each), its declared gaps, and the query index (pgindex.py).
- The object store (objectstore.py): the bytes, under immutable names, written with
  conditional puts before the database row that names them.
- Each replica's ``--data`` directory: a **read-through cache**, derived and disposable:
  a run directory per run it has served (exactly the embedded layout, SPEC.md §2), filled
  from the object store up to the committed mark, plus cached attached files. Deleting it
  loses nothing; a replica started on an empty one serves everything.

Why a cache of run directories rather than a segment-source interface for readers:
every reader the server has (history, tables, charts, media, UI, Api, export, ``verify``)
is written, and tested, against a run directory (:class:`LocalRun`); materialising one
makes all of them work unchanged on both backends, byte-identical to the embedded copy,
and keeps the exactly-once checks of storage.py (``_check_repeats`` compares against real
committed bytes) in one place. The costs: a replica's first read of a run fetches its
objects (one GET per committed batch), and disk per replica grows with the runs it has
served (it may be wiped at any time). A segment source would save the disk but fork every
reader.

A commit (:meth:`ScaledStorage.commit`), under this replica's per-run lock:

1. bring the cached copy up to PostgreSQL's mark (fetching the batches other replicas
   committed); a cached copy ahead of the mark (a commit that failed half-way) is wiped;
2. validate exactly as the embedded store does (storage.py: skip and byte-compare repeats,
   refuse undeclared gaps, check attached files, which must be in the object store);
3. put the new frames' object (If-None-Match), append them to the cached copy, read it
   back strictly;
4. one transaction: conditional UPDATE of the mark + the batch's row + gaps + index row.
   If another replica moved the mark first (:class:`StaleMark`), the cached copy is cut
   back and the batch is validated again from step 1: its frames are now repeats.

A replica killed at any step loses nothing acknowledged: the answer is sent after step 4,
and before it the batch does not exist (an object without a row is an orphan, collected
by :meth:`ScaledStorage.collect_orphans` after a grace period).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from flightlog.format._framing import scan_frames
from flightlog.format.records import Record, attached_blobs

from flightlog.errors import FlightlogError

from ..storage import (
    BadBatch,
    Committed,
    Conflict,
    Storage,
    StoredRun,
    _check_sha,
    _holes,
    _is_sha256,
    write_commit_mark,
)
from .base import BackendUnavailable, QueryIndex
from .objectstore import CorruptObject, ObjectStore, blob_key, frames_key, partial_prefix
from .pgindex import PgIndex
from .postgres import Database, ObjectVanished, StaleMark

#: Times a batch is validated again after losing a race for the mark.
COMMIT_ATTEMPTS = 8
#: Objects no committed batch names are deleted once this old (seconds): far longer than
#: any put-to-commit delay (the commit is bounded by the pool's and the store's timeouts).
ORPHAN_AGE = 3600.0


class ScaledStorage(Storage):
    """:class:`~.base.StorageBackend` over PostgreSQL + an object store, with ``cache_dir``
    as this replica's disposable read-through cache."""

    def __init__(self, cache_dir: str | os.PathLike[str], db: str, store: str, *,
                 partial_ttl: float | None = None, collect_every: float | None = None
                 ) -> None:
        self.db = Database(db)
        self.store = ObjectStore(store)
        self._pending = threading.local()
        if partial_ttl is None:
            super().__init__(cache_dir)
        else:
            super().__init__(cache_dir, partial_ttl=partial_ttl)
        self._stop = threading.Event()
        self._collector: threading.Thread | None = None
        if collect_every:
            self._collector = threading.Thread(target=self._collect_loop, args=(collect_every,),
                                               daemon=True, name="scale-orphan-collector")
            self._collector.start()

    def close(self) -> None:
        self._stop.set()
        if self._collector is not None:
            self._collector.join(5)
        self.db.close()
        self.store.close()

    def _open_index(self) -> QueryIndex:
        self.pg_index = PgIndex(self.db)
        return self.pg_index

    def check_index(self) -> tuple[int, int]:
        """Nothing to check: the index is in PostgreSQL, written by each commit."""
        self.index_checked.set()
        return 0, 0

    def collect_partials(self) -> int:
        """Nothing local: uploads in progress are in the object store (collect_orphans)."""
        return 0

    # ------------------------------------------------------------ runs

    def exists(self, project: str, run_id: str) -> bool:
        return self.db.mark(project, run_id) is not None

    def position(self, project: str, run_id: str) -> dict[str, Any]:
        """Straight from PostgreSQL, no cache: the daemon's hot question. Gaps are read
        before the mark, so every gap answered lies below the mark answered."""
        gaps = self.db.gaps(project, run_id)
        mark = self.db.mark(project, run_id)
        if mark is None:
            return {"next_seq": 0, "segment": -1}
        return {"next_seq": mark.next_seq, "segment": mark.segment,
                "gaps": [list(g) for g in gaps if g[1] < mark.next_seq]}

    def load(self, project: str, run_id: str) -> StoredRun:
        """The cached copy, brought up to the committed mark (the caller holds the lock)."""
        run = super().load(project, run_id)
        mark = self.db.mark(project, run_id)
        remote = 0 if mark is None else mark.next_seq
        if run.next_seq > remote:  # left by a commit that failed half-way: not the truth
            run = self._rebuild(project, run_id)
        if remote > run.next_seq:
            try:
                self._catch_up(run, project, run_id)
            except BaseException:
                self._evict(project, run_id)
                raise
        return run

    def _evict(self, project: str, run_id: str) -> None:
        """Forget the loaded copy: the next load cuts the files back to the cache's mark."""
        with self._cache_guard:
            self._cache.pop((project, run_id), None)

    def _rebuild(self, project: str, run_id: str) -> StoredRun:
        self._evict(project, run_id)
        shutil.rmtree(self.run_dir(project, run_id), ignore_errors=True)
        return super().load(project, run_id)

    def _catch_up(self, run: StoredRun, project: str, run_id: str) -> None:
        """Append the batches committed after the cached copy's mark, in order."""
        for chunk in self.db.chunks_from(project, run_id, run.next_seq):
            if chunk.start_seq != run.next_seq:
                raise CorruptObject(f"{project}/{run_id}: committed batch starts at "
                                    f"{chunk.start_seq}, the copy at {run.next_seq}")
            data = self.store.get_verified(chunk.object_key,
                                           chunk.object_key.rsplit("-", 1)[1])
            if data is None:
                raise CorruptObject(f"committed object {chunk.object_key} is missing from "
                                    f"the object store", key=chunk.object_key)
            _, records = self._validate(data, project, run_id, chunk.segment)
            for record in records:
                for sha in attached_blobs(record.body):
                    self._ensure_blob(sha)
            self._link_blobs(run, records)
            size = self._write_segment(run, chunk.segment, data)
            write_commit_mark(run.dir, chunk.segment, size)
            run.segment = max(run.segment, chunk.segment)
            self._read_back(run, project, run_id, bool(chunk.holes))
            run.gaps.extend(chunk.holes)

    # ------------------------------------------------------------ committing

    def commit(self, project: str, run_id: str, segment: int, body: bytes, *,
               gaps: Sequence[tuple[int, int]] = (), writer_alive: bool | None = None
               ) -> Committed:
        """As :meth:`Storage.commit`; a batch that lost the race for the mark to another
        replica is validated again (its frames are then repeats, compared and skipped)."""
        self._pending.writer_alive = writer_alive
        self._pending.indexed = None
        for _ in range(COMMIT_ATTEMPTS):
            try:
                return super().commit(project, run_id, segment, body, gaps=gaps,
                                      writer_alive=writer_alive)
            except (StaleMark, ObjectVanished):
                continue
        raise BackendUnavailable(f"{project}/{run_id}: the committed mark moved "
                                 f"{COMMIT_ATTEMPTS} times during this batch; retry")

    def _append(self, run: StoredRun, project: str, run_id: str, segment: int,
                data: bytes, allow_gap: bool = False) -> None:
        start = run.next_seq
        frames = scan_frames(data, 0, path="<request body>").frames
        end = frames[-1].last_seq + 1
        key = frames_key(project, run_id, segment, start, end, data)
        writer_alive = getattr(self._pending, "writer_alive", None)
        try:
            wrote = self.store.put_new(key, data)
            size = self._write_segment(run, segment, data)
            self._read_back(run, project, run_id, allow_gap)
            self.db.commit_batch(project, run_id, start=start, end=end, segment=segment,
                                 object_key=key, holes=_holes(frames, start),
                                 state=run.state(), writer_alive=writer_alive,
                                 upsert=self.pg_index.upsert,
                                 object_present=None if wrote else
                                 (lambda: self.store.exists(key)))
        except BaseException:
            self._evict(project, run_id)  # cut back to the cache's mark when next loaded
            raise
        # Committed. The cache's own mark follows (a crash here: the next load sees the
        # copy behind PostgreSQL's mark, cuts it back and fetches the batch again).
        write_commit_mark(run.dir, segment, size)
        run.segment = max(run.segment, segment)
        self._pending.indexed = (project, run_id, end, writer_alive)

    def _reindex(self, project: str, run_id: str, run: StoredRun,
                 writer_alive: bool | None = None) -> None:
        """Rows are written in each commit's own transaction (with the mark they
        describe); only a liveness report without new frames is left."""
        if writer_alive is None or getattr(self._pending, "indexed", None) == (
                project, run_id, run.next_seq, writer_alive):
            return
        self.pg_index.set_writer_alive(project, run_id, writer_alive)

    def set_writer_alive(self, project: str, run_id: str, alive: bool) -> None:
        self.pg_index.set_writer_alive(project, run_id, alive)

    # ------------------------------------------------------------ attached files

    def _ensure_blob(self, sha: str) -> bool:
        """The attached file in this replica's cache, fetched (and checked) if needed."""
        path = self._blob(sha)
        if path.exists():
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fetch-")
        try:
            with os.fdopen(fd, "wb") as f:
                if not self.store.download(blob_key(sha), f):
                    return False
            if _sha256_of(Path(tmp)) != sha:
                raise CorruptObject(f"object {blob_key(sha)} does not match its hash",
                                    key=blob_key(sha))
            os.replace(tmp, path)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _check_blobs(self, records: list[Record], next_seq: int) -> None:
        for record in records:
            for sha in attached_blobs(record.body):
                if _is_sha256(sha):
                    self._ensure_blob(sha)
        super()._check_blobs(records, next_seq)

    def blob_path(self, sha: str) -> Path:
        self._ensure_blob(_check_sha(sha))
        return self._blob(sha)

    def blob_state(self, sha: str) -> tuple[bool, int]:
        _check_sha(sha)
        if self._blob(sha).exists():
            return True, self._blob(sha).stat().st_size
        size = self.store.size(blob_key(sha))
        if size is not None:
            return True, size
        return False, sum(n for _, n in self._parts(sha))

    def _parts(self, sha: str) -> list[tuple[str, int]]:
        """The upload's chunks that continue one another from byte 0: (name, size)."""
        parts, offset = [], 0
        for name, size, _ in self.store.list(partial_prefix(sha)):
            tail = name.rsplit("/", 1)[1]
            if not tail.isdigit() or int(tail) != offset:
                break
            parts.append((name, size))
            offset += size
        return parts

    def append_blob(self, sha: str, offset: int, chunks: Iterable[bytes], final: bool,
                    max_bytes: int) -> tuple[bool, int]:
        """As :meth:`Storage.append_blob`, the chunks kept in the object store so that
        any replica can take the next one."""
        complete, size = self.blob_state(sha)
        if complete:
            return True, size
        if offset != size:
            raise Conflict(f"upload of {sha} is at byte {size}, not {offset}",
                           next_seq=size, code="offset")
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise BadBatch(f"chunk over {max_bytes} bytes")
        if offset == 0 and final:  # the whole file at once: the common case
            if hashlib.sha256(data).hexdigest() != sha:
                raise BadBatch(f"uploaded content does not match SHA-256 {sha}")
            self.store.put_new(blob_key(sha), data)
            return True, len(data)
        if data and not self.store.put_new(f"{partial_prefix(sha)}{offset:020d}", data):
            now = sum(n for _, n in self._parts(sha))
            if now != offset + len(data):  # another replica took a different chunk here
                raise Conflict(f"upload of {sha} is at byte {now}, not {offset + len(data)}",
                               next_seq=now, code="offset")
        size = offset + len(data)
        if not final:
            return False, size
        return self._assemble(sha), size

    def _assemble(self, sha: str) -> bool:
        parts = self._parts(sha)
        path = self._blob(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".assemble-")
        try:
            with os.fdopen(fd, "w+b") as f:
                for name, _ in parts:
                    self.store.download(name, f)
                f.flush()
                f.seek(0)
                if _sha256_of(Path(tmp)) != sha:
                    for name, _ in parts:
                        self.store.delete(name)
                    raise BadBatch(f"uploaded content does not match SHA-256 {sha}")
                self.store.put_new(blob_key(sha), f)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        for name, _ in parts:
            self.store.delete(name)
        return True

    # ------------------------------------------------------------ orphans

    def collect_orphans(self, min_age: float = ORPHAN_AGE) -> int:
        """Delete frame objects that no committed batch names, once ``min_age`` seconds
        old, and upload chunks untouched for ``partial_ttl``. Runs under the collector's
        advisory lock: a commit that found its object already stored checks, under the
        same lock (shared), that it is still there. Returns how many were deleted."""
        removed = 0
        with self.db.collector_lock() as conn:
            old = [name for name, _, age in self.store.list("runs/") if age >= min_age]
            for i in range(0, len(old), 1000):
                batch = old[i:i + 1000]
                committed = self.db.committed_keys(conn, batch)
                for name in batch:
                    if name not in committed:
                        self.store.delete(name)
                        removed += 1
            for name, _, age in self.store.list("partial/"):
                if age >= self.partial_ttl:
                    self.store.delete(name)
                    removed += 1
        return removed

    def _collect_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            with contextlib.suppress(FlightlogError):
                self.collect_orphans()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
