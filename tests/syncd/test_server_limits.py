"""What the server bounds (README "Security model"): attached Arrow files and chart specs
are checked when a record names them, reads never expand a table, parameters have
ranges, slow bodies are cut, abandoned uploads are collected. Against a real
``flightlog server`` on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from hostile import GOOD_SPEC, compressed_table, deep_spec, hostile_run, ipc_file, null_rows
from syncd_helpers import Proc, Server, post_run, wait_until


def _peak_rss_mib(server: Server) -> float:
    """The server's peak resident memory so far (VmHWM): what a request cost at its
    worst, even if the memory was given back by the time it answered."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message


def test_a_compressed_table_is_refused_and_reads_stay_bounded(
        server: Server, http: httpx.Client, tmp_path: Path) -> None:
    bomb = compressed_table()  # ~16 KB of zstd, 480 MB once expanded
    client = hostile_run(tmp_path / "c", "bomb", tables={"bomb": bomb})
    _refused(post_run(http, client), "record", "'bomb'", "compressed")
    assert http.get("/api/v1/runs/p/bomb/sync").json()["next_seq"] == 0
    # Written into the data directory behind the server's back: refused on read too.
    hostile_run(server.data / "runs", "planted", tables={"bomb": bomb})
    rows = 2_000_000
    big = pa.table({f"c{i}": np.arange(rows, dtype=np.int64) for i in range(8)})
    hostile_run(server.data / "runs", "big", tables={"big": ipc_file(big)})  # 128 MB
    del big
    before = _peak_rss_mib(server)
    answer = http.get("/api/v1/runs/p/planted/tables/bomb", params={"limit": 5})
    _refused(answer, "compressed")
    page = http.get("/api/v1/runs/p/big/tables/big", params={"limit": 5, "format": "json"})
    assert page.status_code == 200, page.text
    assert page.headers["X-Total-Rows"] == str(rows) and len(page.json()) == 5
    # Neither the bomb nor the page of the 128 MB table cost the server their size.
    assert _peak_rss_mib(server) - before < 100


def test_a_chart_of_millions_of_null_rows_is_refused(
        server: Server, http: httpx.Client, tmp_path: Path) -> None:
    client = hostile_run(tmp_path / "c", "nulls", charts={"c": (null_rows(), GOOD_SPEC)})
    _refused(post_run(http, client), "record", "'c'", "rows")
    assert http.get("/api/v1/runs/p/nulls/sync").json()["next_seq"] == 0
    # Planted in the data dir next to a good chart: that chart is an error entry, the
    # other one is drawn, and the answer is quick.
    good = ipc_file(pa.table({"x": [1.0, 2.0]}))
    hostile_run(server.data / "runs", "planted", charts={"c": (null_rows(), GOOD_SPEC),
                                                         "ok": (good, GOOD_SPEC)})
    started = time.monotonic()
    charts = http.get("/api/v1/runs/p/planted/charts")
    assert charts.status_code == 200, charts.text
    assert time.monotonic() - started < 5
    assert "rows" in charts.json()["c"]["error"] and "spec" not in charts.json()["c"]
    assert charts.json()["ok"]["spec"]["data"] == {"values": [{"x": 1.0}, {"x": 2.0}]}


def test_a_deeply_nested_spec_is_refused_at_ingest_and_never_breaks_charts(
        server: Server, http: httpx.Client, tmp_path: Path) -> None:
    data = ipc_file(pa.table({"x": [1.0]}))
    client = hostile_run(tmp_path / "c", "deep", charts={"deep": (data, deep_spec())})
    _refused(post_run(http, client), "record", "nests 20001 levels")
    assert http.get("/api/v1/runs/p/deep/sync").json()["next_seq"] == 0
    hostile_run(server.data / "runs", "planted", charts={"deep": (data, deep_spec()),
                                                         "ok": (data, GOOD_SPEC)})
    for _ in range(2):  # not once, not ever: the stored record is kept out
        charts = http.get("/api/v1/runs/p/planted/charts")
        assert charts.status_code == 200, charts.text
        assert sorted(charts.json()) == ["ok"]


def test_parameters_out_of_range_are_400_never_500(server: Server,
                                                   http: httpx.Client) -> None:
    sha = "ab" * 32
    for method, path, params in [
            ("GET", "/api/v1/runs", {"offset": 2**63}),
            ("GET", "/api/v1/runs", {"offset": -1}),
            ("GET", "/api/v1/runs", {"limit": 2**64}),
            ("GET", "/api/v1/runs/p/r/tables/t", {"limit": 2**63}),
            ("POST", "/api/v1/runs/p/r/frames", {"segment": 2**63}),
            ("PATCH", f"/api/v1/blobs/{sha}", {"offset": 2**70}),
            ("GET", "/api/v1/runs/p/.hidden/sync", {}),
            ("HEAD", f"/api/v1/blobs/{sha.upper()}", {})]:
        answer = http.request(method, path, params=params,
                              headers={"Content-Type": "application/octet-stream"})
        assert answer.status_code == 400, (method, path, params, answer.text)
        if method != "HEAD":
            assert answer.json()["error"] == "invalid" and "Traceback" not in answer.text
    schema = http.get("/openapi.json").json()
    route = schema["paths"]["/api/v1/runs/{project}/{run_id}/sync"]["get"]
    assert {"400", "401", "404"} <= set(route["responses"])
    names = {p["name"]: p["schema"] for p in route["parameters"]}
    assert names["project"]["pattern"].startswith("^[A-Za-z0-9]")
    upload = schema["paths"]["/api/v1/blobs/{sha256}"]["patch"]
    assert {"408", "409", "413"} <= set(upload["responses"])
    assert upload["parameters"][0]["schema"]["pattern"] == "^[0-9a-f]{64}$"
    offset = {p["name"]: p["schema"] for p in
              schema["paths"]["/api/v1/runs"]["get"]["parameters"]}["offset"]
    assert offset["maximum"] < 2**63


def test_a_stalled_body_is_cut_with_408(procs: list[Proc], tmp_path: Path) -> None:
    server = Server(tmp_path / "data", procs, env={"FLIGHTLOG_BODY_TIMEOUT": "2"}).start()
    sha = "cd" * 32
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(f"PATCH /api/v1/blobs/{sha}?offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Length: 100000\r\n\r\n".encode() + b"x" * 10)
        started = time.monotonic()
        answer = conn.recv(4096)  # the server answers while the body is still owed
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 1.5 < waited < 15, waited
    assert not (server.data / "blobs" / "partial" / sha).exists()


def test_abandoned_uploads_are_collected(procs: list[Proc], tmp_path: Path) -> None:
    data = tmp_path / "data"
    partial = data / "blobs" / "partial"
    partial.mkdir(parents=True)
    old = partial / ("ee" * 32)
    old.write_bytes(b"half an upload")
    week = time.time() - 7 * 86400
    os.utime(old, (week, week))
    server = Server(data, procs, env={"FLIGHTLOG_PARTIAL_TTL": "2"}).start()
    assert not old.exists()  # collected when the server started
    with httpx.Client(base_url=server.url, timeout=30) as http:
        content = b"first half, second half"
        sha = hashlib.sha256(content).hexdigest()
        assert http.patch(f"/api/v1/blobs/{sha}", params={"offset": 0},
                          content=content[:11]).json() == {"complete": False, "size": 11}
        stale = partial / sha
        assert stale.exists()
        os.utime(stale, (week, week))  # abandoned a week ago
        counter = [0]

        def another_upload_collected_it() -> bool:
            counter[0] += 1
            fresh = f"upload {counter[0]}".encode()
            answer = http.patch(f"/api/v1/blobs/{hashlib.sha256(fresh).hexdigest()}",
                                params={"offset": 0, "final": "true"}, content=fresh)
            assert answer.status_code == 200, answer.text
            return not stale.exists()

        # An upload sweeps when the last sweep is TTL/8 old (here 0.25 s).
        wait_until(another_upload_collected_it, timeout=20, what="the stale upload deleted",
                   interval=0.1)
        head = http.head(f"/api/v1/blobs/{sha}")
        assert head.status_code == 404 and head.headers["Upload-Offset"] == "0"


def test_the_schema_fuzzed_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    """schemathesis, deterministic and short: every operation of /openapi.json with
    generated parameters (including boundary values such as offset=2**63) against a
    server holding one run; no answer may be a 5xx."""
    import shutil
    import subprocess
    import sys

    hostile_run(server.data / "runs", "r", tables={"t": ipc_file(pa.table({"x": [1]}))},
                charts={"c": (ipc_file(pa.table({"x": [1.0]})), GOOD_SPEC)})
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\nproject = "p"\nrun_id = "r"\n')
    tool = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    if tool is None:
        pytest.skip("schemathesis is not installed (the test extra has it)")
    result = subprocess.run(
        [tool, "--config-file", str(config), "--no-color", "run",
         f"{server.url}/openapi.json", "--checks", "not_a_server_error",
         "--generation-deterministic", "--max-examples", "8", "--workers", "1",
         "--phases", "coverage,fuzzing", "--exclude-method", "PATCH"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_a_whole_table_is_streamed_in_bounded_memory(server: Server,
                                                      http: httpx.Client) -> None:
    """Without ``limit`` the answer is the whole table, as Arrow or JSON rows, encoded a
    batch at a time: not a copy of the table, nor a Python object per cell of it."""
    rows = 1_000_000
    table = pa.table({"i": np.arange(rows, dtype=np.int64), "b": np.ones(rows, dtype=np.int8)})
    hostile_run(server.data / "runs", "whole", tables={"t": ipc_file(table)})  # 9 MB
    before = _peak_rss_mib(server)
    with http.stream("GET", "/api/v1/runs/p/whole/tables/t") as answer:
        assert answer.status_code == 200
        body = b"".join(answer.iter_bytes())
    assert pa.ipc.open_stream(body).read_all().equals(table)
    del body
    with http.stream("GET", "/api/v1/runs/p/whole/tables/t",
                     params={"format": "json"}) as answer:
        assert answer.status_code == 200 and answer.headers["X-Total-Rows"] == str(rows)
        size, tail = 0, b""
        for chunk in answer.iter_bytes():
            size += len(chunk)
            tail = (tail + chunk)[-64:]
    assert tail.endswith(b'{"i":999999,"b":1}]') and size > 15 * rows
    # As lists of row dicts (then made JSON-safe) the answer would cost over 400 MiB.
    assert _peak_rss_mib(server) - before < 150
