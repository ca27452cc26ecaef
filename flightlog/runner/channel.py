"""The channel between ``flightlog run`` and the script it runs: how the script's
``flightlog.init()`` attaches to the runner's run instead of making a second one.

A run directory has one writer (SPEC.md §13): the runner. It passes the script two
environment variables, ``FLIGHTLOG_RUN_DIR`` (its run directory; ``Run.get_context()``
of :mod:`flightlog.azureml` reads it too) and ``FLIGHTLOG_RUNNER_FD`` (the write end of
a pipe the script inherits). The script's ``Run`` then writes no segment and takes no
lock: its background writer sends each packed record through the pipe, and the runner
appends them to the run's log in the order they arrive, with its own console and system
records in between. The script's first ``init`` takes both variables out of its
environment, so its later runs and its own child processes make ordinary runs.

Message format (a private pipe between two flightlog processes, not stored): ``u32``
little-endian length, then that many bytes, one record exactly as SPEC.md §7 packs it.
The runner checks every message (length, one record of a type a script may send)
before it appends it; a script killed mid-message leaves a partial message, dropped.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from flightlog.format._constants import MAX_PAYLOAD
from flightlog.format._msgpack_codec import unpack_records
from flightlog.format.records import RecordType

log = logging.getLogger("flightlog")

RUN_DIR_ENV = "FLIGHTLOG_RUN_DIR"
CHANNEL_ENV = "FLIGHTLOG_RUNNER_FD"
#: Set to ``0`` for the script: the runner samples the script's process tree itself.
SYSTEM_METRICS_ENV = "FLIGHTLOG_SYSTEM_METRICS"

_LENGTH = struct.Struct("<I")
#: Records the runner alone writes: a script's segment records would name segments that
#: do not exist.
_RUNNER_ONLY = frozenset({int(RecordType.SEGMENT)})


@dataclass(frozen=True)
class Attachment:
    """The runner's run, as the script sees it."""

    run_dir: Path
    fd: int

    @property
    def project(self) -> str:
        return self.run_dir.parent.name

    @property
    def id(self) -> str:
        return self.run_dir.name

    @property
    def root(self) -> Path:
        return self.run_dir.parent.parent

    def sink(self) -> ChannelSink:
        return ChannelSink(self.fd)


def attachment_from_env() -> Attachment | None:
    """The runner's run when ``flightlog run`` started this process, else None. Takes
    the variables out of ``os.environ`` (one attachment per process). A variable that
    does not name an inherited pipe is ignored (a grandchild that inherited the
    variables but not the descriptor must not write into whatever file has that number).
    """
    fd_text, run_dir = os.environ.pop(CHANNEL_ENV, None), os.environ.pop(RUN_DIR_ENV, None)
    if not fd_text or not run_dir:
        return None
    try:
        fd = int(fd_text)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
    except (ValueError, OSError):
        return None
    return Attachment(Path(run_dir), fd)


class ChannelSink:
    """What the script's background writer writes to instead of segments: the same
    ``write``/``close`` as :class:`~flightlog.writer.segments.SegmentWriter`."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def write(self, payloads: Sequence[bytes]) -> tuple[int, OSError | None]:
        written = 0
        for payload in payloads:
            try:
                self._send(_LENGTH.pack(len(payload)) + payload)
            except OSError as exc:  # the runner is gone: the writer's retry/drop rules apply
                return written, exc
            written += 1
        return written, None

    def _send(self, data: bytes) -> None:
        if self._fd is None:
            raise BrokenPipeError("the runner channel is closed")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def fsync(self) -> None:
        """Nothing to do: the runner fsyncs the log."""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ChannelReceiver:
    """The runner's end: a thread reading records from the script and handing each to
    ``deliver`` (packed bytes, type). Stops at end of file, or at :meth:`stop`."""

    def __init__(self, fd: int, deliver: Callable[[bytes, int], None]) -> None:
        self._fd = fd
        self._deliver = deliver
        self._buffer = bytearray()
        self._stop = threading.Event()
        self.rejected = 0
        self._thread = threading.Thread(target=self._main, name="flightlog-channel",
                                        daemon=True)
        self._thread.start()

    def stop(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for end of file (every writer of the pipe gone),
        then stop reading and close it."""
        self._thread.join(grace)
        self._stop.set()
        self._thread.join()

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], 0.1)
                if not ready:
                    continue
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    break
                self._buffer += chunk
                self._drain()
        finally:
            os.close(self._fd)

    def _drain(self) -> None:
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_PAYLOAD or length == 0:
                # Not a message of ours: nothing after it can be framed again.
                self.rejected += 1
                self._buffer.clear()
                self._stop.set()
                return
            if len(self._buffer) < _LENGTH.size + length:
                return
            payload = bytes(self._buffer[_LENGTH.size:_LENGTH.size + length])
            del self._buffer[:_LENGTH.size + length]
            self._accept(payload)

    def _accept(self, payload: bytes) -> None:
        try:
            (record,) = unpack_records(payload, 1)
        except Exception:
            self.rejected += 1
            return
        record_type = record[0] if isinstance(record, (list, tuple)) else None
        if type(record_type) is not int or record_type in _RUNNER_ONLY:
            self.rejected += 1
            return
        try:
            self._deliver(payload, record_type)
        except Exception:  # never stop draining the pipe: the script would block
            self.rejected += 1
            log.warning("flightlog: a record from the script could not be appended",
                        exc_info=True)
