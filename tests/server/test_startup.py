"""Start order (server/startup.py): the server listens before its background work (the
index check, the overview and Vega bundle warm-ups) begins, and that work still runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from flightlog.server.app import create_app
from flightlog.server.startup import begin
from flightlog.server.storage import Storage
from waiting import wait_ready, wait_until

BACKGROUND = ("flightlog-index-check", "overview-warmup", "vega-bundle")


def _alive(names: tuple[str, ...]) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in names]


def _data_with_index(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    Storage(data).index._db.close()  # an index that exists: checked in the background
    return data


def test_background_work_waits_for_begin_and_runs_once(tmp_path: Path) -> None:
    before = _alive(BACKGROUND)
    app = create_app(str(_data_with_index(tmp_path)), start_background=False)
    storage = app.state.storage
    assert not storage.index_checked.is_set()
    assert _alive(BACKGROUND) == before, "background work began before begin()"
    begin(app)
    wait_until(storage.index_checked.is_set, timeout=60, what="the index check")
    begin(app)  # a second call starts nothing again
    storage.start_index_check()
    wait_until(lambda: "flightlog-index-check" not in _alive(BACKGROUND), timeout=30,
               what="the index check thread to end")
    assert storage.index_checked.is_set()


def test_create_app_begins_the_work_itself_by_default(tmp_path: Path) -> None:
    app = create_app(str(_data_with_index(tmp_path)))
    wait_until(app.state.storage.index_checked.is_set, timeout=60, what="the index check")


#: The real ``serve``, with ``begin`` wrapped to report whether the port already accepted
#: connections when the background work began.
CHILD = """
import socket, sys
import flightlog.server.startup as startup
port = int(sys.argv[2])
original = startup.begin
def begin(app):
    with socket.socket() as s:
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", port))
            print("begin: listening", flush=True)
        except OSError as exc:
            print(f"begin: not listening ({exc})", flush=True)
    original(app)
startup.begin = begin
from flightlog.server import serve
serve(sys.argv[1], host="127.0.0.1", port=port)
"""


def test_serve_begins_background_work_once_listening(tmp_path: Path) -> None:
    data = _data_with_index(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(port)],
                                stdout=o, stderr=e, stdin=subprocess.DEVNULL)
    try:
        def logs() -> str:
            return out.read_text(errors="replace") + err.read_text(errors="replace")

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5,
                                 trust_env=False).status_code == 200
            except httpx.HTTPError:
                return False

        wait_ready(healthy, lambda: proc.poll() is None, "flightlog server", logs)
        wait_until(lambda: "begin:" in out.read_text(), timeout=60, what="begin's line")
        first = next(line for line in out.read_text().splitlines() if "begin:" in line)
        assert first == "begin: listening", logs()
        wait_until(lambda: "index checked against 0 run directories" in err.read_text(),
                   timeout=60, what="the index check's line")
    finally:
        proc.kill()
        proc.wait(timeout=30)
