"""Seed 003's "viewing charts in run details": each Azure logging form drawn as the seed
says, in a real browser: ``log_list`` and ``run.log(name, v)`` repeated as one-variable
line charts, ``log_row`` and ``log_table`` tables of numbers as two-variable line charts
(their table a click away). On the server's run page (runs shipped by the real
``flightlog sync``), in the offline report opened from disk with the network blocked,
and in the notebook view; ``flightlog show`` names them; ``Api().run().get_metrics()``
answers the vectors as ``open_run`` does. The README's screenshot of the forms is taken
here."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from syncd_helpers import Proc, Server, run_cli
from ui_helpers import screenshot

import flightlog
from flightlog.notebook import show

FIBONACCI = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
STEPS = range(-10, 10)
SIGMOID = [1 / (1 + math.exp(-i)) for i in STEPS]
ANGLES = [i / 2.0 for i in STEPS]
WORDS = ["alpha", "beta", "gamma"]
READY = "#app[data-ready]"


@dataclass
class AzureSite:
    url: str
    run_dir: Path  # the client run directory

    @property
    def run_url(self) -> str:
        return f"{self.url}/runs/azure/{self.run_dir.name}"


def azure_run(root: Path) -> Path:
    """Seed 003's loop, as written there (the writer takes Azure's forms)."""
    run = flightlog.init(project="azure", name="logging-forms", dir=root)
    run.log_list(name="Fibonacci", value=FIBONACCI)
    sines: dict[str, list[float]] = {"angle": [], "sine": []}
    for i in STEPS:
        run.log(name="Sigmoid", value=1 / (1 + np.exp(-i)))
        angle = i / 2.0
        run.log_row(name="Cosine Wave", angle=angle, cos=np.cos(angle))
        sines["angle"].append(angle)
        sines["sine"].append(np.sin(angle))
    run.log_table(name="Sine Wave", value=sines)
    for n, word in enumerate(WORDS):  # a first column of text: stays a table
        run.log_row(name="words", word=word, n=n)
    run.log(name="accuracy", value=0.9)  # logged once: a scalar, not a vector
    run.finish()
    return Path(run.dir)


@pytest.fixture(scope="module")
def azure_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureSite]:
    tmp = tmp_path_factory.mktemp("azure")
    run_dir = azure_run(tmp / "runs")
    procs: list[Proc] = []
    try:
        server = Server(tmp / "server", procs).start()
        result = run_cli("sync", tmp / "runs", "--server", server.url, "--state",
                         tmp / "state", "--retry-for", "10")
        assert result.returncode == 0, result.stdout + result.stderr
        yield AzureSite(server.url, run_dir)
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


def drawn(page: Any, view: str) -> list[dict[str, Any]]:
    """The rows the Vega view ``view`` (fl.views) draws, once it is drawn."""
    page.wait_for_function("(v) => !!(flightlog.views[v])", arg=view, timeout=20_000)
    rows: list[dict[str, Any]] = page.evaluate(
        "(v) => flightlog.views[v].data('values').map(r => ({x: r.x, y: r.y, series: r.series}))",
        view)
    return rows


def assert_forms_drawn(page: Any) -> None:
    """Each form drawn as seed 003 says, with exactly the logged values."""
    page.wait_for_selector(READY, timeout=20_000)
    fib = drawn(page, "vector:Fibonacci")
    assert [r["x"] for r in fib] == list(range(len(FIBONACCI)))
    assert [r["y"] for r in fib] == FIBONACCI
    sigmoid = drawn(page, "vector:Sigmoid")
    assert [r["x"] for r in sigmoid] == list(range(len(SIGMOID)))
    assert [r["y"] for r in sigmoid] == pytest.approx(SIGMOID, rel=1e-12)
    # A one-variable line chart: one line, drawn in SVG.
    assert page.locator(".vega.vector[data-vector='Fibonacci'] svg .role-mark path").count() >= 1
    assert page.locator(".vega.vector[data-vector='accuracy']").count() == 0

    cosine = drawn(page, "table:Cosine Wave")
    assert [r["series"] for r in cosine] == ["cos"] * len(ANGLES)
    assert [r["x"] for r in cosine] == ANGLES
    assert [r["y"] for r in cosine] == pytest.approx([math.cos(a) for a in ANGLES], rel=1e-12)
    sine = drawn(page, "table:Sine Wave")
    assert [r["x"] for r in sine] == ANGLES
    assert [r["y"] for r in sine] == pytest.approx([math.sin(a) for a in ANGLES], rel=1e-12)
    assert page.evaluate("!flightlog.views['table:words']")

    # The chart first, the table a click away (and back).
    box = page.locator(".logged-table[data-table='Cosine Wave']")
    assert box.get_attribute("data-shown") == "chart"
    assert box.locator(".vega.azure-table").is_visible()
    assert not box.locator("table.data").is_visible()
    box.locator(".view-toggle button[data-view='table']").click()
    assert box.locator("table.data").is_visible()
    assert not box.locator(".vega.azure-table").is_visible()
    cells = box.locator("table.data tbody tr").first.locator("td").all_inner_texts()
    assert cells == ["-5", str(+math.cos(-5.0).__round__(6))]
    box.locator(".view-toggle button[data-view='chart']").click()
    assert box.locator(".vega.azure-table").is_visible()
    # A table that is not numbers is a table only.
    words = page.locator(".logged-table[data-table='words']")
    assert words.locator("table.data").is_visible()
    assert words.locator(".view-toggle").count() == 0


def test_each_azure_form_is_drawn_on_the_run_page(azure_site: AzureSite, page: Any) -> None:
    page.goto(azure_site.run_url)
    assert_forms_drawn(page)
    section = page.locator("[data-section='vectors']")
    section.scroll_into_view_if_needed()
    screenshot(page, "azure_forms")


def offline_page(browser: Any, path: Path) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    left: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    return ctx, page, left + errors


def test_each_azure_form_is_drawn_in_the_offline_report(azure_site: AzureSite, browser: Any,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_cli("report", azure_site.run_dir, "-o", out)
    assert result.returncode == 0, result.stderr
    ctx, page, problems = offline_page(browser, out)
    try:
        assert_forms_drawn(page)
    finally:
        ctx.close()
    assert not problems, problems


def test_each_azure_form_is_drawn_in_a_report_of_the_server_run(azure_site: AzureSite,
                                                                 browser: Any,
                                                                 tmp_path: Path) -> None:
    """The run read back through ``Api`` (its vectors from the server's vectors route,
    in msgpack), drawn offline as the run directory's report draws it."""
    from flightlog.report import report_html

    api = flightlog.Api(azure_site.url)
    try:
        text = report_html([api.run(f"azure/{azure_site.run_dir.name}")])
    finally:
        api.close()
    out = tmp_path / "server-report.html"
    out.write_text(text, encoding="utf-8")
    ctx, page, problems = offline_page(browser, out)
    try:
        assert_forms_drawn(page)
    finally:
        ctx.close()
    assert not problems, problems


class Recorder:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def __call__(self, obj: str, display_id: bool = False) -> None:
        self.shown.append(obj)


def test_each_azure_form_is_drawn_in_the_notebook_view(azure_site: AzureSite, browser: Any,
                                                       tmp_path: Path) -> None:
    shown = Recorder()
    show(flightlog.open_run(azure_site.run_dir), display=shown, wrap=str)
    found = re.search(r'srcdoc="([^"]*)"', shown.shown[0])
    assert found is not None
    page_file = tmp_path / "notebook.html"
    page_file.write_text(html.unescape(found.group(1)), encoding="utf-8")
    ctx, page, problems = offline_page(browser, page_file)
    try:
        assert_forms_drawn(page)
    finally:
        ctx.close()
    assert not problems, problems


def test_flightlog_show_names_each_form(azure_site: AzureSite) -> None:
    result = run_cli("show", azure_site.run_dir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"  Fibonacci: vector of {len(FIBONACCI)} (line chart)" in out
    assert f"  Sigmoid: vector of {len(SIGMOID)} (line chart)" in out
    assert f"  Cosine Wave: table of {len(ANGLES)} rows (line chart: cos over angle)" in out
    assert f"  Sine Wave: table of {len(ANGLES)} rows (line chart: sine over angle)" in out
    assert f"  words: table of {len(WORDS)} rows\n" in out
    assert "metrics: accuracy" in out


def test_get_metrics_through_the_api_answers_the_vectors(azure_site: AzureSite) -> None:
    local = flightlog.open_run(azure_site.run_dir).get_metrics()
    api = flightlog.Api(azure_site.url)
    try:
        remote = api.run(f"azure/{azure_site.run_dir.name}").get_metrics()
    finally:
        api.close()
    assert remote == local
    assert remote["Fibonacci"] == FIBONACCI
    assert remote["Sigmoid"] == pytest.approx(SIGMOID, rel=1e-12)
    assert remote["Cosine Wave"]["angle"] == ANGLES
    assert remote["accuracy"] == 0.9


def test_the_vectors_endpoint_downsamples_and_validates(azure_site: AzureSite) -> None:
    import httpx
    import msgpack

    base = f"{azure_site.url}/api/v1/runs/azure/{azure_site.run_dir.name}/vectors"
    whole = httpx.get(base).json()
    assert sorted(whole) == ["Fibonacci", "Sigmoid"]
    assert whole["Fibonacci"]["kind"] == "list" and whole["Sigmoid"]["kind"] == "metric"
    assert whole["Fibonacci"]["y"] == FIBONACCI and not whole["Fibonacci"]["downsampled"]
    packed = msgpack.unpackb(httpx.get(base, headers={"Accept": "application/msgpack"}).content)
    assert packed == whole
    small = httpx.get(base, params={"points": 4}).json()["Sigmoid"]
    assert small["downsampled"] and small["total"] == len(SIGMOID)
    assert small["y"][0] == pytest.approx(SIGMOID[0])
    assert small["y"][-1] == pytest.approx(SIGMOID[-1])
    assert httpx.get(base, params={"points": 2}).status_code in (400, 422)
