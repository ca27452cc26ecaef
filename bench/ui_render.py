"""UI render time: a metric of 1,000,000 points drawn in a real browser.

What is measured: a run logging ``loss`` and ``grad_norm`` at each of 1,000,000 steps
(plus ``lr`` and ``accuracy`` every 1,000 steps) is shipped by ``flightlog sync`` to a
real ``flightlog server`` subprocess on 127.0.0.1; Debian's chromium (Playwright,
``/usr/bin/chromium``) opens the run page ``--loads`` times and each time records the
time from navigation start to the ``loss`` chart being drawn (the page sets
``data-drawn-at`` to ``performance.now()`` once Vega's view has rendered): cold (a fresh
browser context, the 900 KB Vega bundle fetched) and warm (the same context, the bundle
cached). The server sends each series downsampled (per-bucket first/last/min/max,
2,000 points); the bytes of the ``loss`` series response are printed. For comparison,
the page then fetches the full history as JSON (``/history?format=json``, what a UI
without downsampling would fetch) and draws all 1,000,000 ``loss`` points with the same
Vega-Lite line chart (``--no-full`` skips it). Target: the chart drawn in under 1 s.

Children get the loopback-only guard of ``bench/sync_throughput.py``.

Run:
    python bench/ui_render.py
    python bench/ui_render.py --steps 200000 --loads 3 --no-full
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sync_throughput import (
    clean_proxy_env,
    guarded_env,
    mib,
    run_sync,
    start_flightlog_server,
    with_tmp,
)

TARGET_S = 1.0
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

FULL_DRAW_JS = """
async (path) => {
  const t0 = performance.now();
  const response = await fetch(path);
  const text = await response.text();
  const rows = JSON.parse(text);
  const t1 = performance.now();
  const values = rows.map(r => ({x: r._step, y: r.loss}));
  const el = document.createElement('div');
  el.style.width = '600px';
  document.body.append(el);
  const result = await vegaEmbed(el, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 600, height: 220,
    data: {values}, mark: {type: 'line', clip: true},
    encoding: {x: {field: 'x', type: 'quantitative'}, y: {field: 'y', type: 'quantitative'}}},
    // ast: the CSP-safe expression interpreter, as the UI draws (the page forbids eval).
    {actions: false, renderer: 'canvas', ast: true});
  await result.view.runAsync();
  return {fetch_ms: t1 - t0, total_ms: performance.now() - t0, bytes: text.length};
}
"""


def write_run(root: Path, steps: int) -> Path:
    import flightlog

    rng = np.random.default_rng(0)
    loss = np.exp(-np.arange(steps) / (steps / 4)) + rng.normal(0, 0.02, steps)
    loss[steps // 3] = 4.0  # a spike the downsampled chart must show
    grad = np.abs(rng.normal(1, 0.3, steps))
    run = flightlog.init(project="bench", name=f"{steps} steps", dir=root)
    for i in range(steps):
        if i % 1000 == 0:
            run.log({"loss": float(loss[i]), "grad_norm": float(grad[i]),
                     "lr": 0.1 * 0.999 ** (i / 1000), "accuracy": 1 - float(loss[i]) / 2})
        else:
            run.log({"loss": float(loss[i]), "grad_norm": float(grad[i])})
    run.finish()
    return Path(run.dir)


def measure_load(page: Any, url: str) -> tuple[float, int, int]:
    """(ms from navigation start to the loss chart drawn, series bytes, points drawn)."""
    page.goto(url)
    page.wait_for_selector(".vega.metric[data-key='loss'][data-drawn-at]", timeout=60_000)
    drawn_at = float(page.get_attribute(".vega.metric[data-key='loss']", "data-drawn-at"))
    drawn = int(page.get_attribute(".vega.metric[data-key='loss']", "data-drawn"))
    size = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter(e => e.name.includes('/series?key=loss'))
        .map(e => e.encodedBodySize).reduce((a, b) => a + b, 0)""")
    return drawn_at, int(size), drawn


def bench(tmp: Path, args: argparse.Namespace) -> int:
    from playwright.sync_api import sync_playwright

    env = guarded_env(tmp)
    t0 = time.perf_counter()
    run_dir = write_run(tmp / "runs", args.steps)
    print(f"wrote {args.steps:,} steps in {time.perf_counter() - t0:.1f} s")
    with contextlib.ExitStack() as stack:
        url, _ = start_flightlog_server(stack, tmp / "server", env, tmp)
        wall, code, _, _, out = run_sync(tmp / "runs", url, tmp / "state", env, 600)
        if code != 0:
            print(out, file=sys.stderr)
            return 1
        print(f"synced in {wall:.1f} s")
        page_url = f"{url}/runs/bench/{run_dir.name}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
            cold, warm = [], []
            size = drawn = 0
            for _ in range(args.loads):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                ms, size, drawn = measure_load(page, page_url)
                cold.append(ms)
                ms, _, _ = measure_load(page, page_url)
                warm.append(ms)
                context.close()
            print(f"\nrun page of a {args.steps:,}-point metric ({args.loads} loads, medians)")
            print(f"  navigation -> loss chart drawn, cold (bundle fetched): "
                  f"{statistics.median(cold):7.0f} ms   (all: "
                  f"{', '.join(f'{v:.0f}' for v in cold)})")
            print(f"  navigation -> loss chart drawn, warm (bundle cached):  "
                  f"{statistics.median(warm):7.0f} ms   (all: "
                  f"{', '.join(f'{v:.0f}' for v in warm)})")
            print(f"  loss series sent: {drawn:,} points, {size:,} bytes")
            worst = max(statistics.median(cold), statistics.median(warm)) / 1000
            print(f"  target < {TARGET_S:.0f} s: {'PASS' if worst < TARGET_S else 'MISS'}")
            if args.full:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                measure_load(page, page_url)
                full = page.evaluate(FULL_DRAW_JS,
                                     f"/api/v1/runs/bench/{run_dir.name}/history?format=json")
                print(f"\nwithout downsampling: fetch the full history as JSON "
                      f"({mib(int(full['bytes']))}) and draw all {args.steps:,} points: "
                      f"{full['total_ms']:.0f} ms (fetch + parse {full['fetch_ms']:.0f} ms)")
                print(f"  ratio: {full['total_ms'] / statistics.median(warm):.0f}x slower, "
                      f"{int(full['bytes']) / max(size, 1):.0f}x the bytes")
                context.close()
            browser.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--no-full", dest="full", action="store_false",
                        help="skip drawing the full series for comparison")
    args = parser.parse_args(argv)
    clean_proxy_env()
    return with_tmp(lambda tmp: bench(tmp, args), "flightlog-ui-bench-")


if __name__ == "__main__":
    sys.exit(main())
