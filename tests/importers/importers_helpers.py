"""Shared by the importer tests: a flightlog run's points read back, and a tree's bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import flightlog

WALL_TIME_TABLE = "import/wall_time"


def points_of(run_dir: Path) -> dict[str, list[tuple[int, Any, float]]]:
    """key -> [(step, value, wall time)] of every scalar history cell, a cell's time being
    its own (from the import's wall-time table) or else its row's ``_timestamp``."""
    run = flightlog.open_run(run_dir)
    own: dict[tuple[str, int], float] = {}
    table = run.tables().get(WALL_TIME_TABLE)
    if table is not None:
        for row in table.to_pylist():
            own[(row["key"], row["step"])] = row["wall_time"]
    histogram_keys = set(run.histogram_keys())
    out: dict[str, list[tuple[int, Any, float]]] = {}
    for row in run.history().to_pylist():
        step, stamp = row.pop("_step"), row.pop("_timestamp")
        for key, value in row.items():
            if value is None or key in histogram_keys:
                continue
            out.setdefault(key, []).append((step, value, own.get((key, step), stamp)))
    return out


def tree_bytes(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``root``."""
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
