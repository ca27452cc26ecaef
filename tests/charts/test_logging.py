"""Tables, charts and media through a real run directory: what ``run.log`` stores, what
``open_run`` reads back, what ``verify`` checks, and that bad input costs nothing."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from flightlog.format.rundir import blob_path
from flightlog.format.verify import verify_paths

import flightlog


def _records(run_dir: Path) -> list[tuple[int, dict]]:
    from flightlog.format.reader import RunLogReader

    return [(r.type, r.body) for r in RunLogReader(run_dir).poll()]


def _line_chart() -> flightlog.Chart:
    return flightlog.Chart({"x": [1, 2, 3], "y": [0.5, float("nan"), 2.5]}, {
        "mark": "line", "title": "y over x",
        "encoding": {"x": {"field": "x", "type": "quantitative"},
                     "y": {"field": "y", "type": "quantitative"}}}, kind="line")


def test_chart_round_trips_with_data_inlined(root: Path) -> None:
    with flightlog.init(project="p", dir=root) as run:
        run.log({"loss": 0.5, "curve": _line_chart()})
        run.log({"loss": 0.4})
    r = flightlog.open_run(run.dir)
    spec = r.charts()["curve"]
    assert spec["data"] == {"values": [{"x": 1, "y": 0.5}, {"x": 2, "y": None},
                                       {"x": 3, "y": 2.5}]}
    assert spec["mark"] == "line" and spec["$schema"].endswith("v6.json")
    # The scalar of the same call went to the history at the same step.
    assert r.history().column("loss").to_pylist() == [0.5, 0.4]
    entry = r.state.chart_entries["curve"]
    assert (entry.kind, entry.step) == ("line", 0)
    # Stored as SPEC.md §10.2 says: spec text naming the data "table", data as Arrow.
    (body,) = [b for t, b in _records(run.dir) if t == 14]
    assert json.loads(body["spec"])["data"] == {"name": "table"}
    table = pa.ipc.open_file(blob_path(run.dir, body["sha256"])).read_all()
    assert table.column_names == ["x", "y"] and body["rows"] == 3
    (report,) = verify_paths([run.dir])
    assert report.ok and report.files == 1, report.problems


def test_chart_logged_again_replaces_and_keeps_its_step(root: Path) -> None:
    with flightlog.init(project="p", dir=root) as run:
        for step in range(3):
            chart = flightlog.Chart({"x": [step]}, {"mark": "point", "encoding": {
                "x": {"field": "x", "type": "quantitative"}}})
            run.log({"c": chart}, step=step * 10)
    r = flightlog.open_run(run.dir)
    assert r.charts()["c"]["data"]["values"] == [{"x": 2}]
    assert r.state.chart_entries["c"].step == 20


def test_table_with_image_and_html_cells(root: Path) -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    table = flightlog.Table(columns=["id", "picture", "page"])
    table.add_data(1, flightlog.Image(pixels, caption="first"), flightlog.Html("<b>one</b>"))
    table.add_data(2, flightlog.Image(pixels[::-1]), flightlog.Html("<i>two</i>"))
    with flightlog.init(project="p", dir=root) as run:
        run.log({"samples": table})
    r = flightlog.open_run(run.dir)
    got = r.tables()["samples"]
    assert got.column("id").to_pylist() == [1, 2]
    field = got.schema.field("picture")
    assert field.metadata == {b"flightlog:media": b"1"}
    cells = got.column("picture").to_pylist()
    assert [c["caption"] for c in cells] == ["first", None]
    assert [(c["width"], c["height"]) for c in cells] == [(5, 4), (5, 4)]
    from PIL import Image as PILImage

    first = PILImage.open(blob_path(run.dir, cells[0]["sha256"]))
    assert np.array_equal(np.asarray(first), pixels)
    pages = got.column("page").to_pylist()
    assert blob_path(run.dir, pages[1]["sha256"]).read_bytes() == b"<i>two</i>"
    # Every media cell's file is listed in the record (the sync daemon ships them).
    (body,) = [b for t, b in _records(run.dir) if t == 7]
    assert set(body["blobs"]) == {c["sha256"] for c in cells + pages}
    assert body["replace"] is True


def test_logged_table_versions_replace_azure_tables_append(root: Path) -> None:
    with flightlog.init(project="p", dir=root) as run:
        run.log({"t": flightlog.Table(columns=["a"], data=[[1], [2]])})
        run.log({"t": flightlog.Table(columns=["a"], data=[[3]])})
        run.log_table("azure", {"a": [1]})
        run.log_table("azure", {"a": [2]})
    tables = flightlog.open_run(run.dir).tables()
    assert tables["t"].column("a").to_pylist() == [3]
    assert tables["azure"].column("a").to_pylist() == [1, 2]


def test_media_images_html_and_steps(root: Path, tmp_path: Path) -> None:
    from PIL import Image as PILImage

    jpeg = tmp_path / "photo.jpg"
    PILImage.new("RGB", (7, 3), (200, 10, 10)).save(jpeg)
    with flightlog.init(project="p", dir=root) as run:
        for step in range(3):
            run.log({"frame": flightlog.Image(np.full((2, 2), step * 100, np.uint8)),
                     "acc": step / 10})
        run.log({"photo": flightlog.Image(str(jpeg), caption="cam"),
                 "report": flightlog.Html("<h1>done</h1>")})
        run.log_image("ROC file", path=str(jpeg))
    media = flightlog.open_run(run.dir).media()
    assert [m.step for m in media["frame"]] == [0, 1, 2]
    assert [np.asarray(PILImage.open(io.BytesIO(m.read_bytes())))[0, 0]
            for m in media["frame"]] == [0, 100, 200]
    (photo,) = media["photo"]
    assert (photo.kind, photo.mime, photo.caption) == ("image", "image/jpeg", "cam")
    assert photo.read_bytes() == jpeg.read_bytes()  # an image file is stored as it is
    assert media["report"][0].read_bytes() == b"<h1>done</h1>"
    assert media["ROC file"][0].step is None
    (report,) = verify_paths([run.dir])
    # 3 frames + jpeg (logged twice, stored once) + html.
    assert report.ok and report.files == 5, report.problems


def test_matplotlib_pyplot_is_stored_as_png_and_chart(root: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure()
    plt.plot([1, 2, 3, 4], label="numbers")
    plt.ylabel("some interesting numbers")
    with flightlog.init(project="p", dir=root) as run:
        run.log({"chart": plt})
        run.log_image("ROC", plot=plt)
        run.log_image("ROC positional", plt)  # as seed 003 writes it
    plt.close("all")
    r = flightlog.open_run(run.dir)
    (png,) = r.media()["chart"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.width and png.height
    values = r.charts()["chart"]["data"]["values"]
    assert [row["y"] for row in values if row.get("y") is not None] == [1, 2, 3, 4]
    assert r.media()["ROC"][0].mime == "image/png"
    assert r.media()["ROC positional"][0].read_bytes() == r.media()["ROC"][0].read_bytes()


def test_empty_figure_is_a_clear_error_and_the_run_goes_on(root: Path) -> None:
    from matplotlib.figure import Figure

    with flightlog.init(project="p", dir=root) as run:
        with pytest.raises(flightlog.InvalidValue, match="empty"):
            run.log({"chart": Figure(), "loss": 1.0})
        run.log({"loss": 2.0})
        with pytest.raises(flightlog.InvalidValue, match="exactly one"):
            run.log_image("x")
    r = flightlog.open_run(run.dir)
    # The failed call wrote nothing, not even its scalar; the step did not move.
    assert r.history().column("loss").to_pylist() == [2.0]
    assert r.history().column("_step").to_pylist() == [0]
    assert r.media() == {} and r.charts() == {}


def test_plotly_figure_is_stored_as_its_json(root: Path) -> None:
    import plotly.express as px
    import plotly.io

    fig = px.scatter(x=[0, 1, 2, 3, 4], y=[0, 1, 4, 9, 16])
    with flightlog.init(project="p", dir=root) as run:
        run.log({"plotly": fig})
    (item,) = flightlog.open_run(run.dir).media()["plotly"]
    assert item.kind == "plotly"
    # Plotly's own JSON (plotly.js draws it; typed arrays as plotly encodes them).
    assert item.read_bytes() == fig.to_json().encode()
    again = plotly.io.from_json(item.read_bytes().decode())
    assert again.data[0].type == "scatter" and again.layout.xaxis.title.text == "x"


def test_bad_table_input_names_both_lengths() -> None:
    table = flightlog.Table(columns=["a", "b"])
    with pytest.raises(flightlog.InvalidValue, match=r"3 values .* 2 columns"):
        table.add_data(1, 2, 3)
    with pytest.raises(flightlog.InvalidValue, match=r"'c' has 1 values .* 2 rows"):
        flightlog.Table(columns=["a"], data=[[1], [2]]).add_column("c", [1])
    with pytest.raises(flightlog.InvalidValue, match="differ in length"):
        flightlog.Chart({"x": [1, 2], "y": [1]}, {"mark": "line"})


def test_tampered_media_is_caught_by_verify_and_read_bytes(root: Path) -> None:
    with flightlog.init(project="p", dir=root) as run:
        run.log({"page": flightlog.Html("<p>original</p>")})
    item = flightlog.open_run(run.dir).media()["page"][0]
    assert item.path is not None
    item.path.chmod(0o644)
    item.path.write_bytes(b"<p>tampered</p>")
    with pytest.raises(flightlog.FormatError, match="SHA-256"):
        item.read_bytes()
    out = subprocess.run([sys.executable, "-m", "flightlog.cli", "verify", str(run.dir)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "does not match its SHA-256" in out.stdout + out.stderr
    assert hashlib.sha256(b"<p>original</p>").hexdigest() == item.sha256


def test_show_lists_charts_and_media(root: Path) -> None:
    with flightlog.init(project="p", dir=root) as run:
        run.log({"curve": _line_chart(), "img": flightlog.Image(np.zeros((3, 4), np.uint8))})
    out = subprocess.run([sys.executable, "-m", "flightlog.cli", "show", str(run.dir)],
                         capture_output=True, text=True, check=True).stdout
    assert "curve  line  step 0" in out
    assert "img  1 x image (4x3), last at step 0" in out


def test_import_flightlog_stays_light() -> None:
    code = ("import sys, flightlog; t = flightlog.Table(columns=['a'], data=[[1]]); "
            "heavy = {'sklearn', 'matplotlib', 'plotly', 'httpx', 'fastapi', 'scipy', "
            "'IPython', 'vl_convert'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
