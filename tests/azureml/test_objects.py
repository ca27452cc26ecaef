"""Workspace, Experiment and Run, call by call: config discovery up the tree, Azure's
details and statuses, newest-first listing (local and through a real server after a real
sync), the notebook tables escaping hostile names, and the errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hostile_server import HostileServer
from seed_code import TOKEN
from syncd_helpers import Server, child_env, flightlog_cmd, run_cli

import flightlog
from flightlog.azureml import (
    CANCELED_EXIT_CODE,
    RUN_DIR_ENV,
    Experiment,
    Run,
    Workspace,
    find_config,
)
from flightlog.errors import (
    FileNotInRun,
    FlightlogError,
    InvalidKey,
    InvalidValue,
    RunNotFound,
    ServerProtocolError,
    UnsafeFileName,
    WorkspaceConfigError,
)

AZURE_DETAIL_KEYS = {"runId", "target", "status", "startTimeUtc", "endTimeUtc", "properties",
                     "inputDatasets", "outputDatasets", "logFiles"}
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


def _parse(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


# ---------------------------------------------------------------- config discovery


def test_import_flightlog_stays_light() -> None:
    code = ("import sys, flightlog\n"
            "assert 'flightlog.azureml' not in sys.modules\n"
            "import flightlog.azureml\n"
            "assert 'httpx' not in sys.modules, 'flightlog.azureml imported httpx'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=child_env(), timeout=120)


def test_from_config_searches_up_from_the_cwd(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    deep = project / "notebooks" / "part1"
    deep.mkdir(parents=True)
    (project / "flightlog.json").write_text(json.dumps(
        {"dir": "runs", "server": "http://127.0.0.1:9/", "subscription_id": "sub",
         "resource_group": "rg", "workspace_name": "ws1"}), encoding="utf-8")
    monkeypatch.chdir(deep)
    ws = Workspace.from_config()
    # dir is relative to where the file was found; the URL loses its trailing slash.
    assert ws.dir == project / "runs" and ws.server == "http://127.0.0.1:9"
    assert (ws.name, ws.subscription_id, ws.resource_group) == ("ws1", "sub", "rg")
    assert ws.config_path == project / "flightlog.json" and ws.token is None
    # .azureml/flightlog.json of a nearer directory wins; its dir is relative to the
    # directory holding .azureml, and the token comes from FLIGHTLOG_TOKEN.
    (project / "notebooks" / ".azureml").mkdir()
    (project / "notebooks" / ".azureml" / "flightlog.json").write_text(
        '{"dir": "nb-runs"}', encoding="utf-8")
    monkeypatch.setenv("FLIGHTLOG_TOKEN", "from-env")
    ws = Workspace.from_config()
    assert ws.dir == project / "notebooks" / "nb-runs" and ws.server is None
    assert ws.token == "from-env" and ws.name == "local"
    # In one directory .azureml/ comes before the plain file, as Azure's search order.
    (project / "notebooks" / "flightlog.json").write_text('{"dir": "plain"}', "utf-8")
    assert Workspace.from_config().dir == project / "notebooks" / "nb-runs"
    # path= starts the search elsewhere, or names the file itself (any name).
    assert Workspace.from_config(path=project).dir == project / "runs"
    other = tmp_path / "elsewhere.json"
    other.write_text('{"token": "t", "server": "https://x.example"}', encoding="utf-8")
    ws = Workspace.from_config(path=other)
    assert (ws.token, ws.server, ws.dir) == ("t", "https://x.example", Path.cwd() /
                                             "flightlog")
    assert find_config(deep) == project / "notebooks" / ".azureml" / "flightlog.json"
    # Azure's own config.json is not flightlog's.
    lone = tmp_path / "azure-only"
    lone.mkdir()
    (lone / "config.json").write_text('{"subscription_id": "s"}', encoding="utf-8")
    assert find_config(lone) is None


def test_no_config_is_a_local_workspace_on_flightlog_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace.from_config()
    assert ws.dir == tmp_path / "flightlog" and ws.server is None and ws.config_path is None
    monkeypatch.setenv("FLIGHTLOG_DIR", "elsewhere")
    ws = Workspace.from_config()
    assert ws.dir == tmp_path / "elsewhere"
    # The same place flightlog.init writes to.
    run = Experiment(ws, "p").start_logging(outputs=None)
    run.complete()
    init_run = flightlog.init(project="p")
    init_run.finish()
    assert run.dir.parent == init_run.dir.absolute().parent == tmp_path / "elsewhere" / "p"
    monkeypatch.chdir(tmp_path / "elsewhere")  # a later chdir does not move the workspace
    assert ws.dir == tmp_path / "elsewhere"


@pytest.mark.parametrize(("content", "key", "what"), [
    ('{"dir": "runs", "sever": "http://x"}', "sever", "unknown key"),
    ('{"dir": 3}', "dir", "must be a string"),
    ('{"server": "ftp://x"}', "server", "not an http"),
    ('{"server": "javascript:alert(1)"}', "server", "not an http"),
    ("[1, 2]", None, "JSON object"),
    ("{not json", None, "not JSON"),
    ('{"dir": "' + "x" * 70000 + '"}', None, "at most"),
])
def test_a_wrong_config_names_the_file_and_key(tmp_path: Path, content: str, key: str | None,
                                               what: str) -> None:
    path = tmp_path / "flightlog.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WorkspaceConfigError, match=what) as info:
        Workspace.from_config(tmp_path)
    assert info.value.path == str(path) and info.value.key == key
    assert isinstance(info.value, FlightlogError)


def test_from_config_of_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceConfigError) as info:
        Workspace.from_config(tmp_path / "nope" / "config.json")
    assert info.value.path == str(tmp_path / "nope" / "config.json")


# ---------------------------------------------------------------- runs and details


def _ws(tmp_path: Path) -> Workspace:
    return Workspace(dir=tmp_path / "runs")


def test_get_details_in_azure_words(tmp_path: Path) -> None:
    experiment = Experiment(workspace=_ws(tmp_path), name="exp")
    finished = experiment.start_logging(outputs=None, config={"alpha": 0.5})
    finished.log("rmse", 1.5)
    finished.complete()
    failed = experiment.start_logging(outputs=None)
    failed.fail(error_details="diverged")
    canceled = experiment.start_logging(outputs=None)
    canceled.cancel()
    running = experiment.start_logging(outputs=None)
    try:
        details = Run(experiment, finished.id).get_details()
        assert set(details) == AZURE_DETAIL_KEYS
        assert details["runId"] == finished.id and details["status"] == "Completed"
        assert details["properties"] == {"alpha": 0.5}
        assert details["inputDatasets"] == [] and details["logFiles"] == {}
        assert ISO_Z.match(details["startTimeUtc"]) and ISO_Z.match(details["endTimeUtc"])
        state = flightlog.open_run(finished.dir).state
        assert state.created is not None and state.finished_at is not None
        assert abs(_parse(details["startTimeUtc"]) - state.created) < 1e-5
        assert abs(_parse(details["endTimeUtc"]) - state.finished_at) < 1e-5
        assert _parse(details["startTimeUtc"]) <= _parse(details["endTimeUtc"])
        assert Run(experiment, failed.id).get_status() == "Failed"
        assert Run(experiment, failed.id).get_tags() == {"error": "diverged"}
        assert flightlog.open_run(canceled.dir).exit_code == CANCELED_EXIT_CODE
        assert Run(experiment, canceled.id).get_details()["status"] == "Canceled"
        live = Run(experiment, running.id).get_details()
        assert live["status"] == "Running" and live["endTimeUtc"] is None
        assert running.get_status() == "Running"
    finally:
        running.complete()
    assert running.get_status() == "Completed"
    # The run being written answers the reading calls from its own directory.
    assert finished.get_metrics() == {"rmse": 1.5} and finished.get_metrics("nope") == {}
    assert finished.get_details() == Run(experiment, finished.id).get_details()


def test_get_runs_is_newest_first_and_filters(tmp_path: Path) -> None:
    experiment = Experiment(_ws(tmp_path), "exp")
    ids = []
    for i in range(4):
        run = experiment.start_logging(outputs=None, config={"i": i})
        if i % 2:
            run.tag("odd", "yes")
        run.complete()
        ids.append(run.id)
    assert [r.id for r in experiment.get_runs()] == ids[::-1]
    assert [r.id for r in experiment.get_runs(tags="odd")] == [ids[3], ids[1]]
    assert [r.id for r in experiment.get_runs(tags={"odd": "no"})] == []
    assert [r.id for r in experiment.get_runs(properties={"i": 2})] == [ids[2]]
    assert all(r.experiment is experiment for r in experiment.get_runs())
    assert list(Experiment(_ws(tmp_path), "empty").get_runs()) == []
    with pytest.raises(InvalidValue):
        list(experiment.get_runs(type="azureml.scriptrun"))


def test_download_file_defaults_to_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = Experiment(_ws(tmp_path), "exp")
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 100)
    run = experiment.start_logging(outputs=None)
    run.upload_file(name="outputs/model.bin", path_or_stream=source)
    run.complete()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    opened = Run(experiment=experiment, run_id=run.id)
    assert opened.download_file(name="outputs/model.bin") == Path("model.bin")
    assert (cwd / "model.bin").read_bytes() == source.read_bytes()
    (cwd / "into").mkdir()
    assert opened.download_file("outputs/model.bin", "into").read_bytes() == source.read_bytes()
    with pytest.raises(FileNotInRun):
        opened.download_file("model.pkl")


def test_opening_a_run_that_is_not_there(tmp_path: Path) -> None:
    experiment = Experiment(_ws(tmp_path), "exp")
    with pytest.raises(RunNotFound):
        Run(experiment=experiment, run_id="nosuchrun")
    with pytest.raises(InvalidKey):
        Run(experiment=experiment, run_id="../../etc")
    with pytest.raises(InvalidKey):
        Experiment(_ws(tmp_path), "../up")
    with pytest.raises(InvalidValue):
        experiment.start_logging(snapshot_directory=".")


def test_start_logging_makes_the_outputs_folder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = Experiment(_ws(tmp_path), "exp").start_logging(display_name="first")
    assert (tmp_path / "outputs").is_dir() and run.display_name == "first"
    (tmp_path / "outputs" / "a").mkdir()
    (tmp_path / "outputs" / "a" / "x.txt").write_text("x", encoding="utf-8")
    assert run.upload_folder("outputs", "outputs") == ["outputs/a/x.txt"]
    run.complete()
    assert run.get_file_names() == ["outputs/a/x.txt"]


def test_get_context_without_a_runner_and_with_one(tmp_path: Path) -> None:
    code = ("from flightlog.azureml import Run\n"
            "run = Run.get_context()\n"
            "assert Run.get_context() is run\n"
            "run.log('x', 1)\n"
            "print(run.dir)\n")
    script = tmp_path / "fit.py"
    script.write_text(code, encoding="utf-8")
    offline = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(),
                             capture_output=True, text=True, timeout=120, check=True)
    run_dir = Path(offline.stdout.strip())
    assert run_dir.parent == tmp_path / "flightlog" / "fit"
    assert flightlog.open_run(run_dir).get_metrics() == {"x": 1}
    # The runner's run: continued where it is, even when the runner already began it.
    begun = flightlog.init(project="exp", id="given", dir=tmp_path / "root")
    begun.log("before", 0)
    begun.finish()
    attached = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                              env=child_env(**{RUN_DIR_ENV: str(begun.dir)}),
                              capture_output=True, text=True, timeout=120, check=True)
    assert Path(attached.stdout.strip()) == begun.dir
    assert flightlog.open_run(begun.dir).get_metrics() == {"before": 0, "x": 1}
    strict = subprocess.run([sys.executable, "-c", "from flightlog.azureml import Run\n"
                             "Run.get_context(allow_offline=False)"], cwd=tmp_path,
                            env=child_env(), capture_output=True, text=True, timeout=120)
    assert strict.returncode == 1 and "RunNotFound" in strict.stderr


# ---------------------------------------------------------------- notebook tables


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&"\''


def test_repr_html_escapes_hostile_names(tmp_path: Path) -> None:
    ws = Workspace(workspace_name=HOSTILE, dir=tmp_path / "runs")
    experiment = Experiment(ws, "exp")
    run = experiment.start_logging(outputs=None, display_name=HOSTILE)
    run.complete()
    for table in (experiment._repr_html_(), run._repr_html_(),
                  Run(experiment, run.id)._repr_html_()):
        # Only the table's own elements and attributes; the names are text.
        assert set(re.findall(r"</?([A-Za-z]+)", table)) <= {"table", "tr", "th", "td", "a"}
        attributes = {a for tag in re.findall(r"<[^>]*>", table)
                      for a in re.findall(r"\s([a-z]+)=", tag)}
        assert attributes <= {"style", "href", "target", "rel"}
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in table
    table = Run(experiment, run.id)._repr_html_()
    cells = re.findall(r"<td>(.*?)</td>", table)
    assert html.unescape(cells[2]) == HOSTILE and cells[3] == "Completed"
    assert html.unescape(re.findall(r"<td>(.*?)</td>", experiment._repr_html_())[1]) == HOSTILE
    # The links point at the offline reports that were written.
    hrefs = re.findall(r'href="([^"]*)"', table)
    assert hrefs == [run.get_portal_url()] and hrefs[0].startswith("file://")
    assert HOSTILE not in Path(hrefs[0][len("file://"):]).read_text(encoding="utf-8")


def test_repr_html_of_a_server_workspace_links_to_its_pages(tmp_path: Path) -> None:
    ws = Workspace(dir=tmp_path / "runs", server="http://127.0.0.1:1/")
    experiment = Experiment(ws, "exp")
    run = experiment.start_logging(outputs=None)
    run.complete()
    assert re.findall(r'href="([^"]*)"', experiment._repr_html_()) == [
        "http://127.0.0.1:1/projects/exp"]
    assert run.get_portal_url() == f"http://127.0.0.1:1/runs/exp/{run.id}"
    assert f'href="http://127.0.0.1:1/runs/exp/{run.id}"' in run._repr_html_()


# ---------------------------------------------------------------- through a server


def test_a_server_workspace_lists_and_details_as_the_local_one(
        tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages of two runs: the listing must follow the server's pages to the end.
    monkeypatch.setattr("flightlog.azureml.experiment._PAGE", 2)
    local = Experiment(_ws(tmp_path), "exp")
    ids = []
    for i in range(3):
        run = local.start_logging(outputs=None, config={"i": i})
        run.log("m", i)
        if i == 2:  # the newest: seed 003's other logging forms, vectors and tables
            run.log("m", 10)
            run.log_list("accuracies", [0.6, 0.7, 0.87])
            run.log_row("Y over X", x=1, y=0.4)
            run.log_row("Y over X", x=2, y=0.5)
            run.log_table("Sine Wave", {"angle": [0, 1], "sine": [0.0, 0.84]})
            run.tag("selected", "yes")
            run.tag("flagged")
        if i == 1:
            run.fail()
        else:
            run.complete()
        ids.append(run.id)
    result = run_cli("sync", tmp_path / "runs", "--server", server.url, "--token", TOKEN,
                     "--state", tmp_path / "state", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    with Workspace(dir=tmp_path / "unused", server=server.url, token=TOKEN) as ws:
        remote = Experiment(ws, "exp")
        listed = list(remote.get_runs())
        assert [r.id for r in listed] == ids[::-1]
        for run in listed:
            twin = Run(local, run.id)
            assert run.get_details() == twin.get_details()
            assert run.get_metrics() == twin.get_metrics()
            assert run.get_status() == twin.get_status()
            assert run.get_tags() == twin.get_tags()
            assert run.get_file_names() == twin.get_file_names()
        assert [r.get_status() for r in listed] == ["Completed", "Failed", "Completed"]
        assert listed[0].get_metrics() == {
            "m": [2, 10], "accuracies": [0.6, 0.7, 0.87],
            "Y over X": {"x": [1, 2], "y": [0.4, 0.5]},
            "Sine Wave": {"angle": [0, 1], "sine": [0.0, 0.84]}}
        assert listed[0].get_tags() == {"selected": "yes", "flagged": ""}
        assert listed[0].get_metrics("accuracies") == {"accuracies": [0.6, 0.7, 0.87]}
        assert [r.id for r in remote.get_runs(properties={"i": 1})] == [ids[1]]
        with pytest.raises(RunNotFound):
            Run(remote, "nosuchrun")
    with Workspace(dir=tmp_path / "unused", server=server.url, token="wrong") as ws, \
            pytest.raises(FlightlogError):
        list(Experiment(ws, "exp").get_runs())


# ---------------------------------------------------------------- Azure's arguments


def test_from_config_file_name_reads_azures_config_json(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(
        {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "azure-ws"}),
        encoding="utf-8")
    (tmp_path / "deep").mkdir()
    monkeypatch.chdir(tmp_path / "deep")
    # Azure's own file, found up the tree by Azure's _file_name: a local workspace named
    # after it (its keys are information, never a server).
    ws = Workspace.from_config(_file_name="config.json")
    assert (ws.name, ws.subscription_id, ws.resource_group) == ("azure-ws", "sub", "rg")
    assert ws.server is None and ws.dir == tmp_path / "deep" / "flightlog"
    assert ws.config_path == tmp_path / ".azureml" / "config.json"
    # Without it, flightlog.json only: none here, so the defaults.
    assert Workspace.from_config().config_path is None
    for bad in ("../config.json", "a/b.json", "", ".."):
        with pytest.raises(WorkspaceConfigError, match="not a file name") as info:
            Workspace.from_config(_file_name=bad)
        assert info.value.key == "_file_name"
    # Azure's positional signature, auth included (flightlog's auth is the token).
    explicit = Workspace("sub", "rg", "named", None, dir=tmp_path / "runs")
    assert (explicit.name, explicit.dir) == ("named", tmp_path / "runs")
    assert Workspace(workspace_name="n", auth=object()).name == "n"


def test_get_runs_arguments_of_the_wrong_kind(tmp_path: Path) -> None:
    experiment = Experiment(_ws(tmp_path), "exp")
    with pytest.raises(InvalidValue, match="tag name"):
        list(experiment.get_runs(tags=3))  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="properties"):
        list(experiment.get_runs(properties=["i"]))  # type: ignore[arg-type]


def test_get_context_with_a_run_dir_that_is_not_one(tmp_path: Path) -> None:
    code = "from flightlog.azureml import Run\nRun.get_context()\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                            env=child_env(**{RUN_DIR_ENV: "/"}), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1 and "InvalidKey" in result.stderr
    assert "$FLIGHTLOG_RUN_DIR '/' is not a run directory" in result.stderr


def test_get_context_in_a_grandchild_of_the_script_runner(tmp_path: Path) -> None:
    """A script the runner started launches another Python (a launcher, a sweep): the
    grandchild inherited the runner's variables but not its pipe, and the runner holds its
    run's lock. As ``flightlog.init`` there, ``Run.get_context()`` makes an offline run of
    its own (it used to stop on RunLocked)."""
    (tmp_path / "fit.py").write_text(
        "from flightlog.azureml import Run\n"
        "run = Run.get_context()\n"
        "run.log('grandchild', 1)\n"
        "print('grandchild', run.project, run.id)\n", encoding="utf-8")
    (tmp_path / "launch.py").write_text(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, 'fit.py'], check=True)\n"
        "from flightlog.azureml import Run\n"
        "Run.get_context().log('launcher', 1)\n", encoding="utf-8")
    result = subprocess.run([*flightlog_cmd(), "run", "--project", "sweep", "--id", "outer",
                             "--no-snapshot", "--system-interval", "0", "--", sys.executable,
                             "launch.py"], cwd=tmp_path, env=child_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    root = tmp_path / "flightlog"
    assert flightlog.open_run(root / "sweep" / "outer").get_metrics() == {"launcher": 1}
    (inner,) = list(Experiment(Workspace(dir=root), "fit").get_runs())
    assert inner.get_metrics() == {"grandchild": 1} and inner.get_status() == "Completed"
    assert f"grandchild fit {inner.id}" in result.stdout


# ---------------------------------------------------------------- untrusted answers


def test_download_file_of_hostile_names_stays_in_the_target_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File names are the server's answer: only their last component names a file, in
    the current directory by default or in the directory given."""
    good = b"model bytes" * 1000
    cwd = tmp_path / "cwd"
    into = tmp_path / "into"
    cwd.mkdir()
    into.mkdir()
    monkeypatch.chdir(cwd)
    with HostileServer("files") as hostile, \
            Workspace(dir=tmp_path / "unused", server=hostile.url) as ws:
        for name in ("../../escape.pkl", "..", "outputs/..", "/etc/passwd", "a\\..\\win.pkl"):
            hostile.files[name] = (good, hashlib.sha256(good).hexdigest(), len(good))
        run = Run(experiment=Experiment(ws, "p"), run_id="r")
        assert "../../escape.pkl" in run.get_file_names()
        assert run.download_file("../../escape.pkl") == Path("escape.pkl")
        assert run.download_file("/etc/passwd", into) == into / "passwd"
        assert run.download_file("a\\..\\win.pkl", into) == into / "win.pkl"
        for name in ("..", "outputs/.."):
            for target in (None, into):
                with pytest.raises(UnsafeFileName):
                    run.download_file(name, target)
        with pytest.raises(FileNotInRun, match=r"no file 'model\.pkl'"):
            run.download_file("model.pkl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "into"]
    assert [p.name for p in cwd.iterdir()] == ["escape.pkl"]
    assert sorted(p.name for p in into.iterdir()) == ["passwd", "win.pkl"]
    assert (cwd / "escape.pkl").read_bytes() == good


class _Listing(BaseHTTPRequestHandler):
    """A server whose run listing is ``server.runs`` (a hostile one, for the client)."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = msgpack.packb({"runs": self.server.runs})
        self.send_response(200)
        self.send_header("Content-Type", "application/msgpack")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(("runs", "what"), [
    ([{"project": "other", "id": "r1"}], "listed a run of 'other'"),
    ([{"project": "p", "id": "../../etc"}], "'../../etc' is not a run id"),
])
def test_a_server_listing_other_runs_is_refused(runs: list[dict[str, str]], what: str) -> None:
    listener = ThreadingHTTPServer(("127.0.0.1", 0), _Listing)
    listener.runs = runs  # type: ignore[attr-defined]
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.server_address[1]}"
        with Workspace(server=url) as ws, \
                pytest.raises(ServerProtocolError, match=re.escape(what)) as info:
            list(Experiment(ws, "p").get_runs())
        assert isinstance(info.value, FlightlogError) and url in str(info.value)
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join(10)
