"""Helpers of the UI tests (imported by conftest.py and the test modules): the runs the
server holds, the chromium to drive, and where screenshots go.

- ``Site``: the server subprocess, the client runs shipped to it, their summary values.
- ``ridge_runs``: seed 004's alpha sweep on scikit-learn's diabetes data (per-epoch
  ``rmse``, a table, a logged chart, an image, an HTML page, an uploaded model file).
- ``long_run``: 5,000 steps of one metric (more than a chart's 2,000 points).
- ``Proc``, ``Server``, ``run_cli``: tests/syncd/syncd_helpers.py's (put on sys.path here).
- ``screenshot``: a full-page screenshot into docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncd"))

from syncd_helpers import Proc, Server, run_cli

import flightlog
from flightlog.charts import Chart

__all__ = ["Proc", "Server", "Site", "long_run", "ridge_runs", "run_cli", "screenshot"]

CHROMIUM = os.environ.get("FLIGHTLOG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ALPHAS = [0.1, 0.4, 0.8]
EPOCHS = 40
LONG_STEPS = 5000


@dataclass
class Site:
    server: Server
    root: Path
    state: Path
    runs: dict[str, Path] = field(default_factory=dict)  # name -> client run directory
    rmse: dict[str, float] = field(default_factory=dict)  # name -> summary rmse
    model: bytes = b""

    @property
    def url(self) -> str:
        return self.server.url

    def run_id(self, name: str) -> str:
        return self.runs[name].name

    def sync(self) -> None:
        result = run_cli("sync", self.root, "--server", self.url, "--state", self.state,
                         "--retry-for", "10")
        assert result.returncode == 0, result.stdout + result.stderr


def ridge_runs(root: Path, tmp: Path) -> tuple[dict[str, Path], dict[str, float], bytes]:
    """Seed 004's loop: one run per alpha, ``rmse`` per epoch (the model refitted on a
    growing share of the training data), the model uploaded."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=66)
    runs, rmses = {}, {}
    model = b""
    for alpha in ALPHAS:
        name = f"ridge-{alpha}"
        run = flightlog.init(project="diabetes", name=name, config={"alpha": alpha},
                             tags=["sweep"], dir=root)
        model_ = Ridge(alpha=alpha)
        rmse = math.nan
        for epoch in range(EPOCHS):
            n = 40 + epoch * 8
            model_.fit(x_train[:n], y_train[:n])
            rmse = math.sqrt(mean_squared_error(y_test, model_.predict(x_test)))
            run.log({"rmse": rmse, "train_rows": n})
        run.summary["rmse"] = rmse
        predicted = model_.predict(x_test)
        run.log_table("predictions", {"y": y_test[:15].tolist(),
                                      "predicted": predicted[:15].tolist()})
        run.log({"pred_vs_true": Chart(
            {"y": y_test.tolist(), "predicted": predicted.tolist()},
            {"mark": "point", "title": "predicted vs true",
             "encoding": {"x": {"field": "y", "type": "quantitative"},
                          "y": {"field": "predicted", "type": "quantitative"}}},
            kind="custom")})
        gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (32, 1))
        run.log({"residuals_image": flightlog.Image(gradient, caption=f"alpha {alpha}"),
                 "notes": flightlog.Html(f"<h1>alpha {alpha}</h1>")})
        model = f"model alpha={alpha} coef={model_.coef_.tolist()}".encode()
        path = tmp / f"model_{alpha}.bin"
        path.write_bytes(model)
        run.upload_file(f"outputs/model_alpha_{alpha}.pkl", path)
        run.finish()
        runs[name] = run.dir
        rmses[name] = rmse
    return runs, rmses, model


def long_run(root: Path) -> Path:
    """5,000 steps of a noisy decaying loss with one spike (more than a chart's 2,000
    points: the server downsamples it)."""
    rng = np.random.default_rng(0)
    loss = np.exp(-np.arange(LONG_STEPS) / 1500) + rng.normal(0, 0.02, LONG_STEPS)
    loss[3333] = 5.0  # the extreme a downsampled series must keep
    run = flightlog.init(project="long", name="long", dir=root)
    for value in loss:
        run.log({"loss": float(value)})
    run.finish()
    return run.dir


#: Resolves once the frame has produced two animation frames (it has painted).
PAINTED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot for the README (docs/screenshots/NAME.png).

    HTML media sit in sandboxed iframes: an opaque origin, hence out-of-process frames,
    and Chromium does not paint a cross-origin frame while it is outside the viewport. A
    plain full-page screenshot (which only enlarges the capture area) catches such a
    frame before it ever painted: it comes out blank. So the viewport is made as tall as
    the page first, and every frame is waited on until it has painted.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": height})
    path = SCREENSHOTS / f"{name}.png"
    try:
        for frame in page.frames:
            frame.evaluate(PAINTED)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(viewport)
    return path
