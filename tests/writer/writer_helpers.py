"""Helpers of the writer tests (imported by conftest.py and the test modules; this
directory is on sys.path under pytest's default import mode).

- ``wait_until``: poll a condition until it holds or a deadline passes (no bare sleeps).
- ``verify``: ``flightlog verify`` through ``flightlog.cli.main``; (exit status, output).
- ``writer_threads`` / ``stop_writer_threads``: background writer threads of this process.
- ``Child``: a ``child_writer.py`` subprocess whose stdout lines are read by a thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import waiting

from flightlog.cli import main as cli_main

WRITER_THREAD = "flightlog-writer"
CHILD = Path(__file__).with_name("child_writer.py")


# ---------------------------------------------------------------- waiting


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition",
               interval: float = 0.005) -> Any:
    return waiting.wait_until(condition, timeout, what, interval)


def verify(*paths: str | os.PathLike[str]) -> tuple[int, str]:
    """``flightlog verify PATHS``: (exit status, everything it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = cli_main(["verify", *map(str, paths)])
    return status, out.getvalue()


# ---------------------------------------------------------------- thread hygiene


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WRITER_THREAD and t.is_alive()]


def stop_writer_threads(threads: list[threading.Thread]) -> None:
    """Stop background writers nobody can reach any more (a run never finished, or one
    whose ``init`` failed half-way). Uses the thread's bound target, a CPython detail."""
    from flightlog.writer import run as run_module

    for run in list(run_module._current):
        with contextlib.suppress(Exception):
            run.finish()
    for thread in threads:
        writer = getattr(getattr(thread, "_target", None), "__self__", None)
        if writer is not None and thread.is_alive():
            writer.stop(1.0)
        thread.join(2.0)


# ---------------------------------------------------------------- subprocesses


class Child:
    """``python child_writer.py MODE ARGS...``; its stdout lines are collected by a thread
    into ``lines`` (each line split on whitespace)."""

    def __init__(self, mode: str, *args: object) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), mode, *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self.lines: list[list[str]] = []
        self._cond = threading.Condition()
        self._eof = False
        self._stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, name="child-stdout", daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, name="child-stderr",
                                            daemon=True)
        self._err_reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.split())
                # Waking the waiter for each of ~100k lines/s would slow everything down.
                if len(self.lines) < 64 or len(self.lines) % 64 == 0:
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def wait_for(self, condition: Callable[[list[list[str]]], bool], timeout: float = 20.0,
                 what: str = "the child") -> int:
        """Wait until ``condition(lines)`` holds; the number of lines at that moment."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition(self.lines):
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    self.kill()
                    pytest.fail(f"waiting for {what}: child "
                                f"{'exited' if self._eof else 'timed out'}; last lines "
                                f"{self.lines[-3:]}; stderr:\n{self.stderr[-3000:]}")
                self._cond.wait(min(left, 0.02))
            return len(self.lines)

    def wait_line(self, first_word: str, timeout: float = 20.0) -> list[str]:
        """The first line starting with ``first_word`` (waiting for it)."""

        def found(lines: list[list[str]]) -> bool:
            return any(line and line[0] == first_word for line in lines)

        self.wait_for(found, timeout, what=f"a line {first_word!r}")
        return next(line for line in self.lines if line and line[0] == first_word)

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL and reap it (its locks are released once this returns)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for the child to exit and its output to be read; its exit status."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"child did not exit; stderr:\n{self.stderr[-3000:]}")
        self.close()
        return status

    def close(self) -> None:
        self._reader.join(30)
        self._err_reader.join(30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
