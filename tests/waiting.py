"""Waiting on conditions with a deadline: the suite's one way to synchronise with threads
and processes (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(condition: Callable[[], Any], timeout: float, what: str = "condition",
               interval: float = 0.01) -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or ``timeout``
    seconds pass (the test fails, naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


#: Seconds a started child (a server) may take to become ready. Generous on purpose: a
#: busy 2-core machine is many times slower than a quiet one, and a child that exits
#: fails the wait at once, so a broken start costs no more than a good one.
READY_TIMEOUT = 120.0


def wait_ready(ready: Callable[[], bool], alive: Callable[[], bool], what: str,
               output: Callable[[], str], timeout: float = READY_TIMEOUT,
               interval: float = 0.02) -> None:
    """Poll ``ready`` until it holds; the test fails, with ``output()`` (the child's
    stdout/stderr), as soon as ``alive`` says the child exited, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not alive():
            pytest.fail(f"{what}: the process exited before it was ready:\n{output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not ready within {timeout:g} s:\n{output()}")
        time.sleep(interval)
