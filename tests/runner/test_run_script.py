"""``flightlog run`` with real child processes: one run per script, the console, outputs,
snapshot, environment and exit status (SPEC.md §19, README "Running scripts")."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from waiting import wait_until

import flightlog
import flightlog.cli
from flightlog.runner import run_script

SCRIPTS = Path(__file__).parent / "scripts"
FLIGHTLOG = [sys.executable, "-m", "flightlog.cli"]


def _only_run(root: Path, project: str) -> flightlog.format.LocalRun:
    runs = list((root / project).iterdir())
    assert len(runs) == 1, f"one run expected, found {runs}"  # never two runs
    return flightlog.open_run(runs[0])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("FLIGHTLOG_RUN_DIR", "FLIGHTLOG_RUNNER_FD", "FLIGHTLOG_SILENT"):
        env.pop(name, None)
    return env


def test_script_logs_into_the_runners_run_with_console_outputs_and_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text((SCRIPTS / "train.py").read_text())
    (work / ".flightlogignore").write_text("data/\n")
    (work / "data").mkdir()
    (work / "data" / "big.bin").write_bytes(b"x" * 1000)
    monkeypatch.chdir(work)
    outcome = run_script([sys.executable, "train.py"], project="demo", dir=tmp_path / "runs",
                         system_interval=0.2, tee=False, quiet=True)
    assert outcome.exit_code == 0 and outcome.signal is None
    run = _only_run(tmp_path / "runs", "demo")
    assert run.status == "finished" and run.exit_code == 0
    # The script's init attached: its history and config are in the runner's run.
    assert run.history().column("loss").to_pylist() == [1.0, 0.5, 1.0 / 3]
    assert run.config["lr"] == 0.1
    console = run.console()
    stdout = [ln.text for ln in console if ln.stream == "stdout"]
    stderr = [ln.text for ln in console if ln.stream == "stderr"]
    assert stdout[:3] == ["epoch 0", "epoch 1", "epoch 2"]
    assert stdout[3] == "binary \ufffd\ufffd garbage"  # invalid UTF-8 replaced, NUL removed
    # 1000 redraws of the bar are its final state, not 1000 lines.
    assert stderr == ["a warning on stderr", "training 1000/1000"]
    assert all(a.time <= b.time for a, b in itertools.pairwise(console))
    files = run.get_file_names()
    assert {"outputs/early.txt", "outputs/late.txt"} <= set(files)
    assert run.download_file("outputs/late.txt", tmp_path / "late").read_text() == "late"
    snapshot = {f.path for f in run.code_files()}
    assert "train.py" in snapshot and ".flightlogignore" in snapshot
    assert not any(p.startswith(("data/", "outputs/", "runs/")) for p in snapshot)
    restored = run.restore_code(tmp_path / "restored")
    assert (tmp_path / "restored" / "train.py").read_text() == (work / "train.py").read_text()
    assert len(restored) == len(snapshot)
    env = run.environment()
    assert env is not None and env["command"] == [sys.executable, "train.py"]
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["cwd"] == str(work)
    system = run.system_metrics()
    assert system.num_rows >= 1 and "system/proc.memory.rssMB" in system.column_names
    assert run.findings == [] and run.state.unknown_records == 0
    # The run page and the offline report draw the same (flightlog/report.py).
    from flightlog.report import run_data

    shown = run_data(run)["execution"]
    first = console[0]
    assert shown["console"]["lines"][0] == {"t": first.time, "s": first.stream, "x": first.text}
    assert "system/proc.memory.rssMB" in shown["system"]
    assert shown["environment"]["command"] == [sys.executable, "train.py"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_exit_code_3_in_a_dirty_git_repo_via_the_cli(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "fail.py").write_text((SCRIPTS / "fail.py").read_text())
    (repo / ".gitignore").write_text("*.ckpt\nflightlog/\n")
    (repo / "model.ckpt").write_bytes(b"weights")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", "https://alice:s3cret-token@example.com/team/repo.git")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    with open(repo / "fail.py", "a") as f:
        f.write("# an uncommitted change\n")
    done = subprocess.run([*FLIGHTLOG, "run", "--project", "azure", "--system-interval", "0",
                           "--", sys.executable, "fail.py"], cwd=repo, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "about to fail" in done.stdout  # tee'd to the terminal unchanged
    run = _only_run(repo / "flightlog", "azure")
    assert run.status == "crashed" and run.exit_code == 3
    assert run.get_metrics()["accuracy"] == 0.5  # Run.get_context() attached
    git = run.environment()["git"]  # type: ignore[index]
    assert git["dirty"] is True and git["branch"] == "main" and len(git["commit"]) == 40
    assert git["remote"] == "https://example.com/team/repo.git"  # credentials stripped
    assert "s3cret" not in str(run.environment())
    patch = run.download_file("code/diff.patch", tmp_path / "diff.patch").read_text()
    assert "+# an uncommitted change" in patch
    assert {f.path for f in run.code_files()} == {".gitignore", "fail.py"}
    assert run.system_metrics().num_rows == 0  # --system-interval 0
    assert flightlog.cli.main(["show", str(run.dir)]) == 0
    shown = capsys.readouterr().out
    assert "about to fail" in shown and "uncommitted changes" in shown


def test_child_killed_by_sigkill_is_crashed_with_its_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    outcome = run_script([sys.executable, str(SCRIPTS / "killed.py")], project="k",
                         dir=tmp_path / "runs", take_snapshot=False, system_interval=0,
                         tee=False, quiet=True)
    assert outcome.exit_code == 128 + signal.SIGKILL and outcome.signal == "SIGKILL"
    run = _only_run(tmp_path / "runs", "k")
    assert run.status == "crashed" and run.exit_code == 137
    assert run.state.execution.exit_signal == "SIGKILL"
    assert run.history().column("loss").to_pylist() == [0.5]  # sent before the kill
    assert [ln.text for ln in run.console()] == ["killing myself"]


def test_sigterm_to_the_runner_reaches_the_script(tmp_path: Path) -> None:
    proc = subprocess.Popen([*FLIGHTLOG, "run", "--project", "t", "--no-snapshot",
                             "--system-interval", "0", "--", sys.executable,
                             str(SCRIPTS / "wait_for_signal.py")], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        lines.extend(line.rstrip("\n") for line in proc.stdout)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        wait_until(lambda: "ready" in lines, 60, "the script's ready line")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    reader.join(10)
    assert proc.stdout is not None
    proc.stdout.close()
    run = _only_run(tmp_path / "flightlog", "t")
    assert run.status == "crashed" and run.exit_code == 143
    assert run.state.execution.exit_signal == "SIGTERM"  # the script died of it, not 9
    assert run.history().num_rows == 1
