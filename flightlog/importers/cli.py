"""``flightlog import wandb|tensorboard|mlflow ...``: the command line of the importers.

Exit status: 0 when every source was imported whole; 1 when some input was damaged (what
was intact is imported, the damage is listed); 2 on a usage error or a source that is
missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from flightlog.errors import FlightlogError

from ._target import ImportReport

__all__ = ["main"]

_HELP = {
    "wandb": ("PATH", "wandb/offline-run-*/ directories and run-*.wandb files (or folders "
                      "holding them)"),
    "tensorboard": ("LOGDIR", "directories of events.out.tfevents.* files: a run per "
                              "directory that holds them"),
    "mlflow": ("MLRUNS_DIR", "an MLflow file store (mlruns/); or --tracking-uri"),
}


def _parser(source: str) -> argparse.ArgumentParser:
    metavar, help_text = _HELP[source]
    p = argparse.ArgumentParser(
        prog=f"flightlog import {source}",
        description=f"Import {source} runs as flightlog run directories. Run ids are "
                    f"derived from the source, so importing again adds only what is new.")
    p.add_argument("paths", nargs="*" if source == "mlflow" else "+", metavar=metavar,
                   help=help_text)
    p.add_argument("-o", "--output", metavar="ROOT", help="flightlog root to write to "
                   "(default: $FLIGHTLOG_DIR, else ./flightlog)")
    p.add_argument("--project", help="put every imported run in this project (default: "
                   + {"wandb": "the W&B project", "tensorboard": "the LOGDIR's name",
                      "mlflow": "the experiment's name"}[source] + ")")
    if source == "mlflow":
        p.add_argument("--tracking-uri", metavar="URL", help="read through MlflowClient "
                       "from this tracking URI instead (needs 'flightlog[mlflow]')")
    return p


def _run(source: str, args: argparse.Namespace, root: Path) -> list[ImportReport]:
    if source == "tensorboard":
        from .tensorboard import import_tensorboard

        for path in args.paths:
            if not Path(path).exists():
                raise FileNotFoundError(path)
        return import_tensorboard(args.paths, root, project=args.project)
    if source == "mlflow":
        from .mlflow import import_mlflow_server, import_mlflow_store

        if args.tracking_uri:
            if args.paths:
                raise _Usage("give either MLRUNS_DIR or --tracking-uri, not both")
            return import_mlflow_server(args.tracking_uri, root, project=args.project)
        if len(args.paths) != 1:
            raise _Usage("give one MLRUNS_DIR (or --tracking-uri URL)")
        if not Path(args.paths[0]).is_dir():
            raise FileNotFoundError(args.paths[0])
        return import_mlflow_store(args.paths[0], root, project=args.project)
    importer = _wandb_importer()
    return list(importer(args.paths, root, project=args.project))


def _wandb_importer() -> Callable[..., list[ImportReport]]:
    import importlib

    try:
        wandb_importer = importlib.import_module("flightlog.importers.wandb")
    except ModuleNotFoundError as exc:
        if exc.name != "flightlog.importers.wandb":
            raise
        raise _Usage("the W&B importer is not part of this installation "
                     "(flightlog.importers.wandb is missing)") from None
    found: Callable[..., list[ImportReport]] = wandb_importer.import_wandb
    return found


class _Usage(Exception):
    pass


def main(argv: Sequence[str]) -> int:
    """``argv``: the source word and its arguments (what follows ``flightlog import``)."""
    source = argv[0]
    args = _parser(source).parse_args(list(argv[1:]))
    root = Path(args.output or os.environ.get("FLIGHTLOG_DIR") or "flightlog")
    try:
        reports = _run(source, args, root)
    except _Usage as exc:
        print(f"flightlog import {source}: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"flightlog import {source}: no such file or directory: "
              f"{exc.filename or exc}", file=sys.stderr)
        return 2
    except FlightlogError as exc:
        print(f"flightlog import {source}: {exc}", file=sys.stderr)
        return 2
    if not reports:
        print(f"flightlog import {source}: found no runs in {' '.join(args.paths)}",
              file=sys.stderr)
        return 2
    for report in reports:
        print(report.describe())
    damaged = sum(1 for r in reports if r.problems)
    new = sum(1 for r in reports if not r.unchanged)
    print(f"{len(reports)} run(s) under {root}: {new} written, {len(reports) - new} "
          f"unchanged" + (f", {damaged} with damaged input (intact part imported)"
                          if damaged else ""))
    return 1 if damaged else 0
