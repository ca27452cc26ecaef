"""What the ``flightlog`` command says while it works and when it fails (issue 13): real
``flightlog`` subprocesses, a real server on 127.0.0.1; exact text where it matters."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from syncd_helpers import Proc, Server, child_env, flightlog_cmd, free_port, make_run, run_cli
from waiting import wait_until

import flightlog


def _status_rows(output: str) -> dict[str, list[str]]:
    lines = output.strip().splitlines()
    assert lines[0].split()[:6] == ["RUN", "LOCAL", "ACKED", "LAG", "STEPS", "FILES"], output
    return {line.split()[0]: line.split() for line in lines[1:]}


# ------------------------------------------------------------ status tells the truth


def test_status_never_shows_an_acknowledgement_the_server_refused_to_confirm(
        start_server: Callable[..., Server], root: Path, state: Path) -> None:
    server = start_server(token="s3cret")
    make_run(root, "secret", 300)
    good = child_env(FLIGHTLOG_TOKEN="s3cret")
    synced = run_cli("sync", root, "--server", server.url, "--state", state, env=good)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    confirmed = run_cli("status", root, "--server", server.url, "--state", state, env=good)
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    row = _status_rows(confirmed.stdout)["p/secret"]
    assert row[2] == row[1] and row[3] == "0" and row[4] == "300", confirmed.stdout

    # A wrong token, then none: the last remembered figure is not shown as current.
    for token_args in (["--token", "wrong"], []):
        refused = run_cli("status", root, "--server", server.url, "--state", state,
                          *token_args)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        row = _status_rows(refused.stdout)["p/secret"]
        assert row[2:4] == ["?", "?"], refused.stdout
        assert "HTTP 401" in refused.stdout, refused.stdout
        assert "--token" in refused.stdout and "FLIGHTLOG_TOKEN" in refused.stdout

    # A sync with the wrong token says how to give one, and status without --server
    # (answering from the positions kept) no longer vouches for the old figure.
    rejected = run_cli("sync", root, "--server", server.url, "--state", state,
                       "--token", "wrong")
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert "HTTP 401" in rejected.stdout and "--token" in rejected.stdout
    assert "FLIGHTLOG_TOKEN" in rejected.stdout, rejected.stdout
    offline = run_cli("status", root, "--state", state)
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert _status_rows(offline.stdout)["p/secret"][2:4] == ["?", "?"], offline.stdout

    # The Python API's refusal says the same.
    with server.api(token="wrong") as api, pytest.raises(flightlog.ServerRejected) as caught:
        api.runs("p")
    assert "HTTP 401" in str(caught.value) and "FLIGHTLOG_TOKEN" in str(caught.value)
    assert "token=" in str(caught.value)

    # An unreachable server: unknown too.
    gone = run_cli("status", root, "--server", f"http://127.0.0.1:{free_port()}",
                   "--state", state, env=good)
    assert _status_rows(gone.stdout)["p/secret"][2:4] == ["?", "?"], gone.stdout
    assert "ConnectError" in gone.stdout


# ------------------------------------------------------------ sync says what it does


def test_sync_says_at_once_that_it_cannot_connect_and_until_when_it_retries(
        root: Path, state: Path, procs: list[Proc]) -> None:
    make_run(root, "lonely", 5)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = Proc([*flightlog_cmd(), "sync", str(root), "--server", url, "--state", str(state),
                 "--retry-for", "600"])
    procs.append(proc)
    # Long before the 600 s of retrying are over (the wait is bounded well below them).
    line = wait_until(lambda: next(iter(proc.err), None), timeout=120,
                      what="the cannot-connect line")
    assert proc.alive(), proc.text()
    assert re.fullmatch(
        rf"flightlog sync: cannot connect to the server \({re.escape(url)}: ConnectError: "
        r".*\); retrying until \d\d:\d\d:\d\d \(--retry-for 600 s; give --retry-for "
        r"SECONDS to change that\)", line), line
    proc.kill()
    assert len(proc.err) == 1, proc.text()  # one line, not one per attempt


def test_sync_and_status_count_steps_and_files_not_only_records(
        server: Server, root: Path, state: Path, tmp_path: Path) -> None:
    attached = tmp_path / "model.bin"
    attached.write_bytes(b"weights")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    make_run(root, "counted", 300, files={"model.bin": attached, "notes.txt": notes})
    synced = run_cli("sync", root, "--server", server.url, "--state", state)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert re.fullmatch(r"ok +p/counted  300 steps, 2 files, \d+ records acknowledged\n",
                        synced.stdout), synced.stdout
    status = run_cli("status", root, "--server", server.url, "--state", state)
    assert _status_rows(status.stdout)["p/counted"][4:6] == ["300", "2"], status.stdout

    # Not delivered: the steps and files are the run's, not claimed as shipped.
    down = run_cli("sync", root, "--server", f"http://127.0.0.1:{free_port()}",
                   "--state", tmp_path / "other", "--retry-for", "0.5")
    assert down.returncode == 1
    assert re.match(r"not acknowledged +p/counted  of 300 steps, 2 files: 0 records "
                    r"acknowledged  \(", down.stdout), down.stdout


# ------------------------------------------------------------ syncd says what it does


def _syncd(procs: list[Proc], root: Path, url: str, state: Path, *extra: str) -> Proc:
    proc = Proc([*flightlog_cmd(), "syncd", str(root), "--server", url, "--state", str(state),
                 *extra])
    procs.append(proc)
    return proc


def _wait_err(proc: Proc, needle: str) -> str:
    return str(wait_until(lambda: next((x for x in proc.err if needle in x), None),
                          timeout=120, what=f"{needle!r} from syncd:\n{proc.text()}"))


def test_syncd_says_one_line_per_run_found_failing_recovering_and_shipped(
        tmp_path: Path, root: Path, state: Path, procs: list[Proc]) -> None:
    make_run(root, "big", 3000, width=8, segment_bytes=16_384)
    server = Server(tmp_path / "data", procs)  # not started yet: nothing listens
    daemon = _syncd(procs, root, server.url, state)
    name = "flightlog syncd: p/big"
    assert _wait_err(daemon, "found at") == f"{name}: found at {root / 'p' / 'big'}"
    failing = _wait_err(daemon, "ConnectError")
    assert failing.startswith(f"{name}: {server.url}: ConnectError: "), failing
    server.start()
    shipped = _wait_err(daemon, "finished shipping")
    assert re.fullmatch(rf"{name}: finished shipping: all \d+ records acknowledged, the "
                        r"writer has finished", shipped), shipped
    assert daemon.terminate() == 0
    # One line each, none per batch (the run took several).
    assert daemon.err == [f"flightlog syncd: shipping {root} to {server.url}",
                          f"{name}: found at {root / 'p' / 'big'}", failing,
                          f"{name}: shipping again", shipped], daemon.text()


def test_syncd_verbose_adds_a_line_per_shipping_round(
        server: Server, root: Path, state: Path, procs: list[Proc]) -> None:
    make_run(root, "chatty", 3000, width=8, segment_bytes=16_384)
    daemon = _syncd(procs, root, server.url, state, "--verbose")
    _wait_err(daemon, "finished shipping")
    assert daemon.terminate() == 0
    sent = [x for x in daemon.err if re.fullmatch(
        r"flightlog syncd: p/chatty: sent; \d+ records acknowledged", x)]
    assert sent, daemon.text()


# ------------------------------------------------------------ flightlog.init says where

_TRAIN = """
import flightlog, sys
run = flightlog.init(project="p", id="r1", dir=sys.argv[1], quiet=sys.argv[2] == "quiet")
for i in range(300):
    run.log({"loss": 1 / (i + 1)})
run.finish()
"""


def test_init_says_where_the_run_goes_and_finish_what_was_logged(tmp_path: Path) -> None:
    import subprocess
    import sys

    def train(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-c", _TRAIN, *args], env=child_env(**env),
                                cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                check=False)
        assert result.returncode == 0, result.stderr
        return result

    loud = train("runs", "loud")
    assert loud.stdout == ""
    run_dir = Path("runs") / "p" / "r1"
    assert loud.stderr.splitlines() == [
        f"flightlog: run p/r1 logging to {run_dir} (local only: `flightlog sync {run_dir}` "
        f"ships it to a server, or a `flightlog syncd` following its root)",
        f"flightlog: run p/r1 finished: steps 0..299 logged in {run_dir}"]
    assert train(str(tmp_path / "a"), "loud", FLIGHTLOG_SILENT="1").stderr == ""
    assert train(str(tmp_path / "b"), "quiet").stderr == ""


# ------------------------------------------------------------ rough edges


def _cli(*args: object, cwd: Path, **env: str) -> tuple[int, str, str]:
    import subprocess

    result = subprocess.run([*flightlog_cmd(), *map(str, args)], env=child_env(**env),
                            cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stdout, result.stderr


def test_ls_without_a_root_names_the_default_it_looked_at(tmp_path: Path) -> None:
    assert _cli("ls", cwd=tmp_path) == (
        2, "", "flightlog ls: no such directory: ./flightlog (the default without ROOT when "
               "$FLIGHTLOG_DIR is not set)\n")
    missing = tmp_path / "nowhere"
    assert _cli("ls", cwd=tmp_path, FLIGHTLOG_DIR=str(missing)) == (
        2, "", f"flightlog ls: no such directory: {missing} ($FLIGHTLOG_DIR, the default "
               f"without ROOT)\n")
    assert _cli("ls", "given", cwd=tmp_path) == (
        2, "", "flightlog ls: no such directory: given\n")


def test_show_on_a_missing_path_says_no_such_directory(tmp_path: Path) -> None:
    assert _cli("show", "runs/p/nope", cwd=tmp_path) == (
        2, "", "flightlog show: no such directory: runs/p/nope\n")


def test_a_misspelt_command_gets_did_you_mean(tmp_path: Path) -> None:
    code, out, err = _cli("stauts", "runs", cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == "flightlog: unknown command 'stauts'; did you mean 'status'?"
    code, _, err = _cli("sycn", cwd=tmp_path)
    assert err.splitlines()[-1] == ("flightlog: unknown command 'sycn'; did you mean 'sync' "
                                    "or 'syncd'?")
    code, _, err = _cli("xyzzy", cwd=tmp_path)  # nothing near: argparse's own list
    assert code == 2 and "invalid choice: 'xyzzy'" in err and "did you mean" not in err


def test_server_help_explains_host_and_port(tmp_path: Path) -> None:
    code, out, _ = _cli("server", "--help", cwd=tmp_path)
    assert code == 0
    flat = " ".join(out.split())
    assert "--host HOST address to listen on (default 127.0.0.1" in flat, out
    assert "--port PORT port to listen on (default 8080)" in flat, out


def test_every_command_help_shows_each_option_default(tmp_path: Path) -> None:
    import argparse

    from flightlog.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    checked = 0
    for name, sub in commands.items():
        code, out, _ = _cli(name, "--help", cwd=tmp_path)
        assert code == 0, name
        flat = " ".join(out.split())
        for action in sub._actions:
            default = action.default
            if (not action.option_strings or default is None or default is False
                    or default == [] or default == argparse.SUPPRESS
                    or isinstance(action, argparse._HelpAction)):
                continue
            forms = {str(default)} | ({f"{default:g}"} if isinstance(default, float) else set())
            shown = [f"default {f}" for f in forms] + [f"default: {f}" for f in forms]
            assert any(s in flat for s in shown), (name, action.option_strings, out)
            checked += 1
    assert checked >= 8  # --host, --port, --timeout x3, --retry-for, --output x2, ...
