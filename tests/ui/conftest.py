"""Fixtures of the UI tests: a real ``flightlog server`` subprocess on 127.0.0.1 holding
runs shipped by the real ``flightlog sync``, and Debian's chromium driven by Playwright.

- ``browser`` (session): one headless chromium (``/usr/bin/chromium`` or
  ``$FLIGHTLOG_CHROMIUM``; never ``playwright install``). Tests are skipped when it or
  Playwright is missing, except in CI (``CI`` set), where that is a failure: a green CI
  must have driven a real browser.
- ``site`` (module): the server and the runs (ui_helpers.py).
- ``page``: a fresh browser context and page (1280 px wide); page errors fail the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import CHROMIUM, CHROMIUM_ARGS, Proc, Server, Site, long_run, ridge_runs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("ui")
    procs: list[Proc] = []
    server = Server(tmp / "server", procs).start()
    site = Site(server, tmp / "runs", tmp / "state")
    site.runs, site.rmse, site.model = ridge_runs(site.root, tmp)
    site.runs["long"] = long_run(site.root)
    site.sync()
    try:
        yield site
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = None
    try:
        from playwright import sync_api
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[test]')"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    yield page
    assert not [e for e in errors if "401" not in e], errors


