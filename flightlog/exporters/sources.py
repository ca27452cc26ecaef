"""Where exported runs come from: run directories under roots, or a flightlog server read
page by page, one run at a time, so that an export of 10,000 runs holds one run in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: Runs asked of a server per page (it allows up to 10,000).
PAGE = 200


def local_runs(roots: Sequence[str | Path]) -> Iterator[Any]:
    """Every run directory at or below each root, opened, in path order. A directory that
    fails to open is skipped with a FlightlogError reported by the caller's handler."""
    from flightlog.format import open_run
    from flightlog.format.rundir import find_run_dirs

    for root in roots:
        for run_dir in find_run_dirs(root):
            yield open_run(run_dir)


def server_runs(url: str, token: str | None, projects: Sequence[str] = ()
                ) -> Iterator[Any]:
    """Every run on the server (of ``projects`` if given), oldest page first, paged by
    ``offset`` in the server's default order (newest first). A run created while the
    export pages may shift a page; it is then exported by the next incremental export,
    and a run seen twice is exported once (the caller keys by project/id)."""
    from flightlog.api import Api

    seen: set[tuple[str, str]] = set()
    with Api(url, token) as api:
        wanted: list[str | None] = list(projects) or [None]
        for project in wanted:
            offset = 0
            while True:
                page = api.runs(project, limit=PAGE, offset=offset)
                for run in page:
                    if (run.project, run.id) not in seen:
                        seen.add((run.project, run.id))
                        yield run
                if len(page) < PAGE:
                    break
                offset += len(page)
