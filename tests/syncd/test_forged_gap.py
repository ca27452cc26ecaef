"""A forged corruption gap cannot make the real client lose records silently.

Anyone who can post frames (no token, any token holder, a CSRF) used to send
``allow_gap=true`` with one frame far ahead: the run's high-water mark jumped, the real
client's records below it were skipped as "already committed" and ``flightlog sync`` exited
0 with data lost. Now a gap must be declared as exact ranges (``gap=FIRST-LAST``), with the
frames past it; the server keeps it visible, and the real client, which knows what its own
log lost, refuses a mark it did not earn."""

from __future__ import annotations

from pathlib import Path

import httpx
from flightlog.format._framing import Frame, encode_frame
from flightlog.format.segment import SegmentTail, list_segments
from syncd_helpers import Server, assert_exact, make_run, run_cli


def _frames(run_dir: Path) -> list[Frame]:
    return SegmentTail(list_segments(run_dir)[0][1]).poll()


def _forge(server: Server, run_id: str, frame: Frame, first_seq: int,
           **params: str | list[str]) -> httpx.Response:
    """POST one of the run's own frames, renumbered to start at ``first_seq``."""
    body = encode_frame(frame.payload, first_seq=first_seq, record_count=frame.record_count,
                        flags=frame.flags)
    return httpx.post(f"{server.url}/api/v1/runs/p/{run_id}/frames",
                      params={"segment": "0", **params}, content=body, timeout=10,
                      headers={"Content-Type": "application/octet-stream"})


def _sync_line(root: Path, server: Server, state: Path, run_id: str) -> tuple[int, str]:
    result = run_cli("sync", root, "--server", server.url, "--state", state,
                     "--retry-for", "20", timeout=60)
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    lines = [line for line in result.stdout.splitlines() if f"p/{run_id} " in line]
    assert len(lines) == 1, text
    return result.returncode, lines[0]


def test_allow_gap_is_refused_and_a_declared_forged_gap_is_caught(
        server: Server, root: Path, state: Path) -> None:
    victim = make_run(root, "victim", 300)
    frames = _frames(victim)
    middle = frames[len(frames) // 2]
    assert middle.first_seq > 0

    # The old way in: refused outright, nothing committed.
    old = _forge(server, "victim", middle, middle.first_seq, allow_gap="true")
    assert old.status_code == 400 and "allow_gap" in old.text, old.text
    assert server.next_seq("p", "victim") == 0

    # A gap declared exactly is taken (the server cannot tell who lost what) but kept
    # visible, so the real client sees a hole its own log does not have.
    forged = _forge(server, "victim", middle, middle.first_seq,
                    gap=f"0-{middle.first_seq - 1}")
    assert forged.status_code == 200, forged.text
    mark = httpx.get(f"{server.url}/api/v1/runs/p/victim/sync", timeout=10).json()
    assert mark["next_seq"] == middle.last_seq + 1
    assert mark["gaps"] == [[0, middle.first_seq - 1]]

    status, line = _sync_line(root, server, state, "victim")
    assert status == 1 and line.startswith("set aside"), line
    assert "diverged" in line and f"gap of records 0..{middle.first_seq - 1}" in line, line
    assert server.next_seq("p", "victim") == middle.last_seq + 1  # nothing shipped past it


def test_a_forged_mark_beyond_the_local_log_is_caught(server: Server, root: Path,
                                                      state: Path) -> None:
    victim = make_run(root, "ahead", 300)
    frame = _frames(victim)[1]
    forged = _forge(server, "ahead", frame, 10**6, gap=f"0-{10**6 - 1}")
    assert forged.status_code == 200, forged.text
    claimed = 10**6 + frame.record_count
    status, line = _sync_line(root, server, state, "ahead")
    assert status == 1 and line.startswith("set aside"), line
    assert f"claims {claimed} records committed" in line and "local log holds" in line, line


def test_undeclared_or_mismatched_gaps_are_refused(server: Server, root: Path,
                                                   state: Path) -> None:
    run_dir = make_run(root, "honest", 300)
    frame = _frames(run_dir)[-1]
    assert _forge(server, "honest", frame, 10).status_code == 409  # a hole, no gap=
    wrong = _forge(server, "honest", frame, 10, gap="1-9")
    assert wrong.status_code == 409, wrong.text  # record 0 skipped without being declared
    extra = _forge(server, "honest", frame, 10, gap=["0-9", "20-30"])
    assert extra.status_code == 400 and "20-30" in extra.text, extra.text  # no such hole
    assert _forge(server, "honest", frame, 10, gap="9-0").status_code == 400
    assert server.next_seq("p", "honest") == 0
    # Nothing forged was committed: the real client ships it all, exactly.
    status, line = _sync_line(root, server, state, "honest")
    assert status == 0 and line.startswith("ok"), line
    assert_exact(server.data, run_dir, 300)


def test_records_forged_without_a_gap_ahead_of_the_client_are_caught(
        server: Server, tmp_path: Path, state: Path) -> None:
    """Someone posts a run of their own under the real run's id, gap-free from record 0:
    the server's mark is then within the real log, so a client believing it would skip
    its own first records as "already committed". The client proves a mark it did not
    earn by sending the frame below it again; the server compares it byte for byte."""
    forged = make_run(tmp_path / "forger", "twin", 40, seed=1, config={"who": "forger"})
    status, line = _sync_line(tmp_path / "forger", server, tmp_path / "forger-state", "twin")
    assert status == 0, line
    held = server.next_seq("p", "twin")
    assert held == sum(f.record_count for f in _frames(forged))
    make_run(tmp_path / "real", "twin", 300, seed=2, config={"who": "real"})

    status, line = _sync_line(tmp_path / "real", server, state, "twin")
    assert status == 1 and line.startswith("set aside"), line
    # Caught by the resent frame's bytes, or by a mark inside one of the real frames.
    assert "diverged" in line and ("differ from the committed ones" in line
                                   or "falls inside the local frame" in line), line
    assert server.next_seq("p", "twin") == held  # nothing shipped past it


def test_a_repeated_frame_must_equal_the_committed_one(server: Server, root: Path,
                                                       state: Path) -> None:
    run_dir = make_run(root, "resent", 300)
    status, line = _sync_line(root, server, state, "resent")
    assert status == 0, line
    frame, later = _frames(run_dir)[:2]
    same = _forge(server, "resent", frame, frame.first_seq)
    assert same.status_code == 200, same.text  # a resend after a lost answer: harmless
    # Valid records with other bytes, at the first frame's place:
    other = Frame(later.offset, frame.first_seq, later.record_count, later.flags,
                  later.payload)
    changed = _forge(server, "resent", other, frame.first_seq)
    assert changed.status_code == 409 and "diverged" in changed.text, changed.text
    assert_exact(server.data, run_dir, 300)
