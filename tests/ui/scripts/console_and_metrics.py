"""Run by ``flightlog run`` in tests/ui/test_execution_ui.py: both streams, a progress bar
and a metric, lasting long enough for a few system samples."""

import sys
import time

import flightlog

run = flightlog.init(project="ignored-under-the-runner")
for step in range(5):
    run.log({"loss": 1.0 / (step + 1)})
    print(f"epoch {step} done", flush=True)
for pct in range(0, 101, 25):
    sys.stdout.write(f"\rprogress {pct}%")
    sys.stdout.flush()
print()
print("warning: to stderr", file=sys.stderr, flush=True)
# The workload: a second of work, so the runner (--system-interval 0.2) takes samples.
deadline = time.monotonic() + 1.0
while time.monotonic() < deadline:
    sum(i * i for i in range(10_000))
run.finish()
