"""Logs through Azure's Run.get_context(), then exits 3."""

import sys

from flightlog.azureml import Run

run = Run.get_context()
run.log("accuracy", 0.5)
print("about to fail")
sys.exit(3)
