"""Seed 003, option 2 (ScriptRunConfig) as `flightlog run`.

Azure:

    src = ScriptRunConfig(source_directory='./', script='train.py')
    run = exp.submit(src)
    run.wait_for_completion(show_output=True)

flightlog (what this script does, in a copy of examples/script_run/ under --workdir):

    cd script_run && flightlog run --project train-on-local -- python train.py

then reads the run back: the metrics the script logged through `Run.get_context()`, the
models it wrote to outputs/, the code snapshot (train.py and mylib.py, the "whole script
folder" Azure submits), the environment and the console.

    python examples/script_run.py [--workdir script-run-demo]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import flightlog

HERE = Path(__file__).resolve().parent / "script_run"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="script-run-demo")
    args = parser.parse_args()
    work = Path(args.workdir).resolve()
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(HERE, work, ignore=shutil.ignore_patterns("__pycache__", "outputs",
                                                             "flightlog"))
    flightlog_cli = [sys.executable, "-m", "flightlog.cli"]
    done = subprocess.run([*flightlog_cli, "run", "--project", "train-on-local",
                           "--system-interval", "1", "--", sys.executable, "train.py"],
                          cwd=work, check=False)
    if done.returncode != 0:
        print(f"the script failed with exit code {done.returncode}", file=sys.stderr)
        return done.returncode
    (run_dir,) = (work / "flightlog" / "train-on-local").iterdir()
    run = flightlog.open_run(run_dir)
    metrics = run.get_metrics()
    best = min(range(len(metrics["mse"])), key=metrics["mse"].__getitem__)
    print(f"\nrun {run.project}/{run.id}: {run.status}")
    print(f"best alpha {metrics['alpha'][best]:.2f} (mse {metrics['mse'][best]:.2f}) of "
          f"{len(metrics['alpha'])}")
    models = [n for n in run.get_file_names() if n.startswith("outputs/")]
    print(f"outputs attached: {len(models)} models, e.g. {models[0]}")
    print("code snapshot: " + ", ".join(f.path for f in run.code_files()))
    env = run.environment() or {}
    print(f"ran {' '.join(env.get('command', []))!r} on {env.get('host')} with Python "
          f"{(env.get('python') or {}).get('version')}, {env.get('packages')} packages")
    console = run.console()
    print(f"console: {len(console)} lines, last: {console[-1].text!r}")
    print(f"system metrics: {run.system_metrics().num_rows} samples")
    print(f"\n  flightlog show {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
