"""The ``flightlog run`` subcommand and what ``flightlog show`` prints of a run's
console and environment. Parsing only: the runner is imported when the command runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

CONSOLE_TAIL = 10


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a script as a flightlog run: code snapshot, environment, console, "
        "system metrics, outputs/ and exit status (the script's flightlog.init() logs into it)",
        usage="flightlog run [--project P] [--name N] [--snapshot DIR | --no-snapshot] "
              "[--outputs DIR] [--system-interval S] -- COMMAND [ARGS...]")
    p.add_argument("--project", help="default: the script's name (train.py -> train)")
    p.add_argument("--name", help="display name (default: the run id)")
    p.add_argument("--id", help="run id (default: 8 random characters)")
    p.add_argument("--dir", metavar="ROOT", help="root of run directories (default "
                   "$FLIGHTLOG_DIR, else ./flightlog)")
    p.add_argument("--snapshot", metavar="DIR", help="source directory of the code snapshot "
                   "(default: the current directory; .gitignore and .flightlogignore apply)")
    p.add_argument("--no-snapshot", action="store_true", help="take no code snapshot")
    p.add_argument("--outputs", metavar="DIR", default="outputs",
                   help="directory attached as outputs/... as files appear (default: outputs)")
    p.add_argument("--system-interval", type=float, default=15.0, metavar="S",
                   help="seconds between system metric samples; 0: none (default 15)")
    p.add_argument("--quiet", action="store_true", help="no flightlog lines on stderr")
    p.add_argument("command_argv", nargs=argparse.REMAINDER, metavar="COMMAND")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from .supervise import run_script

    command = list(args.command_argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("flightlog run: give the command after --: flightlog run -- python train.py",
              file=sys.stderr)
        return 2
    outcome = run_script(command, project=args.project, name=args.name, dir=args.dir,
                         id=args.id, snapshot_dir=args.snapshot,
                         take_snapshot=not args.no_snapshot, outputs=args.outputs,
                         system_interval=args.system_interval, quiet=args.quiet)
    return outcome.exit_code


def describe(run: Any) -> list[str]:
    """``flightlog show``'s lines about what the run ran (nothing for a run without)."""
    lines: list[str] = []
    env = run.environment()
    if env is not None:
        python = env.get("python") or {}
        git = env.get("git") or {}
        job = env.get("job") or {}
        gpu = env.get("gpu") or {}
        lines.append("ran:      " + " ".join(str(a) for a in env.get("command") or []))
        lines.append(f"  in {env.get('cwd')} on {env.get('host')} as {env.get('user')}"
                     + (f", Python {python.get('version')}" if python else "")
                     + (f", {env.get('packages')} packages" if env.get("packages") else ""))
        if git:
            lines.append(f"  git {str(git.get('commit'))[:12]} on {git.get('branch')}"
                         + (" (uncommitted changes: code/diff.patch)" if git.get("dirty") else "")
                         + (f" from {git.get('remote')}" if git.get("remote") else ""))
        if gpu:
            lines.append(f"  GPUs: {', '.join(gpu.get('devices') or [])} (driver "
                         f"{gpu.get('driver')}, CUDA {gpu.get('cuda')})")
        if job:
            lines.append(f"  {job.get('scheduler')} job {job.get('id')}")
    if run.state.execution.exit_signal:
        lines.append(f"ended:    killed by {run.state.execution.exit_signal}")
    code = run.state.execution.code
    if code is not None:
        lines.append(f"code:     {code.files} files, {code.bytes} bytes (snapshot "
                     f"{code.sha256[:12]})")
    system = run.state.execution.system
    if system:
        lines.append(f"system:   {len(system)} samples of {len(system[-1][1])} metrics")
    console = run.console()
    if console:
        lines.append(f"console (last {min(CONSOLE_TAIL, len(console))} of {len(console)} "
                     f"lines):")
        lines.extend(f"  {'!' if ln.stream == 'stderr' else ' '} {ln.text[:200]}"
                     for ln in console[-CONSOLE_TAIL:])
    return lines
