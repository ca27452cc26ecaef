"""The CLI's remaining rough edges of issue 13: progress bars only on a terminal (a real
pty and real ``flightlog`` subprocesses), the runs table's duration/last-update columns and
untrusted names, ``show``'s tags and histograms (the CLI's ``main`` in this process), and
the quickstart run twice."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
from syncd_helpers import child_env, flightlog_cmd, free_port, make_run

import flightlog
from flightlog import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: A tqdm bar as it is drawn: "DESC:  NN%|" or "DESC: N/M" with the bar characters.
_BAR = re.compile(r"(bundle|sync)\S*:\s+(\d+%\||\d+(/\d+)?\s*\[|\d+run)")


def _with_pty(*args: object, timeout: float = 60.0) -> tuple[int, str, str]:
    """(exit status, stdout, what a terminal on stderr showed) of ``flightlog ARGS`` run
    with its stderr on a pseudo-terminal (stdout stays a pipe)."""
    master, slave = pty.openpty()
    # A terminal of 120 columns: a new pty has 0, and tqdm draws nothing in 0 columns.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([*flightlog_cmd(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=child_env())
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read().decode()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    if proc.returncode is None:
        proc.kill()
        proc.wait()
    return proc.returncode, out, seen.decode(errors="replace")


def test_bundle_and_sync_draw_a_bar_on_a_terminal_only(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(root, "big", 200)
    args = ("bundle", root, "-o", tmp_path / "out", "--state", tmp_path / "ledger")
    code, out, terminal = _with_pty(*args, "--dest", "tty")
    assert code == 0, out + terminal
    assert _BAR.search(terminal), terminal
    # Not a terminal (pytest's captured stderr, in this process): no bar at all.
    assert cli.main([*map(str, args), "--dest", "pipe"]) == 0
    piped = capsys.readouterr()
    assert "wrote " in piped.out and not _BAR.search(piped.err), piped.err
    assert "\r" not in piped.err

    # sync: the bar of runs caught up, beside the at-once "cannot connect" line.
    sync = ("sync", root, "--server", f"http://127.0.0.1:{free_port()}", "--state",
            tmp_path / "sync-state", "--retry-for", "1")
    code, out, terminal = _with_pty(*sync)
    assert code == 1 and "cannot connect" in terminal, out + terminal
    assert re.search(r"sync:\s+\d+%\|.*0/1 \[.*records acknowledged", terminal), terminal


def test_ls_shows_duration_and_last_update_and_escapes_names(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = flightlog.init(project="p", name="evil\x1b[31m\nname", dir=root, quiet=True,
                         created=time.time() - 125)
    run.log({"x": 1.0})
    run.finish()
    assert cli.main(["ls", str(root)]) == 0
    listed = capsys.readouterr()
    header, row = listed.out.splitlines()
    assert header.split() == ["PROJECT", "NAME", "ID", "STATUS", "STEPS", "SIZE", "CREATED",
                              "DURATION", "UPDATED"]
    assert "\x1b" not in listed.out and "evil\\x1b[31m\\nname" in row
    assert re.search(r"  2m0[5-9]s  ", row), row  # created 125 s before it finished


def test_show_lists_tags_as_labels_and_histograms_by_step(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = flightlog.init(project="p", dir=root, tags=["wandb-style", "smoke"], quiet=True)
    run.tag("team", "vision")
    for step in range(3):
        run.log({"grads": np.arange(10.0) * step, "loss": 0.5})
    run.finish()
    assert cli.main(["show", str(run.dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "tags: wandb-style, smoke, team=vision" in lines
    assert "histograms: grads (3 steps)" in lines
    assert "  grads = histogram of 64 bins [0, 18]" in lines
    assert not any("wandb-style = null" in line for line in lines)


def test_the_quickstart_run_twice_reuses_its_runs_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import diabetes
    finally:
        sys.path.remove(str(EXAMPLES))
    root = tmp_path / "runs"
    for alpha in diabetes.ALPHAS:  # what a first run of the quickstart left
        with flightlog.init(project=diabetes.PROJECT, name=f"ridge-{alpha}", dir=root,
                            quiet=True) as run:
            run.log("rmse", 60.0 - alpha)
    with flightlog.init(project=diabetes.PROJECT, name="ridge-0.5", dir=root,
                        quiet=True) as run:
        run.finish(exit_code=1)  # a crashed attempt is not a run to reuse
    diabetes.train(root)
    assert capsys.readouterr().out == (f"reusing 10 finished runs in {root / diabetes.PROJECT}"
                                       f" (--fresh trains all ten again, beside them)\n")
    assert len(list((root / diabetes.PROJECT).iterdir())) == 11
    assert diabetes.best_run(root).name == "ridge-1.0"
