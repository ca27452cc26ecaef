"""What the pages' CSP costs in drawing: Vega with its CSP-safe expression interpreter
(``ast: true``, what every flightlog page uses: the pages' Content-Security-Policy has no
'unsafe-eval') against Vega compiling expressions with ``new Function`` (what it does by
default, and what the CSP forbids).

What is measured: in Debian's chromium (Playwright, ``/usr/bin/chromium``), a page without
a CSP loads flightlog's Vega bundle and draws the run page's metric chart spec (two line
layers, a zoom/pan interval selection bound to the scales) of N points, ``--reps`` times
each way, alternating; printed: the median time from ``vegaEmbed`` to the view rendered,
and the ratio interpreter/compiled.

Run:
    python bench/vega_interpreter.py
    python bench/vega_interpreter.py --points 2000 20000 --reps 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE = '<!doctype html><html><head><script src="/bundle.js"></script></head>' \
       '<body><div id="v" style="width: 800px"></div></body></html>'
DRAW = """async ([n, ast]) => {
  const values = Array.from({length: n}, (_, i) =>
    ({x: i, y: Math.sin(i / 50), ys: Math.cos(i / 50), o: 1, run: 'a'}));
  const spec = {$schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 600,
    height: 220, data: {values},
    encoding: {x: {field: 'x', type: 'quantitative'}, color: {field: 'run', type: 'nominal'}},
    layer: [{params: [{name: 'zoom', select: {type: 'interval', encodings: ['x']},
                       bind: 'scales'}],
             mark: {type: 'line', clip: true}, encoding: {y: {field: 'y', type: 'quantitative'}}},
            {mark: {type: 'line', clip: true},
             encoding: {y: {field: 'ys', type: 'quantitative'}}}]};
  const t0 = performance.now();
  const result = await vegaEmbed('#v', spec, {actions: false, renderer: 'canvas', ast});
  await result.view.runAsync();
  const ms = performance.now() - t0;
  result.finalize();
  return ms;
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from flightlog.vega_bundle import vega_bundle

    bundle = vega_bundle()

    def route(r: Any) -> None:
        if r.request.url.endswith("/bundle.js"):
            r.fulfill(body=bundle, content_type="text/javascript")
        else:
            r.fulfill(body=PAGE, content_type="text/html")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page()
        page.route("http://bench.invalid/**", route)
        page.goto("http://bench.invalid/")
        page.evaluate(DRAW, [100, True])  # warm-up: both code paths parsed once
        page.evaluate(DRAW, [100, False])
        print(f"metric chart spec drawn by Vega in chromium ({args.reps} draws each, medians)")
        for n in args.points:
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.reps):
                for ast in (False, True):
                    times[ast].append(float(page.evaluate(DRAW, [n, ast])))
            compiled = statistics.median(times[False])
            interpreted = statistics.median(times[True])
            print(f"  {n:>8,} points: compiled (new Function) {compiled:7.0f} ms   "
                  f"CSP-safe interpreter {interpreted:7.0f} ms   ratio "
                  f"{interpreted / compiled:4.2f}x")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
