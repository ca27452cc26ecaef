"""Charts, media and tables with media cells through real ``flightlog sync`` and a real
server: every attached file is shipped, and ``Api`` answers ``charts()``, ``media()``
and ``tables()`` exactly as ``open_run`` does on the client."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
from syncd_helpers import Server, run_cli, server_run_dir, verify

import flightlog


def _rich_run(root: Path) -> Path:
    table = flightlog.Table(columns=["i", "img"])
    for i in range(3):
        table.add_data(i, flightlog.Image(np.full((3, 3), 80 * i, np.uint8), caption=f"#{i}"))
    chart = flightlog.Chart({"x": [0, 1], "y": [1.0, 0.5]}, {"mark": "line", "encoding": {
        "x": {"field": "x", "type": "quantitative"},
        "y": {"field": "y", "type": "quantitative"}}}, kind="line")
    with flightlog.init(project="p", id="rich", dir=root) as run:
        run.log({"loss": 1.0, "curve": chart, "samples": table,
                 "page": flightlog.Html("<p>hello</p>")})
    return run.dir


def test_charts_and_media_ship_and_read_back_the_same(server: Server, root: Path,
                                                      state: Path) -> None:
    local_dir = _rich_run(root)
    done = run_cli("sync", root, "--server", server.url, "--state", state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verify(server_run_dir(server.data, "p", "rich")).returncode == 0

    local = flightlog.open_run(local_dir)
    with server.api() as api:
        remote = api.run("p/rich")
        assert remote.charts() == local.charts()
        remote_media = remote.media()
        assert {k: [m.as_dict() for m in v] for k, v in remote_media.items()} == {
            k: [m.as_dict() for m in v] for k, v in local.media().items()}
        assert remote_media["page"][0].read_bytes() == b"<p>hello</p>"
        remote_table = remote.tables()["samples"]
        assert remote_table.equals(local.tables()["samples"])
        # Each media cell's file is on the server and served with its media type.
        for cell in remote_table.column("img").to_pylist():
            response = httpx.get(f"{server.url}/api/v1/runs/p/rich/blobs/{cell['sha256']}")
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/png"
            assert response.content == (local_dir / "files" / "sha256" / cell["sha256"][:2]
                                        / cell["sha256"][2:]).read_bytes()
    # A hash the run does not name is not served, even when the server stores it.
    other = "0" * 64
    assert httpx.get(f"{server.url}/api/v1/runs/p/rich/blobs/{other}").status_code == 404
