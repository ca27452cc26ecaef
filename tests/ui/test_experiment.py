"""The experiment page (``/projects/P``, above the runs table) in a real browser, on seed
004's alpha sweep shipped by the real ``flightlog sync`` to a real server (conftest.py):
each metric's overlay holds every run's history exactly, it follows the table's filter
and picked runs, the summary-against-config chart's points are the runs' values, the
best-run tiles link to the right run for min and max, and the chosen charts survive a
reload (the query string). Also the series endpoint's bounds, and the offline report's
"Across runs" section. The README's screenshot of the page is taken here."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from syncd_helpers import run_cli
from ui_helpers import ALPHAS, LONG_STEPS, Site, screenshot

import flightlog

LOADED = "(n) => +(document.querySelector('.experiment').dataset.loaded || 0) >= n"


#: The page coordinates of the point (x, y) of overlay ``key`` (its Vega scales, the
#: view's origin and the canvas's place on the page).
POINT_ON_LINE = """({key, x, y}) => {
  const view = flightlog.charts[key].view;
  const [ox, oy] = view.origin();
  const box = view.container().querySelector('canvas').getBoundingClientRect();
  return [box.left + ox + view.scale('x')(x), box.top + oy + view.scale('y')(y)];
}"""


def open_experiment(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function(LOADED, arg=1, timeout=30_000)


def overlay(page: Any, key: str) -> dict[str, list[tuple[float, float]]]:
    """run label -> the (x, y) points the overlay of ``key`` draws."""
    rows = page.evaluate("(k) => flightlog.charts[k].view.data('series')"
                         ".map(r => [r.run, r.x, r.y, r.ys])", key)
    out: dict[str, list[tuple[float, float]]] = {}
    for run, x, y, _ in rows:
        out.setdefault(run, []).append((x, y))
    return out


def history_points(site: Site, name: str, key: str) -> list[tuple[float, float]]:
    table = flightlog.open_run(site.runs[name]).history()
    return [(float(s), float(v)) for s, v in zip(table.column("_step").to_pylist(),
                                                 table.column(key).to_pylist(), strict=True)
            if v is not None]


def summary_of(site: Site, name: str) -> dict[str, Any]:
    return dict(flightlog.open_run(site.runs[name]).summary)


def test_overlays_hold_every_runs_history_and_follow_filter_and_picks(site: Site,
                                                                       page: Any) -> None:
    open_experiment(page, f"{site.url}/projects/diabetes")
    names = [f"ridge-{a}" for a in ALPHAS]
    for key in ("rmse", "train_rows"):
        drawn = overlay(page, key)
        assert sorted(drawn) == sorted(names)
        for name in names:
            assert drawn[name] == history_points(site, name, key), (key, name)
    # The legend names the runs (a few runs: a legend; hover names them too).
    domain = page.evaluate("flightlog.charts['rmse'].view.scale('color').domain()")
    assert sorted(domain) == sorted(names)
    assert page.locator(".experiment .hint.overlaid").inner_text() == "overlaying 3 runs"
    # The run under the mouse is named above the chart.
    page.locator(".experiment .vega.metric[data-key='rmse']").scroll_into_view_if_needed()
    step, value = history_points(site, "ridge-0.8", "rmse")[20]
    where = page.evaluate(POINT_ON_LINE, {"key": "rmse", "x": step, "y": value})
    page.mouse.move(where[0], where[1])
    page.wait_for_function("() => document.querySelector(\".vega.metric[data-key='rmse']\")"
                           ".dataset.hover === 'ridge-0.8'", timeout=10_000)
    assert "ridge-0.8" in page.locator("[data-key='rmse']").locator("xpath=..").locator(
        ".hover-run").inner_text()

    # The table's filter: the overlays redraw with the runs it matches (and it is in the URL).
    page.fill("input.filter", "config.alpha>=0.4")
    page.press("input.filter", "Enter")
    page.wait_for_function(LOADED, arg=2)
    assert sorted(overlay(page, "rmse")) == [f"ridge-{a}" for a in ALPHAS if a >= 0.4]
    assert parse_qs(urlparse(page.url).query)["filter"] == ["config.alpha>=0.4"]

    # Picked runs win over the filter.
    page.locator(f"tr[data-run='diabetes/{site.run_id('ridge-0.8')}'] input.pick").check()
    page.wait_for_function(LOADED, arg=3)
    assert sorted(overlay(page, "rmse")) == ["ridge-0.8"]
    assert "picked" in page.locator(".experiment .hint.overlaid").inner_text()
    page.locator(f"tr[data-run='diabetes/{site.run_id('ridge-0.8')}'] input.pick").uncheck()
    page.wait_for_function(LOADED, arg=4)
    assert len(overlay(page, "rmse")) == 2


def test_smoothing_applies_to_overlays_and_stays_in_the_url(site: Site, page: Any) -> None:
    open_experiment(page, f"{site.url}/projects/diabetes?smoothing=0.6")
    assert page.locator(".experiment input.smoothing").input_value() == "0.6"
    rows = page.evaluate("flightlog.charts['rmse'].view.data('series')"
                         ".filter(r => r.run === 'ridge-0.1')")
    expected = page.evaluate("(ys) => flightlog.smooth(ys, 0.6)", [r["y"] for r in rows])
    assert [r["ys"] for r in rows] == expected
    assert rows[-1]["ys"] != rows[-1]["y"]


def test_summary_against_config_and_parallel_coordinates_hold_the_runs_values(
        site: Site, page: Any) -> None:
    open_experiment(page, f"{site.url}/projects/diabetes")
    page.wait_for_function("() => !!flightlog.views['experiment:scatter']")
    points = page.evaluate("flightlog.views['experiment:scatter'].data('values')"
                           ".map(r => [r.run, r.x, r.y])")
    expected = [[f"ridge-{a}", a, summary_of(site, f"ridge-{a}")["rmse"]] for a in ALPHAS]
    assert sorted(points) == sorted(expected)
    assert page.locator("[data-across='scatter'] select.scatter-x").input_value() == "alpha"
    assert page.locator("[data-across='scatter'] select.scatter-y").input_value() == "rmse"
    assert page.locator(".vega.across.scatter svg .role-mark path").count() == len(ALPHAS)

    page.wait_for_function("() => !!flightlog.views['experiment:parallel']")
    lines = page.evaluate("flightlog.views['experiment:parallel'].data('values')"
                          ".map(r => [r.run, r.axis, r.value])")
    for a in ALPHAS:
        name = f"ridge-{a}"
        mine = sorted((axis, value) for run, axis, value in lines if run == name)
        assert mine == [("config.alpha", a), ("summary.rmse", summary_of(site, name)["rmse"])]

    # Clicking a point opens its run.
    best = min(ALPHAS, key=lambda a: summary_of(site, f"ridge-{a}")["rmse"])
    # Vega's SVG draws the symbols in data order: the run's row is its path.
    index = page.evaluate("(name) => flightlog.views['experiment:scatter'].data('values')"
                          ".findIndex((r) => r.run === name)", f"ridge-{best}")
    with page.expect_navigation():
        page.locator(".vega.across.scatter g.mark-symbol path").nth(index).click()
    assert page.url.endswith(f"/runs/diabetes/{site.run_id(f'ridge-{best}')}")


def test_best_run_tiles_link_to_the_lowest_and_highest(site: Site, page: Any) -> None:
    open_experiment(page, f"{site.url}/projects/diabetes")
    rmse = {f"ridge-{a}": summary_of(site, f"ridge-{a}")["rmse"] for a in ALPHAS}
    lowest = min(rmse, key=rmse.__getitem__)
    highest = max(rmse, key=rmse.__getitem__)
    assert lowest != highest
    tile = page.locator(".tile[data-metric='rmse'][data-dir='min']")  # rmse: lower is better
    assert tile.locator("a.best-run").inner_text() == lowest
    assert tile.locator("a.best-run").get_attribute("href") == \
        f"/runs/diabetes/{site.run_id(lowest)}"
    page.select_option("select.tile-metric", "rmse")
    page.select_option("select.tile-dir", "max")
    page.click(".add-tile button[type='submit']")
    page.wait_for_function(LOADED, arg=2)
    top = page.locator(".tile[data-metric='rmse'][data-dir='max'] a.best-run")
    assert top.inner_text() == highest
    assert parse_qs(urlparse(page.url).query)["best"] == ["rmse:min,rmse:max"]
    with page.expect_navigation():
        top.click()
    assert page.url.endswith(f"/runs/diabetes/{site.run_id(highest)}")
    page.wait_for_selector("#app[data-ready]")
    assert page.locator(".run-header h1").inner_text().startswith(highest)


def test_chart_choice_is_kept_in_the_url(site: Site, page: Any) -> None:
    open_experiment(page, f"{site.url}/projects/diabetes")
    assert page.locator(".experiment .vega.metric").count() == 2  # rmse, train_rows
    page.click(".charts-chooser summary")
    page.locator("input[data-chart='metric:train_rows']").uncheck()
    page.wait_for_function(LOADED, arg=2)
    page.locator("input[data-chart='parallel']").uncheck()
    page.wait_for_function(LOADED, arg=3)
    query = parse_qs(urlparse(page.url).query)
    assert query["metrics"] == ["rmse"] and query["parallel"] == ["off"]
    page.reload()
    page.wait_for_function(LOADED, arg=1, timeout=30_000)
    shown = page.evaluate("[...document.querySelectorAll('.experiment .vega.metric')]"
                          ".map((el) => el.dataset.key)")
    assert shown == ["rmse"]
    assert page.locator("[data-across='parallel']").count() == 0
    assert page.locator("[data-across='scatter']").count() == 1
    assert not page.locator("input[data-chart='metric:train_rows']").is_checked()


def test_experiment_page_screenshot(site: Site, page: Any) -> None:
    open_experiment(page, f"{site.url}/projects/diabetes")
    page.wait_for_function("() => !!flightlog.views['experiment:parallel']")
    screenshot(page, "experiment")


def test_series_endpoint_is_one_bounded_validated_request(site: Site) -> None:
    base = f"{site.url}/api/v1/projects/diabetes/series"
    answer = httpx.get(base, params={"keys": "rmse", "points": 8}).json()
    assert answer["drawn"] == ["rmse"] and answer["keys"] == ["rmse", "train_rows"]
    assert answer["total"] == len(ALPHAS) and len(answer["runs"]) == len(ALPHAS)
    for run in answer["runs"]:
        series = run["series"]["rmse"]
        assert series["downsampled"] and series["total"] == 40 and len(series["x"]) <= 8
        whole = history_points(site, run["name"], "rmse")
        assert (series["x"][0], series["y"][0]) == whole[0]
        assert (series["x"][-1], series["y"][-1]) == whole[-1]
        assert min(series["y"]) == min(y for _, y in whole)  # extremes kept
        assert run["config"] == {"alpha": float(run["name"].split("-")[1])}
    picked = httpx.get(base, params={"runs": site.run_id("ridge-0.1")}).json()
    assert [r["name"] for r in picked["runs"]] == ["ridge-0.1"]
    filtered = httpx.get(base, params={"filter": "config.alpha<0.5"}).json()
    assert sorted(r["name"] for r in filtered["runs"]) == ["ridge-0.1", "ridge-0.4"]
    # A budget shares points among the runs (at least 8 each).
    budget = httpx.get(base, params={"points": 400, "budget": 24}).json()
    assert all(len(r["series"]["rmse"]["x"]) <= 8 for r in budget["runs"])
    assert all(r["series"]["rmse"]["downsampled"] for r in budget["runs"])
    for bad in ({"points": 401}, {"points": 2}, {"runs": "../etc"}, {"x": "rmse"},
                {"runs": ",".join(f"r{i}" for i in range(1001))},
                {"keys": ",".join(f"k{i}" for i in range(33))}, {"limit": 1001},
                {"filter": "nonsense"}, {"budget": 10**9}):
        r = httpx.get(base, params=bad)
        assert r.status_code in (400, 422), (bad, r.status_code)
    assert httpx.get(f"{site.url}/api/v1/projects/-bad/series").status_code == 400
    nothing = httpx.get(f"{site.url}/api/v1/projects/nothing-here/series").json()
    assert nothing["runs"] == [] and nothing["total"] == 0


def test_offline_report_of_several_runs_charts_across_them(site: Site, browser: Any,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_cli("report", *[site.runs[f"ridge-{a}"] for a in ALPHAS], "-o", out)
    assert result.returncode == 0, result.stderr
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    left: list[str] = []
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
              else (left.append(r.request.url), r.abort()))
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(out.as_uri())
        page.wait_for_selector("#app[data-ready]", timeout=30_000)
        points = page.evaluate("flightlog.views['experiment:scatter'].data('values')"
                               ".map(r => [r.run, r.x, r.y])")
        expected = [[f"ridge-{a}", a, summary_of(site, f"ridge-{a}")["rmse"]] for a in ALPHAS]
        assert sorted(points) == sorted(expected)
        assert page.locator(".compare-page [data-across='parallel'] svg").count() == 1
        # The overlays of the compare view: one line per run.
        assert page.locator(".compare-page .vega.metric[data-key='rmse'] canvas").count() == 1
    finally:
        ctx.close()
    assert not left and not errors, (left, errors)


@pytest.mark.parametrize("project", ["long"])
def test_a_long_run_is_overlaid_downsampled(site: Site, page: Any, project: str) -> None:
    open_experiment(page, f"{site.url}/projects/{project}")
    drawn = overlay(page, "loss")
    (points,) = drawn.values()
    assert 100 <= len(points) <= 400
    assert max(y for _, y in points) == 5.0  # the spike survives the overview


def zoom_in(page: Any, key: str, wheels: int = 4) -> tuple[float, float]:
    """Wheel the overlay of ``key`` in at its middle; its range once the zoom's detail
    is drawn."""
    chart = page.locator(f".experiment .vega.metric[data-key='{key}']")
    chart.scroll_into_view_if_needed()
    box = chart.locator("canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(wheels):
        page.mouse.wheel(0, -400)
    return settled_range(page, key)


def settled_range(page: Any, key: str) -> tuple[float, float]:
    """The zoomed range of overlay ``key`` once its detail is drawn (data-zoomed)."""
    page.wait_for_function("(k) => { const c = flightlog.charts[k]; return !!c.range &&"
                           " c.el.dataset.zoomed === JSON.stringify(c.range); }",
                           arg=key, timeout=20_000)
    start, end = page.evaluate("(k) => flightlog.charts[k].range", key)
    return start, end


def test_zooming_an_overlay_fetches_every_point_of_the_range(site: Site, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/series?" in r.url else None)
    open_experiment(page, f"{site.url}/projects/long")
    assert len(overlay(page, "loss")["long"]) <= 400  # the overview
    start, end = zoom_in(page, "loss")
    assert 0 < start < end < LONG_STEPS - 1
    # A few runs: each run's own series of the range, every point (as the run page).
    assert any(f"/runs/long/{site.run_id('long')}/series?" in u and "start=" in u
               for u in requests), requests
    page.wait_for_function("() => flightlog.charts.loss.el.dataset.detail === 'full'")
    whole = history_points(site, "long", "loss")
    inside = [p for p in overlay(page, "loss")["long"] if start <= p[0] <= end]
    assert inside == [p for p in whole if start <= p[0] <= end]


def test_zooming_many_runs_asks_once_for_the_range_from_the_overviews(site: Site,
                                                                      page: Any) -> None:
    page.add_init_script("window.flightlog = { exactRuns: 0 }")  # as if many runs
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/series?" in r.url else None)
    open_experiment(page, f"{site.url}/projects/long")
    start, _ = zoom_in(page, "loss")
    zoomed = [u for u in requests if "start=" in u]
    assert len(zoomed) == 1 and "/projects/long/series?" in zoomed[0], requests
    query = parse_qs(urlparse(zoomed[0]).query)
    assert query["keys"] == ["loss"] and float(query["start"][0]) == start
    answer = httpx.get(zoomed[0]).json()
    (run,) = answer["runs"]
    asked = list(zip(run["series"]["loss"]["x"], run["series"]["loss"]["y"], strict=True))
    # Drawn: the overview outside the range, the answer for it inside.
    lo, hi = asked[0][0], asked[-1][0]
    assert [p for p in overlay(page, "loss")["long"] if lo <= p[0] <= hi] == asked
    whole = dict(history_points(site, "long", "loss"))
    assert all(whole[x] == y for x, y in asked)  # points of the run's history


def test_many_runs_are_one_path_holding_each_runs_history(site: Site, page: Any) -> None:
    page.add_init_script("window.flightlog = { manyRuns: 1 }")  # 3 runs drawn as many
    open_experiment(page, f"{site.url}/projects/diabetes")
    names = [f"ridge-{a}" for a in ALPHAS]
    rows = page.evaluate("flightlog.charts.rmse.view.data('series').map(r => [r.run, r.x, r.y])")
    drawn: dict[str, list[tuple[float, float]]] = {}
    for run, x, y in rows:
        if y is not None:
            drawn.setdefault(run, []).append((x, y))
    assert sorted(drawn) == sorted(names)
    for name in names:
        assert drawn[name] == history_points(site, name, "rmse"), name
    assert sum(1 for _, _, y in rows if y is None) == len(names) - 1  # the breaks
    # One path item: a move to each run's first point, a line to each of its others.
    path = page.evaluate("""() => flightlog.charts.rmse.view.scenegraph().root
        .items[0].items.filter(m => m.marktype === 'path')[0].items[0].path""")
    assert path.count("M") == len(names)
    assert path.count("L") == sum(len(drawn[n]) - 1 for n in names)
    # The first point where the x and y scales put it.
    _, x0, y0 = rows[0]
    px, py = page.evaluate("([x, y]) => { const v = flightlog.charts.rmse.view;"
                           " return [v.scale('x')(x), v.scale('y')(y)]; }", [x0, y0])
    first = [float(v) for v in path[1:].split("L")[0].split(",")]
    assert first == pytest.approx([px, py], abs=0.01)
    # Zoom, pan and reset as the other charts.
    start, end = zoom_in(page, "rmse", wheels=2)
    assert 0 <= start < end <= max(x for x, _ in drawn[names[0]])
    box = page.locator("[data-key='rmse'] canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    page.wait_for_function("(s) => flightlog.charts.rmse.range[0] < s", arg=start,
                           timeout=10_000)  # dragged right: earlier steps shown
    assert settled_range(page, "rmse")[0] < start
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => flightlog.charts.rmse.range === null"
                           " && flightlog.charts.rmse.el.dataset.zoomed === 'null'",
                           timeout=10_000)
    assert len(page.evaluate("flightlog.charts.rmse.view.data('series')")) == len(rows)


def test_the_first_series_request_is_the_preloaded_one(site: Site, page: Any) -> None:
    html = httpx.get(f"{site.url}/projects/diabetes", params={"filter": "config.alpha>0.2"})
    found = [line for line in html.text.split("\n") if 'rel="preload"' in line]
    assert len(found) == 1 and 'as="fetch" crossorigin' in found[0]
    href = found[0].split('href="')[1].split('"')[0].replace("&amp;", "&")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/series?" in r.url else None)
    open_experiment(page, f"{site.url}/projects/diabetes?filter=config.alpha%3E0.2")
    # One request: the page's fetch() was answered by the preload (same URL, same mode).
    assert requests == [site.url + href], requests
    assert sorted(overlay(page, "rmse")) == [f"ridge-{a}" for a in ALPHAS if a > 0.2]


def test_series_endpoint_answers_a_range_from_the_overviews(site: Site) -> None:
    base = f"{site.url}/api/v1/projects/long/series"
    whole = dict(history_points(site, "long", "loss"))
    answer = httpx.get(base, params={"keys": "loss", "points": 16, "start": 1000,
                                     "end": 2000}).json()
    series = answer["runs"][0]["series"]["loss"]
    assert series["downsampled"] and len(series["x"]) <= 16
    xs = series["x"]
    assert xs[0] < 1000 <= xs[1] and xs[-2] <= 2000 < xs[-1]  # one beyond each end
    assert all(whole[x] == y for x, y in zip(xs, series["y"], strict=True))
    for bad in ({"start": "nan"}, {"end": "inf"}, {"start": "x"}):
        assert httpx.get(base, params=bad).status_code in (400, 422), bad


def test_overviews_are_kept_on_disk_for_the_next_start(site: Site, tmp_path: Path) -> None:
    """A restarted server answers from the overview files, not from the histories; a
    file that is damaged or of an older position is rebuilt."""
    import shutil

    from flightlog.server.chartdata import OverviewCache, OverviewFiles
    from flightlog.server.storage import Storage

    run_id = site.run_id("long")
    shutil.copytree(site.runs["long"], tmp_path / "runs" / "long" / run_id)
    first = Storage(tmp_path)
    row = first.index.get("long", run_id)
    assert row is not None
    built = OverviewCache(first, files=OverviewFiles(tmp_path / "overviews")).get(
        "long", run_id, row["next_seq"])
    kept = tmp_path / "overviews" / "long" / f"{run_id}.npz"
    assert kept.is_file()

    def restart() -> tuple[Storage, OverviewCache]:
        storage = Storage(tmp_path)
        storage.index_checked.wait(30)
        loaded = storage.runs_loaded
        cache = OverviewCache(storage, files=OverviewFiles(tmp_path / "overviews"))
        storage.runs_loaded -= loaded  # count only what the overviews read
        return storage, cache

    storage, cache = restart()
    again = cache.get("long", run_id, row["next_seq"])
    assert storage.runs_loaded == 0  # no history read
    assert again.totals == built.totals == {"loss": LONG_STEPS}
    for a, b in zip(again.metrics["loss"], built.metrics["loss"], strict=True):
        assert (a == b).all()
    assert again.series_json(0, 400, "loss") == built.series_json(0, 400, "loss")

    storage, cache = restart()  # another position: rebuilt from the run
    cache.get("long", run_id, row["next_seq"] + 1)
    assert storage.runs_loaded == 1
    kept.write_bytes(kept.read_bytes()[:100])  # damaged: rebuilt, and replaced
    storage, cache = restart()
    assert cache.get("long", run_id, row["next_seq"]).totals == {"loss": LONG_STEPS}
    assert storage.runs_loaded == 1
    storage, cache = restart()
    cache.get("long", run_id, row["next_seq"])
    assert storage.runs_loaded == 0
