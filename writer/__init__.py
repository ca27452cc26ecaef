"""The training side: ``init`` a run, ``log`` to it, ``finish`` it. Writes a run
directory as SPEC.md specifies; never touches the network."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import announce
from .run import Config, Run, Summary, current, new_run_id, set_current

__all__ = ["Config", "Run", "Summary", "current", "finish", "init", "log", "new_run_id"]

_unhandled_exception = False
_previous_excepthook = sys.excepthook


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    global _unhandled_exception
    _unhandled_exception = True
    _previous_excepthook(kind, exc, tb)


def _finish_all_at_exit() -> None:
    # A script that ends without finish(): finished (exit code 0), or crashed (1) when it
    # ended on an unhandled exception, as W&B does.
    while (run := current()) is not None:
        run.finish(exit_code=1 if _unhandled_exception else 0)


_installed = False


def _install_exit_hooks() -> None:
    global _installed
    if not _installed:
        sys.excepthook = _excepthook
        atexit.register(_finish_all_at_exit)
        _installed = True


def init(project: str, name: str | None = None, config: Mapping[str, Any] | None = None,
         tags: Any = None, dir: str | os.PathLike[str] | None = None, id: str | None = None,
         resume: bool | str = False, quiet: bool = False, system_metrics: bool = True,
         system_metrics_interval: float = 15.0, **options: Any) -> Run:
    """Start (or with ``resume=True``, continue) a run and make it the current one.

    Args:
        project: project name (a folder under ``dir``).
        name: display name (default: the run id).
        config: hyperparameters; nested dicts kept as they are.
        tags: a list of tag names or a dict name -> value.
        dir: root of run directories; default ``$FLIGHTLOG_DIR``, else ``./flightlog``.
        id: the run id (default: 8 random characters).
        resume: ``True`` continues run ``id`` if it exists (else starts it); ``"must"``
            requires it to exist. Steps and sequence numbers continue.
        quiet: print nothing (else one line on stderr at the start and one at finish;
            ``FLIGHTLOG_SILENT=1`` silences every run).
        system_metrics: sample CPU, memory, disk, network and GPUs on a daemon thread
            (``system`` records, SPEC.md §19.2; ``FLIGHTLOG_SYSTEM_METRICS=0`` turns it
            off everywhere). Under ``flightlog run`` the runner samples instead.
        system_metrics_interval: seconds between samples (default 15, W&B's).
        options: ``flush_interval`` (seconds, default 0.1), ``segment_bytes``.

    Raises:
        RunLocked: another live process writes this run.
        InvalidKey: a project or id that is not a safe directory name.

    Example:
        >>> run = flightlog.init(project="diabetes", config={"alpha": 0.1})  # doctest: +SKIP
        >>> run.log({"rmse": 57.2}); run.finish()
    """
    if system_metrics:
        from flightlog.system.sampler import check_interval

        check_interval(system_metrics_interval)  # before the run exists
    run = Run(project=project, name=name, config=config, tags=tags, dir=dir, id=id,
              resume=resume, **options)
    if system_metrics:
        _start_system_metrics(run, system_metrics_interval)
    _install_exit_hooks()
    set_current(run)
    if not announce.silenced(quiet) and run._attached is None:  # a runner says it itself
        run.announce = True
        announce.started(run.project, run.id, run.name, run.dir, run.step)
    return run


def _start_system_metrics(run: Run, interval: float) -> None:
    """The sampler of flightlog/system, writing through the run's own queue; stopped
    first thing in ``finish``. Not for a run ``flightlog run`` attached (it samples)."""
    if run._attached is not None or os.environ.get("FLIGHTLOG_SYSTEM_METRICS") == "0":
        return
    from flightlog.format.records import RecordType

    from flightlog.system import Sampler

    def emit(at: float, values: dict[str, float]) -> None:
        run._queue(RecordType.SYSTEM, {"time": at, "values": values}, "system")

    sampler = Sampler(emit, interval=interval, final_sample=False).start()
    run._before_finish.append(sampler.stop)


def _require_run() -> Run:
    run = current()
    if run is None:
        from flightlog.errors import WriterError

        raise WriterError("no current run: call flightlog.init() first")
    return run


def log(data: Any = None, step: Any = None, commit: bool | None = None, **kwargs: Any) -> None:
    """``run.log(...)`` on the current run."""
    _require_run().log(data, step, commit, **kwargs)


def finish(exit_code: int = 0) -> None:
    """``run.finish()`` on the current run (no-op without one)."""
    run = current()
    if run is not None:
        run.finish(exit_code)
