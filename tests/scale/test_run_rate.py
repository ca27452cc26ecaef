"""A replica's requests/s limit per run (admission.py RunRate): past it, 429 with a
Retry-After that, waited, admits the run again; other runs are not held back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from scaleparts import Replica
from syncd_helpers import Proc, make_run, segment_frames, wait_until

RATE = 0.1  # one request per 10 s once the burst is spent
BURST = 2


def test_a_run_past_its_requests_per_second_gets_429_and_retry_after(
        postgres: Any, moto: Any, tmp_path: Path) -> None:
    db = postgres.create_database(f"rate_{tmp_path.name[-20:].replace('-', '_')}")
    procs: list[Proc] = []
    replica = Replica(db, moto.store_url(f"rate-{tmp_path.name}"), tmp_path / "cache", procs,
                      FLIGHTLOG_RUN_RATE=str(RATE), FLIGHTLOG_RUN_BURST=str(BURST))
    try:
        replica.launch().wait_ready()
        client = make_run(tmp_path / "client", "busy", 50)
        frames = b"".join(segment_frames(client)[0])
        with httpx.Client(base_url=replica.url, timeout=30) as http:
            sync = "/api/v1/runs/p/busy/sync"
            assert [http.get(sync).status_code for _ in range(BURST)] == [200] * BURST
            refused = http.get(sync)
            assert refused.status_code == 429, refused.text
            wait = int(refused.headers["retry-after"])
            assert 1 <= wait <= 1 / RATE + 1
            body = refused.json()
            assert body["error"] == "rate-limited" and body["retry_after"] == wait
            assert "p/busy" in body["message"] and "FLIGHTLOG_RUN_RATE" in body["message"]
            posted = http.post("/api/v1/runs/p/busy/frames?segment=0", content=frames,
                               headers={"Content-Type": "application/octet-stream"})
            assert posted.status_code == 429  # the frames route too; nothing committed
            # Another run is not held back by this one.
            assert http.get("/api/v1/runs/p/other/sync").status_code == 200
            # Refused requests take no token: the run is admitted again in time.
            committed = wait_until(
                lambda: (r := http.post("/api/v1/runs/p/busy/frames?segment=0",
                                        content=frames, headers={
                                            "Content-Type": "application/octet-stream"})
                         ).status_code == 200 and r, timeout=60, what="admitted again",
                interval=0.2)
            assert committed.json()["accepted"] == committed.json()["next_seq"] > 0
    finally:
        for proc in procs:
            proc.kill()
            proc.close()
