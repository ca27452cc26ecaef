"""What a script ran, drawn (issue 18): a real ``flightlog run`` of a real script into a
server's data directory; its run page in Debian's chromium and the offline report show the
console (both streams, the progress bar's final state), the system charts and the
environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import Proc, Server, run_cli

import flightlog

SCRIPT = Path(__file__).resolve().parent / "scripts" / "console_and_metrics.py"
FAILING = Path(__file__).resolve().parents[1] / "runner" / "scripts" / "fail.py"  # exit 3
DRAWN = "(sel) => { const el = document.querySelector(sel); return el && el.dataset.drawn; }"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    data = tmp_path_factory.mktemp("execution")
    result = run_cli("run", "--dir", data / "runs", "--project", "ex", "--id", "r1",
                     "--system-interval", "0.2", "--no-snapshot", "--",
                     sys.executable, SCRIPT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "epoch 4 done" in result.stdout  # tee'd to the terminal unchanged
    failed = run_cli("run", "--dir", data / "runs", "--project", "ex", "--id", "r2",
                     "--no-snapshot", "--", sys.executable, FAILING, timeout=120)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    procs: list[Proc] = []
    try:
        yield Server(data, procs).start(), data / "runs" / "ex" / "r1"
    finally:
        for proc in procs:
            proc.kill()
            proc.close()


def _console_of(page: Any) -> tuple[list[str], list[str]]:
    pre = page.locator("pre.console")
    return (pre.locator("span.stdout").all_inner_texts(),
            pre.locator("span.stderr").all_inner_texts())


def test_run_page_shows_console_system_charts_and_environment(ran: tuple[Server, Path],
                                                              page: Any) -> None:
    server, run_dir = ran
    local = flightlog.open_run(run_dir)
    samples = local.system_metrics()
    assert samples.num_rows >= 2 and "system/cpu" in samples.column_names
    page.goto(f"{server.url}/runs/ex/r1")
    page.wait_for_function(DRAWN, arg=".vega.system[data-system='system/cpu']")
    stdout, stderr = _console_of(page)
    assert [line.strip() for line in stdout[:5]] == [f"epoch {i} done" for i in range(5)]
    assert "progress 100%" in [line.strip() for line in stdout]  # the bar's final state
    assert [line.strip() for line in stderr] == ["warning: to stderr"]
    environment = dict(zip(page.locator("table.kv.environment th").all_inner_texts(),
                           page.locator("table.kv.environment td").all_inner_texts(),
                           strict=True))
    assert str(SCRIPT) in environment["command"]
    assert page.locator(".vega.system").count() >= 3  # cpu, memory, disk, network, ...


def test_offline_report_shows_the_same_sections(ran: tuple[Server, Path], page: Any,
                                               tmp_path: Path) -> None:
    _, run_dir = ran
    report = tmp_path / "report.html"
    result = run_cli("report", run_dir, "-o", report)
    assert result.returncode == 0, result.stdout + result.stderr
    page.goto(report.as_uri())
    page.wait_for_function(DRAWN, arg=".vega.system[data-system='system/cpu']")
    stdout, stderr = _console_of(page)
    assert "epoch 0 done" in [line.strip() for line in stdout]
    assert [line.strip() for line in stderr] == ["warning: to stderr"]


def test_runs_table_shows_runtime_and_exit_status(ran: tuple[Server, Path], page: Any) -> None:
    server, _ = ran
    page.goto(f"{server.url}/projects/ex")
    page.wait_for_selector("tr[data-run='ex/r2'] td.duration")
    failed = page.locator("tr[data-run='ex/r2']")
    assert failed.locator(".exit-code").inner_text().strip() == "exit 3"
    finished = page.locator("tr[data-run='ex/r1']")
    assert finished.locator(".exit-code").count() == 0
    assert finished.locator("td.duration").inner_text().strip().endswith("s")
