"""The web UI in a real browser: a real ``flightlog server`` with runs shipped by the real
``flightlog sync``, Debian's chromium driven by Playwright (fixtures: conftest.py).
The screenshots in the README are taken here."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from syncd_helpers import Proc, Server, run_cli
from ui_helpers import ALPHAS, EPOCHS, LONG_STEPS, Site, screenshot

import flightlog

DASH = "\N{EN DASH}"
DRAWN = "(sel) => { const el = document.querySelector(sel); return el && el.dataset.drawn; }"


def view_rows(page: Any, key: str) -> list[dict[str, Any]]:
    """The rows the Vega view of metric chart ``key`` holds (what it draws)."""
    rows: list[dict[str, Any]] = page.evaluate(
        "(k) => flightlog.charts[k].view.data('series')"
        ".map(r => ({run: r.run, x: r.x, y: r.y}))", key)
    return rows


def open_ready(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#app[data-ready]", timeout=20_000)


def table_values(page: Any, column: str) -> list[float]:
    return [float(t) for t in page.locator(f"td[data-col='{column}']").all_inner_texts()]


def test_runs_table_sorts_filters_and_picks_runs_to_compare(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/projects/diabetes")
    page.wait_for_selector("table.runs tbody tr")
    assert page.locator("table.runs tbody tr").count() == len(ALPHAS)
    pager = page.locator(".pager .count")
    assert pager.inner_text().strip() == f"runs 1{DASH}{len(ALPHAS)} of {len(ALPHAS)}"
    shown = table_values(page, "summary.rmse")
    expected = sorted(round(v, 2) for v in site.rmse.values())
    # Newest first by default: the last alpha logged leads.
    assert page.locator("td.name").first.inner_text() == f"ridge-{ALPHAS[-1]}"

    page.click("th[data-field='summary.rmse']")
    page.wait_for_function("() => document.querySelector('table.runs').dataset.loaded === '2'")
    ascending = table_values(page, "summary.rmse")
    assert [round(v, 2) for v in ascending] == expected
    page.click("th[data-field='summary.rmse']")
    page.wait_for_function("() => document.querySelector('table.runs').dataset.loaded === '3'")
    assert [round(v, 2) for v in table_values(page, "summary.rmse")] == expected[::-1]
    assert sorted(shown) == sorted(ascending)

    page.fill("input.filter", "config.alpha>=0.4")
    page.press("input.filter", "Enter")
    page.wait_for_function("() => document.querySelector('table.runs').dataset.loaded === '4'")
    names = page.locator("td.name").all_inner_texts()
    matching = [f"ridge-{a}" for a in ALPHAS if a >= 0.4]
    assert sorted(names) == matching
    # The count is of the runs that match, not of the whole project.
    count = pager.inner_text().strip()
    assert count == f"runs 1{DASH}{len(matching)} of {len(matching)} matching"
    assert page.locator(".pager button.next").is_disabled()
    page.fill("input.filter", "config.alpha>9")
    page.press("input.filter", "Enter")
    page.wait_for_function("() => document.querySelector('table.runs').dataset.loaded === '5'")
    assert pager.inner_text().strip() == "no runs match"
    page.fill("input.filter", "")
    page.press("input.filter", "Enter")
    page.wait_for_function("() => document.querySelector('table.runs').dataset.loaded === '6'")
    screenshot(page, "runs_table")

    picks = page.locator("input.pick")
    picks.nth(0).check()
    picks.nth(1).check()
    assert page.locator("button.compare").inner_text() == "Compare (2)"
    page.click("button.compare")
    page.wait_for_url(re.compile(r".*/compare\?runs="))
    picked = parse_qs(urlparse(page.url).query)["runs"][0].split(",")
    assert len(picked) == 2 and all(p.startswith("diabetes/") for p in picked)


def test_run_page_draws_metrics_charts_media_and_downloads(site: Site, page: Any) -> None:
    name = f"ridge-{ALPHAS[0]}"
    open_ready(page, f"{site.url}/runs/diabetes/{site.run_id(name)}")
    page.wait_for_function(DRAWN, arg=".vega.metric[data-key='rmse']")
    rows = view_rows(page, "rmse")
    history = flightlog.open_run(site.runs[name]).history().column("rmse").to_pylist()
    # The rows of the later table/chart/media logs have no rmse: not drawn.
    logged = [v for v in history if v is not None]
    assert len(history) > len(logged) == EPOCHS
    assert [r["x"] for r in rows] == list(range(EPOCHS))
    assert [r["y"] for r in rows] == logged  # every point, exactly
    assert page.locator(".vega.metric[data-key='rmse'] canvas").count() == 1
    # Smoothing: a debiased EMA drawn over the faded raw line.
    page.locator("input.smoothing").fill("0.9")
    page.wait_for_function("() => flightlog.charts.rmse.view.data('series')[5].ys !== "
                           "flightlog.charts.rmse.view.data('series')[5].y")
    smoothed = page.evaluate("flightlog.charts.rmse.view.data('series').map(r => r.ys)")
    ema, expected = 0.0, []
    for i, value in enumerate(logged, start=1):
        ema = 0.9 * ema + 0.1 * value
        expected.append(ema / (1 - 0.9 ** i))
    assert smoothed == pytest.approx(expected)
    page.locator("input.smoothing").fill("0")
    # Time on the x axis: the same points against their timestamps.
    page.select_option("select.x-axis", "_timestamp")
    page.wait_for_function("() => flightlog.charts.rmse.view"
                           " && flightlog.charts.rmse.view.data('series')[0].x > 1e12")
    times = [r["x"] for r in view_rows(page, "rmse")]
    assert len(times) == EPOCHS and times == sorted(times)
    page.select_option("select.x-axis", "_step")
    page.wait_for_function("() => flightlog.charts.rmse.view"
                           " && flightlog.charts.rmse.view.data('series')[0].x === 0")
    assert page.locator(".vega.metric[data-key='train_rows']").count() == 1
    # The logged chart, drawn from its Vega-Lite spec: one SVG symbol per data row.
    page.wait_for_function(DRAWN, arg=".vega.logged[data-chart='pred_vs_true']")
    points = page.locator(".vega.logged[data-chart='pred_vs_true'] svg path[role=graphics-symbol]")
    assert points.count() > 50
    # Config, summary and the logged table.
    assert page.locator("table.config td").first.inner_text() == str(ALPHAS[0])
    assert page.locator("[data-table='predictions'] tbody tr").count() == 15
    # The image decoded, the HTML page shown in a sandboxed frame.
    image = page.locator("[data-media='residuals_image'] img")
    page.wait_for_function("(el) => el.complete && el.naturalWidth === 64",
                           arg=image.element_handle())
    frame = page.locator("[data-media='notes'] iframe")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    heading = page.frame_locator("[data-media='notes'] iframe").locator("h1")
    assert heading.inner_text(timeout=10_000) == f"alpha {ALPHAS[0]}"
    # (The README's run-page screenshot: test_chart_kinds.py, from a richer run.)

    link = page.locator("a.file")
    with page.expect_download() as download:
        link.click()
    got = Path(download.value.path()).read_bytes()
    assert got.startswith(f"model alpha={ALPHAS[0]} ".encode())
    assert download.value.suggested_filename == f"model_alpha_{ALPHAS[0]}.pkl"


def test_zooming_a_downsampled_chart_fetches_every_point(site: Site, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/series?" in r.url else None)
    open_ready(page, f"{site.url}/runs/long/{site.run_id('long')}")
    chart = page.locator(".vega.metric[data-key='loss']")
    page.wait_for_function(DRAWN, arg=".vega.metric[data-key='loss']")
    assert chart.get_attribute("data-detail") == "downsampled"
    overview = view_rows(page, "loss")
    assert len(overview) < LONG_STEPS
    assert max(r["y"] for r in overview) == 5.0  # the spike survived downsampling
    assert {r["x"] for r in overview} >= {0, LONG_STEPS - 1}

    box = page.locator(".vega.metric[data-key='loss'] canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -400)
    page.wait_for_function("(el) => el.dataset.detail === 'full'", arg=chart.element_handle(),
                           timeout=10_000)
    zoomed = [u for u in requests if "start=" in u]
    assert zoomed, requests
    start, end = page.evaluate("flightlog.charts.loss.range")
    assert 0 < start < end < LONG_STEPS - 1
    inside = sorted(r["x"] for r in view_rows(page, "loss") if start <= r["x"] <= end)
    assert inside == list(range(math.ceil(start), math.floor(end) + 1))  # every step


def test_compare_overlays_runs_and_sets_config_side_by_side(site: Site, page: Any) -> None:
    names = [f"ridge-{a}" for a in ALPHAS[:2]]
    refs = ",".join(f"diabetes/{site.run_id(n)}" for n in names)
    open_ready(page, f"{site.url}/compare?runs={refs}")
    page.wait_for_function(DRAWN, arg=".vega.metric[data-key='rmse']")
    rows = view_rows(page, "rmse")
    assert sorted({r["run"] for r in rows}) == sorted(names)
    for name in names:
        assert len([r for r in rows if r["run"] == name]) == EPOCHS
    alphas = page.locator("table.side.config tr[data-key='alpha'] td").all_inner_texts()
    assert alphas == [str(a) for a in ALPHAS[:2]]
    rmse_row = page.locator("table.side.summary tr[data-key='rmse']")
    best = min(names, key=lambda n: site.rmse[n])
    # The lowest rmse is marked: "which alpha was best" answered by looking.
    cells = rmse_row.locator("td").all()
    assert cells[names.index(best)].get_attribute("class") == "lowest"
    screenshot(page, "compare")


def test_live_run_page_updates_as_records_arrive(site: Site, page: Any, tmp_path: Path
                                                 ) -> None:
    root = tmp_path / "live"
    run = flightlog.init(project="live", name="live", dir=root, flush_interval=0.01)
    try:
        for i in range(10):
            run.log({"loss": 1.0 / (i + 1)})
        run.flush()
        _sync(site, root)
        open_ready(page, f"{site.url}/runs/live/{run.id}")
        assert page.locator(".run-header .status").inner_text() == "running"
        page.wait_for_function(DRAWN, arg=".vega.metric[data-key='loss']")
        assert len(view_rows(page, "loss")) == 10
        for i in range(10, 25):
            run.log({"loss": 1.0 / (i + 1), "acc": i / 25})
        run.flush()
        _sync(site, root)
        page.wait_for_function(
            "() => flightlog.charts.loss && flightlog.charts.loss.view"
            " && flightlog.charts.loss.view.data('series').length === 25", timeout=15_000)
        page.wait_for_selector(".vega.metric[data-key='acc'][data-drawn]", timeout=15_000)
    finally:
        run.finish()
    _sync(site, root)
    page.wait_for_function(
        "() => document.querySelector('.run-header .status').textContent === 'finished'",
        timeout=15_000)


def _sync(site: Site, root: Path) -> None:
    result = run_cli("sync", root, "--server", site.url, "--state", site.state,
                     "--retry-for", "10")
    assert result.returncode == 0, result.stdout + result.stderr


def test_token_login(site: Site, browser: Any, tmp_path: Path) -> None:
    procs: list[Proc] = []
    server = Server(tmp_path / "secured", procs, token="s3cret").start()
    try:
        run_dir = site.runs[f"ridge-{ALPHAS[0]}"]
        result = run_cli("sync", run_dir, "--server", server.url, "--token", "s3cret",
                         "--state", tmp_path / "state")
        assert result.returncode == 0, result.stderr
        assert httpx.get(f"{server.url}/api/v1/projects").status_code == 401
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(f"{server.url}/projects/diabetes")
        assert urlparse(page.url).path == "/login"
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        assert page.locator(".error").inner_text() == "Wrong token."
        assert not ctx.cookies()
        page.fill("input[name=token]", "s3cret")
        page.click("button[type=submit]")
        page.wait_for_selector("table.runs tbody tr")
        assert urlparse(page.url).path == "/projects/diabetes"
        cookie = {c["name"]: c for c in ctx.cookies()}["flightlog_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["value"] != "s3cret"
        assert page.locator("td.name").all_inner_texts() == [f"ridge-{ALPHAS[0]}"]
        ctx.close()
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


def test_offline_report_draws_from_disk_with_the_network_off(site: Site, browser: Any,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    dirs = [site.runs[f"ridge-{a}"] for a in ALPHAS[:2]]
    result = run_cli("report", *dirs, "-o", out)
    assert result.returncode == 0, result.stderr
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    left_disk: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            left_disk.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_ready(page, out.as_uri())
    page.wait_for_function(DRAWN, arg=".compare-page .vega.metric[data-key='rmse']")
    runs = {r["run"] for r in view_rows(page, "rmse")}
    assert len(runs) == 1  # the last page drawn (a run page) owns the "rmse" handle
    assert page.locator(".compare-page .vega.metric canvas").count() == 2
    assert page.locator(".run-page").count() == 2
    page.wait_for_function(DRAWN, arg=".run-page .vega.logged[data-chart='pred_vs_true']")
    assert page.locator(".run-page [data-media='residuals_image'] img").count() == 2
    assert page.locator(".run-page a.file").first.get_attribute("href").startswith("data:")
    screenshot(page, "report")
    ctx.close()
    assert not left_disk, left_disk
    assert not errors, errors


def test_report_without_vl_convert_names_the_extra(site: Site, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "vl_convert.py").write_text("raise ImportError('blocked for the test')\n")
    import os
    import sys

    env = {**os.environ, "PYTHONPATH": str(blocker)}
    result = subprocess.run([sys.executable, "-m", "flightlog.cli", "report",
                             str(site.runs[f"ridge-{ALPHAS[0]}"]), "-o",
                             str(tmp_path / "r.html")], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "flightlog[report]" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_series_endpoint_answers_json(site: Site) -> None:
    url = f"{site.url}/api/v1/runs/long/{site.run_id('long')}/series"
    whole = httpx.get(url, params={"key": "loss", "points": 400}).json()
    assert whole["downsampled"] and whole["total"] == LONG_STEPS
    assert len(whole["x"]) <= 400 and 5.0 in whole["y"]
    part = httpx.get(url, params={"key": "loss", "start": 100, "end": 300}).json()
    assert part["x"] == list(range(99, 302)) and not part["downsampled"]
    assert httpx.get(url, params={"key": "nope"}).status_code == 404
    assert httpx.get(url, params={"key": "loss", "x": "bad"}).status_code == 400
    keys = httpx.get(f"{site.url}/api/v1/runs/long/{site.run_id('long')}/keys").json()
    assert keys == {"keys": ["loss"], "rows": LONG_STEPS}
    json.dumps(keys)
