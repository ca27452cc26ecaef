"""``flightlog.notebook.show``: the run page inline, refreshed while the run is live.
IPython's ``display`` is replaced by a recording fake (we do not own IPython)."""

from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path
from typing import Any

from waiting import wait_until

import flightlog
from flightlog.notebook import show

REFRESH_THREAD = "flightlog-notebook-refresh"


class FakeDisplay:
    """Records what ``display(obj, display_id=True)`` and ``handle.update(obj)`` got."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.updates: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, obj: str, display_id: bool = False) -> FakeDisplay:
        assert display_id is True
        self.shown.append(obj)
        return self

    def update(self, obj: str) -> None:
        with self.lock:
            self.updates.append(obj)


def inline_data(output: str) -> dict[str, Any]:
    """The JSON document inlined in the page that the iframe's srcdoc holds."""
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', output).group(1))  # type: ignore[union-attr]
    found = re.search(r'<script type="application/json" id="flightlog-data">(.*?)</script>',
                      page, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == REFRESH_THREAD]


def test_show_draws_a_finished_run_once(root: Path) -> None:
    with flightlog.init(project="nb", name="done", config={"alpha": 0.4}, dir=root) as run:
        for i in range(30):
            run.log({"loss": 1 / (i + 1)})
    fake = FakeDisplay()
    show(flightlog.open_run(run.dir), display=fake, wrap=str)
    assert len(fake.shown) == 1 and not refresh_threads()
    data = inline_data(fake.shown[0])
    (one,) = data["runs"].values()
    assert one["detail"]["name"] == "done" and one["detail"]["config"] == {"alpha": 0.4}
    assert one["detail"]["status"] == "finished"
    assert one["series"]["_step"]["loss"]["y"] == [1 / (i + 1) for i in range(30)]
    assert "window.vegaEmbed" in html.unescape(fake.shown[0])  # inlined: no network


def test_show_refreshes_a_live_run_until_it_finishes(root: Path) -> None:
    run = flightlog.init(project="nb", name="live", dir=root, flush_interval=0.01)
    fake = FakeDisplay()
    try:
        run.log({"loss": 1.0})
        show(run, every=0.05, display=fake, wrap=str)  # the writer's own Run object
        assert inline_data(fake.shown[0])["runs"][f"nb/{run.id}"]["detail"]["status"] == \
            "running"
        assert len(refresh_threads()) == 1
        for i in range(2, 6):
            run.log({"loss": 1.0 / i})

        def steps_shown() -> int:
            with fake.lock:
                if not fake.updates:
                    return 0
                last = fake.updates[-1]
            return len(inline_data(last)["runs"][f"nb/{run.id}"]["series"]["_step"]["loss"]["y"])

        wait_until(lambda: steps_shown() == 5, 10, "the live view to show 5 steps")
    finally:
        run.finish()
    wait_until(lambda: not refresh_threads(), 10, "the refresh thread to stop")
    final = inline_data(fake.updates[-1])["runs"][f"nb/{run.id}"]["detail"]
    assert final["status"] == "finished"


def test_show_follows_a_run_on_the_server_as_the_daemon_delivers(tmp_path: Path) -> None:
    from syncd_helpers import Proc, Server, run_cli

    procs: list[Proc] = []
    server = Server(tmp_path / "server", procs).start()
    root, state = tmp_path / "runs", tmp_path / "state"

    def sync() -> None:
        done = run_cli("sync", root, "--server", server.url, "--state", state)
        assert done.returncode == 0, done.stdout + done.stderr

    run = flightlog.init(project="nb", id="remote", dir=root, flush_interval=0.01)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    fake = FakeDisplay()
    try:
        run.log({"loss": 1.0})
        run.upload_file("model.bin", model)
        run.flush()
        wait_until(lambda: flightlog.open_run(run.dir).steps == 1, 10, "the first step")
        sync()
        with server.api() as api:
            remote = api.run("nb/remote")
            assert remote.status == "running"
            show(remote, every=0.05, display=fake, wrap=str)
            first = inline_data(fake.shown[0])["runs"]["nb/remote"]
            assert first["series"]["_step"]["loss"]["y"] == [1.0]
            # The file is in the page, downloadable offline.
            assert first["files"]["model.bin"].startswith("data:")
            def page_where(status: str, steps: int) -> dict[str, Any] | None:
                with fake.lock:
                    pages = [inline_data(u)["runs"]["nb/remote"] for u in fake.updates]
                found = [p for p in pages if p["detail"]["status"] == status
                         and len(p["series"]["_step"]["loss"]["y"]) == steps]
                return found[-1] if found else None

            # Still running: the view follows what the daemon delivered, not just status.
            for i in range(2, 5):
                run.log({"loss": 1.0 / i})
            run.flush()
            wait_until(lambda: flightlog.open_run(run.dir).steps == 4, 10, "4 steps")
            sync()
            page = wait_until(lambda: page_where("running", 4), 20, "the grown page")
            assert page["series"]["_step"]["loss"]["y"] == [1.0, 1 / 2, 1 / 3, 1 / 4]
            run.finish()
            sync()
            wait_until(lambda: page_where("finished", 4), 20, "the finished run's page")
            wait_until(lambda: not refresh_threads(), 10, "the refresh thread to stop")
    finally:
        run.finish()
        for proc in procs:
            proc.kill()
            proc.close()
