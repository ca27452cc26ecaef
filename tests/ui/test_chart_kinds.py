"""Every kind of chart flightlog makes draws in the real browser: on the server's run page
(a real ``flightlog server``, the run shipped by the real ``flightlog sync``) and in the
offline report opened from disk with the network blocked. Also the README's run-page
screenshot (chart_runs.showcase_run)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from chart_runs import (
    CELL_IMAGE_WIDTH,
    EVERY_CHART,
    EXACT_MARKS,
    every_kind_run,
    png_width,
    showcase_run,
)
from syncd_helpers import Proc, Server, run_cli
from ui_helpers import screenshot

import flightlog
from flightlog.report import plotly_js_path

#: Per data mark type of a logged chart's Vega view: the items drawn, and how many of them
#: have a finite, non-empty bounding box (axes, legends and titles are not counted).
MARKS = """(name) => {
  const view = flightlog.views[name];
  if (!view) return null;
  const items = {};
  const placed = {};
  const walk = (mark) => {
    for (const item of mark.items || []) {
      if (mark.marktype === "group") {
        for (const child of item.items || []) walk(child);
        continue;
      }
      if (mark.role !== "mark") continue;
      items[mark.marktype] = (items[mark.marktype] || 0) + 1;
      const b = item.bounds;
      if (b && Number.isFinite(b.x1 + b.x2 + b.y1 + b.y2) && (b.x2 > b.x1 || b.y2 > b.y1)) {
        placed[mark.marktype] = (placed[mark.marktype] || 0) + 1;
      }
    }
  };
  walk(view.scenegraph().root);
  return { items, placed };
}"""
SETTLED = ("() => [...document.querySelectorAll('.vega.logged')].every("
           "(el) => el.dataset.drawn || el.querySelector('.error'))")


@dataclass
class KindsSite:
    url: str
    kinds: Path  # the every-kind run directory (client side)
    showcase: Path


@pytest.fixture(scope="module")
def kinds_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindsSite]:
    tmp = tmp_path_factory.mktemp("kinds")
    kinds = every_kind_run(tmp / "runs")
    showcase = showcase_run(tmp / "runs")
    procs: list[Proc] = []
    try:
        server = Server(tmp / "server", procs).start()
        result = run_cli("sync", tmp / "runs", "--server", server.url, "--state",
                         tmp / "state", "--retry-for", "10")
        assert result.returncode == 0, result.stdout + result.stderr
        yield KindsSite(server.url, kinds, showcase)
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


def watch_console(page: Any) -> list[str]:
    """Console warnings (Vega reports a broken spec there) and errors of ``page``."""
    found: list[str] = []
    page.on("console", lambda m: found.append(f"{m.type}: {m.text}")
            if m.type in ("warning", "error") else None)
    page.on("pageerror", lambda exc: found.append(f"pageerror: {exc}"))
    return found


def assert_every_kind_drawn(page: Any, run_dir: Path) -> None:
    """Each logged chart of the every-kind run drew data marks, the images decoded, the
    HTML cell shows its page and plotly.js drew the plotly figure."""
    local = flightlog.open_run(run_dir)
    assert sorted(local.charts()) == EVERY_CHART  # nothing overwritten or dropped
    page.wait_for_function(SETTLED, timeout=30_000)
    shown = page.evaluate("[...document.querySelectorAll('.vega.logged')]"
                          ".map((el) => el.dataset.chart)")
    assert sorted(shown) == EVERY_CHART
    for name in EVERY_CHART:
        box = page.locator(f".vega.logged[data-chart='{name}']")
        assert box.locator(".error").count() == 0, box.locator(".error").all_inner_texts()
        marks = page.evaluate(MARKS, name)
        assert marks is not None, f"{name}: no Vega view"
        assert sum(marks["placed"].values()) > 0, f"{name} drew no data marks: {marks}"
        # The SVG holds the drawn marks too (not only the scenegraph).
        assert box.locator("svg .role-mark > *").count() > 0, name
        for mark_type, count in EXACT_MARKS.get(name, {}).items():
            assert marks["placed"].get(mark_type) == count, (name, marks)

    # Images: the matplotlib PNG (media) and the image cell of the table, decoded at the
    # size they were logged.
    figure_png = local.media()["matplotlib"][-1].read_bytes()
    widths = {"[data-media='matplotlib'] img": png_width(figure_png),
              "[data-table='cells'] img.cell-image": CELL_IMAGE_WIDTH}
    for selector, width in widths.items():
        image = page.locator(selector)
        assert image.count() == 1, selector
        page.wait_for_function("([el, w]) => el.complete && el.naturalWidth === w",
                               arg=[image.element_handle(), width])
    assert page.evaluate("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    # A 16 px image is drawn at thumbnail height with sharp pixels, a figure as it is.
    cell = page.locator("[data-table='cells'] img.cell-image")
    page.wait_for_function("(el) => el.classList.contains('tiny')", arg=cell.element_handle())
    assert cell.bounding_box()["height"] == 48
    assert "tiny" not in (page.locator("[data-media='matplotlib'] img").get_attribute("class")
                          or "")

    cell_frame = page.frame_locator("[data-table='cells'] iframe")
    assert cell_frame.locator("#cell").inner_text(timeout=10_000) == "hello from a cell"

    plotly = page.locator("[data-media='plotly'] .js-plotly-plot")
    plotly.wait_for(timeout=20_000)
    assert plotly.get_attribute("data-drawn") == "1"
    assert plotly.locator(".scatterlayer .trace").count() == 1  # the one Scatter trace
    assert page.locator("[data-media='plotly'] .hint").count() == 0  # not the JSON fallback


def test_the_server_serves_plotly_js_from_the_installed_package(kinds_site: KindsSite) -> None:
    path = plotly_js_path()
    assert path is not None, "plotly is in the test extra: pip install -e '.[test]'"
    answer = httpx.get(f"{kinds_site.url}/static/plotly.min.js", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.content == path.read_bytes()


def test_every_chart_kind_draws_on_the_run_page(kinds_site: KindsSite, page: Any) -> None:
    problems = watch_console(page)
    page.goto(f"{kinds_site.url}/runs/kinds/{kinds_site.kinds.name}")
    page.wait_for_selector("#app[data-ready]", timeout=20_000)
    assert_every_kind_drawn(page, kinds_site.kinds)
    assert not problems, problems


def test_every_chart_kind_draws_in_the_offline_report(kinds_site: KindsSite, browser: Any,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "kinds.html"
    result = run_cli("report", kinds_site.kinds, "-o", out)
    assert result.returncode == 0, result.stderr
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    left_disk: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            left_disk.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    try:
        page = ctx.new_page()
        problems = watch_console(page)
        page.goto(out.as_uri())
        page.wait_for_selector("#app[data-ready]", timeout=20_000)
        assert_every_kind_drawn(page, kinds_site.kinds)
        assert page.evaluate("[...document.images].every((i) => i.src.startsWith('data:'))")
    finally:
        ctx.close()
    assert not left_disk, left_disk
    assert not problems, problems


def test_run_page_screenshot_shows_charts_tables_and_html(kinds_site: KindsSite, page: Any
                                                          ) -> None:
    problems = watch_console(page)
    page.goto(f"{kinds_site.url}/runs/digits/{kinds_site.showcase.name}")
    page.wait_for_selector("#app[data-ready]", timeout=20_000)
    for key in ("loss", "accuracy"):
        page.wait_for_selector(f".vega.metric[data-key='{key}'][data-drawn='25']")
    page.wait_for_function(SETTLED)
    for name in ("roc", "confusion_matrix"):
        assert sum(page.evaluate(MARKS, name)["placed"].values()) > 0, name
    images = page.locator("[data-table='test_samples'] img.cell-image")
    assert images.count() == 6
    for i in range(6):
        page.wait_for_function("(el) => el.complete && el.naturalWidth === 48",
                               arg=images.nth(i).element_handle())
    note = page.frame_locator("[data-media='notes'] iframe").locator("h2")
    assert note.inner_text(timeout=10_000) == "Model card"
    # The note lies below the fold, never scrolled to: unpainted until screenshot() acts.
    assert page.evaluate("window.scrollY") == 0
    box = page.locator("[data-media='notes'] iframe").bounding_box()
    assert box["y"] > 800
    shot = screenshot(page, "run_page")
    assert page.viewport_size == {"width": 1280, "height": 800}  # restored
    # The note's text is in the picture (a blank frame is all white inside its border).
    from PIL import Image

    with Image.open(shot) as picture:
        inside = picture.convert("L").crop((int(box["x"]) + 4, int(box["y"]) + 4,
                                            int(box["x"] + box["width"]) - 4,
                                            int(box["y"] + box["height"]) - 4))
        darkest, _ = inside.getextrema()
    assert darkest < 100, "the HTML note's frame is blank in the screenshot"
    assert not problems, problems
