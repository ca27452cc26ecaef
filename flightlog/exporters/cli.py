"""``flightlog export parquet|mlflow``: argument parsing and the summary printed.

Exit status: 0 when every run was exported; 1 when some run was left out (each named on
stderr, with why); 2 on a usage error or when the export could not go on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any


def add_parser(sub: Any) -> None:
    """Add ``export`` with its ``parquet`` and ``mlflow`` subcommands to ``sub``."""
    p = sub.add_parser("export", help="runs to Parquet (DuckDB, polars, pyarrow) or into an "
                       "MLflow tracking server; incremental")
    kinds = p.add_subparsers(dest="export_kind", required=True)
    q = kinds.add_parser("parquet", help="a hive-partitioned Parquet dataset "
                         "(docs/parquet-layout.md); a rerun writes only what is new")
    _sources(q)
    q.add_argument("-o", "--output", required=True, metavar="DIR")
    q.add_argument("--since-manifest", metavar="FILE", help="continue from this manifest of "
                   "an earlier export (default DIR/manifest.json)")
    q.add_argument("--wide", action="store_true", help="also wide/: each run's history as "
                   "open_run(...).history() has it, one column per key")
    q.set_defaults(func=cmd_export_parquet)
    m = kinds.add_parser("mlflow", help="into a running MLflow tracking server: params, "
                         "metrics, tags, artifacts, status; resumable (a ledger)")
    _sources(m)
    m.add_argument("--tracking-uri", required=True, metavar="URL")
    m.add_argument("--experiment", metavar="NAME", help="MLflow experiment of every run "
                   "(default: each run's project)")
    m.add_argument("--ledger", metavar="DIR", help="where progress is recorded (default "
                   "$XDG_STATE_HOME/flightlog/mlflow/..., else ~/.local/state/...)")
    m.set_defaults(func=cmd_export_mlflow)


def _sources(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="ROOT_OR_SERVER",
                   help="run directories, roots of them, or http(s):// server URLs")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="a flightlog server to export from (repeatable)")
    p.add_argument("--token", help="bearer token (default $FLIGHTLOG_TOKEN)")
    p.add_argument("--project", action="append", default=[], help="from a server: only "
                   "this project (repeatable)")


def _runs(args: argparse.Namespace) -> Iterator[Any]:
    import os

    from .sources import local_runs, server_runs

    token = args.token or os.environ.get("FLIGHTLOG_TOKEN")
    servers = [s for s in args.sources if s.startswith(("http://", "https://"))]
    roots = [s for s in args.sources if s not in servers]
    yield from local_runs(roots)
    for url in [*servers, *args.server]:
        yield from server_runs(url, token, args.project)


def _check_sources(args: argparse.Namespace) -> bool:
    from pathlib import Path

    if not args.sources and not args.server:
        print(f"flightlog export {args.export_kind}: name run roots or a --server",
              file=sys.stderr)
        return False
    for s in args.sources:
        if not s.startswith(("http://", "https://")) and not Path(s).exists():
            print(f"flightlog export {args.export_kind}: no such directory: {s}",
                  file=sys.stderr)
            return False
    return True


def cmd_export_parquet(args: argparse.Namespace) -> int:
    from .to_parquet import export_parquet

    if not _check_sources(args):
        return 2
    report = export_parquet(_runs(args), args.output, since_manifest=args.since_manifest,
                            wide=args.wide)
    print(f"exported {report.runs} runs to {args.output}: {report.parts} new parts, "
          f"{report.points} points, {report.bytes / 1e6:.1f} MB (manifest "
          f"{args.output}/manifest.json)")
    for run, why in report.skipped:
        print(f"flightlog export parquet: {run} left out: {why}", file=sys.stderr)
    return 1 if report.skipped else 0


def cmd_export_mlflow(args: argparse.Namespace) -> int:
    from .to_mlflow import export_mlflow

    if not _check_sources(args):
        return 2
    report = export_mlflow(_runs(args), args.tracking_uri, experiment=args.experiment,
                           ledger_dir=args.ledger)
    print(f"exported {report.runs} runs to {args.tracking_uri}: {report.metrics} new "
          f"metric points, {report.params} params, {report.artifacts} artifacts")
    if report.not_numeric:
        print(f"  {report.not_numeric} history values are not numbers (strings): MLflow "
              f"metrics cannot hold them; they are in the Parquet export")
    for note in report.truncated:
        print(f"  truncated to fit MLflow (a param's full value: artifact "
              f"flightlog/params.json): {note}")
    for note in report.renamed:
        print(f"  renamed to a valid MLflow key: {note}")
    for run, why in report.failed:
        print(f"flightlog export mlflow: {run} left out: {why}", file=sys.stderr)
    return 1 if report.failed else 0
