"""The server's HTTP surface refuses what is not valid and stores nothing of it: garbage,
damaged frames, frames of another run, gaps, oversized bodies, wrong hashes; names from
clients never become paths."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx
import pytest
from flightlog.format._framing import encode_frame
from syncd_helpers import (
    Proc,
    Server,
    assert_exact,
    make_run,
    records,
    run_cli,
    segment_frames,
    server_run_dir,
    wait_until,
)

import flightlog

FRAMES = "/api/v1/runs/p/r/frames"


_segments = segment_frames


def _renumbered(frame: bytes, first_seq: int) -> bytes:
    """The frame, valid, with its records renumbered from ``first_seq``."""
    from flightlog.format._framing import scan_frames

    found = scan_frames(frame, 0).frames[0]
    return encode_frame(found.payload, first_seq=first_seq, record_count=found.record_count,
                        flags=found.flags)


def _nothing_stored(server: Server, http: httpx.Client) -> None:
    assert not (server.data / "runs" / "p").exists() or not any(
        (server.data / "runs" / "p").iterdir())
    assert http.get("/api/v1/runs/p/r/sync").json()["next_seq"] == 0
    assert http.get("/api/v1/runs", params={"project": "p"}).json()["runs"] == []
    assert http.get("/api/v1/runs/p/r").status_code == 404


@pytest.fixture
def http(server: Server) -> Any:
    # Bodies as the daemon sends them (POST .../frames takes no other type: 415).
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Content-Type": "application/octet-stream"}) as client:
        yield client


def test_invalid_batches_are_refused_and_nothing_is_stored(
        server: Server, http: httpx.Client, tmp_path: Path) -> None:
    frames = _segments(make_run(tmp_path / "c", "r", 3000, width=8, segment_bytes=16_384))
    other = _segments(make_run(tmp_path / "o", "other", 10))
    moved = _segments(make_run(tmp_path / "q", "r", 10, project="q"))
    first = frames[0][0]
    damaged = bytearray(first)
    damaged[-1] ^= 1  # payload CRC no longer matches
    refused = {
        "garbage": b"this is not a frame, not even close" * 10,
        "bad crc": bytes(damaged),
        "torn frame": first[:-3],
        "other run's segment record": b"".join(other[0]),
        "run record of another project": b"".join(moved[0]),
        "no segment record first": _renumbered(frames[0][1], 0),
    }
    for what, body in refused.items():
        response = http.post(FRAMES, params={"segment": 0}, content=body)
        assert response.status_code == 400, (what, response.text)
        assert response.json()["error"], what
    # A segment index that disagrees with the batch's segment record.
    response = http.post(FRAMES, params={"segment": 1}, content=b"".join(frames[0]))
    assert response.status_code == 400, response.text
    # An empty batch with a liveness hint does not make a run appear either.
    assert http.post(FRAMES, params={"segment": 0, "writer": "alive"},
                     content=b"").status_code == 200
    _nothing_stored(server, http)


def test_a_gap_is_refused_with_the_position_and_a_repeat_is_a_no_op(
        server: Server, http: httpx.Client, tmp_path: Path) -> None:
    client = make_run(tmp_path / "c", "r", 3000, width=8, segment_bytes=16_384)
    segments = _segments(client)
    assert len(segments) >= 3 and len(segments[0]) >= 2
    ok = http.post(FRAMES, params={"segment": 0}, content=segments[0][0])
    assert ok.status_code == 200, ok.text
    mark = ok.json()["next_seq"]
    assert mark > 0 and ok.json()["accepted"] == mark
    gap = http.post(FRAMES, params={"segment": 1}, content=b"".join(segments[1]))
    assert gap.status_code == 409 and gap.json()["error"] == "gap", gap.text
    assert gap.json()["next_seq"] == mark
    for index, frames in enumerate(segments):
        body = b"".join(frames)
        done = http.post(FRAMES, params={"segment": index, "writer": "gone"}, content=body)
        assert done.status_code == 200, done.text
        again = http.post(FRAMES, params={"segment": index}, content=body)
        assert again.json()["accepted"] == 0 and again.json()["skipped"] > 0
        assert again.json()["next_seq"] == done.json()["next_seq"]
    assert_exact(server.data, client, 3000, project="p", run_id="r")


def test_oversize_bodies_are_refused_with_413(server: Server, http: httpx.Client) -> None:
    from flightlog.server.storage import MAX_BATCH_BYTES

    response = http.post(FRAMES, params={"segment": 0}, content=b"\0" * (MAX_BATCH_BYTES + 1))
    assert response.status_code == 413, response.text
    _nothing_stored(server, http)


def test_blob_uploads_check_the_hash_and_the_offset(server: Server,
                                                    http: httpx.Client) -> None:
    import hashlib

    content = b"model weights " * 1000
    sha = hashlib.sha256(content).hexdigest()
    for bad in ("not-a-hash", sha.upper(), sha[:-1]):
        assert http.head(f"/api/v1/blobs/{bad}").status_code == 400
        assert http.patch(f"/api/v1/blobs/{bad}", params={"offset": 0, "final": "true"},
                          content=content).status_code == 400
    wrong = http.patch(f"/api/v1/blobs/{sha}", params={"offset": 0, "final": "true"},
                       content=content + b"!")
    assert wrong.status_code == 400, wrong.text
    head = http.head(f"/api/v1/blobs/{sha}")
    assert head.status_code == 404 and head.headers["Upload-Offset"] == "0"
    assert not list((server.data / "blobs" / "sha256").rglob("*"))
    # Resumable: a first part, a wrong offset refused (409), then the rest.
    part = http.patch(f"/api/v1/blobs/{sha}", params={"offset": 0}, content=content[:5000])
    assert part.json() == {"complete": False, "size": 5000}
    assert http.head(f"/api/v1/blobs/{sha}").headers["Upload-Offset"] == "5000"
    stale = http.patch(f"/api/v1/blobs/{sha}", params={"offset": 0}, content=content[:5000])
    assert stale.status_code == 409, stale.text
    rest = http.patch(f"/api/v1/blobs/{sha}", params={"offset": 5000, "final": "true"},
                      content=content[5000:])
    assert rest.json() == {"complete": True, "size": len(content)}
    assert http.head(f"/api/v1/blobs/{sha}").status_code == 200


def test_openapi_schema_is_served(http: httpx.Client) -> None:
    schema = http.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/runs/{project}/{run_id}/frames" in paths
    assert "/api/v1/blobs/{sha256}" in paths


def _raw_get(server: Server, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as given (no client-side normalisation)."""
    conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_client_names_never_become_paths(server: Server, root: Path, state: Path,
                                         tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside of every run")
    attached = tmp_path / "notes.txt"
    attached.write_bytes(b"the run's own notes")
    names = {"../../escape.txt": attached, "a/b?c#d.txt": attached, "..": attached}
    run_dir = make_run(root, "r", 5, files=names)
    result = run_cli("sync", root, "--server", server.url, "--state", state)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exact(server.data, run_dir, 5)

    base = "/api/v1/runs/p/r/files/"
    up = "../" * 12
    for path in (base + up + str(secret).lstrip("/"), base + "%2e%2e/" * 12 + "etc/passwd",
                 base + "no-such-file", base + "escape.txt",
                 "/api/v1/runs/../../" + str(server.data).lstrip("/") + "/index.sqlite"):
        status, body = _raw_get(server, path)
        assert status in (400, 404), (path, status)
        assert b"outside of every run" not in body and b"SQLite" not in body
    status, body = _raw_get(server, base + "../../escape.txt")
    assert (status, body) == (200, b"the run's own notes")
    for project, run_id in (("..", "r"), ("p", ".hidden"), ("p", "a%20b")):
        status, _ = _raw_get(server, f"/api/v1/runs/{project}/{run_id}/sync")
        assert status in (400, 404), (project, run_id, status)

    # The Api sends any name as one path segment, and saves under its base name.
    with flightlog.Api(server.url) as api:
        remote = api.run("p/r")
        assert remote.get_file_names() == sorted(names)
        for name in names:
            out = remote.download_file(name, tmp_path / "down" / "x")
            assert out.read_bytes() == b"the run's own notes"
        with pytest.raises(flightlog.FileNotInRun):
            remote.download_file("../secret.txt", tmp_path / "down" / "y")
    assert server_run_dir(server.data, "p", "r").is_dir()


def test_queries_of_a_run_while_it_is_committed(
        server: Server, root: Path, start_syncd: Callable[..., Proc],
        trainer: Callable[..., Proc]) -> None:
    """Readers and the committing daemon share a run's in-memory view: they take turns."""
    stream = trainer("stream", root, "p", "busy", 6_000, 4, 16_384)
    stream.wait_line("ready")
    daemon = start_syncd(root, server=server.url)
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                for suffix in ("", "/history", "/metrics", "/files"):
                    response = client.get(f"/api/v1/runs/p/busy{suffix}")
                    if response.status_code not in (200, 404):
                        failures.append(f"{suffix}: {response.status_code} {response.text}")

    readers = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        stream.wait_line("done", timeout=60)
        assert stream.wait() == 0
        total = len(records(root / "p" / "busy"))
        # Three readers rebuilding the history take turns with every commit: on a busy
        # 2-core machine (load average 12) shipping 20,000 steps took 60-120 s.
        wait_until(lambda: server.next_seq("p", "busy") == total, timeout=300,
                   what="the busy run shipped")
    finally:
        stop.set()
        for thread in readers:
            thread.join(30)
    assert not failures, failures[:3]
    assert daemon.terminate() == 0, daemon.text()
    assert "set aside" not in daemon.text()
    assert_exact(server.data, root / "p" / "busy", 6_000)
