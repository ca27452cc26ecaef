"""The experiment page at 1,000 runs x 10,000 steps: first paint in a real browser.

What is measured:

1. ``--runs`` finished runs of ``--steps`` steps each (``loss`` and ``acc`` every step,
   config ``alpha``/``lr``, summary ``loss``/``acc``) are written by
   ``flightlog.init(dir=DATA/runs)`` straight into a server data directory (the layout
   the server keeps), by two writer processes; the time is printed (``--data DIR``
   reuses a directory written before, with ``--keep``).
2. ``flightlog server --data DATA`` starts (the index is rebuilt from ``runs/``).
3. The series endpoint the page calls (``GET /api/v1/projects/P/series``: every run's
   config, summary and both metrics downsampled to a budget of 12,000 points per chart),
   cold (right after the start: the server reads each run's history once and keeps an
   overview of it; its background warm-up may have read some already) and warm (median
   of ``--repeat-api``); the answer's size is printed.
4. Debian's chromium (Playwright, ``/usr/bin/chromium``) opens ``/projects/P``: first
   paint is navigation start until the first overlay chart (every run's ``acc``) has
   been drawn by Vega (the experiment box's ``data-painted-at``, ``performance.now()``);
   "all charts" is until
   every chart of the page (both overlays, summary against config, parallel
   coordinates) is drawn. Cold context (the Vega bundle fetched) and warm (cached);
   medians of ``--repeat`` loads.

Also when the series answer was parsed (``data-fetched-at``). Target: first paint
under 1 s.

Children get the loopback-only guard of ``bench/sync_throughput.py``.

Run:
    python bench/ui_experiment.py                          # 1,000 runs x 10,000 steps
    python bench/ui_experiment.py --runs 200 --steps 2000
    python bench/ui_experiment.py --keep ; python bench/ui_experiment.py --data KEPT/server
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sync_throughput import clean_proxy_env, guarded_env, start_flightlog_server, with_tmp

PROJECT = "sweep"
TARGET_S = 1.0
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SERIES_PARAMS = {"points": 400, "budget": 12000, "x": "_step", "limit": 1000}


def write_some(job: tuple[str, int, int, int]) -> int:
    """Runs ``first .. first+count-1`` of the sweep under ``root``."""
    import flightlog

    root, first, count, steps = job
    for i in range(first, first + count):
        rng = random.Random(i)
        alpha = rng.choice([0.01, 0.03, 0.1, 0.3, 1.0])
        lr = rng.choice([1e-4, 1e-3, 1e-2])
        run = flightlog.init(project=PROJECT, name=f"run-{i:04d}", dir=root,
                             config={"alpha": alpha, "lr": lr}, flush_interval=60.0)
        t = np.arange(steps)
        loss = (1 + alpha) * np.exp(-t / (steps / (3 + 100 * lr))) + 0.01 * rng.random()
        acc = 1 - loss / (2 + alpha)
        for step in range(steps):
            run.log({"loss": float(loss[step]), "acc": float(acc[step])})
        run.summary["loss"] = float(loss[-1])
        run.finish()
    return count


def write_runs(root: Path, count: int, steps: int, procs: int = 2) -> float:
    start = time.perf_counter()
    share = -(-count // procs)
    jobs = [(str(root), first, min(share, count - first), steps)
            for first in range(0, count, share)]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        done = sum(pool.map(write_some, jobs))
    assert done == count
    return time.perf_counter() - start


def series_request(url: str, repeat: int) -> tuple[float, float, int, int]:
    """(cold ms, warm median ms, bytes, runs) of the page's series request."""
    path = f"/api/v1/projects/{PROJECT}/series"
    with httpx.Client(base_url=url, timeout=600) as client:
        start = time.perf_counter()
        first = client.get(path, params=SERIES_PARAMS)
        cold = (time.perf_counter() - start) * 1000
        first.raise_for_status()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            answer = client.get(path, params=SERIES_PARAMS)
            times.append((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
        return cold, statistics.median(times), len(answer.content), len(answer.json()["runs"])


def page_load(page: Any, url: str) -> dict[str, float]:
    page.goto(f"{url}/projects/{PROJECT}")
    page.wait_for_function("() => document.querySelector('.experiment')?.dataset.loaded",
                           timeout=120_000)
    box = page.locator(".experiment")
    drawn = page.evaluate("Object.values(flightlog.charts).map(c => +c.el.dataset.drawn)")
    assert drawn and all(n > 0 for n in drawn), drawn
    return {"series answer parsed": float(box.get_attribute("data-fetched-at") or 0),
            "first paint (first overlay)": float(box.get_attribute("data-painted-at") or 0),
            "all charts drawn": float(page.evaluate("performance.now()")),
            "overlaid rows (first chart)": float(drawn[0])}


def browser_figures(url: str, chromium: str, repeat: int) -> dict[str, dict[str, list[float]]]:
    from playwright.sync_api import sync_playwright

    found: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            for kind in ("cold", "warm"):
                for label, value in page_load(page, url).items():
                    found[kind].setdefault(label, []).append(value)
            context.close()
        browser.close()
    return found


def bench(tmp: Path, args: argparse.Namespace) -> int:
    env = guarded_env(tmp)
    data = Path(args.data) if args.data else tmp / "server"
    if not args.data:
        print(f"writing {args.runs:,} runs x {args.steps:,} steps into {data / 'runs'} "
              "(2 processes)", flush=True)
        wrote = write_runs(data / "runs", args.runs, args.steps)
        print(f"wrote them in {wrote:.1f} s")
    with contextlib.ExitStack() as stack:
        start = time.perf_counter()
        url, _ = start_flightlog_server(stack, data, env, tmp, name="server")
        print(f"server ready in {time.perf_counter() - start:.1f} s")
        cold, warm, size, runs = series_request(url, args.repeat_api)
        print(f"\nGET /api/v1/projects/{PROJECT}/series ({runs:,} runs, both metrics, "
              f"{size / 1e6:.1f} MB JSON)")
        print(f"  cold (each run's history read once): {cold:8.0f} ms")
        print(f"  warm (overviews kept), median of {args.repeat_api}: {warm:5.0f} ms "
              f"({cold / warm:.0f}x faster)")
        print(f"\nbrowser: /projects/{PROJECT} (median of {args.repeat} loads; ms from "
              "navigation start)")
        found = browser_figures(url, args.chromium, args.repeat)
        worst = 0.0
        for kind, figures in found.items():
            print(f"  {kind} ({'Vega bundle fetched' if kind == 'cold' else 'cached'}):")
            for label, values in figures.items():
                median = statistics.median(values)
                if label.startswith("first paint"):
                    worst = max(worst, median / 1000)
                unit = "" if label.startswith("overlaid") else " ms"
                print(f"    {label:30s} {median:8.0f}{unit}   (all: "
                      f"{', '.join(f'{v:.0f}' for v in values)})")
        print(f"\nfirst paint target < {TARGET_S:.0f} s: "
              f"{'PASS' if worst < TARGET_S else 'MISS'} ({worst * 1000:.0f} ms)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="browser page loads")
    parser.add_argument("--repeat-api", type=int, default=5)
    parser.add_argument("--data", help="a server data directory written before (--keep)")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    clean_proxy_env()
    return with_tmp(lambda tmp: bench(tmp, args), "flightlog-experiment-", keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
