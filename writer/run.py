"""``Run``: what ``flightlog.init`` returns; the training side's whole API.

The training thread only validates, timestamps and appends to in-memory buffers; the
background writer (:mod:`flightlog.writer.background`) encodes and writes. Nothing here
touches the network.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, cast

from flightlog.format._constants import DEFAULT_SEGMENT_BYTES, MAX_PAYLOAD
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.reader import RunLogReader
from flightlog.format.records import RecordType
from flightlog.format.rundir import check_name, default_root, is_run_dir, run_dir_for
from flightlog.format.segment import list_segments
from flightlog.format.state import RunState

from flightlog.errors import (
    InvalidValue,
    RecordTooLarge,
    RunNotFound,
    StepError,
    WriterClosed,
    WriterError,
)

from .background import BackgroundWriter, Item, Taken
from .blobs import store_blob, store_bytes
from .history import HistoryBuffer
from .lock import WriterLock
from .rich import ipc_file, prepare, split_rich
from .values import MAX_KEY_CHARS, check_key, flatten, plain, scalar
from .valuetypes import KeyKinds

_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1

_MISSING: Any = object()
_ID_ALPHABET = string.ascii_lowercase + string.digits
#: History rows the training thread buffers before it drops. Backpressure (SPEC.md §12)
#: keeps the buffer to a fraction of a second of logging; this bound only matters while
#: the writer thread is stuck in a write that does not return.
MAX_BUFFERED_ROWS = 1_000_000


if TYPE_CHECKING:
    from flightlog.runner.channel import Attachment


def _runner_attachment() -> Attachment | None:
    """The runner's run when `flightlog run` started this process (and no run of this
    process attached to it yet); imports the runner only then."""
    if "FLIGHTLOG_RUNNER_FD" not in os.environ:
        return None
    from flightlog.runner.channel import attachment_from_env

    return attachment_from_env()


def new_run_id() -> str:
    """8 random lowercase letters and digits, as W&B run ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("flightlog")
    except Exception:
        return "unknown"


class Run:
    """A run being written. Create it with :func:`flightlog.init`.

    Attributes:
        id, name, project: the run's identity.
        dir: the run directory (``ROOT/<project>/<id>``).
        config: mapping; ``run.config.update({...})`` records changes.
        summary: mapping; defaults to each key's last logged value.
    """

    def __init__(self, *, project: str, name: str | None = None, config: Mapping[str, Any] |
                 None = None, tags: Any = None, dir: str | os.PathLike[str] | None = None,
                 id: str | None = None, resume: bool | str = False,
                 flush_interval: float = 0.1,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 created: float | None = None) -> None:
        # Started by `flightlog run`: this run is the runner's, continued through its
        # channel (flightlog/runner/channel.py); no lock, no segment of its own.
        attached = _runner_attachment()
        if attached is not None:
            project, id, dir, resume = attached.project, attached.id, attached.root, True
        self._attached = attached
        #: Called first thing in finish() (the system metrics sampler's stop).
        self._before_finish: list[Callable[[], None]] = []
        self.project = check_name(project, "project")
        self.id = check_name(id, "run id") if id is not None else new_run_id()
        self.dir = run_dir_for(dir if dir is not None else default_root(), self.project,
                               self.id)
        resuming = self._check_resume(resume)
        self._lock = threading.Lock()
        self._hist = HistoryBuffer()
        self._items: list[Item] = []
        self._pending_rows = 0
        self._dropped_rows = 0
        self._closed = False
        self._last_values: dict[str, Any] = {}
        # The latest history row, not yet merged into _last_values (see _last).
        self._recent_keys: tuple[str, ...] = ()
        self._recent_values: tuple[Any, ...] = ()
        self._plain_keys: tuple[str, ...] = ()  # the last key tuple that passed _plain_keys
        self._kinds = KeyKinds()  # each history key's kind of value (valuetypes.py)
        self._step = 0
        self.announce = False  # flightlog.init sets it: say so on stderr at finish
        self.dir.mkdir(parents=True, exist_ok=True)
        self._writer_lock = WriterLock(self.dir)
        if attached is None:  # the runner holds the lock of an attached run
            self._writer_lock.acquire()
        try:
            next_seq, next_segment, prior = self._read_prior() if resuming else (0, 0, None)
            self.name = name if name is not None else (prior.name if prior and prior.name
                                                        else self.id)
            initial_config = plain("config", dict(config or {}))
            initial_tags = _tags_map(tags)
            # Packed before the writer thread starts: a record too large fails init cleanly.
            run_record = self._packed(RecordType.RUN, {
                "id": self.id, "project": self.project, "name": self.name,
                # created=: an importer's source start time; a resumed run keeps its own.
                "created": prior.created if prior and prior.created else
                (float(created) if created is not None else time.time()),
                "config": initial_config, "tags": initial_tags, "resumed": resuming,
                "host": socket.gethostname(), "pid": os.getpid()}, "run")
            self._items.append(run_record)
            from .segments import SegmentWriter

            segments = SegmentWriter(self.dir, self.id, next_seq=next_seq,
                                     next_segment=next_segment, segment_bytes=segment_bytes,
                                     version=_version()) if attached is None else cast(
                                         SegmentWriter, attached.sink())
            self._writer = BackgroundWriter(segments, self._take, interval=flush_interval,
                                            path=str(self.dir))
        except BaseException:
            self._writer_lock.release()
            raise
        self.config = Config(self, dict(prior.config) if prior else {})
        # The prior summary (last values and explicit sets) is what later logs replace.
        self.summary = Summary(self, {})
        self._last.update(prior.summary() if prior else {})
        self.tags: dict[str, str | None] = dict(prior.tags) if prior else {}
        self.config._data.update(initial_config)
        self.tags.update(initial_tags)
        if resuming and prior is not None and prior.chunks:
            self._step = int(prior.chunks[-1].steps[-1]) + 1

    # ------------------------------------------------------------ setup helpers

    def _check_resume(self, resume: bool | str) -> bool:
        exists = is_run_dir(self.dir)
        if resume == "must" and not exists:
            raise RunNotFound(f"resume='must' but run {self.id!r} does not exist",
                              path=str(self.dir))
        if exists and not resume:
            raise WriterError(f"run {self.id!r} already exists; pass resume=True to continue "
                              f"it", path=str(self.dir))
        return exists and bool(resume)

    def _read_prior(self) -> tuple[int, int, RunState]:
        reader = RunLogReader(self.dir)
        state = RunState()
        for record in reader.poll():
            state.apply(record)
        segments = list_segments(self.dir)
        next_segment = segments[-1][0] + 1 if segments else 0
        return reader.next_seq, next_segment, state

    # ------------------------------------------------------------ queueing

    def _take(self) -> Taken:
        """Called by the writer thread: everything queued so far, in order."""
        with self._lock:
            items, self._items = self._items, []
            if self._hist.rows:
                items.append(self._hist)
                self._hist = HistoryBuffer()
            dropped, self._dropped_rows = self._dropped_rows, 0
            self._pending_rows = 0
        return Taken(items, dropped)

    @staticmethod
    def _packed(record_type: RecordType, body: dict[str, Any], key: str = "") -> bytes:
        payload = pack_record(record_type, body)
        if len(payload) > MAX_PAYLOAD:
            raise RecordTooLarge(f"{record_type.name.lower()} record for {key!r} is "
                                 f"{len(payload)} bytes; the limit is {MAX_PAYLOAD}",
                                 key=key or None)
        return payload

    def _queue(self, record_type: RecordType, body: dict[str, Any], key: str = "") -> None:
        self._queue_packed(self._packed(record_type, body, key))

    def _queue_packed(self, payload: bytes) -> None:
        if time.time() > self._writer.due:
            self._catch_up()
        with self._lock:
            if self._hist.rows:
                self._items.append(self._hist)
                self._hist = HistoryBuffer()
            self._items.append(payload)

    def _catch_up(self) -> None:
        """Backpressure (SPEC.md §12): the oldest record the writer may not have written
        yet is past its bound; wait until everything logged so far is written. Returns at
        once while writes fail or hang: records are then buffered, or dropped and counted."""
        self._writer.wait_written(time.monotonic())

    @property
    def _last(self) -> dict[str, Any]:
        """Each key's last logged value (the summary's default), the latest row included."""
        if self._recent_keys:
            self._last_values.update(zip(self._recent_keys, self._recent_values, strict=True))
            self._recent_keys = ()
        return self._last_values

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosed(f"run {self.id} is finished; start a new one with "
                               f"flightlog.init()", path=str(self.dir))
        if self._writer.error is not None:
            raise WriterError(f"the background writer failed: {self._writer.error!r}",
                              path=str(self.dir)) from self._writer.error

    # ------------------------------------------------------------ logging

    def log(self, data: Any = None, step: Any = _MISSING, commit: bool | None = None, *,
            name: str | None = None, value: Any = _MISSING, description: str = "",
            timestamp: float | None = None) -> None:
        """Log metrics.

        W&B form: ``run.log({"rmse": 57.2})`` writes a history row at the current step
        and advances it; ``step=`` and ``commit=False`` as in W&B. ``timestamp=`` (seconds
        since the epoch) is the row's wall time instead of now, for importers that keep a
        source's original times (the row's ``_timestamp``, and the time of its media).
        Azure form: ``run.log("alpha", 0.1)`` (or ``name=, value=``) records one value of
        a metric without touching the step; logged again, the metric becomes a vector.

        Raises:
            InvalidValue, InvalidKey: a value or key flightlog cannot store (nothing of
                this call is written; the run goes on).
            StepError: ``step`` below the current step.
            WriterClosed: after ``finish()``.
        """
        if timestamp is not None:
            self._log_row(dict(data) if isinstance(data, Mapping) else data,
                          None if step is _MISSING else step, commit, float(timestamp))
        elif type(data) is dict and name is None and value is _MISSING:
            self._log_row(data, None if step is _MISSING else step, commit)
        elif isinstance(data, str) or name is not None:
            key = check_key(data if isinstance(data, str) else name)
            val = step if value is _MISSING and isinstance(data, str) else value
            if val is _MISSING:
                raise InvalidValue(f"run.log({key!r}) needs a value", key=key)
            self.log_metric(key, val, description)
        elif isinstance(data, Mapping):
            self._log_row(dict(data), None if step is _MISSING else step, commit)
        else:
            raise InvalidValue(f"run.log takes a dict or (name, value), got "
                               f"{type(data).__name__}")

    def _log_row(self, data: dict[str, Any], step: Any, commit: bool | None,
                 timestamp: float | None = None) -> None:
        self._check_open()
        if not isinstance(data, dict):
            raise InvalidValue(f"run.log(..., timestamp=) takes a dict, got "
                               f"{type(data).__name__}")
        rich: dict[str, Any] = {}
        keys, values = tuple(data), tuple(data.values())
        # Fast path: flat dicts of str -> float/int need no conversion at all. Keys are
        # checked once per key tuple: a training loop logs the same keys every step.
        # A key tuple passes only with numbers that keep each key's kind (valuetypes.py).
        if (keys != self._plain_keys and _plain_keys(keys) and _plain_values(values)
                and self._kinds.all_numbers(keys)):
            self._plain_keys = keys
        slow = keys != self._plain_keys or not _plain_values(values)
        if slow:
            data, rich = split_rich(data)
            data = flatten(data)
        if step is None:
            at = self._step
            advance = commit is None or commit
        else:
            at = self._check_step(step)
            advance = bool(commit)
        if slow:
            data = self._kinds.route(data, at)  # a key's numbers stay numbers (SPEC §9.2)
            keys, values = tuple(data), tuple(data.values())
        # Tables, charts and media become their own records (their files stored now);
        # any of them failing leaves this call without effect.
        now = time.time() if timestamp is None else timestamp
        payloads = self._prepare_rich(rich, at, now) if rich else []
        # The backpressure check: one float comparison on the common path.
        if (now if timestamp is None else time.time()) > self._writer.due:
            self._catch_up()
        # A row even when every value was rich: the step exists in the history, as an
        # empty log({}) makes one.
        with self._lock:
            if self._pending_rows >= MAX_BUFFERED_ROWS:
                self._dropped_rows += 1
                return
            self._pending_rows += 1
            self._hist.append(at, now, keys, values)
        self._step = at + 1 if advance else at
        # The summary's last values: a row is merged only when the next one has other keys
        # (or on a read, _last): a loop logging the same keys pays one tuple comparison.
        recent = self._recent_keys
        if recent and keys is not recent and keys != recent:
            self._last_values.update(zip(recent, self._recent_values, strict=True))
        self._recent_keys, self._recent_values = keys, values
        for payload in payloads:
            self._queue_packed(payload)

    def _prepare_rich(self, rich: dict[str, Any], at: int, now: float) -> list[bytes]:
        prepared = [(key, record) for key, value in rich.items()
                    for record in prepare(self.dir, key, value, at, now)]
        return [self._packed(rtype, body, key) for key, (rtype, body) in prepared]

    def _check_step(self, step: Any) -> int:
        try:
            at = int(step)
        except (TypeError, ValueError) as exc:
            raise StepError(f"step must be an int, got {step!r}") from exc
        if at != step or at < 0:
            raise StepError(f"step must be a non-negative int, got {step!r}")
        if at < self._step:
            raise StepError(f"step {at} is below the current step {self._step}; steps only "
                            f"increase (this call wrote nothing)")
        return at

    def log_metric(self, name: str, value: Any, description: str = "") -> None:
        """Azure ``run.log(name, value)``: one value of a (possibly vector) metric."""
        self._check_open()
        key = check_key(name)
        body: dict[str, Any] = {"key": key, "value": scalar(key, value), "time": time.time()}
        if description:
            body["description"] = str(description)
        self._queue(RecordType.METRIC, body, key)
        self._last[key] = body["value"]

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Azure ``run.log_list(name, [values])``."""
        self._check_open()
        key = check_key(name)
        values = [scalar(key, v) for v in (value.tolist() if hasattr(value, "tolist")
                                           else list(value))]
        body: dict[str, Any] = {"key": key, "values": values, "time": time.time()}
        if description:
            body["description"] = str(description)
        self._queue(RecordType.LIST, body, key)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Azure ``run.log_row(name, x=1, y=0.4)``: one row of the table ``name``."""
        self._check_open()
        key = check_key(name)
        row = {check_key(k): plain(f"{key}.{k}", v) for k, v in kwargs.items()}
        if not row:
            raise InvalidValue(f"log_row({key!r}) needs at least one column", key=key)
        self._queue(RecordType.ROW, {"key": key, "row": row, "time": time.time()}, key)

    def log_table(self, name: str, value: Mapping[str, Any], description: str = "") -> None:
        """Azure ``run.log_table(name, {"x": [...], "y": [...]})``: a whole table, stored as
        an Arrow IPC file (never sampled; up to SPEC.md §10.4's 10,000,000 rows, else
        InvalidValue)."""
        self._check_open()
        key = check_key(name)
        data = _arrow_ipc(key, value)
        sha, _ = store_bytes(self.dir, data)
        import pyarrow.ipc as ipc

        rows = ipc.open_file(io.BytesIO(data)).read_all().num_rows
        self._queue(RecordType.TABLE, {"key": key, "sha256": sha, "rows": rows,
                                       "time": time.time()}, key)

    def log_image(self, name: str, path: Any = None, plot: Any = None,
                  description: str = "") -> None:
        """Azure ``run.log_image(name, path=None, plot=None)``: an image file, or a
        matplotlib figure (or ``pyplot``) drawn as PNG. Exactly one of the two; a figure
        passed as ``path`` (Azure's docs write ``run.log_image("ROC", plt)``) is a plot."""
        self._check_open()
        key = check_key(name)
        from flightlog import figures

        if plot is None and figures.is_matplotlib(path):
            # Azure's docs call run.log_image("ROC", plt): the figure where path= stands.
            path, plot = None, path
        if (path is None) == (plot is None):
            raise InvalidValue(f"log_image({key!r}) takes exactly one of path= and plot=",
                               key=key)
        from flightlog.media import Image

        image = Image(path if path is not None else plot,
                      caption=str(description) if description else None)
        for rtype, body in prepare(self.dir, key, image, None):
            self._queue(rtype, body, key)

    def tag(self, key: str, value: Any = None) -> None:
        """Azure ``run.tag(key, value)``."""
        self._check_open()
        key = check_key(key)
        val = None if value is None else str(value)
        self._queue(RecordType.TAGS, {"set": {key: val}}, key)
        self.tags[key] = val

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[bytes]
                    ) -> str:
        """Attach a file to the run under ``name`` (Azure signature). Copied now, stored
        by content hash; returns its SHA-256."""
        self._check_open()
        key = check_key(name, "file name")
        if isinstance(path_or_stream, (str, os.PathLike)):
            with open(path_or_stream, "rb") as src:
                sha, size = store_blob(self.dir, src)
        else:
            sha, size = store_blob(self.dir, path_or_stream)
        self._queue(RecordType.FILE, {"name": key, "sha256": sha, "size": size,
                                      "time": time.time()}, key)
        return sha

    def _record_summary(self, changes: dict[str, Any], deleted: list[str]) -> None:
        self._check_open()
        body: dict[str, Any] = {"set": changes}
        if deleted:
            body["delete"] = deleted
        self._queue(RecordType.SUMMARY, body, ",".join(changes) or ",".join(deleted))

    def _record_config(self, changes: dict[str, Any]) -> None:
        self._check_open()
        self._queue(RecordType.CONFIG, {"set": changes}, ",".join(changes))

    # ------------------------------------------------------------ lifecycle

    def flush(self) -> None:
        """Hand everything logged so far to the background writer now (it reaches the OS
        within one write; no fsync)."""
        self._check_open()
        self._writer.wake()

    def finish(self, exit_code: int | None = 0, *, timeout: float = 30.0,
               timestamp: float | None = None, signal: str | None = None) -> None:
        """Write the ``finish`` record, flush, fsync, and release the run. Idempotent.
        ``timestamp=``: the finish time instead of now (importers: the source's end time).
        ``exit_code=None`` writes no ``finish`` record (an importer's source that recorded
        no end): the run is released and reads as crashed (SPEC.md §11.7).

        A failing disk is retried for up to ``timeout`` seconds; what could not be written
        by then is reported in a log warning (never raised)."""
        if self._closed:
            return
        for before in self._before_finish:
            before()
        if exit_code is not None:
            body: dict[str, Any] = {"exit_code": int(exit_code), "time": time.time()
                                    if timestamp is None else float(timestamp)}
            if signal is not None:  # ``flightlog run``: the signal that ended the script
                body["signal"] = str(signal)
            self._queue(RecordType.FINISH, body)
        self._closed = True
        try:
            self._writer.stop(timeout)
            # Records that reached the OS are there; a failing fsync loses none of them.
            with contextlib.suppress(OSError):
                self._writer.segments.close()
        finally:
            self._writer_lock.release()
            _forget(self)
        if self._writer.error is not None:
            raise WriterError(f"the background writer failed: {self._writer.error!r}",
                              path=str(self.dir)) from self._writer.error
        if self.announce:
            from .announce import finished

            finished(self.project, self.id, self.dir, self._step,
                     1 if exit_code is None else int(exit_code))

    complete = finish

    @property
    def step(self) -> int:
        """The step the next ``log`` without ``step=`` writes to."""
        return self._step

    @property
    def dropped(self) -> int:
        """Records dropped so far because writing failed for too long."""
        return self._writer.dropped_total

    def show(self) -> Any:
        """Draw this run's page inline in Jupyter, refreshing while it runs (Azure's
        RunDetails widget; ``pip install 'flightlog[notebook]'``)."""
        from flightlog.notebook import show

        return show(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)

    def __repr__(self) -> str:
        return f"<flightlog.Run {self.project}/{self.id} {self.name!r} dir={str(self.dir)!r}>"


# ---------------------------------------------------------------- config and summary


class _RecordingMapping(MutableMapping[str, Any]):
    """A dict whose changes become records."""

    def __init__(self, run: Run, data: dict[str, Any]) -> None:
        self._run = run
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_data"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self) -> str:
        return repr(self._data)

    def _plain_changes(self, other: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        changes = dict(other or {}, **kwargs)
        return {check_key(k): plain(k, v) for k, v in changes.items()}


class Config(_RecordingMapping):
    """``run.config``: W&B-style; ``update`` and item assignment record a change."""

    def update(self, other: Any = None, /, **kwargs: Any) -> None:
        changes = self._plain_changes(other, kwargs)
        if changes:
            self._run._record_config(changes)
            self._data.update(changes)


class Summary(_RecordingMapping):
    """``run.summary``: each key's last logged value, replaced by explicit sets until the
    key is logged again (log order, SPEC.md §11)."""

    def __getitem__(self, key: str) -> Any:
        return self._run._last[key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._run._last))

    def __len__(self) -> int:
        return len(self._run._last)

    def update(self, other: Any = None, /, **kwargs: Any) -> None:
        changes = self._plain_changes(other, kwargs)
        if changes:
            self._run._record_summary(changes, [])
            self._run._last.update(changes)

    def __delitem__(self, key: str) -> None:
        self._run._record_summary({}, [key])
        self._run._last.pop(key, None)

    def __repr__(self) -> str:
        return repr(dict(self._run._last))


_NUMBERS = frozenset({float, int})


def _plain_keys(keys: tuple[Any, ...]) -> bool:
    """Keys a history row can use as they are (others go through ``flatten``)."""
    return all(type(k) is str and k and k[0] != "_" and len(k) <= MAX_KEY_CHARS
               for k in keys)


def _plain_values(values: tuple[Any, ...]) -> bool:
    """Every value a float, or an int that fits i64/u64 (bool is a kind of its own)."""
    types = set(map(type, values))
    if not types <= _NUMBERS:
        return False
    if int not in types or (min(values) >= _INT_MIN and max(values) <= _UINT_MAX):
        return True
    # min/max also see the floats (huge, NaN): the exact check looks at the ints only.
    return all(_INT_MIN <= v <= _UINT_MAX for v in values if type(v) is int)


def _tags_map(tags: Any) -> dict[str, str | None]:
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return {check_key(k, "tag"): None if v is None else str(v) for k, v in tags.items()}
    if isinstance(tags, str):
        tags = [tags]
    return {check_key(t, "tag"): None for t in tags}


def _arrow_ipc(key: str, value: Mapping[str, Any]) -> bytes:
    import pyarrow as pa

    if not isinstance(value, Mapping) or not value:
        raise InvalidValue(f"log_table({key!r}) takes a non-empty dict of column -> list",
                           key=key)
    lengths = {}
    columns = {}
    for col, values in value.items():
        check_key(col, "column name")
        values = values.tolist() if hasattr(values, "tolist") else list(values)
        lengths[col] = len(values)
        columns[col] = [plain(f"{key}.{col}", v) for v in values]
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{c!r} has {n}" for c, n in lengths.items())
        raise InvalidValue(f"log_table({key!r}): columns differ in length ({described})",
                           key=key)
    try:
        table = pa.table(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidValue(f"log_table({key!r}): {exc}", key=key) from exc
    return ipc_file(table, key)


# ---------------------------------------------------------------- the current run

_current: list[Run] = []


def _forget(run: Run) -> None:
    if run in _current:
        _current.remove(run)


def set_current(run: Run) -> None:
    _current.append(run)


def current() -> Run | None:
    return _current[-1] if _current else None
