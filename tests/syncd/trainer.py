"""A training script for the sync tests (not collected by pytest).

``python trainer.py MODE ROOT PROJECT RUN_ID [ARGS...]``; it talks to the test through
stdout, one flushed line at a time. Step ``i`` logs ``{"i": i, "x": i / 2}`` plus WIDTH
random columns ``w0..``; every 7th step also ``run.log_metric("m", i)``.

- ``interactive``: ``init`` (``resume=True``), print ``ready``, then obey stdin lines:
  ``log K`` logs K more steps, flushes and prints ``logged TOTAL``; ``finish`` finishes
  and prints ``finished``; EOF or anything else leaves with ``os._exit`` (no finish).
- ``stream``: log N steps (ARGS ``N WIDTH SEGMENT_BYTES``), pausing 1 ms every 20 steps
  ("training"); print ``progress I`` every 1000 steps; finish; print
  ``done N MAX_LOG_SECONDS`` (the slowest ``run.log`` call).
"""

from __future__ import annotations

import os
import random
import sys
import time

import flightlog


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def step(run: flightlog.Run, i: int, width: int, rng: random.Random) -> float:
    """Log step ``i``; the seconds the ``log`` call took."""
    row = {"i": i, "x": i / 2, **{f"w{c}": rng.random() for c in range(width)}}
    start = time.perf_counter()
    run.log(row)
    took = time.perf_counter() - start
    if i % 7 == 0:
        run.log_metric("m", i)
    return took


def mode_interactive(root: str, project: str, run_id: str) -> None:
    run = flightlog.init(project=project, id=run_id, dir=root, resume=True,
                         flush_interval=0.02, config={"mode": "interactive"})
    rng = random.Random(0)
    total = run.step
    say("ready", total)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["log"]:
            for _ in range(int(words[1])):
                step(run, total, 0, rng)
                total += 1
            run.flush()
            say("logged", total)
        elif words == ["finish"]:
            run.finish()
            say("finished")
            return
        else:
            break
    os._exit(3)


def mode_stream(root: str, project: str, run_id: str, n: str, width: str,
                segment_bytes: str) -> None:
    run = flightlog.init(project=project, id=run_id, dir=root, flush_interval=0.02,
                         segment_bytes=int(segment_bytes))
    rng = random.Random(1)
    slowest = 0.0
    say("ready")
    for i in range(int(n)):
        slowest = max(slowest, step(run, i, int(width), rng))
        if i % 20 == 19:
            time.sleep(0.001)  # the "training" between steps
        if i % 1000 == 999:
            say("progress", i + 1)
    run.finish()
    say("done", n, f"{slowest:.6f}")


MODES = {"interactive": mode_interactive, "stream": mode_stream}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
