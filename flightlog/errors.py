"""Every exception flightlog raises.

The tree (each class says in its docstring whether the condition is recoverable)::

    FlightlogError
      FormatError(FlightlogError, ValueError)   the bytes of a run directory are wrong
        CorruptRecord                           bad sync/header CRC/constraint: resynchronise
          RecordTooLarge                        a frame or record over the 64 KiB bound
          BadFileHeader                         a segment's file header fails magic/CRC
          CorruptPayload                        a frame's payload does not decode
        BadRecord                               a known record type with a malformed body
          BadAttachedName                       a sha256/blobs name that is no SHA-256
        ChecksumMismatch                        payload CRC failed; has .got/.want
        UnsupportedVersion                      a newer major format; has .found/.supported
        SequenceError                           a gap or overlap in record sequence numbers
      TruncatedRecord                           a torn tail: not an error of the data
      InvalidValue(FlightlogError, TypeError)   a logged value of an unsupported type
      InvalidKey(FlightlogError, ValueError)    an empty or non-string metric key
      StepError(FlightlogError, ValueError)     a step lower than the run's current step
      WriterError                               the training-side writer cannot go on
        WriterClosed                            log/upload after finish()
        RunLocked                               another live writer owns the run directory
      RunNotFound(FlightlogError, FileNotFoundError)
      RunnerError                               flightlog run cannot start the script
        SnapshotTooLarge                        the code snapshot is over its caps
      FileNotInRun(FlightlogError, KeyError)    download_file of a name never uploaded
      UnsafeFileName(FlightlogError, ValueError) a file name that cannot name a local file
      MissingExtra(FlightlogError, ImportError) an optional dependency is not installed
      ExportError                               an export (Parquet, MLflow) cannot go on
      BundleError                               an air-gap bundle, receipt or prune failed
        BundleRefused                           a truncated/tampered/foreign bundle or receipt
      WorkspaceConfigError(FlightlogError, ValueError) a workspace config file that is wrong
      ForeignFormatError(FlightlogError, ValueError) another tool's file (TFRecord, .wandb,
                                                 mlruns) that is malformed; importers report it
      SyncError                                 shipping runs to a server failed
        TransportError                          connection, timeout: retried with backoff
        ServerRejected                          an HTTP error answer; has .status_code, .code
        ServerProtocolError                     an answer that breaks the protocol; has .url
          RunDiverged                           the server's copy is not this run's records

Every error carries structured context (``path``, ``offset``, ``key``) besides its
message, so callers match on types and attributes, never on message text. Errors of
msgpack, zstandard and pyarrow are translated at one boundary per codec
(``flightlog.format._codec_errors``); callers never see them.

The byte layout these errors talk about is specified in SPEC.md.
"""

from __future__ import annotations

__all__ = [
    "BadAttachedName",
    "BadFileHeader",
    "BadRecord",
    "BundleError",
    "BundleRefused",
    "ChecksumMismatch",
    "CorruptPayload",
    "CorruptRecord",
    "ExportError",
    "FileNotInRun",
    "FlightlogError",
    "ForeignFormatError",
    "FormatError",
    "InvalidKey",
    "InvalidValue",
    "MissingExtra",
    "RecordTooLarge",
    "RunDiverged",
    "RunLocked",
    "RunNotFound",
    "RunnerError",
    "SequenceError",
    "ServerProtocolError",
    "ServerRejected",
    "SnapshotTooLarge",
    "StepError",
    "SyncError",
    "TransportError",
    "TruncatedRecord",
    "UnreadableFile",
    "UnsafeFileName",
    "UnsupportedVersion",
    "WorkspaceConfigError",
    "WriterClosed",
    "WriterError",
]


class FlightlogError(Exception):
    """Root of every exception flightlog raises.

    Attributes:
        path: the file or directory concerned, when there is one.
        offset: the byte offset in ``path``, when the error is about bytes.
        key: the metric, config or file key concerned, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        self.key = key
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{': '.join([', '.join(where), self.message]) if where else self.message}"


class FormatError(FlightlogError, ValueError):
    """Bytes that do not follow SPEC.md. Not recoverable for that frame; readers in
    salvage mode skip the frame and resynchronise (SPEC.md §5).

    Attributes:
        skipped: the half-open byte range ``(start, end)`` a salvaging reader skipped
            because of this finding (SPEC.md §5.1), when it skipped bytes.
    """

    skipped: tuple[int, int] | None = None


class CorruptRecord(FormatError):
    """A frame header or file header that fails its checks (sync bytes, header CRC,
    reserved bits, lengths), or a payload that does not decode. Readers resynchronise."""


class RecordTooLarge(CorruptRecord):
    """A frame or record over the 64 KiB bound (SPEC.md §4.1). From a writer: the logged
    value is too large for one record and nothing was written."""


class BadFileHeader(CorruptRecord):
    """A segment whose 16-byte file header has the wrong magic or header CRC (SPEC.md
    §3.1). Salvaging readers report it and still read the segment's frames."""


class CorruptPayload(CorruptRecord):
    """A frame whose payload passed its CRC but does not decompress or decode into its
    records (SPEC.md §5 rule 6). Readers skip exactly that frame."""


class ChecksumMismatch(FormatError):
    """A payload whose CRC does not match its header. The header is trusted, so a reader
    skips exactly this frame. Attributes ``got`` and ``want`` hold the masked CRCs."""

    def __init__(self, message: str, *, got: int, want: int, path: str | None = None,
                 offset: int | None = None) -> None:
        self.got = got
        self.want = want
        super().__init__(message, path=path, offset=offset)


class UnsupportedVersion(FormatError):
    """A segment written by a newer major format version. Not recoverable by this
    reader: upgrade flightlog. Attributes ``found`` and ``supported`` are (major, minor)."""

    def __init__(self, message: str, *, found: tuple[int, int], supported: tuple[int, int],
                 path: str | None = None, offset: int | None = None) -> None:
        self.found = found
        self.supported = supported
        super().__init__(message, path=path, offset=offset)


class SequenceError(FormatError):
    """Record sequence numbers with a gap (records lost) or an overlap (duplicates)."""


class BadRecord(FormatError):
    """A record of a known type whose body lacks a field its type needs or has one of the
    wrong type (SPEC.md §8). The record is left out of the run's state. ``seq`` is its
    sequence number; ``offset`` is that of the frame holding it."""

    seq: int | None = None


class BadAttachedName(BadRecord):
    """A record whose ``sha256`` or ``blobs`` is not 64 lowercase hex digits (SPEC.md
    §10.1): it is never used as a path, and the record is left out of the run's state."""


class UnreadableFile(FormatError):
    """An attached table's or chart's file that a reader cannot use (SPEC.md §10.4):
    absent or unreadable, or breaking a limit. Reported for that table or chart only; the
    rest of the run reads. ``reason`` is §10.4's name of the rule broken (``absent``,
    ``size``, ``rows``, ``values``, ``format``); ``key`` the record's key, ``sha256`` the
    file's name."""

    reason: str = "format"
    sha256: str | None = None


class TruncatedRecord(FlightlogError):
    """A torn tail: the file ends inside a frame. Not an error of the data: the writer
    has not finished it yet (retry when the file grows) or died while writing it."""


class InvalidValue(FlightlogError, TypeError):
    """A logged value flightlog cannot store. Recoverable: the call wrote nothing and the
    run goes on."""


class InvalidKey(FlightlogError, ValueError):
    """An empty or non-string key. Recoverable: the call wrote nothing."""


class StepError(FlightlogError, ValueError):
    """``step=`` lower than the run's current step. Recoverable: the call wrote nothing."""


class WriterError(FlightlogError):
    """The training-side writer cannot go on (a bug in its background thread, surfaced
    on the next call). I/O errors are not raised: they are retried (SPEC.md §12)."""


class WriterClosed(WriterError):
    """A call on a run after ``finish()``."""


class RunLocked(WriterError):
    """Another live writer holds the run directory's lock (SPEC.md §13)."""


class RunNotFound(FlightlogError, FileNotFoundError):
    """No run directory (or no run with that id) where one was named."""


class FileNotInRun(FlightlogError, KeyError):
    """A file name that was never uploaded to the run."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0] if self.args else ""


class UnsafeFileName(FlightlogError, ValueError):
    """A file name (from a run's records or a server's answer) that would not name one
    file in the target directory: empty, ``.``, ``..``, or with a NUL byte. Nothing was
    written; pass an explicit ``output_file_path``."""


class MissingExtra(FlightlogError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class ExportError(FlightlogError):
    """An export (``flightlog export parquet``/``mlflow``) cannot go on: its manifest or
    ledger (``path``) is damaged, or the target refused what was sent. What was written
    before stays consistent; fix the cause and rerun (exports are incremental)."""


class WorkspaceConfigError(FlightlogError, ValueError):
    """A workspace config file (``flightlog.azureml``) that cannot be used: unreadable, not
    a JSON object, too large, an unknown key or a value of the wrong type. ``path`` names
    the file and ``key`` the offending key. Nothing was started; fix the file."""


class SyncError(FlightlogError):
    """Shipping a run to a server failed."""


class TransportError(SyncError):
    """The server could not be reached or did not answer in time (connection refused,
    reset, timeout). Recoverable: retried with capped exponential backoff."""


class ServerRejected(SyncError):
    """The server answered with an HTTP error. ``status_code`` and ``code`` (the server's
    error word, e.g. ``gap``) say which; 5xx, 408 and 429 are retried, other 4xx are not.
    ``next_seq`` is the server's committed position when it sent one; ``retry_after``
    the seconds its ``Retry-After`` asked for (None: none, or not readable), as sent:
    the client's retry policy bounds it (syncd/retry.py)."""

    def __init__(self, message: str, *, status_code: int, code: str = "",
                 next_seq: int | None = None, path: str | None = None,
                 retry_after: float | None = None) -> None:
        self.status_code = status_code
        self.code = code
        self.next_seq = next_seq
        self.retry_after = retry_after
        super().__init__(message, path=path)

    @property
    def retryable(self) -> bool:
        return self.status_code >= 500 or self.status_code in (408, 429)


class ServerProtocolError(SyncError):
    """The server answered something the protocol does not allow: a redirect, a body that
    does not decode or lacks a field, an answer over its size bound, a high-water mark
    that is negative or does not match the batch sent, an upload offset that does not
    advance. ``url`` names the endpoint. Not retried: nothing local was changed, the run
    is set aside and reported. ``reason`` is the message without the URL."""

    def __init__(self, message: str, *, url: str, path: str | None = None) -> None:
        self.url = url
        self.reason = message  # without the URL
        super().__init__(f"{url}: {message}", path=path)


class RunDiverged(ServerProtocolError):
    """The server's copy of a run is not a prefix of the local records: it claims more
    records than the local log holds, or holes (declared gaps) that the local log does not
    have. Someone else wrote to the run, or the local log was replaced. Not retried, never
    reported as delivered. ``server_seq`` and ``local_seq`` are the two counts."""

    def __init__(self, message: str, *, url: str, server_seq: int, local_seq: int,
                 path: str | None = None) -> None:
        self.server_seq = server_seq
        self.local_seq = local_seq
        super().__init__(message, url=url, path=path)


class BundleError(FlightlogError):
    """Making, importing or pruning with air-gap bundles (SPEC.md §18) cannot go on as
    asked: records asked for were pruned, a ledger is unreadable, receipts disagree.
    Nothing was written or deleted."""


class BundleRefused(BundleError):
    """A bundle or receipt that is truncated, tampered with or not one at all (SPEC.md
    §18). ``path`` is the file, ``key`` the member concerned and ``offset`` the byte offset
    in the file. Nothing of it was imported or acted on."""


class ForeignFormatError(FlightlogError, ValueError):
    """Bytes of another tool's file (a TFRecord event file, a ``.wandb`` log, an ``mlruns``
    store) that do not follow that tool's format: a bad varint, a length past the end, a
    checksum mismatch. ``path`` and ``offset`` say where. Importers keep everything intact
    before it and report the finding; nothing is raised out of ``flightlog import``."""


class RunnerError(FlightlogError):
    """``flightlog run`` cannot start the script as asked (a command that does not
    exist, an outputs or snapshot directory that is not a directory). Nothing ran."""


class SnapshotTooLarge(RunnerError):
    """The code snapshot's directory holds more than the caps allow (300 MB, 2,000
    files, as Azure's); the message lists the largest offenders and how to leave them
    out (``.flightlogignore``, ``--snapshot DIR``, ``--no-snapshot``). Nothing ran."""
