"""Says it is ready, then waits to be terminated (SIGTERM's default action)."""

import sys
import time

import flightlog

run = flightlog.init(project="p")
run.log({"loss": 0.5})
run._writer.wait_written(time.monotonic())  # the record is in the runner's pipe
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(9)  # never reached when the runner forwards SIGTERM
