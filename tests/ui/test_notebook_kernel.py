"""``run.show()`` in a real Jupyter kernel (ipykernel, executed by nbclient as Jupyter
runs a notebook): the first output holds the run page, and the display updates that
the refresh thread sends while the run grows replace it in place (nbclient applies
``update_display_data`` as a notebook front end does) until the run has finished."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest


def test_show_draws_and_follows_a_live_run_in_a_real_kernel(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    root = tmp_path / "runs"
    cells = [
        f"import threading, time\nimport flightlog\n"
        f"run = flightlog.init(project='nb', name='live', dir={str(root)!r})\n"
        f"run.log({{'loss': 1.0}})\nrun.flush()\n"
        f"flightlog.show(run, every=0.2)",
        "for i in range(1, 6):\n    run.log({'loss': 1.0 / (i + 1)})\nrun.finish()",
        # The refresh thread stops once it has drawn the finished run.
        "deadline = time.monotonic() + 30\n"
        "while any(t.name == 'flightlog-notebook-refresh' for t in threading.enumerate()):\n"
        "    assert time.monotonic() < deadline, 'the refresh thread did not stop'\n"
        "    time.sleep(0.05)\n"
        "print('refresh stopped')",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = notebook.cells[0].outputs
    # init's one line on stderr (where the run goes), then the drawn page, nothing else.
    said = [o for o in outputs if o["output_type"] == "stream"]
    assert len(said) == 1 and said[0]["text"].startswith("flightlog: run nb/"), said
    first = [o for o in outputs if o["output_type"] != "stream"]
    assert len(first) == 1 and first[0]["output_type"] == "display_data", first
    page = html.unescape(first[0]["data"]["text/html"])
    assert "<iframe" in first[0]["data"]["text/html"] and 'sandbox="allow-scripts' in page
    # The view was replaced by the finished run's page: 6 steps of loss, status finished.
    assert re.search(r'"status":\s*"finished"', page), page[:2000]
    assert page.count("0.16666666666666666") >= 1  # loss at step 5, the last one logged
    assert "refresh stopped" in notebook.cells[2].outputs[0]["text"]
