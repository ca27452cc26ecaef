"""The scaled backend: PostgreSQL + an S3-compatible object store, stateless replicas.

``flightlog server --db postgresql://... --store s3://bucket/prefix?endpoint=...``

What is the truth, and where:

- PostgreSQL (postgres.py): each run's committed mark, the list of its committed batches
  (one object each), its declared gaps, and the query index (pgindex.py).
- The object store (objectstore.py): the bytes, under immutable names, written with
  conditional puts before the database row that names them; a run's small objects are
  merged in the background (compaction.py), rows swapped in one transaction.
- Each replica's ``--data`` directory: a **read-through cache**, derived and disposable:
  a run directory per run it has served (exactly the embedded layout, SPEC.md §2), filled
  from the object store up to the committed mark, plus cached attached files. Deleting it
  loses nothing; a replica started on an empty one serves everything. Bounded: least
  recently used run directories are deleted past a count or a size (runcache.py).

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

from flightlog.format._constants import FILES_DIR
from flightlog.format._framing import scan_frames
from flightlog.format.records import Record, attached_blobs
from flightlog.format.rundir import blob_path

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
from .compaction import COMPACT_SMALL, Compactor, compact_every_from_env, frames_from, plan
from .objectstore import CorruptObject, ObjectStore, blob_key, frames_key, partial_prefix
from .pgindex import PgIndex
from .postgres import Chunk, Compacted, Database, ObjectVanished, StaleMark
from .runcache import DiskLru, limits_from_env, run_bytes

#: Times a batch is validated again after losing a race for the mark.
COMMIT_ATTEMPTS = 8
#: Objects no committed batch names are deleted once this old (seconds): far longer than
#: any put-to-commit delay (the commit is bounded by the pool's and the store's timeouts).
ORPHAN_AGE = 3600.0
#: Objects one orphan sweep lists; the next sweep (of any replica) resumes after the last
#: (the cursor is in PostgreSQL), so a sweep costs the same whatever the store holds.
COLLECT_BATCH = 10_000
#: Times a catch-up reads the rows again after finding a named object gone (compacted).
CATCH_UP_ATTEMPTS = 5


class ScaledStorage(Storage):
    """:class:`~.base.StorageBackend` over PostgreSQL + an object store, with ``cache_dir``
    as this replica's disposable read-through cache."""

    def __init__(self, cache_dir: str | os.PathLike[str], db: str, store: str, *,
                 partial_ttl: float | None = None, collect_every: float | None = None,
                 compact_every: int | None = None, cache_runs: int | None = None,
                 cache_bytes: int | None = None) -> None:
        self.db = Database(db)
        self.store = ObjectStore(store)
        runs, size = limits_from_env()
        #: Run directories kept in the cache, least recently used evicted (runcache.py).
        self.disk = DiskLru(cache_runs or runs, cache_bytes or size)
        #: Compaction of small objects, in the background (compaction.py).
        self.compactor = Compactor(compact_every_from_env() if compact_every is None
                                   else compact_every, self.compact, _stderr_log)
        self._pending = threading.local()
        if partial_ttl is None:
            super().__init__(cache_dir)
        else:
            super().__init__(cache_dir, partial_ttl=partial_ttl)
        self._stop = threading.Event()
        self._seed_disk()
        self._collector: threading.Thread | None = None
        if collect_every:
            self._collector = threading.Thread(target=self._collect_loop, args=(collect_every,),
                                               daemon=True, name="scale-orphan-collector")
            self._collector.start()

    def close(self) -> None:
        self._stop.set()
        self.compactor.close()
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
        loaded = self.runs_loaded
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
        if self.runs_loaded != loaded:  # read from disk now, not found in memory
            if run.view is not None:
                self.pg_index.fill_times(project, run_id, run.state(), run.next_seq)
            self.disk.touch((project, run_id), run_bytes(run.dir))
        else:
            self.disk.touch((project, run_id))
        self._shrink(keep=(project, run_id))
        return run

    # ------------------------------------------------------------ the disk cache's bound

    def _seed_disk(self) -> None:
        """Runs a previous process left in the cache, oldest use first (runcache.py)."""
        found = []
        for project_dir in _subdirs(self.runs_dir):
            for run_dir in _subdirs(project_dir):
                with contextlib.suppress(OSError):
                    found.append((run_dir.stat().st_mtime, project_dir.name, run_dir.name,
                                  run_bytes(run_dir)))
        for _, project, run_id, size in sorted(found):
            self.disk.touch((project, run_id), size)
        self._shrink(keep=None)

    def _shrink(self, keep: tuple[str, str] | None) -> None:
        """Evict least recently used run directories while the cache is over its bound;
        a run whose lock is held (in use, or the caller's ``keep``) is skipped."""
        if not self.disk.over():
            return
        for key in self.disk.oldest():
            if not self.disk.over():
                return
            if key == keep:
                continue
            lock = self.lock(*key)
            if not lock.acquire(blocking=False):
                continue
            try:
                self._drop_run_dir(*key)
            finally:
                lock.release()

    def _drop_run_dir(self, project: str, run_id: str) -> None:
        """Delete a cached run directory (the caller holds the run's lock), and the
        cached attached files no other cached run links."""
        self._evict(project, run_id)
        run_dir = self.run_dir(project, run_id)
        linked = [Path(folder, name) for folder, _, names in os.walk(run_dir / FILES_DIR)
                  for name in names]
        shutil.rmtree(run_dir, ignore_errors=True)
        for path in linked:
            sha = path.parent.name + path.name
            if _is_sha256(sha):
                with contextlib.suppress(FileNotFoundError):
                    if self._blob(sha).stat().st_nlink <= 1:
                        self._blob(sha).unlink()
        self.disk.forget((project, run_id))

    def _write_segment(self, run: StoredRun, segment: int, data: bytes) -> int:
        size = super()._write_segment(run, segment, data)
        self.disk.grow(_key_of(run.dir), len(data))
        return size

    def _link_blobs(self, run: StoredRun, records: list[Record]) -> None:
        new = {sha for record in records for sha in attached_blobs(record.body)
               if _is_sha256(sha) and not blob_path(run.dir, sha).exists()}
        super()._link_blobs(run, records)
        added = 0
        for sha in new:
            with contextlib.suppress(FileNotFoundError):
                added += self._blob(sha).stat().st_size
        self.disk.grow(_key_of(run.dir), added)

    def _evict(self, project: str, run_id: str) -> None:
        """Forget the loaded copy: the next load cuts the files back to the cache's mark."""
        with self._cache_guard:
            self._cache.pop((project, run_id), None)

    def _rebuild(self, project: str, run_id: str) -> StoredRun:
        self._evict(project, run_id)
        shutil.rmtree(self.run_dir(project, run_id), ignore_errors=True)
        return super().load(project, run_id)

    def _catch_up(self, run: StoredRun, project: str, run_id: str) -> None:
        """Append the batches committed after the cached copy's mark, in order. The rows
        read may name objects a compaction deleted since (its new row was committed
        before): the rows are then read again from where the copy got to."""
        missing: str | None = None
        for _ in range(CATCH_UP_ATTEMPTS):
            gone = self._catch_up_rows(run, project, run_id)
            if gone is None:
                return
            if gone == missing:  # named again by a fresh read of the rows: truly lost
                break
            missing = gone
        raise CorruptObject(f"committed object {missing} is missing from the object store",
                            key=missing)

    def _catch_up_rows(self, run: StoredRun, project: str, run_id: str) -> str | None:
        """One pass of _catch_up; the name of an object found missing, else None."""
        for chunk in self.db.chunks_from(project, run_id, run.next_seq):
            start = run.next_seq
            if chunk.start_seq > start:
                raise CorruptObject(f"{project}/{run_id}: committed batch starts at "
                                    f"{chunk.start_seq}, the copy at {start}")
            data = self.store.get_verified(chunk.object_key,
                                           chunk.object_key.rsplit("-", 1)[1])
            if data is None:
                return chunk.object_key
            if chunk.start_seq < start:  # a compacted object: the copy has its beginning
                data = frames_from(data, start, chunk.object_key)
            holes = [h for h in chunk.holes if h[0] >= start]
            if not data:
                continue
            _, records = self._validate(data, project, run_id, chunk.segment)
            for record in records:
                for sha in attached_blobs(record.body):
                    self._ensure_blob(sha)
            self._link_blobs(run, records)
            size = self._write_segment(run, chunk.segment, data)
            write_commit_mark(run.dir, chunk.segment, size)
            run.segment = max(run.segment, chunk.segment)
            self._read_back(run, project, run_id, bool(holes))
            run.gaps.extend(holes)
        return None

    # ------------------------------------------------------------ compaction

    def compact(self, project: str, run_id: str) -> int:
        """Merge the run's small committed objects (compaction.py); returns how many
        objects were replaced. Safe at any moment, from any replica, and to interrupt."""
        replaced = 0
        groups = plan(self.db.chunks_from(project, run_id, 0),
                      lambda chunk: self.store.size(chunk.object_key) or 0)
        for group in groups:
            try:
                replaced += self._compact_group(project, run_id, group)
            except Compacted:
                break  # another replica is compacting this run
        return replaced

    def _compact_group(self, project: str, run_id: str, group: list[Chunk]) -> int:
        parts = []
        for chunk in group:
            data = self.store.get_verified(chunk.object_key,
                                           chunk.object_key.rsplit("-", 1)[1])
            if data is None:  # replaced and deleted by another replica meanwhile
                raise Compacted(f"object {chunk.object_key} is gone", key=chunk.object_key)
            parts.append(data)
        merged = b"".join(parts)
        key = frames_key(project, run_id, group[0].segment, group[0].start_seq,
                         group[-1].end_seq, merged)
        for _ in range(COMMIT_ATTEMPTS):
            wrote = self.store.put_new(key, merged)
            try:
                self.db.replace_chunks(project, run_id, group, key, len(merged),
                                       object_present=None if wrote else
                                       (lambda: self.store.exists(key)))
                break
            except ObjectVanished:
                continue
        else:
            raise BackendUnavailable(f"{project}/{run_id}: compacted object {key} was "
                                     f"collected {COMMIT_ATTEMPTS} times; later")
        for chunk in group:  # no row names them now; one left behind is an orphan
            with contextlib.suppress(FlightlogError):
                self.store.delete(chunk.object_key)
        return len(group)

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
                                 (lambda: self.store.exists(key)), size=len(data))
        except BaseException:
            self._evict(project, run_id)  # cut back to the cache's mark when next loaded
            raise
        # Committed. The cache's own mark follows (a crash here: the next load sees the
        # copy behind PostgreSQL's mark, cuts it back and fetches the batch again).
        write_commit_mark(run.dir, segment, size)
        run.segment = max(run.segment, segment)
        self._pending.indexed = (project, run_id, end, writer_alive)
        self.compactor.committed(project, run_id, finished=run.state().exit_code is not None)
        self._shrink(keep=(project, run_id))  # the batch's bytes count against the bound

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

    def collect_orphans(self, min_age: float = ORPHAN_AGE, batch: int = COLLECT_BATCH
                        ) -> int:
        """Delete frame objects that no committed batch names, once ``min_age`` seconds
        old, and upload chunks untouched for ``partial_ttl``. Each call lists at most
        ``batch`` frame objects, from where the previous call (of any replica) stopped,
        wrapping round at the end. Runs under the collector's advisory lock: a commit
        that found its object already stored checks, under the same lock (shared), that
        it is still there. Returns how many were deleted."""
        removed = 0
        with self.db.collector_lock() as conn:
            listed: list[tuple[str, float]] = []
            for name, _, age in self.store.list("runs/", self.db.collector_cursor(conn)):
                listed.append((name, age))
                if len(listed) >= batch:
                    break
            self.db.set_collector_cursor(conn, listed[-1][0] if len(listed) >= batch else "")
            old = [name for name, age in listed if age >= min_age]
            for i in range(0, len(old), 1000):
                chunk = old[i:i + 1000]
                committed = self.db.committed_keys(conn, chunk)
                for name in chunk:
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
            with contextlib.suppress(FlightlogError):  # runs whose compaction was missed
                for project, run_id in self.db.runs_with_small_chunks(
                        max(2, self.compactor.every), COMPACT_SMALL):
                    self.compactor.queue(project, run_id)


def _key_of(run_dir: Path) -> tuple[str, str]:
    return run_dir.parent.name, run_dir.name


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return []


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stderr_log(line: str) -> None:
    import sys

    print(f"flightlog server: {line}", file=sys.stderr, flush=True)
