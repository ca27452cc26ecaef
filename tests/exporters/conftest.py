"""Fixtures of the export tests: runs written by flightlog's writer, and one real MLflow
tracking server on 127.0.0.1 for the whole session.

The MLflow server takes long to start on a loaded machine (it imports all of mlflow and
creates its database), so it is launched as soon as collection finds a test that needs
it, and runs while the Parquet tests do; ``mlflow_server`` waits for its health endpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncd"))

from syncd_helpers import free_port
from waiting import wait_ready

#: mlflow's own network use (telemetry) is off in every process the tests start.
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
os.environ.update(MLFLOW_ENV)


@dataclass
class MlflowServer:
    url: str
    data: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


_started: list[MlflowServer] = []


def _start_mlflow() -> MlflowServer:
    data = Path(tempfile.mkdtemp(prefix="flightlog-mlflow-server-"))
    port = free_port()
    log = data / "server.log"
    mlflow = Path(sys.executable).with_name("mlflow")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{data}/mlflow.db",
             "--artifacts-destination", str(data / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **MLFLOW_ENV}, start_new_session=True)
    return MlflowServer(f"http://127.0.0.1:{port}", data, proc, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = any("mlflow_server" in getattr(item, "fixturenames", ())
                 for item in session.items)
    if wanted and not _started:
        _started.append(_start_mlflow())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for server in _started:
        # Its own process group: the server and the uvicorn worker it started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        shutil.rmtree(server.data, ignore_errors=True)
    _started.clear()


def _healthy(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[MlflowServer]:
    if not _started:  # collected without the hook (e.g. a plugin reordered)
        _started.append(_start_mlflow())
    server = _started[0]
    wait_ready(lambda: _healthy(server.url), lambda: server.proc.poll() is None,
               "mlflow server", server.output, timeout=300)
    yield server

