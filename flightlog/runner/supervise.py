"""``flightlog run``: start a script as a child process and record what it ran.

The runner is the run's one writer (SPEC.md §13). In order it: lists the code snapshot
(refusing before anything is made when it is over its caps), creates the run, stores
the snapshot and the environment, starts the script with its stdout/stderr on pipes
and the channel of :mod:`.channel` (so the script's ``flightlog.init()`` logs into this
run), samples the script's process tree, attaches ``outputs/`` as files appear, and at
the script's exit writes its status: exit code 0 finished; another code, or a signal
(exit code 128 + its number and the ``signal`` name), crashed.

Signals: the script runs in a process group of its own, so a terminal's Ctrl-C reaches
it once, through the runner. SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to the
runner go on to the script's group; on SIGTERM and SIGUSR1 (SLURM's preemption notices:
``scancel``, ``--signal=USR1@60``) the runner also writes out everything it holds now
(console, outputs, records), because a SIGKILL may follow.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from flightlog.errors import RunnerError
from flightlog.format.records import RecordType

from . import environment, snapshot
from .channel import CHANNEL_ENV, RUN_DIR_ENV, SYSTEM_METRICS_ENV, ChannelReceiver
from .console import Line, StreamCapture, console_body
from .outputs import OutputsWatcher

log = logging.getLogger("flightlog")

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
FLUSHING = frozenset({signal.SIGTERM, signal.SIGUSR1})
#: After the script exits, how long its pipes may stay open (held by a process it left
#: behind) before the runner stops reading them.
PIPE_GRACE = 3.0


@dataclass
class Outcome:
    """How the script ended. ``exit_code`` is also the runner's own exit status."""

    exit_code: int
    signal: str | None
    run_dir: Path
    run_id: str


def default_project(command: list[str]) -> str:
    """The script's name (``python train.py`` → ``train``), as Azure names a script's
    experiment; ``run`` when nothing in the command looks like a script."""
    script = next((a for a in command[1:] if a.endswith(".py")), None)
    stem = Path(script).stem if script else (Path(command[0]).name if command else "")
    if script is None and re.fullmatch(r"python[0-9.]*", stem):
        stem = ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).lstrip("._-")[:128]
    return name or "run"


def _child_env(run_dir: Path, channel_fd: int) -> dict[str, str]:
    env = dict(os.environ)
    env[RUN_DIR_ENV] = str(run_dir)
    env[CHANNEL_ENV] = str(channel_fd)
    env[SYSTEM_METRICS_ENV] = "0"  # the runner samples the script's whole process tree
    env.setdefault("PYTHONUNBUFFERED", "1")  # lines reach the console as printed
    return env


def _spawn(command: list[str], env: dict[str, str], cwd: Path, stdout: int, stderr: int,
           channel_fd: int) -> subprocess.Popen[bytes]:
    group: dict[str, Any] = ({"process_group": 0} if sys.version_info >= (3, 11)
                             else {"start_new_session": True})
    return subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
                            pass_fds=(channel_fd,), **group)


class Supervisor:
    """One script run. :func:`run_script` is the way to use it."""

    def __init__(self, run: Any, command: list[str], cwd: Path, *, outputs: Path | None,
                 system_interval: float, tee: bool,
                 before_finish: Callable[[], None] = lambda: None) -> None:
        self.run = run
        self._before_finish = before_finish
        self.command = command
        self.cwd = cwd
        self.outputs = outputs
        self.system_interval = system_interval
        self.tee = tee
        self.child: subprocess.Popen[bytes] | None = None
        self._child_exit_code: int | None = None  # from the script's own finish record
        self._captures: list[StreamCapture] = []
        self._receiver: ChannelReceiver | None = None
        self._sampler: Any = None
        self._watcher: OutputsWatcher | None = None
        self._previous: dict[int, Any] = {}

    # ------------------------------------------------------------ records

    def _console(self, stream: str, lines: list[Line]) -> None:
        self.run._queue(RecordType.CONSOLE, console_body(stream, lines), "console")

    def _system(self, at: float, values: dict[str, float]) -> None:
        self.run._queue(RecordType.SYSTEM, {"time": at, "values": values}, "system")

    def _from_script(self, payload: bytes, record_type: int) -> None:
        if record_type == RecordType.FINISH:
            from flightlog.format._msgpack_codec import unpack_records

            ((_, body),) = unpack_records(payload, 1)
            code = body.get("exit_code")
            self._child_exit_code = code if type(code) is int else None
        self.run._queue_packed(payload)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        channel_r, channel_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.child = _spawn(self.command, _child_env(self.run.dir, channel_w), self.cwd,
                                out_w, err_w, channel_w)
        except OSError as exc:
            for fd in (channel_r, channel_w, out_r, out_w, err_r, err_w):
                os.close(fd)
            raise RunnerError(f"cannot start {self.command[0]!r}: {exc}",
                              path=self.command[0]) from exc
        for fd in (channel_w, out_w, err_w):
            os.close(fd)  # the script holds them now: its exit is their end of file
        self._receiver = ChannelReceiver(channel_r, self._from_script)
        self._captures = [
            StreamCapture("stdout", out_r, 1 if self.tee else None, self._console),
            StreamCapture("stderr", err_r, 2 if self.tee else None, self._console)]
        self._start_sampler()
        if self.outputs is not None:
            self._watcher = OutputsWatcher(self.outputs, self._upload).start()
        self._install_signals()

    def _start_sampler(self) -> None:
        if self.system_interval <= 0 or self.child is None:
            return
        from flightlog.system import Sampler

        self._sampler = Sampler(self._system, pid=self.child.pid,
                                interval=self.system_interval).start()

    def _upload(self, name: str, path: Path) -> None:
        self.run.upload_file(name, path)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers live on the main thread only (a library call)
        for sig in FORWARDED:
            self._previous[sig] = signal.signal(sig, self._forward)

    def _restore_signals(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        child = self.child
        if child is not None and child.returncode is None:
            try:
                os.killpg(child.pid, signum)
            except OSError:
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signum)
        if signum in FLUSHING:
            threading.Thread(target=self.flush_now, name="flightlog-flush", daemon=True).start()

    def flush_now(self) -> None:
        """Everything held reaches the log now (a preemption's SIGKILL may follow)."""
        if self._watcher is not None:
            self._watcher.scan(stable_only=False)
        self.run._writer.wake()

    def wait(self) -> Outcome:
        assert self.child is not None
        returncode = self.child.wait()
        self._stop_all()
        self._before_finish()
        if returncode < 0:
            signame = _signal_name(-returncode)
            exit_code = 128 - returncode
        else:
            signame = None
            exit_code = returncode
            if returncode == 0 and self._child_exit_code:
                exit_code = self._child_exit_code  # the script said it failed (Azure fail())
        self.run.finish(exit_code, signal=signame)
        return Outcome(exit_code, signame, self.run.dir, self.run.id)

    def _stop_all(self) -> None:
        deadline = time.monotonic() + PIPE_GRACE
        for capture in self._captures:
            capture.stop(max(0.0, deadline - time.monotonic()))
        if self._receiver is not None:
            self._receiver.stop(max(0.0, deadline - time.monotonic()))
        if self._sampler is not None:
            self._sampler.stop()
        if self._watcher is not None:
            self._watcher.final_scan()
        self._restore_signals()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _record_environment(run: Any, command: list[str], cwd: Path,
                        snapshot_dir: Path | None) -> None:
    try:
        _environment_records(run, command, cwd, snapshot_dir)
    except Exception:  # the script runs without its environment rather than not at all
        log.warning("flightlog: could not record the environment", exc_info=True)


def _environment_records(run: Any, command: list[str], cwd: Path,
                         snapshot_dir: Path | None) -> None:
    from flightlog.system.gpu import open_gpus

    gpus = open_gpus()
    gpu_facts = gpus.describe() if gpus is not None else None
    if gpus is not None:
        gpus.close()
    facts, patch, packages = environment.collect(command, cwd, snapshot_dir, gpu_facts)
    if patch:
        run.upload_file("code/diff.patch", io.BytesIO(patch))
        facts["git"]["patch"] = "code/diff.patch"
    if packages:
        run.upload_file("code/requirements.txt", io.BytesIO(("\n".join(packages) + "\n").encode()))
    run._queue(RecordType.ENVIRONMENT, {"time": time.time(), "facts": facts}, "environment")


def run_script(command: list[str], *, project: str | None = None, name: str | None = None,
               dir: str | os.PathLike[str] | None = None, id: str | None = None,
               snapshot_dir: str | os.PathLike[str] | None = None, take_snapshot: bool = True,
               outputs: str | os.PathLike[str] | None = "outputs",
               system_interval: float = 15.0, tee: bool = True, quiet: bool = False,
               on_started: Callable[[Supervisor], None] | None = None) -> Outcome:
    """Run ``command`` as a flightlog run (what ``flightlog run -- ...`` does).

    Args:
        command: the program and its arguments (``["python", "train.py", "--lr", "0.1"]``).
        project: default: the script's name.
        name, id, dir: as :func:`flightlog.init`.
        snapshot_dir: the source directory of the code snapshot (default: the current
            directory); ``take_snapshot=False`` takes none.
        outputs: directory (relative to the current one) attached as ``outputs/...``;
            None attaches nothing.
        system_interval: seconds between system metric samples; 0 samples none.
        tee: copy the script's output to this process's stdout/stderr.

    Raises:
        RunnerError: the command cannot be started (nothing is recorded).
        SnapshotTooLarge: the snapshot is over its caps (nothing is recorded).

    Example:
        >>> run_script(["python", "train.py"], project="diabetes")  # doctest: +SKIP
        Outcome(exit_code=0, signal=None, run_dir=..., run_id='3kq8x0ab')
    """
    from flightlog.format.rundir import default_root
    from flightlog.writer import Run, announce

    if not command:
        raise RunnerError("flightlog run needs a command: flightlog run -- python train.py")
    if shutil.which(command[0]) is None:
        raise RunnerError(f"command not found: {command[0]!r}", path=command[0])
    cwd = Path.cwd()
    root = Path(dir) if dir is not None else default_root()
    source = Path(snapshot_dir) if snapshot_dir is not None else cwd
    if take_snapshot and not source.is_dir():
        raise RunnerError(f"snapshot directory {source} is not a directory", path=str(source))
    # The runs' root and outputs/ are what the script makes, not its code.
    skipped = (root,) + ((cwd / outputs,) if outputs is not None else ())
    files = snapshot.collect(source, exclude=skipped) if take_snapshot else []
    # A runner started by another runner's script makes its own run, not the outer one's.
    os.environ.pop(CHANNEL_ENV, None)
    os.environ.pop(RUN_DIR_ENV, None)
    run = Run(project=project or default_project(command), name=name, dir=root, id=id)
    supervisor: Supervisor | None = None
    recording: threading.Thread | None = None
    try:
        speak = not announce.silenced(quiet)
        if speak:
            announce.started(run.project, run.id, run.name, run.dir, 0)
        if take_snapshot:
            for body in snapshot.store(run.dir, files):
                run._queue(RecordType.CODE, body, "code")
        # Asking the script's Python for its packages takes a second: done while it runs.
        recording = threading.Thread(target=_record_environment, name="flightlog-environment",
                                     args=(run, command, cwd, source if take_snapshot else None),
                                     daemon=True)
        recording.start()
        # The script reads the run's identity from the log: it must be written first.
        run._writer.wake()
        run._writer.wait_written(time.monotonic())
        supervisor = Supervisor(run, command, cwd,
                                outputs=(cwd / outputs) if outputs is not None else None,
                                system_interval=system_interval, tee=tee,
                                before_finish=recording.join)
        supervisor.start()
        if on_started is not None:
            on_started(supervisor)
        outcome = supervisor.wait()
        if speak:
            how = "finished" if outcome.exit_code == 0 else (
                f"crashed (exit code {outcome.exit_code}"
                + (f", killed by {outcome.signal})" if outcome.signal else ")"))
            print(f"flightlog: run {run.project}/{run.id} {how}: {shlex.join(command)} in "
                  f"{run.dir}", file=sys.stderr, flush=True)
        return outcome
    except BaseException:
        if supervisor is not None and supervisor.child is not None:
            if supervisor.child.returncode is None:
                supervisor.child.kill()
                supervisor.child.wait()
            supervisor._stop_all()
        if recording is not None:
            recording.join()
        killed = supervisor is not None and supervisor.child is not None
        run.finish(137 if killed else 127, signal="SIGKILL" if killed else None)
        raise
