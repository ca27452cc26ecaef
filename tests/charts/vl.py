"""Test helpers for Vega-Lite charts: schema validation and headless rendering.

Imported as ``from vl import assert_valid_vega_lite, render_png`` (this directory is on
sys.path under pytest's default import mode, as the other test folders' helpers are).
Stable API, shared by the flightlog.plot and flightlog.sklearn tests:

- ``assert_valid_vega_lite(spec)``: ``spec`` (a dict, or a ``flightlog.Chart``, whose
  stored spec is checked) validates against the official Vega-Lite v6 JSON schema that
  altair ships (``altair/vegalite/v6/schema/vega-lite-schema.json``), with
  ``jsonschema.Draft7Validator``. Fails listing the first errors and their paths.
- ``render_png(spec) -> bytes``: renders ``spec`` (dict with inlined data, or a
  ``flightlog.Chart``, whose ``vega_lite()`` is rendered) with ``vl_convert`` and asserts
  the result is a PNG of sane size (both sides 50..4000 px) that draws more than a blank
  chart of the same size does (more non-background pixels and more bytes).
- ``png_size(png) -> (width, height)`` read from the PNG header.
"""

from __future__ import annotations

import functools
import json
import struct
from importlib import resources
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Vega-Lite library version vl_convert renders with (the newest v6 it bundles).
VL_VERSION = "6.4"


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    text = resources.files("altair").joinpath(
        "vegalite/v6/schema/vega-lite-schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _spec_of(spec: Any, *, inline: bool) -> dict[str, Any]:
    if hasattr(spec, "vega_lite") and hasattr(spec, "spec"):
        result: dict[str, Any] = spec.vega_lite() if inline else spec.spec
        return result
    if isinstance(spec, str):
        spec = json.loads(spec)
    assert isinstance(spec, dict), f"a Vega-Lite spec is a dict, got {type(spec).__name__}"
    return spec


def assert_valid_vega_lite(spec: Any) -> None:
    """Assert ``spec`` validates against the Vega-Lite v6 schema."""
    spec = _spec_of(spec, inline=False)
    # The JSON round trip catches NaN/objects that a renderer would choke on.
    spec = json.loads(json.dumps(spec, allow_nan=False))
    errors = sorted(_validator().iter_errors(spec), key=lambda e: list(e.absolute_path))
    if errors:
        described = "\n".join(f"  at {list(e.absolute_path)}: {e.message[:300]}"
                              for e in errors[:5])
        raise AssertionError(f"spec is not valid Vega-Lite v6 ({len(errors)} errors):\n"
                             f"{described}")


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, from its IHDR chunk."""
    assert png[:8] == PNG_SIGNATURE, "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _ink(png: bytes) -> int:
    """Pixels that differ from the top-left (background) pixel."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGBA"))
    return int(np.any(pixels != pixels[0, 0], axis=-1).sum())


@functools.lru_cache(maxsize=16)
def _blank(width: int, height: int) -> tuple[int, int]:
    import vl_convert

    blank = {"$schema": "https://vega.github.io/schema/vega-lite/v6.json",
             "width": width, "height": height, "data": {"values": []}, "mark": "point"}
    png = vl_convert.vegalite_to_png(blank, vl_version=VL_VERSION)
    return len(png), _ink(png)


def render_png(spec: Any) -> bytes:
    """Render ``spec`` headless to PNG bytes, asserting it drew something sane."""
    import vl_convert

    spec = _spec_of(spec, inline=True)
    png: bytes = vl_convert.vegalite_to_png(spec, vl_version=VL_VERSION)
    width, height = png_size(png)
    assert 50 <= width <= 4000 and 50 <= height <= 4000, f"rendered {width}x{height} px"
    plot_width = spec.get("width", 300) if isinstance(spec.get("width"), int) else 300
    plot_height = spec.get("height", 300) if isinstance(spec.get("height"), int) else 300
    blank_bytes, blank_ink = _blank(plot_width, plot_height)
    assert len(png) > blank_bytes, f"PNG of {len(png)} bytes is no bigger than a blank chart"
    assert _ink(png) > blank_ink + 200, "the chart drew (almost) nothing"
    return png
