"""The ``flightlog`` command: ``ls``, ``show``, ``verify``, ``dump``, ``report``.

Exit status: 0 on success; 1 when ``verify`` or ``dump`` found corruption, or ``status``
was refused by the server (or, without one, a run was set aside); 2 on a usage error or a
path that is not a run. ``bundle``, ``import`` and ``prune`` (across an air gap,
:mod:`flightlog.bundles`) also exit 1 for a refused bundle or receipt and 3 when gaps
remain or the server went away mid-way (rerun).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import FlightlogError, ServerRejected


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _cell(text: str, limit: int = 60) -> str:
    """``text`` for a table cell: control characters escaped, at most ``limit`` long."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def cmd_ls(args: argparse.Namespace) -> int:
    from .format import open_run
    from .format.rundir import default_root, find_run_dirs

    root = Path(args.root) if args.root else default_root()
    if not root.exists():
        import os

        where = ("" if args.root else " ($FLIGHTLOG_DIR, the default without ROOT)"
                 if os.environ.get("FLIGHTLOG_DIR") else
                 " (the default without ROOT when $FLIGHTLOG_DIR is not set)")
        shown = str(root) if root.is_absolute() or args.root else f"./{root}"
        print(f"flightlog ls: no such directory: {shown}{where}", file=sys.stderr)
        return 2
    from .format.runtimes import run_times

    rows = [["PROJECT", "NAME", "ID", "STATUS", "STEPS", "SIZE", "CREATED", "DURATION",
             "UPDATED"]]
    runs = []
    for run_dir in find_run_dirs(root):
        try:
            run = open_run(run_dir)
            took, updated = run_times(run.state)
            runs.append((run.created or 0.0, [run.project, run.name, run.id, run.status,
                                              str(run.steps), _human_size(run.size),
                                              _when(run.created), _duration(took),
                                              _when(updated)]))
        except FlightlogError as exc:
            runs.append((0.0, [run_dir.parent.name, "?", run_dir.name, "unreadable", "-",
                               "-", str(exc), "-", "-"]))
    # Names and messages come from the runs (untrusted): no control characters reach the
    # terminal, and a long name cannot push the table apart.
    rows.extend([_cell(c) for c in row] for _, row in sorted(runs, key=lambda r: r[0]))
    if len(rows) == 1:
        print(f"no runs under {root}")
        return 0
    print(_table(rows))
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and value.get("_type") == "histogram":
        bins = value.get("bins")
        if isinstance(bins, list) and len(bins) >= 2:
            return f"histogram of {len(bins) - 1} bins [{bins[0]:g}, {bins[-1]:g}]"
    return json.dumps(value, default=str) if not isinstance(value, str) else value


def cmd_show(args: argparse.Namespace) -> int:
    from .format import azure_forms, open_run

    if not Path(args.run_dir).exists():
        print(f"flightlog show: no such directory: {args.run_dir}", file=sys.stderr)
        return 2
    run = open_run(args.run_dir)
    history = run.history()
    lines = [
        f"run       {run.project}/{run.id}  {run.name!r}",
        f"dir       {run.dir}",
        f"status    {run.status}" + (f" (exit code {run.exit_code})" if run.exit_code else ""),
        f"created   {_when(run.created)}",
        f"steps     {history.num_rows}",
        f"size      {_human_size(run.size)}",
    ]
    sections: list[tuple[str, dict[str, Any]]] = [
        ("config", run.config), ("summary", run.summary)]
    for title, mapping in sections:
        lines.append(f"{title}:" + ("" if mapping else " (none)"))
        lines.extend(f"  {k} = {_fmt(v)}" for k, v in mapping.items())
    lines.append("tags: " + (", ".join(run.labels) or "(none)"))  # as W&B lists them
    metric_cols = [c for c in history.column_names if not c.startswith("_")]
    lines.append("history columns: " + (", ".join(metric_cols) or "(none)"))
    histograms = run.histogram_keys()
    lines.append("histograms: " + (", ".join(
        f"{k} ({_plural(str(len(run.histograms(k))), 'step')})" for k in histograms)
        or "(none)"))
    metrics = run.get_metrics()
    state = run.state
    # Azure's forms, named as the UI draws them (format/azure_forms.py).
    vectors = azure_forms.vectors(state.metrics, state.lists)
    tables = run.tables()
    other = [k for k in metrics if k not in metric_cols and k not in vectors and k not in tables]
    lines.append("metrics: " + (", ".join(other) or "(none)"))
    lines.append("vectors:" + ("" if vectors else " (none)"))
    lines.extend(f"  {k}: {v.describe()}" for k, v in vectors.items())
    lines.append("tables:" + ("" if tables else " (none)"))
    for key, table in tables.items():
        form = azure_forms.line_table(table)
        lines.append(f"  {key}: " + (form.describe(table.num_rows) if form
                                     else f"table of {table.num_rows} rows"))
    lines.append("charts:" + ("" if state.chart_entries else " (none)"))
    lines.extend(f"  {key}  {entry.kind}" + (f"  step {entry.step}" if entry.step is not None
                                              else "")
                 for key, entry in state.chart_entries.items())
    lines.append("media:" + ("" if state.media else " (none)"))
    for key, items in state.media.items():
        kinds = sorted({item.kind for item in items})
        last = items[-1]
        lines.append(f"  {key}  {len(items)} x {'/'.join(kinds)}"
                     + (f" ({last.width}x{last.height})" if last.width else "")
                     + (f", last at step {last.step}" if last.step is not None else "")
                     + (f"  {last.caption!r}" if last.caption else ""))
    lines.append("files: " + (", ".join(f"{f.name} ({_human_size(f.size)})" for f in
                                         state.files.values()) or "(none)"))
    if run.dropped:
        lines.append(f"dropped records: {run.dropped} (the disk failed for too long)")
    from .runner.command import describe as describe_execution

    lines.extend(describe_execution(run))  # flightlog run: environment, code, console
    for finding in run.findings:
        lines.append(f"corruption: {finding.kind}: {finding.error}")
    print("\n".join(lines))
    return 0


def _is_bundle(path: str) -> bool:
    """A bundle file (SPEC.md §18: a tar file) rather than a segment or a directory."""
    import tarfile

    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        if f.read(8) == b"\x89FLSEG\r\n":
            return False
    return p.suffix == ".flbundle" or tarfile.is_tarfile(p)


def cmd_verify(args: argparse.Namespace) -> int:
    from .format.verify import verify_paths

    bundles = [p for p in args.paths if _is_bundle(p)]
    others = [p for p in args.paths if p not in bundles]
    bad = 0
    if bundles:
        from .bundles.commands import verify_bundles

        bad += verify_bundles(bundles)
    for report in verify_paths(others) if others else []:
        for note in report.notes:
            print(f"note: {note}")
        for problem in report.problems:
            print(f"CORRUPT: {problem}")
        if report.ok:
            seqs = ("" if report.first_seq is None
                    else f", seq {report.first_seq}..{report.last_seq}")
            print(f"ok: {report.path}: {report.segments} segment(s), {report.records} "
                  f"records{seqs}, {report.files} attached file(s) checked")
        else:
            bad += 1
            print(f"CORRUPT: {report.path}: {len(report.problems)} problem(s)")
    return 1 if bad else 0


def cmd_dump(args: argparse.Namespace) -> int:
    from .format.dump import dump_records

    found: list[FlightlogError] = []

    def report(error: FlightlogError) -> None:
        found.append(error)
        print(f"flightlog dump: CORRUPT: {error}", file=sys.stderr)

    for line in dump_records(args.file, report):
        print(line)
    return 1 if found else 0


def _server_and_token(args: argparse.Namespace) -> tuple[str, str | None]:
    import os

    url = args.server or os.environ.get("FLIGHTLOG_SERVER")
    if not url:
        raise SystemExit(f"flightlog {args.command}: give --server URL or set FLIGHTLOG_SERVER")
    return url, args.token if args.token is not None else os.environ.get("FLIGHTLOG_TOKEN")


def cmd_server(args: argparse.Namespace) -> int:
    import os

    from .server import serve

    token = args.token if args.token is not None else os.environ.get("FLIGHTLOG_TOKEN")
    if (args.db is None) != (args.store is None):
        raise SystemExit("flightlog server: give both --db and --store, or neither")
    if args.db is None and args.data is None:
        raise SystemExit("flightlog server: give --data DIR (or --db and --store)")
    serve(args.data, host=args.host, port=args.port, token=token or None,
          allowed_hosts=args.allowed_host, db=args.db, store=args.store)
    return 0


def _syncer(args: argparse.Namespace, log: Any = None, on_unreachable: Any = None,
            verbose: bool = False) -> Any:
    from .syncd import HttpSyncClient, PositionStore, Syncer

    url, token = _server_and_token(args)
    client = HttpSyncClient(url, token, timeout=args.timeout)
    return Syncer([Path(p) for p in args.paths], client, PositionStore(args.state), log=log,
                  on_unreachable=on_unreachable, verbose=verbose,
                  rescan_interval=getattr(args, "rescan", None) or 2.0)


def _lost(shipper: Any) -> str:
    """What the run's local log lost to corruption ("" when nothing)."""
    if shipper.lost:
        ranges = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in shipper.lost[:5])
        return (f"{shipper.lost_records} records lost to corruption in the local log "
                f"(seq {ranges}{', ...' if len(shipper.lost) > 5 else ''})")
    if shipper.corruption:
        return (f"corruption in the local log ({len(shipper.corruption)} finding(s), first: "
                f"{shipper.corruption[0]})")
    return ""


def _steps_and_files(run_dir: Path) -> tuple[str, str]:
    """The run's history steps and attached files as read locally ("?" when unreadable):
    records are the protocol's unit, steps and files the user's."""
    from .format import open_run

    try:
        state = open_run(run_dir).state
        return str(state.steps), str(len(state.files))
    except FlightlogError:
        return "?", "?"


def _plural(count: str, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == "1" else "s")


def cmd_sync(args: argparse.Namespace) -> int:
    until = _dt.datetime.now() + _dt.timedelta(seconds=args.retry_for)
    said = False

    def unreachable(error: str) -> None:
        # Once, at once: a silent minute of retrying looks like a hang.
        nonlocal said
        if not said:
            said = True
            print(f"flightlog sync: cannot connect to the server ({error}); "
                  f"retrying until {until:%H:%M:%S} (--retry-for {args.retry_for:g} s; "
                  f"give --retry-for SECONDS to change that)", file=sys.stderr, flush=True)

    from flightlog.syncd.syncprogress import SyncProgress

    syncer = _syncer(args, on_unreachable=unreachable)
    try:
        with SyncProgress(syncer):  # a bar on a terminal's stderr only
            slots = syncer.sync_once(timeout=args.retry_for)
    finally:
        syncer.client.close()
    if not slots:
        print("no runs found under " + ", ".join(args.paths), file=sys.stderr)
        return 0
    failed = 0
    for run_id, slot in sorted(slots.items()):
        shipper = slot.shipper
        delivered = slot.shipper.caught_up and not slot.error and not slot.set_aside
        lost = _lost(shipper)
        failed += not delivered or bool(lost)
        state = ("set aside" if slot.set_aside else "not acknowledged" if not delivered
                 else "damaged" if lost else "ok")
        reasons = "; ".join(r for r in (slot.error, lost) if r)
        steps, files = _steps_and_files(shipper.dir)
        # Steps and files are only claimed shipped when every record is acknowledged.
        what = (f"{_plural(steps, 'step')}, {_plural(files, 'file')}, " if delivered
                else f"of {_plural(steps, 'step')}, {_plural(files, 'file')}: ")
        print(f"{state:16} {shipper.project}/{run_id}  {what}{shipper.acked or 0} records "
              f"acknowledged" + (f"  ({reasons})" if reasons else ""))
    return 1 if failed else 0


def cmd_syncd(args: argparse.Namespace) -> int:
    import signal

    syncer = _syncer(args, log=lambda line: print(f"flightlog syncd: {line}",
                                                  file=sys.stderr, flush=True),
                     verbose=args.verbose)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: syncer.stop())
    print(f"flightlog syncd: shipping {', '.join(args.paths)} to {syncer.client.url}",
          file=sys.stderr, flush=True)
    try:
        syncer.follow(poll=args.poll)
    finally:
        syncer.client.close()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import os

    if args.receipts:
        from .bundles.commands import run_status

        return run_status(args)
    from .format import RunLogReader
    from .format.rundir import find_run_dirs
    from .syncd import HttpSyncClient, PositionStore
    from .syncd.shipper import run_identity

    url = args.server or os.environ.get("FLIGHTLOG_SERVER")
    token = args.token if args.token is not None else os.environ.get("FLIGHTLOG_TOKEN")
    client = HttpSyncClient(url, token) if url else None
    positions = PositionStore(args.state)
    refused = False
    rows = [["RUN", "LOCAL", "ACKED", "LAG", "STEPS", "FILES", "AGE", "LAST ERROR"]]
    for root in args.paths:
        for run_dir in find_run_dirs(root):
            identity = run_identity(run_dir)
            if identity is None:
                continue
            project, run_id = identity
            local = RunLogReader(run_dir).poll()
            local_seq = local[-1].seq + 1 if local else 0
            pos = positions.load(run_id)
            # Without a server, the last sync's figure stands only if that sync succeeded.
            acked: int | None = 0 if pos is None else None if pos.last_error else pos.acked_seq
            error = pos.last_error if pos else "never synced"
            refused |= client is None and pos is not None and pos.set_aside
            if client is not None:
                # Only what the server confirms now is shown as acknowledged: a refusal
                # or no answer leaves it unknown ("?"), never the last remembered figure.
                try:
                    acked, error = client.position(project, run_id).next_seq, ""
                except ServerRejected as exc:
                    acked, error, refused = None, str(exc), True
                except FlightlogError as exc:
                    acked, error = None, str(exc)
            age = f"{time.time() - pos.updated:.0f}s" if pos else "-"
            rows.append([f"{project}/{run_id}", str(local_seq),
                         "?" if acked is None else str(acked),
                         "?" if acked is None else str(local_seq - acked),
                         *_steps_and_files(Path(run_dir)), age, error or "-"])
    if client is not None:
        client.close()
    print(_table(rows))
    return 1 if refused else 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    out = write_report(args.run_dirs, args.output)
    print(f"wrote {out} ({_human_size(out.stat().st_size)}): open it in a browser, no "
          f"network needed")
    return 0


def _sync_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="run directories or roots of them")
    p.add_argument("--server", help="server URL (default $FLIGHTLOG_SERVER)")
    p.add_argument("--token", help="bearer token (default $FLIGHTLOG_TOKEN)")
    p.add_argument("--state", help="where acknowledged positions are kept (default "
                   "$FLIGHTLOG_SYNC_STATE, else ~/.local/state/flightlog/sync)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for each server answer (default 10)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flightlog", description="Offline-first experiment "
                                     "tracking. Run directories are specified in SPEC.md.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ls", help="one line per run under ROOT")
    p.add_argument("root", nargs="?", help="default: $FLIGHTLOG_DIR, else ./flightlog")
    p.set_defaults(func=cmd_ls)
    p = sub.add_parser("show", help="a run's config, summary, metrics, tables, charts, "
                                    "media and files")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("verify", help="check every frame, record and attached file; exit 1 "
                       "on corruption")
    p.add_argument("paths", nargs="+", help="run directories, roots of them, segment files")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("dump", help="records of a segment file or run directory as JSON lines")
    p.add_argument("file")
    p.set_defaults(func=cmd_dump)
    p = sub.add_parser("server", help="serve runs (embedded SQLite + files under --data)")
    p.add_argument("--data", help="storage directory (with --db/--store: this replica's "
                   "disposable cache; default a temporary directory)")
    p.add_argument("--db", metavar="URL", help="PostgreSQL (postgresql://...): with --store, "
                   "the scaled backend, many replicas behind one URL (extra 'scale')")
    p.add_argument("--store", metavar="URL", help="object store: s3://BUCKET/PREFIX"
                   "[?endpoint=http://HOST:PORT] (with --db)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "%(default)s: this machine only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default "
                   "%(default)s)")
    p.add_argument("--token", help="required bearer token (default $FLIGHTLOG_TOKEN)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a host name the server answers for besides localhost, IP "
                   "addresses and --host (repeatable; .example.com for a domain and its "
                   "subdomains; * for any, which disables the DNS-rebinding check)")
    p.set_defaults(func=cmd_server)
    p = sub.add_parser("sync", help="ship every run under PATH once; exit 0 when all is "
                       "acknowledged")
    _sync_options(p)
    p.add_argument("--retry-for", type=float, default=60.0,
                   help="seconds to keep retrying transient failures (default 60)")
    p.set_defaults(func=cmd_sync)
    p = sub.add_parser("syncd", help="follow runs under PATH as they grow; SIGTERM stops")
    _sync_options(p)
    p.add_argument("--poll", type=float, help="scan every POLL seconds instead of using "
                   "filesystem events (NFS, Lustre); automatic where needed")
    p.add_argument("--rescan", type=float, default=2.0, help="with filesystem events: "
                   "seconds between full rescans, which catch what events missed "
                   "(default 2)")
    p.add_argument("-v", "--verbose", action="store_true", help="also a line for each "
                   "shipping round that sent something (default: one line per run found, "
                   "finished shipping, failing or recovering)")
    p.set_defaults(func=cmd_syncd)
    p = sub.add_parser("report", help="one self-contained HTML file of runs (run pages, and "
                       "their comparison): opens from disk without a network")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("-o", "--output", default="report.html", help="default: report.html")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("status", help="records written locally vs acknowledged by the server")
    _sync_options(p)
    p.add_argument("--receipts", metavar="DIR", help="across an air gap: records bundled "
                   "(ledgers) and acknowledged by the import receipts in DIR, per run")
    p.add_argument("--dest", help="with --receipts: this destination's ledger only")
    p.add_argument("--bundle-state", help="with --receipts: the ledgers' directory "
                   "(default $FLIGHTLOG_BUNDLE_STATE, else ~/.local/state/flightlog/bundles)")
    p.set_defaults(func=cmd_status)
    _bundle_parsers(sub)
    from .runner.command import add_parser as add_run_parser

    add_run_parser(sub)
    from .exporters.cli import add_parser as add_export_parser

    add_export_parser(sub)
    return parser


def cmd_bundle(args: argparse.Namespace) -> int:
    from .bundles.commands import guard, run_bundle

    return guard(run_bundle, args)


def cmd_import(args: argparse.Namespace) -> int:
    from .bundles.commands import guard, run_import

    return guard(run_import, args)


def cmd_prune(args: argparse.Namespace) -> int:
    from .bundles.commands import guard, run_prune

    return guard(run_prune, args)


#: ``flightlog import SOURCE ...`` with one of these first is an import from another
#: tracker, not of bundles: routed before the bundle parser sees it.
FOREIGN_SOURCES = ("wandb", "tensorboard", "mlflow")


def _import_foreign(argv: Sequence[str]) -> int:
    """``flightlog import wandb|tensorboard|mlflow ...`` (:mod:`flightlog.importers`)."""
    from .importers.cli import main as import_main

    return import_main(argv)


def _bundle_parsers(sub: Any) -> None:
    """Across an air gap (SPEC.md §18). Exit codes: 0 ok, 1 refused or corrupt, 2 usage,
    3 incomplete (gaps remain, or the server went away mid-way: rerun)."""
    p = sub.add_parser("bundle", help="one bundle file of what DEST does not have yet "
                       "(incremental; live runs up to their last complete frame)")
    p.add_argument("roots", nargs="+", metavar="ROOT", help="run directories or roots of them")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="where the bundle "
                   "file is written (e.g. the removable disk)")
    p.add_argument("--dest", default="default", help="the receiving side's name; one ledger "
                   "per destination (default: default)")
    p.add_argument("--state", help="where ledgers are kept (default $FLIGHTLOG_BUNDLE_STATE, "
                   "else ~/.local/state/flightlog/bundles)")
    p.add_argument("--since-receipt", nargs="+", metavar="RECEIPT", help="receipts carried "
                   "back: bundle everything the other side does not hold (repairs a lost "
                   "bundle)")
    p.add_argument("--resend-unacked", action="store_true", help="bundle again everything "
                   "no receipt acknowledged so far")
    p.add_argument("--repeat", type=int, default=0, metavar="K", help="also hold again what "
                   "the last K bundles held (a one-way link: a lost bundle is covered by "
                   "the next ones; default %(default)s)")
    p.set_defaults(func=cmd_bundle)
    p = sub.add_parser("import", help="verify bundles in full, then commit them to a server "
                       "(idempotent, any order); writes a receipt")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("--server", help="a running server's URL")
    p.add_argument("--token", help="bearer token (default $FLIGHTLOG_TOKEN)")
    p.add_argument("--data", metavar="DIR", help="a server's data directory, no server "
                   "running on it")
    p.add_argument("-o", "--output", default=".", metavar="DIR",
                   help="where the receipt is written (default: .)")
    p.add_argument("--hold", metavar="DIR", help="where bundles that arrived ahead of "
                   "their predecessor wait, retried by every import (default: OUTPUT/held)")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("prune", help="delete segments and attached files a receipt "
                       "acknowledges (never a run's last segment)")
    p.add_argument("roots", nargs="+", metavar="ROOT")
    p.add_argument("--acked-by", nargs="+", required=True, metavar="RECEIPT")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted")
    p.set_defaults(func=cmd_prune)


def _version() -> str:
    from . import __version__

    return f"flightlog {__version__}"


def _suggest_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """A misspelt subcommand: exit 2 naming the nearest ones (argparse alone lists all)."""
    import difflib

    commands = next(a for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    word = next((a for a in argv if not a.startswith("-")), None)
    if word is None or word in commands:
        return
    near = difflib.get_close_matches(word, list(commands), n=3, cutoff=0.6)
    if near:
        parser.print_usage(sys.stderr)
        parser.exit(2, f"flightlog: unknown command {word!r}; did you mean "
                       f"{' or '.join(repr(n) for n in near)}?\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"] and argv[1:2] and argv[1] in FOREIGN_SOURCES:
        return _import_foreign(argv[1:])
    parser = build_parser()
    _suggest_command(parser, argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FlightlogError as exc:
        print(f"flightlog {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
