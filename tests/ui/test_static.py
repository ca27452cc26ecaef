"""The UI's static files as a browser gets them: the Vega bundle compressed when the
browser accepts gzip (a 900 KB script on a slow air-gapped link), identical either way."""

from __future__ import annotations

import gzip

import httpx
from ui_helpers import Site


def test_vega_bundle_is_served_gzipped_when_accepted(site: Site) -> None:
    url = f"{site.url}/static/vega-bundle.js"
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=60)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert b"vegaEmbed" in plain.content
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}, timeout=60) as zipped:
        raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content) / 2
