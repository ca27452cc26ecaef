"""Console capture: the script's stdout and stderr, read from pipes, written on to the
runner's own stdout and stderr byte for byte, and cut into lines for ``console`` records
(SPEC.md §19.1).

Pipes rather than a pseudo-terminal: a pty merges the two streams into one (the record
could no longer say which line was an error) and turns ``\\n`` into ``\\r\\n``; Python's
buffering of a pipe is undone by ``PYTHONUNBUFFERED=1``, which the runner sets.

Lines. ``\\n`` ends a line (``\\r\\n`` too). A ``\\r`` not followed by ``\\n`` returns to the
start of the line: what follows replaces it, as on a terminal, so a progress bar redrawn
a million times is stored as its final state, plus at most one earlier state per
``sample_every`` seconds (``overwritten``, for a view of its progress). A line longer than
``MAX_LINE_BYTES`` is cut into pieces of that size. Bytes are decoded as UTF-8 with
invalid sequences replaced (U+FFFD), and NUL removed, so binary garbage costs its length
and never an error.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("flightlog")

MAX_LINE_BYTES = 8192
#: A console record's text is flushed at this size (a record stays well inside the
#: 64 KiB frame bound, SPEC.md §4.1, even when every byte was replaced by U+FFFD).
FLUSH_TEXT_BYTES = 16 * 1024
FLUSH_LINES = 500
FLUSH_SECONDS = 1.0


@dataclass
class Line:
    time: float
    text: str
    overwritten: bool = False


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\0", "")


class LineSplitter:
    """Bytes in, lines out (the rules of the module docstring)."""

    def __init__(self, sample_every: float = 10.0) -> None:
        self.sample_every = sample_every
        self._current = bytearray()
        self._after_cr = False  # the last byte was a \r: the line is being redrawn
        self._last_state = b""  # the line's state before the latest \r
        self._last_sample: float | None = None  # when the line's redraws began or last sampled

    def feed(self, data: bytes, now: float) -> list[Line]:
        out: list[Line] = []
        start = 0
        for i, byte in enumerate(data):
            if byte not in (10, 13):
                continue
            self._take(data[start:i], now, out)
            start = i + 1
            if byte == 10:
                self._end_line(now, out)
            else:
                self._carriage_return(now, out)
        self._take(data[start:], now, out)
        return out

    def _take(self, data: bytes, now: float, out: list[Line]) -> None:
        if not data:
            return
        if self._after_cr:
            self._after_cr = False
            self._current.clear()  # the redraw starts: the old state is _last_state
        self._current += data
        while len(self._current) >= MAX_LINE_BYTES:
            out.append(Line(now, _text(bytes(self._current[:MAX_LINE_BYTES]))))
            del self._current[:MAX_LINE_BYTES]
            self._last_state = b""

    def _end_line(self, now: float, out: list[Line]) -> None:
        # "state\r\n" ends the line with its state: _current is cleared only when a
        # redraw's first byte arrives.
        out.append(Line(now, _text(bytes(self._current))))
        self._current.clear()
        self._after_cr = False
        self._last_state = b""
        self._last_sample = None

    def _carriage_return(self, now: float, out: list[Line]) -> None:
        if self._current:
            if self._last_sample is None:
                self._last_sample = now
            elif self._last_state and now - self._last_sample >= self.sample_every:
                out.append(Line(now, _text(self._last_state), overwritten=True))
                self._last_sample = now
            self._last_state = bytes(self._current)
        self._after_cr = True

    def close(self, now: float) -> list[Line]:
        """The line in progress at end of file (a bar left without ``\\n``: its state)."""
        pending = bytes(self._current)
        self._current.clear()
        self._last_state = b""
        self._after_cr = False
        return [Line(now, _text(pending))] if pending else []


@dataclass
class _Batch:
    lines: list[Line] = field(default_factory=list)
    size: int = 0
    since: float = 0.0


class StreamCapture:
    """A thread reading one stream of the script: tee to ``tee_fd``, lines to ``emit``
    (stream name, lines) in batches.

    Args:
        name: ``stdout`` or ``stderr``.
        fd: the read end of the script's pipe (closed by this thread).
        tee_fd: where the bytes go on unchanged (the runner's own stdout/stderr), or None.
        emit: called on this thread with each batch of lines.
    """

    def __init__(self, name: str, fd: int, tee_fd: int | None,
                 emit: Callable[[str, list[Line]], None], sample_every: float = 10.0) -> None:
        self.name = name
        self._fd = fd
        self._tee_fd = tee_fd
        self._emit = emit
        self._splitter = LineSplitter(sample_every)
        self._batch = _Batch()
        self._stop = threading.Event()
        self.bytes = 0
        self._thread = threading.Thread(target=self._main, name=f"flightlog-console-{name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, grace: float) -> None:
        """Wait up to ``grace`` s for end of file (a grandchild may still hold the pipe),
        then stop; what was read is emitted either way."""
        self._thread.join(grace)
        self._stop.set()
        self._thread.join()

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], 0.2)
                now = time.time()
                if ready:
                    data = os.read(self._fd, 1 << 16)
                    if not data:
                        break
                    self.bytes += len(data)
                    self._tee(data)
                    self._add(self._splitter.feed(data, now))
                if self._batch.lines and now - self._batch.since >= FLUSH_SECONDS:
                    self._flush()
        finally:
            self._add(self._splitter.close(time.time()))
            self._flush()
            os.close(self._fd)

    def _tee(self, data: bytes) -> None:
        if self._tee_fd is None:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._tee_fd, view):]
        except OSError:
            self._tee_fd = None  # our terminal went away; capture goes on

    def _add(self, lines: list[Line]) -> None:
        for line in lines:
            if not self._batch.lines:
                self._batch.since = line.time
            self._batch.lines.append(line)
            self._batch.size += len(line.text.encode("utf-8", "surrogatepass")) + 16
            if self._batch.size >= FLUSH_TEXT_BYTES or len(self._batch.lines) >= FLUSH_LINES:
                self._flush()

    def _flush(self) -> None:
        if self._batch.lines:
            lines, self._batch = self._batch.lines, _Batch()
            try:
                self._emit(self.name, lines)
            except Exception:  # never stop draining the pipe: the script would block
                log.warning("flightlog: %d console lines could not be recorded", len(lines),
                            exc_info=True)


def console_body(stream: str, lines: list[Line]) -> dict[str, object]:
    """A ``console`` record's body (SPEC.md §19.1)."""
    body: dict[str, object] = {"stream": stream, "lines": [ln.text for ln in lines],
                               "times": [ln.time for ln in lines]}
    overwritten = [i for i, ln in enumerate(lines) if ln.overwritten]
    if overwritten:
        body["overwritten"] = overwritten
    return body
