"""The environment a script ran in (SPEC.md §19.3): command, directory, host, user,
interpreter, packages, git state, GPUs and scheduler job, as the ``environment``
record's ``facts``; the git diff and the package list also as attached files.

Secrets never enter it: environment variables are taken by an allow-list of names
(:data:`ALLOWED_ENV`), and a git remote's user name and password are stripped.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Environment variables recorded (exact names; nothing else is ever read into a run).
ALLOWED_ENV = (
    "SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST", "SLURM_NNODES", "SLURM_NTASKS",
    "SLURM_PROCID", "SLURM_LOCALID", "SLURM_CPUS_PER_TASK", "SLURM_RESTART_COUNT",
    "SLURM_CLUSTER_NAME", "PBS_JOBID", "PBS_JOBNAME", "PBS_QUEUE", "PBS_ARRAY_INDEX",
    "LSB_JOBID", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
    "MKL_NUM_THREADS", "PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "WORLD_SIZE", "RANK",
    "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "LANG",
    "TZ",
)
MAX_PATCH_BYTES = 16 * 1024 * 1024
_GIT_TIMEOUT = 20.0
_CREDENTIALS = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)

# Asked of the script's interpreter: its version and installed distributions (what
# ``pip freeze`` lists, without importing pip, which takes a second).
_PYTHON_PROBE = (
    "import json, sys, platform, importlib.metadata as m\n"
    "pk = sorted({f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()\n"
    "             if d.metadata['Name']}, key=str.lower)\n"
    "print(json.dumps({'version': platform.python_version(), 'implementation':\n"
    "    platform.python_implementation(), 'executable': sys.executable, 'packages': pk}))\n"
)


def strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` → ``https://host/x``; scp-style ``git@host:x`` kept
    (its user is the transport's, not a secret)."""
    return _CREDENTIALS.sub(r"\1", url.strip())


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                              timeout=_GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def git_state(directory: Path) -> tuple[dict[str, Any] | None, bytes]:
    """(commit, branch, remote, dirty, root) or None outside a work tree; and the patch
    of uncommitted changes against HEAD (tracked files, ``git diff HEAD --binary``)."""
    if shutil.which("git") is None or _git(directory, "rev-parse", "--is-inside-work-tree") is None:
        return None, b""
    commit = (_git(directory, "rev-parse", "HEAD") or "").strip() or None
    branch = (_git(directory, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    remote = (_git(directory, "remote", "get-url", "origin") or "").strip()
    status = _git(directory, "status", "--porcelain", "--untracked-files=no") or ""
    root = (_git(directory, "rev-parse", "--show-toplevel") or "").strip()
    patch = b""
    if commit is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            patch = subprocess.run(["git", "-C", str(directory), "diff", "HEAD", "--binary"],
                                   capture_output=True, timeout=_GIT_TIMEOUT,
                                   check=False).stdout[:MAX_PATCH_BYTES]
    facts = {"commit": commit, "branch": branch,
             "remote": strip_credentials(remote) if remote else None,
             "dirty": bool(status.strip()), "root": root or None}
    return facts, patch


def python_of(command: list[str]) -> dict[str, Any] | None:
    """The interpreter the command runs, asked directly, when the command is a Python
    (``python``, ``python3.11``, a venv's python); else None."""
    exe = shutil.which(command[0]) if command else None
    if exe is None or not re.fullmatch(r"python[0-9.]*", Path(command[0]).name):
        return None
    try:
        done = subprocess.run([exe, "-I", "-c", _PYTHON_PROBE], capture_output=True,
                              timeout=60, check=False)
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return found if isinstance(found, dict) else None


def scheduler_job(env: dict[str, str]) -> dict[str, str] | None:
    if "SLURM_JOB_ID" in env:
        job = {"scheduler": "slurm", "id": env["SLURM_JOB_ID"]}
        if "SLURM_ARRAY_TASK_ID" in env:
            job["array_task"] = env["SLURM_ARRAY_TASK_ID"]
        return job
    if "PBS_JOBID" in env:
        return {"scheduler": "pbs", "id": env["PBS_JOBID"]}
    if "LSB_JOBID" in env:
        return {"scheduler": "lsf", "id": env["LSB_JOBID"]}
    return None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


def collect(command: list[str], cwd: Path, snapshot_dir: Path | None,
            gpus: dict[str, Any] | None) -> tuple[dict[str, Any], bytes, list[str]]:
    """(facts, git patch, package list) for the ``environment`` record."""
    env = {name: os.environ[name] for name in ALLOWED_ENV if name in os.environ}
    python = python_of(command)
    packages: list[str] = list(python.pop("packages", [])) if python else []
    git, patch = git_state(snapshot_dir or cwd)
    facts: dict[str, Any] = {
        "command": list(command), "cwd": str(cwd), "host": socket.gethostname(),
        "user": _user(), "os": platform.platform(), "runner_python": sys.version.split()[0],
        "python": python, "git": git, "gpu": gpus, "job": scheduler_job(env), "env": env,
        "packages": len(packages)}
    return facts, patch, packages
