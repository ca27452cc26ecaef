"""The runs query's ``total``: the number of runs the same project and filters page through
(the runs table's "runs 1-50 of N"), from the index and over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from flightlog.server.index import BadQuery
from flightlog.server.storage import Storage

import flightlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncd"))

from syncd_helpers import Proc, Server

ALPHAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs written straight into a server data directory (runs/<project>/<id>/): the
    server indexes them on start. Project "a": 7 runs, rmse = 10 * alpha, the even ones
    tagged, the last crashed; project "b": 3 runs of the same alphas."""
    data = tmp_path_factory.mktemp("server")
    for project, alphas in (("a", ALPHAS), ("b", ALPHAS[:3])):
        for i, alpha in enumerate(alphas):
            run = flightlog.init(project=project, dir=data / "runs", config={"alpha": alpha},
                                 tags=["even"] if i % 2 == 0 else None)
            run.log({"rmse": 10 * alpha})
            run.finish(exit_code=1 if i == len(ALPHAS) - 1 else 0)
    return data


FILTERS = [
    ([], 7),
    (["config.alpha>=0.3"], 5),
    (["config.alpha>=0.3", "summary.rmse<6"], 3),  # 0.3, 0.4, 0.5
    (["tags.even"], 4),
    (["status=crashed"], 1),
    (["config.alpha>=0.3", "status=finished", "tags.even"], 2),  # 0.3, 0.5
    (["config.alpha>9"], 0),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERS)
def test_count_honours_project_and_filters(data_dir: Path, filters: list[str],
                                           expected: int) -> None:
    index = Storage(data_dir).index
    assert index.count("a", filters) == expected
    assert len(index.query("a", filters, None, 1000, 0)) == expected
    # Without a project: both projects' runs that match.
    both = len(index.query(None, filters, None, 1000, 0))
    assert index.count(None, filters) == both
    assert both >= expected


def test_count_refuses_what_query_refuses(data_dir: Path) -> None:
    index = Storage(data_dir).index
    with pytest.raises(BadQuery):
        index.count("a", ["nonsense.key>1"])
    with pytest.raises(BadQuery):
        index.count("a", ["no operator"])


def test_http_total_is_the_filtered_count_while_runs_are_paged(data_dir: Path) -> None:
    procs: list[Proc] = []
    try:
        url = Server(data_dir, procs).start().url + "/api/v1/runs"
        query = {"project": "a", "filter": ["config.alpha>=0.3"], "order": "summary.rmse",
                 "limit": 2}
        first = httpx.get(url, params={**query, "offset": 0}).json()
        assert first["total"] == 5
        assert [r["config"]["alpha"] for r in first["runs"]] == [0.3, 0.4]
        last = httpx.get(url, params={**query, "offset": 4}).json()
        assert last["total"] == 5 and [r["config"]["alpha"] for r in last["runs"]] == [0.7]
        assert httpx.get(url, params={"project": "a"}).json()["total"] == len(ALPHAS)
        assert httpx.get(url).json()["total"] == len(ALPHAS) + 3
        assert httpx.get(url, params={"project": "a", "filter": "bogus.x>1"}).status_code == 400
    finally:
        for proc in procs:
            proc.kill()
            proc.close()
