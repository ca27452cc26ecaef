"""The real parts of the scaled backend, started by the tests on 127.0.0.1, no Docker.

- ``Postgres``: Debian's PostgreSQL (``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin)
  on a temporary directory and a free port. PostgreSQL refuses to run as root: as root the
  server runs as ``nobody`` (its directory is given to that user).
- ``Moto``: moto's S3 server (``moto_server``, in the venv) as a subprocess, so that a test
  can freeze it (SIGSTOP: every request then times out) and thaw it (SIGCONT); moto keeps
  objects in memory, so a real stop and restart would lose them.
- ``Haproxy``: Debian's haproxy, round-robin over the replicas, health-checked on /healthz.
- ``Replica``: a ``flightlog server --db --store`` subprocess.

Each is skipped (with the Debian package named) only when its binary is absent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import waiting
from syncd_helpers import Proc, child_env, flightlog_cmd, free_port

S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
          "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "flightlog-test"
#: Frame batches in flight per replica (FLIGHTLOG_MAX_COMMITS): low, so a test can fill it.
MAX_COMMITS = 4


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        pytest.skip("PostgreSQL is not installed (Debian package: postgresql)")
    return Path(found[-1]).parent


class Postgres:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="flightlog-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://flightlog@127.0.0.1:{self.port}/postgres"
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            user = pwd.getpwnam("nobody")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as_user = {"user": user.pw_uid, "group": user.pw_gid,
                             "extra_groups": []}

    def _run(self, *args: str, timeout: float = 120) -> None:
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "HOME": str(self.dir)}
        result = subprocess.run([str(self.bin / args[0]), *args[1:]], env=env, cwd=self.dir,
                                capture_output=True, text=True, timeout=timeout,
                                check=False, **self._as_user)
        if result.returncode != 0:
            log = self.dir / "log"
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}"
                               f"{log.read_text() if log.exists() else ''}")

    def start(self) -> Postgres:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "flightlog", "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--locale=C")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                        f"-c fsync=off -c max_connections=200", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Moto:
    def __init__(self) -> None:
        exe = Path(sys.executable).parent / "moto_server"
        if not exe.exists():
            pytest.skip("moto's server is not installed (pip install 'moto[server]')")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = Proc([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                         env=child_env(**S3_ENV))
        waiting.wait_ready(self._up, self.proc.alive, "moto_server", self.proc.text)
        client = self.client()
        client.create_bucket(Bucket=BUCKET)
        client.close()

    def _up(self) -> bool:
        try:
            return httpx.get(self.endpoint, timeout=5).status_code < 500
        except httpx.TransportError:
            return False

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(s3={"addressing_style": "path"}))

    def store_url(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}?endpoint={self.endpoint}"

    def freeze(self) -> None:
        self.proc.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.signal(signal.SIGCONT)

    def close(self) -> None:
        self.thaw()
        self.proc.kill()
        self.proc.close()


class Replica:
    """A ``flightlog server --db --store`` subprocess; kill + start restarts it."""

    def __init__(self, db: str, store: str, cache: Path, procs: list[Proc],
                 **env: str) -> None:
        self.db, self.store, self.cache, self._procs = db, store, cache, procs
        self.env = env  # more environment of the server (limits)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None

    def launch(self) -> Replica:
        self.proc = Proc([*flightlog_cmd(), "server", "--db", self.db, "--store", self.store,
                          "--data", str(self.cache), "--host", "127.0.0.1",
                          "--port", str(self.port)],
                         env=child_env(**{**S3_ENV, "FLIGHTLOG_STORE_TIMEOUT": "2",
                                          "FLIGHTLOG_MAX_COMMITS": str(MAX_COMMITS),
                                          **self.env}))
        self._procs.append(self.proc)
        return self

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self) -> Replica:
        assert self.proc is not None
        waiting.wait_ready(self.healthy, self.proc.alive, f"replica {self.url}",
                           self.proc.text)
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()


class Haproxy:
    def __init__(self, ports: list[int], workdir: Path, balance: str = "roundrobin") -> None:
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(exe):
            pytest.skip("haproxy is not installed (Debian package: haproxy)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 1"
                            for i, p in enumerate(ports))
        config = workdir / "haproxy.cfg"
        config.write_text(f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
frontend front
    bind 127.0.0.1:{self.port}
    default_backend replicas
backend replicas
    balance {balance}
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
{servers}
""")
        self.proc = Proc([exe, "-db", "-f", str(config)])
        waiting.wait_ready(self._up, self.proc.alive, "haproxy", self.proc.text)

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self.proc.kill()
        self.proc.close()
