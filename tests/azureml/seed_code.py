"""The seeds' Azure ML code, and the same code with only its import lines changed.

``seeds/*.txt`` hold the seeds' code verbatim (notebook cells separated by ``# %%``).
``port`` swaps each Azure import line for flightlog's (and the two that no longer exist:
``sklearn.externals.joblib`` is ``joblib`` today, Azure Open Datasets is a scikit-learn
stand-in); ``assert_only_imports_differ`` checks that nothing else changed.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parent / "seeds"
STAND_IN = Path(__file__).resolve().parent / "opendatasets_stand_in.py"
TOKEN = "azureml-test-token"  # the server fixture's token

#: Azure import line -> flightlog's.
IMPORTS = {
    "from azureml.core import Workspace": "from flightlog.azureml import Workspace",
    "from azureml.core import Experiment": "from flightlog.azureml import Experiment",
    "from azureml.core import Run": "from flightlog.azureml import Run",
    "from azureml.core import Experiment, Run, Workspace":
        "from flightlog.azureml import Experiment, Run, Workspace",
    "import azureml.core": "import flightlog.azureml",
    "from azureml.core.run import Run": "from flightlog.azureml import Run",
    "from azureml.opendatasets import Diabetes": "from opendatasets_stand_in import Diabetes",
    "from sklearn.externals import joblib": "import joblib",
}


def seed_text(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def port(source: str, added: tuple[str, ...] = ()) -> str:
    """``source`` with each import line of ``IMPORTS`` replaced, ``added`` import lines
    put first."""
    lines = []
    for line in source.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        lines.append(indent + IMPORTS[line.strip()] if line.strip() in IMPORTS else line)
    return "\n".join([*added, *lines]) + "\n"


def assert_only_imports_differ(original: str, ported: str) -> None:
    changed = [line[2:] for line in difflib.ndiff(original.splitlines(), ported.splitlines())
               if line[:2] in ("+ ", "- ")]
    assert changed, "nothing was ported"
    not_imports = [line for line in changed
                   if not line.strip().startswith(("import ", "from "))]
    assert not not_imports, not_imports
    assert "azureml.core" not in ported and "azureml.opendatasets" not in ported


def cells(name: str) -> list[str]:
    """The seed's notebook cells, ported (and checked to differ only in imports)."""
    text = seed_text(name)
    ported = port(text)
    assert_only_imports_differ(text, ported)
    chunks = ported.split("# %%\n")[1:]  # before the first marker: the file's own header
    return [chunk.rstrip("\n") for chunk in chunks]


def run_notebook(code_cells: list[str], cwd: Path, timeout: int = 300) -> Any:
    """Execute the cells in a real Jupyter kernel started in ``cwd`` (as the notebook
    would run in its folder); the executed notebook. A failing cell fails the test with
    its traceback (nbclient's CellExecutionError)."""
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in code_cells])
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return notebook


def stream_text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")


def rich_output(cell: Any, mime: str) -> str:
    for output in cell.outputs:
        if output["output_type"] in ("execute_result", "display_data") and (
                mime in output["data"]):
            return str(output["data"][mime])
    raise AssertionError(f"no {mime} output in {cell.outputs}")
