"""Fixtures of the scaled-backend tests: one PostgreSQL, one moto S3 server, and (for the
HTTP tests) three replicas behind one haproxy, started once per session and shared.

- ``postgres``, ``moto``: the parts (scaleparts.py).
- ``scaled_storage()``: a :class:`ScaledStorage` in this process on a fresh database and
  prefix (a storage-level test's own world); ``cluster``: three replicas + haproxy on
  one database and prefix, for the end-to-end tests.
- ``read_back(cluster, project, run_id)``: the run as a fresh replica reads it back from
  PostgreSQL + the object store, materialised into an empty cache (a run directory).
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncd"))

from scaleparts import S3_ENV, Haproxy, Moto, Postgres, Replica
from syncd_fixtures import start_syncd as start_syncd
from syncd_fixtures import state as state
from syncd_fixtures import trainer as trainer
from syncd_helpers import Proc

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = Postgres().start()
    yield pg
    pg.close()


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    os.environ.update(S3_ENV)  # boto3 in this process (the storage-level tests)
    server = Moto()
    yield server
    server.close()


def _world(postgres: Postgres, moto: Moto) -> tuple[str, str]:
    name = f"t{os.getpid()}_{next(_names)}"
    return postgres.create_database(name), moto.store_url(name)


@pytest.fixture
def scaled_storage(postgres: Postgres, moto: Moto, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    from flightlog.server.backends.scaled import ScaledStorage

    opened: list[ScaledStorage] = []
    worlds: dict[str, tuple[str, str]] = {}

    def open_one(world: str = "a", cache: str | None = None, **options: Any) -> ScaledStorage:
        if world not in worlds:
            worlds[world] = _world(postgres, moto)
        db, store = worlds[world]
        storage = ScaledStorage(tmp_path / (cache or f"cache{len(opened)}"), db, store,
                                **options)
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        storage.close()


@dataclass
class Cluster:
    db: str
    store: str
    replicas: list[Replica]
    balancer: Haproxy
    postgres: Postgres
    moto: Moto

    @property
    def url(self) -> str:
        return self.balancer.url


@pytest.fixture(scope="session")
def cluster(postgres: Postgres, moto: Moto) -> Iterator[Cluster]:
    db, store = _world(postgres, moto)
    procs: list[Proc] = []
    work = Path(tempfile.mkdtemp(prefix="flightlog-cluster-"))
    replicas = [Replica(db, store, work / f"cache{i}", procs).launch() for i in range(3)]
    try:
        for replica in replicas:  # started together, waited for one by one
            replica.wait_ready()
        balancer = Haproxy([r.port for r in replicas], work)
        yield Cluster(db, store, replicas, balancer, postgres, moto)
        balancer.close()
    finally:
        for proc in procs:
            proc.kill()
            proc.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def read_back(cluster: Cluster, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Materialise runs from PostgreSQL + the object store into a fresh cache; returns
    the cache's data root (``runs/<project>/<run>`` inside, as the embedded layout)."""
    from flightlog.server.backends.scaled import ScaledStorage

    opened: list[ScaledStorage] = []

    def read(project: str, *run_ids: str) -> Path:
        root = tmp_path / f"readback{len(opened)}"
        storage = ScaledStorage(root, cluster.db, cluster.store)
        opened.append(storage)
        for run_id in run_ids:
            storage.read(project, run_id, lambda view: view.state.last_seq)
        return root

    yield read
    for storage in opened:
        storage.close()
