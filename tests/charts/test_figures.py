"""flightlog.figures: matplotlib and plotly figures, numpy images, as flightlog stores them.

Real matplotlib (Agg, or ``matplotlib.figure.Figure`` objects with no pyplot), real
plotly, Pillow to decode what we encode, the Vega-Lite schema and vl_convert to check
the converted charts.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image
from vl import assert_valid_vega_lite, render_png

from flightlog import figures, images
from flightlog.errors import InvalidValue


@pytest.fixture
def pyplot() -> Iterator[Any]:
    plt.close("all")
    yield plt
    plt.close("all")


def rows_of(chart: Any, **where: Any) -> list[dict[str, Any]]:
    return [row for row in chart.table.to_pylist()
            if all(row.get(k) == v for k, v in where.items())]


def assert_draws(chart: Any) -> None:
    assert_valid_vega_lite(chart)
    render_png(chart)


def decode(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.copy()


# ----------------------------------------------------------------- matplotlib -> chart


def test_two_labelled_lines_become_two_series_with_exactly_their_points() -> None:
    steps = np.arange(12)
    train = 1.0 / (steps + 1)
    val = 1.2 / (steps + 1) + 0.05
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot(steps, train, label="train")
    ax.plot(steps, val, label="val")
    ax.legend()

    chart = figures.figure_to_chart(fig)

    assert chart is not None
    for name, ys in (("train", train), ("val", val)):
        rows = rows_of(chart, series=name)
        assert [r["mark"] for r in rows] == ["line"] * len(steps)
        assert [r["x"] for r in rows] == steps.astype(float).tolist()
        assert [r["y"] for r in rows] == ys.tolist()
    assert chart.table.num_rows == 2 * len(steps)
    color = chart.spec["layer"][0]["encoding"]["color"]
    assert color["scale"]["domain"] == ["train", "val"]
    # matplotlib's default cycle: C0 and C1
    assert color["scale"]["range"] == ["#1f77b4", "#ff7f0e"]
    assert_draws(chart)


def test_line_points_keep_data_order_not_x_order() -> None:
    # a closed curve: sorting by x (Vega-Lite's default) would draw a different shape
    t = np.linspace(0, 2 * np.pi, 40)
    fig = Figure()
    fig.add_subplot().plot(np.cos(t), np.sin(t))
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    assert [r["i"] for r in rows_of(chart)] == list(range(40))
    assert chart.spec["layer"][0]["encoding"]["order"]["field"] == "i"
    assert_draws(chart)


def test_scatter_points_are_its_offsets() -> None:
    rng = np.random.default_rng(3)
    xs, ys = rng.normal(size=50), rng.normal(size=50)
    fig = Figure()
    ax = fig.add_subplot()
    ax.scatter(xs, ys, label="samples", color="red")
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    rows = rows_of(chart, series="samples")
    assert all(r["mark"] == "point" and r["marker"] for r in rows)
    assert [r["x"] for r in rows] == xs.tolist()
    assert [r["y"] for r in rows] == ys.tolist()
    point_layer = next(layer for layer in chart.spec["layer"]
                       if layer["mark"]["type"] == "point")
    assert point_layer["encoding"]["color"]["scale"]["range"] == ["#ff0000"]
    assert_draws(chart)


def test_line_with_markers_is_drawn_as_line_and_points() -> None:
    fig = Figure()
    fig.add_subplot().plot([0, 1, 2], [3, 1, 2], "o-", label="acc")
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    assert {r["marker"] for r in rows_of(chart)} == {True}
    assert [layer["mark"]["type"] for layer in chart.spec["layer"]] == ["line", "point"]
    assert_draws(chart)


def test_categorical_bars_keep_categories_and_heights() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    ax.bar(["cat", "dog", "bird"], [5, 3, 7], label="count")
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    rows = rows_of(chart, series="count")
    assert [(r["x_category"], r["y"], r["y2"]) for r in rows] == [
        ("cat", 5.0, 0.0), ("dog", 3.0, 0.0), ("bird", 7.0, 0.0)]
    layer = chart.spec["layer"][0]
    assert layer["mark"]["type"] == "bar"
    assert layer["encoding"]["x"]["field"] == "x_category"
    assert_draws(chart)


def test_horizontal_categorical_bars() -> None:
    fig = Figure()
    fig.add_subplot().barh(["a", "b"], [2.0, 4.0])
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    assert [(r["y_category"], r["x"], r["x2"]) for r in rows_of(chart)] == [
        ("a", 0.0, 2.0), ("b", 0.0, 4.0)]
    assert_draws(chart)


def test_histogram_bars_are_the_bins() -> None:
    from sklearn.datasets import load_iris

    lengths = load_iris().data[:, 0]
    fig = Figure()
    ax = fig.add_subplot()
    ax.hist(lengths, bins=12, label="sepal length")
    counts, edges = np.histogram(lengths, bins=12)

    chart = figures.figure_to_chart(fig)

    assert chart is not None
    rows = rows_of(chart, series="sepal length")
    assert [r["y"] for r in rows] == counts.astype(float).tolist()
    assert [r["x"] for r in rows] == pytest.approx(edges[:-1].tolist())
    assert [r["x2"] for r in rows] == pytest.approx(edges[1:].tolist())
    assert chart.spec["layer"][0]["mark"]["type"] == "rect"
    assert_draws(chart)


def test_log_scale_title_labels_and_limits_are_kept() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([1, 10, 100, 1000], [0.5, 0.3, 0.2, 0.1], label="loss")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss value")
    ax.set_title("training")
    ax.set_ylim(0.0, 0.6)
    fig.suptitle("run 7")

    chart = figures.figure_to_chart(fig)

    assert chart is not None
    encoding = chart.spec["layer"][0]["encoding"]
    assert encoding["x"]["scale"]["type"] == "log"
    assert encoding["x"]["title"] == "step"
    assert encoding["y"]["title"] == "loss value"
    assert encoding["y"]["scale"]["domain"] == [0.0, 0.6]
    assert "type" not in encoding["y"]["scale"]  # linear
    assert chart.spec["title"] == {"text": "run 7", "subtitle": "training"}
    assert_draws(chart)


def test_date_axis_becomes_temporal_in_ms_since_1970() -> None:
    import datetime as dt

    days = [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(5)]
    fig = Figure()
    fig.add_subplot().plot(days, [1, 2, 3, 2, 1])
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    assert [r["x"] for r in rows_of(chart)] == [
        (d.replace(tzinfo=dt.timezone.utc).timestamp() * 1000) for d in days]
    assert chart.spec["layer"][0]["encoding"]["x"]["type"] == "temporal"
    assert_draws(chart)


def test_step_lines_and_inverted_axis() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    ax.step([0, 1, 2, 3], [1, 3, 2, 4], where="post")
    ax.invert_yaxis()
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    layer = chart.spec["layer"][0]
    assert layer["mark"]["interpolate"] == "step-after"
    assert layer["encoding"]["y"]["scale"]["reverse"] is True
    assert_draws(chart)


def test_subplots_become_a_grid_of_charts() -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    left.plot([0, 1, 2], [1, 2, 3], label="loss")
    right.bar([0, 1], [4, 5], label="acc")
    chart = figures.figure_to_chart(fig)
    assert chart is not None
    assert len(chart.spec["hconcat"]) == 2
    assert {r["axes"] for r in rows_of(chart, series="loss")} == {0}
    assert {r["axes"] for r in rows_of(chart, series="acc")} == {1}
    assert_draws(chart)


@pytest.mark.parametrize("draw", [
    lambda ax: ax.imshow(np.eye(4)),
    lambda ax: ax.contour(np.outer(np.arange(5), np.arange(5))),
    lambda ax: ax.fill_between([0, 1, 2], [0, 1, 0]),
    lambda ax: ax.errorbar([0, 1], [1, 2], yerr=[0.1, 0.2]),
    lambda ax: (ax.plot([0, 1], [0, 1]), ax.axhline(0.5)),
    lambda ax: (ax.plot([0, 1], [0, 1]), ax.annotate("peak", (1, 1))),
    lambda ax: ax.scatter([0, 1, 2], [0, 1, 2], c=[0.1, 0.5, 0.9]),
    lambda ax: ax.text(0.5, 0.5, "only text"),
], ids=["imshow", "contour", "fill_between", "errorbar", "axhline", "annotate",
        "colormapped-scatter", "text-only"])
def test_what_cannot_be_converted_faithfully_gives_none(draw: Any) -> None:
    fig = Figure()
    draw(fig.add_subplot())
    assert figures.figure_to_chart(fig) is None
    png, width, height = figures.figure_png(fig)  # the PNG is still stored
    assert decode(png).size == (width, height)


def test_polar_and_3d_axes_give_none() -> None:
    for projection in ("polar", "3d"):
        fig = Figure()
        fig.add_subplot(projection=projection).plot([0, 1, 2], [1, 2, 3])
        assert figures.figure_to_chart(fig) is None, projection


def test_a_million_point_line_is_reduced_keeping_its_extremes() -> None:
    rng = np.random.default_rng(0)
    ys = np.cumsum(rng.normal(size=1_000_000))
    ys[123_457] = ys.max() + 50  # a one-point spike any thinning by stride would miss
    fig = Figure()
    fig.add_subplot().plot(ys, label="walk")

    chart = figures.figure_to_chart(fig)

    assert chart is not None
    rows = rows_of(chart, series="walk")
    assert 4000 < len(rows) <= figures.MAX_LINE_POINTS
    kept = [r["y"] for r in rows]
    assert max(kept) == ys.max() and min(kept) == ys.min()
    assert rows[0]["i"] == 0 and rows[-1]["i"] == len(ys) - 1
    indices = [r["i"] for r in rows]
    assert indices == sorted(indices)
    assert all(r["y"] == ys[r["i"]] and r["x"] == r["i"] for r in rows)
    assert_valid_vega_lite(chart)


def test_figure_to_chart_rejects_non_figures() -> None:
    with pytest.raises(InvalidValue, match="matplotlib Figure"):
        figures.figure_to_chart([1, 2, 3])


# ------------------------------------------------------------------ figures and pyplot


def test_is_matplotlib_and_the_figure_to_log(pyplot: Any) -> None:
    fig, ax = pyplot.subplots()
    ax.plot([1, 2, 3])
    assert figures.is_matplotlib(pyplot)
    assert figures.is_matplotlib(fig) and figures.is_matplotlib(ax)
    assert not figures.is_matplotlib(np.zeros(3)) and not figures.is_matplotlib(matplotlib)
    assert figures.matplotlib_figure(pyplot) is fig
    assert figures.matplotlib_figure(ax) is fig
    assert figures.matplotlib_figure(fig) is fig


def test_empty_plots_are_refused_with_the_hint(pyplot: Any) -> None:
    with pytest.raises(InvalidValue, match=r"empty plot.*fig = plt\.figure"):
        figures.matplotlib_figure(pyplot)
    assert pyplot.get_fignums() == []  # no figure left behind by gcf()
    with pytest.raises(InvalidValue, match="no axes"):
        figures.matplotlib_figure(Figure())
    fig = Figure()
    fig.add_subplot()
    with pytest.raises(InvalidValue, match="hold no data"):
        figures.matplotlib_figure(fig)
    with pytest.raises(InvalidValue, match="got ndarray"):
        figures.matplotlib_figure(np.zeros(3))


def test_figure_png_decodes_to_its_size(pyplot: Any) -> None:
    fig = pyplot.figure(figsize=(4, 3))
    pyplot.plot([1, 2, 3, 4])
    pyplot.ylabel("some interesting numbers")
    png, width, height = figures.figure_png(fig, dpi=50)
    assert images.image_mime(png) == "image/png"
    assert decode(png).size == (width, height)
    # bbox_inches="tight" crops to the drawn content: smaller than 4x3 in at 50 dpi
    assert 100 < width <= 200 and 75 < height <= 150
    wider, _, _ = figures.figure_png(fig, dpi=100)
    assert decode(wider).size[0] > width
    with pytest.raises(InvalidValue, match="dpi"):
        figures.figure_png(fig, dpi=0)


def test_is_checks_do_not_import_matplotlib_or_plotly() -> None:
    code = ("import sys, flightlog, flightlog.figures as f, flightlog.images as i\n"
            "assert not f.is_matplotlib(object()) and not f.is_plotly(object())\n"
            "assert f.plotly_js_source() is not None\n"
            "assert i.png_from_array(__import__('numpy').zeros((2, 2)))[1:] == (2, 2)\n"
            "bad = [m for m in ('matplotlib', 'plotly', 'PIL') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- plotly


def test_plotly_json_round_trips_and_draws_in_a_page() -> None:
    import plotly.express as px
    import plotly.io

    fig = px.scatter(x=[0, 1, 2, 3, 4], y=[0, 1, 4, 9, 16], title="squares </script>")
    assert figures.is_plotly(fig) and not figures.is_plotly({"data": []})
    data = figures.plotly_json(fig)
    again = plotly.io.from_json(data.decode("utf-8"))
    assert again == fig
    y = again.data[0].y  # plotly >= 6 stores arrays as base64 typed arrays
    values = (np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
              if isinstance(y, dict) else np.asarray(y))
    assert values.tolist() == [0, 1, 4, 9, 16]
    assert again.layout.title.text == "squares </script>"

    page = figures.plotly_html(data, None)
    assert '<script src="plotly.min.js"></script>' in page
    assert "squares </script>" not in page  # cannot close the data's script element
    start = page.index('id="flightlog-plotly-figure">') + len('id="flightlog-plotly-figure">')
    embedded = json.loads(page[start:page.index("</script>", start)])
    assert embedded == json.loads(data)
    assert "<title>squares &lt;/script&gt;</title>" in page

    js = figures.plotly_js_source()
    assert js is not None and "plotly" in js[:2000].lower()
    inline = figures.plotly_html(data, js)
    assert "plotly.min.js" not in inline and len(inline) > len(js)
    with pytest.raises(InvalidValue, match="plotly"):
        figures.plotly_json({"data": []})
    with pytest.raises(InvalidValue, match="does not parse"):
        figures.plotly_html(b"{not json", None)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(("shape", "mode"), [((5, 7), "L"), ((5, 7, 1), "L"),
                                             ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")])
def test_png_from_uint8_array_round_trips_through_pillow(shape: tuple[int, ...],
                                                         mode: str) -> None:
    array = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    png, width, height = images.png_from_array(array)
    image = decode(png)
    assert (image.mode, image.size, (width, height)) == (mode, (7, 5), (7, 5))
    assert np.array_equal(np.asarray(image), array.reshape(5, 7, -1).squeeze(-1)
                          if mode == "L" else array)
    assert images.image_mime(png) == "image/png"


def test_png_from_float_array_scales_zero_one_to_bytes() -> None:
    levels = np.random.default_rng(2).integers(0, 256, size=(6, 4, 3))
    png, _, _ = images.png_from_array(levels / 255.0)
    assert np.array_equal(np.asarray(decode(png)), levels)
    gray = np.linspace(0.0, 1.0, 12).reshape(3, 4).astype(np.float32)
    decoded = np.asarray(decode(images.png_from_array(gray)[0]))
    assert np.array_equal(decoded, np.rint(gray.astype(np.float64) * 255))


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((4, 4, 2)), r"shape \(4, 4, 2\)"),
    (np.zeros(5), r"shape \(5,\)"),
    (np.zeros((0, 3)), "empty"),
    (np.array([[0.5, np.nan]]), "NaN"),
    (np.array([[0.5, 1.5]]), r"\[0, 1\].*1\.5"),
    (np.array([[-3, 7]]), "0..255.*-3"),
    (np.array([["a", "b"]]), "dtype"),
])
def test_bad_image_arrays_are_refused(array: Any, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        images.png_from_array(array)


def test_image_mime_by_magic_bytes(pyplot: Any) -> None:
    def encoded(fmt: str) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (3, 2), "red").save(buffer, format=fmt)
        return buffer.getvalue()

    assert images.image_mime(encoded("JPEG")) == "image/jpeg"
    assert images.image_mime(encoded("GIF")) == "image/gif"
    assert images.image_mime(encoded("WEBP")) == "image/webp"
    assert images.image_mime(encoded("BMP")) == "image/bmp"
    fig = pyplot.figure()
    pyplot.plot([1, 2])
    svg = io.BytesIO()
    fig.savefig(svg, format="svg")
    assert images.image_mime(svg.getvalue()) == "image/svg+xml"
    assert images.image_mime(b'<svg xmlns="http://www.w3.org/2000/svg"/>') == "image/svg+xml"
    assert images.image_mime(b"<html><body>no</body></html>") is None
    assert images.image_mime(b"") is None
