"""Logs a step, waits until the runner has it, then SIGKILLs itself."""

import os
import signal
import time

import flightlog

run = flightlog.init(project="p")
run.log({"loss": 0.5})
run._writer.wait_written(time.monotonic())  # the record is in the runner's pipe
print("killing myself", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
