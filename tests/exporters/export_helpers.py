"""Helpers of the export tests: runs with every kind of history value, and the points of
a Parquet dataset as DuckDB, polars and pyarrow.dataset each read it (no flightlog import
in the reading), normalised so that exact equality is bit-exact for floats."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import flightlog

#: The hive partition columns are strings whatever the names look like ("12345").
DUCKDB_HIVE = "hive_partitioning=true, hive_types={'project': VARCHAR, 'run': VARCHAR}"


def exact(value: Any) -> Any:
    """A value compared bit for bit: floats by their IEEE bytes (-0.0 is not 0.0), every
    NaN alike (the reader's NaN payload is not the point)."""
    if isinstance(value, float):
        return ("nan",) if math.isnan(value) else ("f", struct.pack("<d", value))
    return value


def make_mixed_run(root: Path, run_id: str, project: str = "p.1", steps: int = 6) -> Path:
    """A finished run holding every class of history value: floats with NaN, ±Inf, -0.0
    and a subnormal, ints at the i64 ends, strings (empty, "null", non-ASCII), bools, a
    key with nulls, a key that is only null, and a step at which no key has a value."""
    run = flightlog.init(project=project, id=run_id, name=f"run-{run_id}", dir=root,
                         quiet=True, config={"alpha": 0.5, "layers": 3, "opt": {"name": "adam"},
                                             "flag": True, "note": "x" * 700})
    floats = [1.5, math.nan, -math.inf, math.inf, -0.0, 5e-324]
    ints = [2**62, -(2**63), 2**63 - 1, 0, -1, 7]
    strs = ["é", "", "null", "a\nb", "0", "x"]
    for i in range(steps):
        row: dict[str, Any] = {"loss": floats[i % 6], "epoch": ints[i % 6],
                               "label": strs[i % 6], "flag": i % 2 == 0,
                               "maybe": None if i % 3 else i}
        if i == 2:
            row["nothing"] = None
        run.log(row)
    run.log({"maybe": None})  # a step where no key has a value
    run.log({"loss": 0.25})
    run.summary["best"] = 0.25
    run.finish()
    return Path(run.dir)


def expected_points(run_dir: Path) -> list[tuple[Any, ...]]:
    """(project, run, step, timestamp, key, kind, value) of every point of open_run's
    history: each non-null cell, and (key None) each step where no key has a value."""
    run = flightlog.open_run(run_dir)
    history = run.history()
    kind = {"double": "value_double", "int64": "value_int", "string": "value_str",
            "bool": "value_bool"}
    rows = history.to_pylist()
    out = []
    keys = [f for f in history.schema if f.name not in ("_step", "_timestamp")]
    for row in rows:
        cells = [(f.name, kind[str(f.type)], row[f.name]) for f in keys
                 if row[f.name] is not None]
        for key, k, value in cells:
            out.append((run.project, run.id, row["_step"], exact(row["_timestamp"]), key, k,
                        exact(value)))
        if not cells:
            out.append((run.project, run.id, row["_step"], exact(row["_timestamp"]), None,
                        None, None))
    return sorted(out, key=repr)


_VALUES = ("value_double", "value_int", "value_str", "value_bool")


def normalise(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Reader rows (dicts) as expected_points tuples; a row with two values fails."""
    out = []
    for r in records:
        held = [(k, r[k]) for k in _VALUES if r[k] is not None]
        assert len(held) <= 1, f"a row with {len(held)} values: {r}"
        k, value = held[0] if held else (None, None)
        out.append((r["project"], r["run"], r["step"], exact(r["timestamp"]), r["key"], k,
                    exact(value)))
    return sorted(out, key=repr)


def read_duckdb(out: Path) -> list[dict[str, Any]]:
    import duckdb

    con = duckdb.connect()
    rel = con.sql(f"select * from read_parquet('{out}/history/**/*.parquet', {DUCKDB_HIVE})")
    names = rel.columns
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def read_polars(out: Path) -> list[dict[str, Any]]:
    import polars as pl

    frame = pl.scan_parquet(f"{out}/history/**/*.parquet", hive_partitioning=True,
                            hive_schema={"project": pl.String, "run": pl.String}).collect()
    return frame.to_dicts()


def read_pyarrow(out: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.dataset as ds

    part = ds.partitioning(pa.schema([("project", pa.string()), ("run", pa.string())]),
                           flavor="hive")
    return ds.dataset(out / "history", format="parquet", partitioning=part
                      ).to_table().to_pylist()


READERS = {"duckdb": read_duckdb, "polars": read_polars, "pyarrow": read_pyarrow}
