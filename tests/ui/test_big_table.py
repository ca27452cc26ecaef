"""A logged table of thousands of rows: the run page asks the server for one page of it
(``limit``, ``X-Total-Rows``) and says how many rows there are; the report inlines the
same page; the whole table stays in the run and in the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from syncd_helpers import Proc, Server, run_cli

import flightlog

ROWS = 1_200
PAGE = 500


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("big-table")
    procs: list[Proc] = []
    server = Server(tmp / "server", procs).start()
    with flightlog.init(project="tables", id="big", dir=tmp / "runs") as run:
        run.log({"squares": flightlog.Table(columns=["i", "square"],
                                             data=[[i, i * i] for i in range(ROWS)])})
    result = run_cli("sync", tmp / "runs", "--server", server.url, "--state", tmp / "state")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield server, run.dir
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


def test_api_serves_a_page_and_the_total(big: tuple[Server, Path]) -> None:
    server, _ = big
    url = f"{server.url}/api/v1/runs/tables/big/tables/squares"
    page = httpx.get(url, params={"format": "json", "limit": PAGE})
    assert page.headers["x-total-rows"] == str(ROWS)
    assert [r["i"] for r in page.json()] == list(range(PAGE))
    whole = httpx.get(url, params={"format": "json"}).json()
    assert len(whole) == ROWS and whole[-1] == {"i": ROWS - 1, "square": (ROWS - 1) ** 2}


def test_run_page_and_report_show_a_page_of_the_table(big: tuple[Server, Path], page: Any,
                                                      tmp_path: Path) -> None:
    server, run_dir = big
    page.goto(f"{server.url}/runs/tables/big")
    # A table of numbers is drawn as a line chart first; its rows are a click away.
    page.click("[data-table='squares'] .view-toggle button[data-view='table']")
    page.wait_for_selector("[data-table='squares'] tbody tr")
    assert page.locator("[data-table='squares'] tbody tr").count() == PAGE
    hint = page.locator("[data-table='squares'] > .hint").inner_text()
    assert hint == f"first {PAGE} of {ROWS} rows"

    out = tmp_path / "report.html"
    result = run_cli("report", run_dir, "-o", out)
    assert result.returncode == 0, result.stderr
    page.goto(out.as_uri())
    # A table of numbers is drawn as a line chart first; its rows are a click away.
    page.click("[data-table='squares'] .view-toggle button[data-view='table']")
    page.wait_for_selector("[data-table='squares'] tbody tr")
    assert page.locator("[data-table='squares'] tbody tr").count() == PAGE
    assert page.locator("[data-table='squares'] > .hint").inner_text() == hint
    inlined = out.read_text(encoding="utf-8")  # only that page is in the file
    assert f'"i":{PAGE - 1},' in inlined and f'"i":{PAGE},' not in inlined
