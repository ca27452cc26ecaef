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
