"""The runs table and run page with nested config, untrusted keys, tags given as a list
and histograms (issue 13): a real server holding a run written into its data directory,
over HTTP (no browser needed) and in Debian's chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from ui_helpers import Proc, Server

import flightlog

DRAWN = "(sel) => { const el = document.querySelector(sel); return el && el.dataset.drawn; }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data = tmp_path_factory.mktemp("fields")
    run = flightlog.init(project="n", dir=data / "runs", quiet=True, tags=["wandb-style"],
                         config={"arch": {"layers": 3}, "lr": 0.1})
    for step in range(4):
        run.log({"loss": 1.0 / (step + 1), "grads": np.linspace(-1, 1, 40) * (step + 1),
                 "../../etc": 1.0, "bell\x07": 2.0})
    run.finish()
    procs: list[Proc] = []
    try:
        yield Server(data, procs).start(), run.id
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


def test_http_refusal_names_the_field_and_histograms_are_charts(server: tuple[Server, str]
                                                               ) -> None:
    site, run_id = server
    base = site.url + "/api/v1"
    refused = httpx.get(base + "/runs", params={"project": "n", "filter": "summary.los<1"})
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "no run in project 'n' has the field 'summary.los'; did you mean summary.loss?")
    (run,) = httpx.get(base + "/runs", params={"project": "n",
                                               "filter": "config.arch.layers=3"}).json()["runs"]
    assert run["id"] == run_id and run["duration"] >= 0
    grads = httpx.get(f"{base}/runs/n/{run_id}/charts").json()["grads"]
    assert grads["kind"] == "histogram" and grads["step"] == 3
    spec = grads["spec"]
    assert spec["mark"]["type"] == "rect" and spec["encoding"]["y2"] == {"field": "hi"}
    cells = spec["data"]["values"]
    assert {c["step"] for c in cells} == {0, 1, 2, 3}
    assert sum(c["count"] for c in cells if c["step"] == 1) == 40
    with site.api() as api:
        assert api.run(f"n/{run_id}").labels == ["wandb-style"]


def test_runs_table_flattens_config_and_keeps_odd_keys_out(server: tuple[Server, str],
                                                           page: Any) -> None:
    site, _ = server
    page.goto(f"{site.url}/projects/n")
    page.wait_for_selector("table.runs tbody tr")
    headers = page.locator("table.runs thead th").all_inner_texts()
    assert headers[:8] == ["", "status", "name", "created", "steps", "duration",
                           "last update", "tags"]
    assert "config.arch.layers" in headers and "config.arch" not in headers
    assert not [h for h in headers if "etc" in h or "bell" in h], headers  # not by default
    cell = page.locator("td[data-col='config.arch.layers']")
    assert cell.inner_text() == "3"
    assert page.locator("table.runs td.duration").inner_text().endswith("s")
    assert page.locator("table.runs span.tag").all_inner_texts() == ["wandb-style"]
    # Offered in the chooser, escaped: a control character never reaches the page raw.
    choices = page.locator(".columns-chooser label").all_text_contents()  # closed details
    assert any(c.strip() == "summary.bell\\x07" for c in choices), choices
    # A filter on a field no run has says so, with the close match.
    page.fill("input.filter", "config.arch.layer=3")
    page.press("input.filter", "Enter")
    page.wait_for_function("() => document.querySelector('.toolbar .message').textContent")
    message = page.locator(".toolbar .message").inner_text()
    assert message.startswith("HTTP 400: no run in project 'n' has the field "
                              "'config.arch.layer'; did you mean config.arch.layers"), message
    # The browser's own console line for the refused request is expected here.
    page.errors[:] = [e for e in page.errors if "status of 400" not in e]


def test_run_page_draws_histograms_and_lists_tags(server: tuple[Server, str],
                                                 page: Any) -> None:
    site, run_id = server
    page.goto(f"{site.url}/runs/n/{run_id}")
    page.wait_for_function(DRAWN, arg=".vega.logged[data-chart='grads']")
    cells = page.locator(".vega.logged[data-chart='grads'] g.mark-rect.marks path")
    assert cells.count() == 4 * 40  # a cell per non-empty bin per step: 40 values, 64 bins
    assert page.locator(".chart:has(.vega.logged[data-chart='grads']) .kind").inner_text() == (
        "histogram")
    assert page.locator("p.tags span.tag").all_inner_texts() == ["wandb-style"]
    assert page.locator("table.kv.config th").all_inner_texts() == ["arch.layers", "lr"]
    summary = dict(zip(page.locator("table.kv.summary th").all_inner_texts(),
                       page.locator("table.kv.summary td").all_inner_texts(), strict=True))
    assert summary["grads"] == "histogram, 64 bins [-4, 4]"
