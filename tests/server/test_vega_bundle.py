"""The Vega bundle is made once per vl-convert version, in a child process, and then read
from the disk cache: a server restart does not make it again (making it held the GIL
for ~3 s, and the restarted server did not answer meanwhile)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import flightlog.vega_bundle
from flightlog.errors import FlightlogError
from flightlog.vega_bundle import vega_bundle


def test_the_bundle_is_made_once_then_read_from_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vl_convert")
    monkeypatch.setenv("FLIGHTLOG_CACHE_DIR", str(tmp_path / "cache"))
    cached = (tmp_path / "cache"
              / f"vega-bundle-{importlib.metadata.version('vl-convert-python')}.js")
    cached.parent.mkdir()
    cached.write_text("torn")  # a torn or foreign file is never served
    made = vega_bundle.__wrapped__()  # past the in-process memo
    assert len(made) > 100_000 and "vegaEmbed" in made
    assert cached.read_text(encoding="utf-8") == made
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no temp file left

    def no_build() -> str:
        raise AssertionError("made again although it is cached")

    monkeypatch.setattr(flightlog.vega_bundle, "_build", no_build)
    assert vega_bundle.__wrapped__() == made


def test_an_unwritable_cache_still_gives_the_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("FLIGHTLOG_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(flightlog.vega_bundle, "_build", lambda: "x" * 100_000 + "vegaEmbed")
    assert vega_bundle.__wrapped__().endswith("vegaEmbed")


def test_a_failing_child_is_reported_with_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vl_convert")
    monkeypatch.setenv("FLIGHTLOG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(flightlog.vega_bundle, "_BUILD", "raise SystemExit('no deno here')")
    with pytest.raises(FlightlogError, match="no deno here"):
        vega_bundle.__wrapped__()
    assert list(tmp_path.iterdir()) == []
