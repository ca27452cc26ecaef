"""The Vega bundle (vega, vega-lite and vega-embed as one script) that the server's UI,
the offline report and the notebook view load to draw charts.

vl-convert makes it in ~3 s of CPU while holding the GIL: done inside the server, that
froze every thread for 3 s on each start (no ``/healthz`` answer before it was done).
So the bundle is made by vl-convert in a child process, once per vl-convert version, and
cached on disk; later calls (and later processes) read the cached file.

Cache: ``$FLIGHTLOG_CACHE_DIR``, else ``$XDG_CACHE_HOME/flightlog``, else
``~/.cache/flightlog``; the file ``vega-bundle-<vl-convert version>.js`` is written
atomically (temp file + rename), so a reader sees a whole bundle or none. An unwritable
cache only costs the rebuild.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import FlightlogError, MissingExtra

__all__ = ["cache_dir", "vega_bundle"]

#: A real bundle is ~900 KB; anything much smaller, or without this name, is not one.
_MIN_BYTES = 100_000
_MARKER = "vegaEmbed"
#: Seconds the child may take (3 s on an idle core; a loaded machine is slower).
_BUILD_TIMEOUT = 300.0
_BUILD = ("import sys, vl_convert\n"
          # Called without a snippet: the default one sets window.vegaEmbed/vega/vegaLite.
          "sys.stdout.buffer.write(vl_convert.javascript_bundle().encode())\n")


def cache_dir() -> Path:
    explicit = os.environ.get("FLIGHTLOG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "flightlog"


def _looks_whole(text: str) -> bool:
    return len(text) >= _MIN_BYTES and _MARKER in text


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """The bundle: from the disk cache, else made in a child process (and cached).

    Raises:
        MissingExtra: vl-convert-python is not installed.
        FlightlogError: the child failed to make it (its stderr is in the message).
    """
    try:  # ~10 ms; the costly part is javascript_bundle(), which the child runs
        import vl_convert  # noqa: F401
    except ImportError:
        raise MissingExtra("drawing charts needs vl-convert-python: pip install "
                           "'flightlog[report]' (or 'flightlog[server]')") from None
    version = importlib.metadata.version("vl-convert-python")
    path = cache_dir() / f"vega-bundle-{version}.js"
    try:
        cached = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        cached = ""
    if _looks_whole(cached):
        return cached
    text = _build()
    _store(path, text)
    return text


def _build() -> str:
    # Waiting on the child's pipe releases the GIL: this process's other threads run.
    try:
        done = subprocess.run([sys.executable, "-c", _BUILD], capture_output=True,
                              timeout=_BUILD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FlightlogError(f"vl-convert did not make the Vega bundle within "
                             f"{_BUILD_TIMEOUT:g} s") from exc
    text = done.stdout.decode("utf-8", errors="replace")
    if done.returncode != 0 or not _looks_whole(text):
        error = done.stderr.decode("utf-8", errors="replace").strip()[-2000:]
        raise FlightlogError(f"vl-convert failed to make the Vega bundle (exit "
                             f"{done.returncode}, {len(done.stdout)} bytes out): {error}")
    return text


def _store(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # no cache: the next process makes the bundle again
