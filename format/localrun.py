"""``open_run``: a run directory read back, finished, live or crashed."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import IO, Any

from flightlog.errors import FileNotInRun, FormatError, RunNotFound, UnreadableFile

from ._download import download_target, write_verified
from .codesnapshot import MAX_MANIFEST_BYTES, CodeFile, parse_manifest, restore
from .execution import ConsoleLine
from .histograms import HistogramAt, histogram_keys, histograms_of
from .mediaitem import MediaItem
from .prunemark import PruneMark
from .reader import Finding, RunLogReader
from .rundir import blob_path, dir_size, is_run_dir, writer_alive
from .segment import segment_path
from .state import RunState
from .taglabels import tag_labels


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
        self._warned_records = 0
        self.refresh()

    def refresh(self) -> None:
        """Read records appended since the last call. Warns once per new finding."""
        for record in self._reader.poll():
            self._state.apply(record)
        new = self._reader.findings[self._warned:]
        self._warned = len(self._reader.findings)
        new += self._record_findings()[self._warned_records:]
        self._warned_records = len(self._state.record_errors)
        for finding in new:
            warnings.warn(f"{finding.error} (skipped, reading went on)", FlightlogWarning,
                          stacklevel=3)

    def _record_findings(self) -> list[Finding]:
        """The state's BadRecord/BadAttachedName errors as findings of their segment."""
        out = []
        for record, error in self._state.record_errors:
            path = str(segment_path(self.dir, record.segment))
            located = type(error)(error.message, path=path, offset=error.offset)
            located.seq = error.seq
            out.append(Finding(path, error.offset, type(error).__name__, located,
                               record.segment, record.seq))
        return out

    @property
    def state(self) -> RunState:
        self.refresh()
        return self._state

    # ------------------------------------------------------------ identity

    # Without a readable run record, id and project are the prune mark's, else the
    # directory names (SPEC.md §11.1).

    @property
    def id(self) -> str:
        mark = self.pruned
        return self.state.id or (mark.id if mark else self.dir.resolve().name)

    @property
    def name(self) -> str:
        return self.state.name or self.id

    @property
    def project(self) -> str:
        mark = self.pruned
        return self.state.project or (mark.project if mark else self.dir.resolve().parent.name)

    @property
    def pruned(self) -> PruneMark | None:
        """What ``flightlog prune`` deleted by design (SPEC.md §18.7): segments
        ``0..pruned.segments-1`` and records ``0..pruned.next_seq-1``; None when the run
        was never pruned. Not a finding: the state is that of the records kept."""
        self.refresh()
        return self._reader.prune

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
    def labels(self) -> list[str]:
        """The tags as W&B lists them: ``name`` for a tag without a value (``tags=["a"]``),
        ``name=value`` otherwise."""
        return tag_labels(self.state.tags)

    @property
    def summary(self) -> dict[str, Any]:
        return self.state.summary()

    @property
    def status(self) -> str:
        """``finished``, ``running`` or ``crashed`` (SPEC.md §11.7): running while a writer
        holds the lock, else from the last ``finish`` record if no ``run`` record follows
        it."""
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
        """Corruption found while reading (empty for an intact run), in segment and
        offset order; kinds as in SPEC.md §5.2."""
        self.refresh()
        found = list(self._reader.findings) + self._record_findings()
        # Stable: at one offset the frame's own finding comes before its records'.
        return sorted(found, key=lambda f: (f.segment if f.segment is not None else -1,
                                            f.offset if f.offset is not None else -1))

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

    def histograms(self, key: str) -> list[HistogramAt]:
        """The histograms logged under ``key`` (``flightlog.Histogram``, arrays, lists of
        numbers; SPEC.md §9.1), one per step in step order: ``.step``, ``.edges``,
        ``.counts``. Malformed stored histograms are left out with a FlightlogWarning.

        Example:
            >>> [(h.step, h.counts.sum()) for h in run.histograms("grads")]  # doctest: +SKIP
        """
        found, bad = histograms_of(self.state.chunks, key)
        if bad:
            warnings.warn(f"{bad} malformed histograms of {key!r} left out (SPEC.md §9.1)",
                          FlightlogWarning, stacklevel=2)
        return found

    def histogram_keys(self) -> list[str]:
        """The history keys holding histograms, in order of first appearance."""
        return histogram_keys(self.state.chunks)

    def get_metrics(self) -> dict[str, Any]:
        """Azure semantics: name → value, or the list of values if logged more than once.
        An unreadable table is left out, with a FlightlogWarning (see :meth:`tables`)."""
        unreadable: list[UnreadableFile] = []
        out = self.state.get_metrics(self._open_blob, unreadable)
        _warn_unreadable(unreadable)
        return out

    def tables(self) -> dict[str, Any]:
        r"""name → ``pyarrow.Table`` (``log_table``, ``log_row`` and logged ``Table``\ s;
        media cells are structs naming their file, SPEC.md §10.3).

        A table whose attached file is absent or breaks SPEC.md §10.4's limits is left out
        with a FlightlogWarning naming it, its file and the limit; the other tables are
        read. :meth:`unreadable` lists them; :meth:`table_page` raises for one."""
        unreadable: list[UnreadableFile] = []
        out = self.state.tables(self._open_blob, unreadable)
        _warn_unreadable(unreadable)
        return out

    def charts(self) -> dict[str, dict[str, Any]]:
        """name → the Vega-Lite spec last logged under it, data inlined (ready for any
        Vega-Lite renderer: ``altair.Chart.from_dict``, vega-embed, vl-convert). A chart
        whose data file is unreadable is left out with a FlightlogWarning, as in
        :meth:`tables`."""
        unreadable: list[UnreadableFile] = []
        out = self.state.charts(self._open_blob, unreadable)
        _warn_unreadable(unreadable)
        return out

    def unreadable(self) -> list[tuple[str, UnreadableFile]]:
        """The tables and charts that cannot be read (SPEC.md §10.4), as (``"table"`` or
        ``"chart"``, the error): tables in the order of their keys, then charts. Each
        error names the key (``.key``), the file (``.sha256``, ``.path``) and the rule
        broken (``.reason``: ``absent``, ``size``, ``digest``, ``rows``, ``values``,
        ``format``)."""
        tables: list[UnreadableFile] = []
        charts: list[UnreadableFile] = []
        self.state.tables(self._open_blob, tables)
        self.state.charts(self._open_blob, charts)
        return [("table", e) for e in tables] + [("chart", e) for e in charts]

    def table_page(self, name: str, limit: int | None = None) -> tuple[Any, int] | None:
        """(the first ``limit`` rows of table ``name``, its total rows), or None when the
        run has no such table. Maps the table's files rather than reading them (each file's
        digest is checked once per process, by reading it through a small buffer).

        Raises:
            UnreadableFile: an attached file is absent or breaks SPEC.md §10.4's limits.
        """
        return self.state.table(name, self._open_blob, limit)

    def chart(self, name: str) -> dict[str, Any]:
        """The Vega-Lite spec last logged under ``name``, data inlined.

        Raises:
            KeyError: no chart of that name.
            UnreadableFile: its data file is absent or breaks SPEC.md §10.4's limits.
        """
        return self.state.chart(name, self._open_blob)

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

    # ------------------------------------------------------------ what the run ran

    def console(self, overwritten: bool = False) -> list[ConsoleLine]:
        """The console the script printed (``flightlog run``, SPEC.md §19.1): each line's
        time, stream (``stdout``/``stderr``) and text, in the order read. A progress bar
        rewritten with ``\\r`` is its final state; ``overwritten=True`` also returns the
        throttled earlier states (``line.overwritten`` true)."""
        lines = sorted(self.state.execution.console, key=lambda ln: ln.time)  # stable
        return lines if overwritten else [ln for ln in lines if not ln.overwritten]

    def system_metrics(self) -> Any:
        """System metrics (SPEC.md §19.2) as a pyarrow Table: ``_timestamp``, then one
        float64 column per W&B name (``system/cpu``, ``system/gpu.0.temp``, ...)."""
        from .execution import system_table

        return system_table(self.state.execution.system)

    def environment(self) -> dict[str, Any] | None:
        """What ran and where (SPEC.md §19.3): argv, cwd, host, user, Python, git,
        GPUs, scheduler job ids, allow-listed environment variables; None without one."""
        env = self.state.execution.environment
        return dict(env) if env is not None else None

    def code_files(self) -> list[CodeFile]:
        """The files of the code snapshot (SPEC.md §19.4), [] without one.

        Raises:
            FormatError: the manifest is damaged or names an unsafe path."""
        code = self.state.execution.code
        if code is None:
            return []
        where = str(blob_path(self.dir, code.sha256))
        with self._open_blob(code.sha256) as src:
            data = src.read(MAX_MANIFEST_BYTES + 1)
        if hashlib.sha256(data).hexdigest() != code.sha256:
            raise FormatError("code manifest does not match its SHA-256", path=where)
        return parse_manifest(data, where)

    def restore_code(self, dest: str | os.PathLike[str]) -> list[Path]:
        """Write the code snapshot's files under ``dest`` (each checked); their paths."""
        return restore(self.code_files(), self._open_blob, Path(dest))

    # ------------------------------------------------------------ files

    def get_file_names(self) -> list[str]:
        return sorted(self.state.files)

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None
                      ) -> Path:
        """Copy the uploaded file ``name`` to ``output_file_path`` (default: its base name
        in the current directory), checking its SHA-256 on the way.

        The target appears only complete and checked (a temporary file beside it is
        renamed); the name is data: only its last component names a file.

        Raises:
            FileNotInRun: no file of that name was uploaded.
            UnsafeFileName: the name's last component is empty, ``.`` or ``..`` and no
                file path was given.
            FormatError: the stored content does not match its size or hash.
        """
        entry = self.state.files.get(name)
        if entry is None:
            raise FileNotInRun(f"no file {name!r} in this run; it has "
                               f"{self.get_file_names()}", path=str(self.dir), key=name)
        target = download_target(name, output_file_path, f"run {self.dir}")
        stored = blob_path(self.dir, entry.sha256)

        def mismatch(why: str) -> FormatError:
            return FormatError(f"stored content of {name!r}: {why}", path=str(stored),
                               key=name)

        with self._open_blob(entry.sha256) as src:
            return write_verified(target, iter(lambda: src.read(1 << 20), b""),
                                  sha256=entry.sha256, size=entry.size, mismatch=mismatch)

    def _open_blob(self, sha256: str) -> IO[bytes]:
        """An attached file's content (SPEC.md §10.1). An absent or unreadable one is a
        FormatError naming it (§10.4), never an OSError."""
        path = blob_path(self.dir, sha256)
        try:
            return open(path, "rb")
        except OSError as exc:
            raise FormatError(f"attached file {sha256} cannot be read: "
                              f"{exc.strerror or exc}", path=str(path)) from None

    @property
    def size(self) -> int:
        """Bytes on disk of the whole run directory."""
        return dir_size(self.dir)

    def __repr__(self) -> str:
        return f"<flightlog.LocalRun {self.project}/{self.id} {self.name!r}>"


def _warn_unreadable(errors: list[UnreadableFile]) -> None:
    for error in errors:
        warnings.warn(f"{error} (SPEC.md §10.4 {error.reason}; left out, the rest of the "
                      f"run reads)", FlightlogWarning, stacklevel=3)


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
