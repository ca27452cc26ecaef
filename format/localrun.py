"""``open_run``: a run directory read back, finished, live or crashed."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import IO, Any

from flightlog.errors import FileNotInRun, FormatError, RunNotFound

from .mediaitem import MediaItem
from .reader import Finding, RunLogReader
from .rundir import blob_path, dir_size, is_run_dir, writer_alive
from .state import RunState


class FlightlogWarning(UserWarning):
    """Something was wrong but reading went on (for example a corrupt frame skipped)."""


class LocalRun:
    """A run directory, read. Every accessor first reads what the writer appended since
    the last call, so a live run's answers grow as it does.

    Use :func:`open_run` to get one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.dir = Path(path)
        if not is_run_dir(self.dir):
            raise RunNotFound("not a flightlog run directory (no log/ folder)",
                              path=str(self.dir))
        self._reader = RunLogReader(self.dir)
        self._state = RunState()
        self._warned = 0
        self.refresh()

    def refresh(self) -> None:
        """Read records appended since the last call. Warns once per new finding."""
        for record in self._reader.poll():
            self._state.apply(record)
        new = self._reader.findings[self._warned:]
        self._warned = len(self._reader.findings)
        for finding in new:
            warnings.warn(f"{finding.error} (skipped, reading went on)", FlightlogWarning,
                          stacklevel=3)

    @property
    def state(self) -> RunState:
        self.refresh()
        return self._state

    # ------------------------------------------------------------ identity

    @property
    def id(self) -> str:
        return self.state.id or self.dir.name

    @property
    def name(self) -> str:
        return self.state.name or self.id

    @property
    def project(self) -> str:
        return self.state.project or self.dir.parent.name

    @property
    def created(self) -> float | None:
        return self.state.created

    # ------------------------------------------------------------ contents

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.state.config)

    @property
    def tags(self) -> dict[str, str | None]:
        return dict(self.state.tags)

    @property
    def summary(self) -> dict[str, Any]:
        return self.state.summary()

    @property
    def status(self) -> str:
        """``finished``, ``running`` or ``crashed`` (SPEC.md §11)."""
        state = self.state
        if writer_alive(self.dir):
            return "running"  # including a finished run that a new writer resumed
        if state.exit_code is not None:
            return "finished" if state.exit_code == 0 else "crashed"
        return "crashed"

    @property
    def exit_code(self) -> int | None:
        return self.state.exit_code

    @property
    def steps(self) -> int:
        return self.state.steps

    @property
    def findings(self) -> list[Finding]:
        """Corruption found while reading (empty for an intact run)."""
        self.refresh()
        return list(self._reader.findings)

    @property
    def dropped(self) -> int:
        """Records the writer had to drop (disk full for too long), as it recorded."""
        return self.state.dropped

    def history(self) -> Any:
        """A ``pyarrow.Table``, one row per step: ``_step``, ``_timestamp``, a column per
        scalar key.

        Example:
            >>> open_run("runs/diabetes/8c2kq0zd").history().to_pandas()  # doctest: +SKIP
        """
        return self.state.history()

    def get_metrics(self) -> dict[str, Any]:
        """Azure semantics: name → value, or the list of values if logged more than once."""
        return self.state.get_metrics(self._open_blob)

    def tables(self) -> dict[str, Any]:
        r"""name → ``pyarrow.Table`` (``log_table``, ``log_row`` and logged ``Table``\ s;
        media cells are structs naming their file, SPEC.md §10.3)."""
        return self.state.tables(self._open_blob)

    def charts(self) -> dict[str, dict[str, Any]]:
        """name → the Vega-Lite spec last logged under it, data inlined (ready for any
        Vega-Lite renderer: ``altair.Chart.from_dict``, vega-embed, vl-convert)."""
        return self.state.charts(self._open_blob)

    def media(self) -> dict[str, list[MediaItem]]:
        """name → every image, HTML page and plotly figure logged under it, in order;
        ``item.path`` is its file, ``item.read_bytes()`` checks its SHA-256."""
        return {key: [MediaItem(e.key, e.kind, e.mime, e.sha256, e.size, e.caption, e.step,
                                e.width, e.height, path=blob_path(self.dir, e.sha256))
                      for e in entries]
                for key, entries in self.state.media.items()}

    def show(self) -> Any:
        """Draw the run page inline in Jupyter (``pip install 'flightlog[notebook]'``)."""
        from flightlog.notebook import show

        return show(self)

    # ------------------------------------------------------------ files

    def get_file_names(self) -> list[str]:
        return sorted(self.state.files)

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None
                      ) -> Path:
        """Copy the uploaded file ``name`` to ``output_file_path`` (default: its base name
        in the current directory), checking its SHA-256 on the way.

        Raises:
            FileNotInRun: no file of that name was uploaded.
            FormatError: the stored content does not match its hash.
        """
        entry = self.state.files.get(name)
        if entry is None:
            raise FileNotInRun(f"no file {name!r} in this run; it has "
                               f"{self.get_file_names()}", path=str(self.dir), key=name)
        target = Path(output_file_path) if output_file_path is not None else Path(
            Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        with self._open_blob(entry.sha256) as src, open(partial, "wb") as dst:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
        if digest.hexdigest() != entry.sha256:
            partial.unlink()
            raise FormatError(f"stored content of {name!r} does not match its SHA-256",
                              path=str(blob_path(self.dir, entry.sha256)), key=name)
        shutil.move(partial, target)
        return target

    def _open_blob(self, sha256: str) -> IO[bytes]:
        return open(blob_path(self.dir, sha256), "rb")

    @property
    def size(self) -> int:
        """Bytes on disk of the whole run directory."""
        return dir_size(self.dir)

    def __repr__(self) -> str:
        return f"<flightlog.LocalRun {self.project}/{self.id} {self.name!r}>"


def open_run(path: str | os.PathLike[str]) -> LocalRun:
    """Read the run directory at ``path`` (finished, still being written, or crashed).

    Raises:
        RunNotFound: ``path`` is not a run directory.
        UnsupportedVersion: it was written by a newer major format version.

    Example:
        >>> r = open_run("runs/diabetes/8c2kq0zd")     # doctest: +SKIP
        >>> r.history(), r.summary, r.status
    """
    return LocalRun(path)
