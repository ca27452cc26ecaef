"""A training script for the runner tests: logs through flightlog.init, prints to both
streams, draws a progress bar 1000 times, and writes an output file after the others."""

import os
import sys

import flightlog

run = flightlog.init(project="ignored-under-the-runner", config={"lr": 0.1})
for epoch in range(3):
    run.log({"loss": 1.0 / (epoch + 1)})
    print(f"epoch {epoch}")
print("a warning on stderr", file=sys.stderr)
for i in range(1, 1001):
    sys.stderr.write(f"\rtraining {i}/1000")
sys.stderr.write("\n")
sys.stdout.buffer.write(b"binary \xff\xfe\x00 garbage\n")
os.makedirs("outputs", exist_ok=True)
with open("outputs/early.txt", "w") as f:
    f.write("early")
run.finish()
with open("outputs/late.txt", "w") as f:  # after the run finished: attached at exit
    f.write("late")
