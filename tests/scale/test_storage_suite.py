"""The embedded store's exactly-once suite (tests/server/test_storage.py), run unchanged
against the scaled backend: one storage interface, two implementations, one suite.

Each test of that module builds its storage as ``Storage(DIR)``; here that name is bound,
for the test's duration, to a :class:`ScaledStorage` whose cache is DIR, on this test's
own PostgreSQL database and object-store prefix (opening DIR again reopens the same
world, as restarting the embedded server on the same --data does). The one test left out
is about the SQLite index file itself.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_SUITE = Path(__file__).resolve().parent.parent / "server" / "test_storage.py"
_spec = importlib.util.spec_from_file_location("embedded_storage_suite", _SUITE)
assert _spec is not None and _spec.loader is not None
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

#: Every test of the embedded suite but the one about index.sqlite.
SHARED = sorted(name for name in dir(suite) if name.startswith("test_")
                and name != "test_the_index_is_rebuilt_when_lost")


@pytest.mark.parametrize("name", SHARED)
def test_embedded_suite_on_the_scaled_backend(name: str, tmp_path: Path,
                                              scaled_storage: Callable[..., Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from flightlog.server.backends.scaled import ScaledStorage

    opened: list[Any] = []

    def storage(path: Path, **_: Any) -> Any:
        opened.append(scaled_storage(world="suite", cache=str(path)))
        return opened[-1]

    monkeypatch.setattr(suite, "Storage", storage)
    getattr(suite, name)(tmp_path)
    assert opened and all(isinstance(s, ScaledStorage) for s in opened)
