"""A training script for the subprocess tests (not collected by pytest).

Run as ``python child_writer.py MODE ROOT PROJECT RUN_ID [ARGS...]``. It talks to the
test through stdout, one line at a time, flushed after every line:

- ``kill``: ``init``, print ``ready <monotonic>``, then log forever (up to ~20k steps/s);
  after each step print ``<i> <monotonic time after the log call returned>``. The test
  SIGKILLs it.
  ARGS: ``SEGMENT_BYTES WIDTH`` (WIDTH extra random columns per row: heavy logging).
- ``maxrate``: ``init``, print ``ready <monotonic>``, then log ``{"x": float(i), "y": i * 2.0}``
  in a tight loop (no pause: as fast as ``run.log`` returns); every 200 steps append
  ``<i> <monotonic time after the log call returned>`` to PROGRESS with one ``write(2)`` on
  an ``O_APPEND`` descriptor (stdout would slow the loop). The test SIGKILLs it.
  ARGS: ``PROGRESS [WIDTH]``: WIDTH (default 0) more float columns ``w0..`` per row, each
  ``float(i)`` (a wide row costs the writer more than the logger: without backpressure
  the writer falls seconds behind).
- ``resume``: ``init(resume=True)``, log steps ``i = START .. START+COUNT-1`` the same way,
  finish, print ``done <json>``. ARGS: ``START COUNT``.
- ``hold``: ``init`` (or resume), log one row, print ``ready``, then wait for a line on stdin:
  ``finish`` finishes the run; ``exit`` ends the script without ``finish()``; ``raise``
  ends it with an unhandled exception; anything else (or EOF) ``os._exit``s.
- ``second``: try to ``init(resume=True)`` a run another process holds; print
  ``raised <ExceptionClass> <message>`` (or ``started``) and exit.
- ``diskfull``: the disk-full scenario of test_io_errors.py (RLIMIT_FSIZE). ARGS: ``LIMIT``.

The i-th step of ``kill``/``resume`` logs ``{"i": i, "x": i * 0.5}``; every 7th step also
``run.log("m", i)`` (Azure form, after the row) and every 50th ``run.log_row("t", i=i)``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import resource
import signal
import sys
import threading
import time

import flightlog


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def log_step(run: flightlog.Run, i: int, width: int, rng: random.Random) -> None:
    row: dict[str, float | int] = {"i": i, "x": i * 0.5}
    for c in range(width):
        row[f"w{c}"] = rng.random()
    run.log(row)
    if i % 7 == 0:
        run.log("m", i)
    if i % 50 == 0:
        run.log_row("t", i=i)


def mode_kill(root: str, project: str, run_id: str, segment_bytes: str, width: str) -> None:
    run = flightlog.init(project=project, id=run_id, name="kill-test", dir=root,
                         config={"lr": 0.01, "layers": [64, 32]}, tags=["kill"],
                         flush_interval=0.1, segment_bytes=int(segment_bytes))
    rng = random.Random(0)
    say("ready", repr(time.monotonic()))
    i = 0
    while True:
        log_step(run, i, int(width), rng)
        say(i, repr(time.monotonic()))
        i += 1
        if i % 20 == 0:
            time.sleep(0.001)  # "training": at most ~20k steps/s keeps the test's data small


def mode_maxrate(root: str, project: str, run_id: str, progress: str, width: str = "0") -> None:
    import os

    run = flightlog.init(project=project, id=run_id, name="maxrate", dir=root,
                         flush_interval=0.1)
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    filler = tuple(f"w{j}" for j in range(int(width)))
    say("ready", repr(time.monotonic()))
    i = 0
    while True:
        if filler:
            run.log({"x": float(i), "y": i * 2.0, **dict.fromkeys(filler, float(i))})
        else:
            run.log({"x": float(i), "y": i * 2.0})
        if i % 200 == 0:
            os.write(fd, f"{i} {time.monotonic()!r}\n".encode())
        i += 1


def mode_media(root: str, project: str, run_id: str) -> None:
    """Logs an image and a chart every step and a table of image cells every 5th, for
    the SIGKILL test of attached files (a record never names a file that is not there)."""
    import numpy as np

    run = flightlog.init(project=project, id=run_id, dir=root, flush_interval=0.1)
    say("ready", repr(time.monotonic()))
    i = 0
    while True:
        pixels = np.full((8, 8), i % 256, np.uint8)
        row: dict[str, object] = {
            "loss": 1.0 / (i + 1), "img": flightlog.Image(pixels, caption=str(i)),
            "curve": flightlog.Chart({"x": [0, i]}, {"mark": "point", "encoding": {
                "x": {"field": "x", "type": "quantitative"}}})}
        if i % 5 == 0:
            row["samples"] = flightlog.Table(columns=["i", "img"],
                                             data=[[i, flightlog.Image(pixels)]])
        run.log(row)
        say(i, repr(time.monotonic()))
        i += 1


def mode_resume(root: str, project: str, run_id: str, start: str, count: str) -> None:
    run = flightlog.init(project=project, id=run_id, dir=root, resume="must",
                         flush_interval=0.1)
    first_step = run.step
    rng = random.Random(1)
    for i in range(int(start), int(start) + int(count)):
        log_step(run, i, 0, rng)
        say(i, repr(time.monotonic()))
    info = {"name": run.name, "config": dict(run.config), "first_step": first_step,
            "last_step": run.step - 1}
    run.finish()
    say("done", json.dumps(info))


def mode_hold(root: str, project: str, run_id: str, resume: str = "0") -> None:
    run = flightlog.init(project=project, id=run_id, dir=root, name="holder",
                         resume=resume == "1", flush_interval=0.05)
    run.log({"held": 1})
    run.flush()
    say("ready")
    line = sys.stdin.readline().strip()
    if line == "finish":
        run.finish()
        say("finished")
    elif line == "exit":
        say("exiting")  # the script ends without finish(): the atexit hook finishes it
    elif line == "raise":
        say("raising")
        raise RuntimeError("training blew up")  # unhandled: finished with exit code 1
    else:
        import os

        os._exit(3)  # leaves without finishing: no atexit hook runs


def mode_second(root: str, project: str, run_id: str) -> None:
    try:
        run = flightlog.init(project=project, id=run_id, dir=root, resume=True)
    except flightlog.FlightlogError as exc:
        say("raised", type(exc).__name__, str(exc).replace("\n", " "))
        return
    run.finish()
    say("started")


class _WarningCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.failing = 0
        self.recovered = 0
        self.failed_event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "cannot write" in message:
            self.failing += 1
            self.failed_event.set()
        elif "works again" in message:
            self.recovered += 1


def mode_diskfull(root: str, project: str, run_id: str, limit: str) -> None:
    from flightlog.writer.background import BackgroundWriter

    # Small backlog, so that records are dropped within a second of failing writes;
    # short backoff, so that the writer retries soon after the disk works again.
    BackgroundWriter.MAX_BACKLOG_BYTES = 24 * 1024
    BackgroundWriter.MAX_RETRY_DELAY = 0.2
    counter = _WarningCounter()
    logging.getLogger("flightlog").addHandler(counter)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    run = flightlog.init(project=project, id=run_id, dir=root, flush_interval=0.05)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), hard))
    logged: list[int] = []
    metrics: list[int] = []

    def step() -> None:
        i = len(logged)
        # sin(i) * 1e6 hardly compresses, so the file grows by ~20 bytes per row.
        run.log({"i": i, "noise": math.sin(i) * 1e6})
        logged.append(i)
        if i % 10 == 0:
            run.log("m", i)
            metrics.append(i)

    def wait_for(condition: object, what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():  # type: ignore[operator]
            for _ in range(100):
                step()
            run.flush()
            counter.failed_event.wait(0.01)
            if time.monotonic() > deadline:
                say("timeout", what)
                sys.exit(2)

    raised = None
    try:
        # 1. Log until a write fails (EFBIG): the warning arrives once.
        wait_for(counter.failed_event.is_set, "first failed write")
        # 2. Keep logging while writes fail, until the writer had to drop records
        #    (private counter, read only to know when to stop).
        wait_for(lambda: run._writer._dropped_unreported > 0, "dropped records")
        warnings_while_failing = counter.failing
        # 3. The disk works again; go on logging until the writer noticed (rows logged
        #    before it retried may still be dropped: its backlog is full until then).
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        wait_for(lambda: counter.recovered > 0, "recovery")
        # 4. Everything from here on must be written. (The default backlog again: the
        #    small one could not even hold what 500 steps queue within one flush interval.)
        BackgroundWriter.MAX_BACKLOG_BYTES = 64 * 1024 * 1024
        after = len(logged)
        for _ in range(500):
            step()
        run.summary["after"] = "recovered"
        run.finish()
    except Exception as exc:  # must never happen: I/O errors never reach the loop
        raised = f"{type(exc).__name__}: {exc}"
    say("result", json.dumps({
        "raised": raised, "logged": len(logged), "metrics": metrics,
        "warnings_while_failing": warnings_while_failing if raised is None else None,
        "failing_warnings": counter.failing, "recovered_warnings": counter.recovered,
        "dropped": run.dropped,
        "after": after if raised is None else None}))


MODES = {"kill": mode_kill, "maxrate": mode_maxrate, "media": mode_media,
         "resume": mode_resume, "hold": mode_hold, "second": mode_second,
         "diskfull": mode_diskfull}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
