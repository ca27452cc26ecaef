"""Frames and attached files in an S3-compatible object store, under immutable names.

``--store s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R`` (credentials from the
usual AWS variables or files, as boto3 finds them). Keys under PREFIX::

    runs/<project>/<run>/<segment:08d>/<start:020d>-<end:020d>-<sha256>
        the new frames of one committed batch, verbatim (SPEC.md §4 frames), records
        start..end-1 of the mark; the hash is of the object's bytes, so a name always
        means one content and a reader checks what it got
        a compacted object has the same form: the frames of consecutive committed
        batches of one segment, start..end-1 spanning theirs (scaled.py's compact)
    blobs/sha256/<sha256>            an attached file, by its content hash
    partial/<sha256>/<offset:020d>   a resumable upload's chunks, until it is complete

Every write is a conditional put (``If-None-Match: *``): a retry, or two replicas
writing the same batch at once, finds the object there (412) and that is success,
because the name fixes the content. Nothing is ever overwritten, so a reader never sees a
half-replaced object. An object exists before the database row that names it; objects no
row names (a replica killed between the put and the commit, the loser of a race) are
orphans, deleted by :meth:`ObjectStore.collect` once older than a grace period.

Why boto3: the reference S3 client, kept by AWS, speaking to every S3-compatible store
(and to moto's server in the tests) with the conditional-put, timeout and retry settings
this needs; obstore is faster but young, and its Python API changes between releases.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from flightlog.errors import FlightlogError, MissingExtra

from .base import BackendUnavailable

#: Seconds to connect and to read each answer of the object store (the read timeout:
#: ``FLIGHTLOG_STORE_TIMEOUT``).
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 10.0


def _read_timeout() -> float:
    text = os.environ.get("FLIGHTLOG_STORE_TIMEOUT", "")
    try:
        value = float(text) if text else READ_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        raise StoreUrlError(f"FLIGHTLOG_STORE_TIMEOUT={text!r}: give seconds, > 0")
    return value


class StoreUrlError(FlightlogError, ValueError):
    """A ``--store`` URL that is not ``s3://BUCKET[/PREFIX][?endpoint=URL&region=R]``."""


class CorruptObject(FlightlogError):
    """An object whose bytes do not match the hash in its name."""


@dataclass(frozen=True)
class StoreUrl:
    bucket: str
    prefix: str
    endpoint: str | None
    region: str

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StoreUrlError(f"--store {url!r}: give s3://BUCKET[/PREFIX]"
                                f"[?endpoint=http://HOST:PORT]")
        query = parse_qs(parts.query)
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise StoreUrlError(f"--store {url!r}: unknown option(s) {sorted(unknown)}; "
                                f"known: endpoint, region")
        prefix = parts.path.strip("/")
        return cls(parts.netloc, prefix + "/" if prefix else "",
                   query.get("endpoint", [None])[0], query.get("region", ["us-east-1"])[0])


def frames_key(project: str, run_id: str, segment: int, start: int, end: int,
               data: bytes) -> str:
    return (f"runs/{project}/{run_id}/{segment:08d}/{start:020d}-{end:020d}-"
            f"{hashlib.sha256(data).hexdigest()}")


def blob_key(sha: str) -> str:
    return f"blobs/sha256/{sha}"


def partial_prefix(sha: str) -> str:
    return f"partial/{sha}/"


class ObjectStore:
    """The S3 calls the scaled backend makes, with errors mapped at this one boundary:
    an unreachable or failing store is :class:`BackendUnavailable` (HTTP 503)."""

    def __init__(self, url: str) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise MissingExtra(f"--store needs the 'scale' extra: pip install "
                               f"'flightlog[scale]' ({exc.name} is not installed)") from exc
        self.url = StoreUrl.parse(url)
        #: The ``--store`` it was opened with.
        self.spec = url
        config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=_read_timeout(),
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"})
        self._s3: Any = boto3.client("s3", endpoint_url=self.url.endpoint,
                                     region_name=self.url.region, config=config)

    def close(self) -> None:
        self._s3.close()

    def _key(self, name: str) -> str:
        return self.url.prefix + name

    def _call(self, op: str, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._s3, op)(Bucket=self.url.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise _Exists(name) from None
            if status == 404 or code in ("NoSuchKey", "404", "NotFound"):
                raise _Missing(name) from None
            raise BackendUnavailable(f"object store: {op} {name}: {code or status}",
                                     key=name) from None
        except BotoCoreError as exc:
            raise BackendUnavailable(f"object store unreachable: {op} {name}: "
                                     f"{type(exc).__name__}", key=name) from None

    def put_new(self, name: str, body: bytes | IO[bytes]) -> bool:
        """Write ``name`` unless it exists (If-None-Match: *). True if this call wrote it,
        False if it was there already (same name, same content: a harmless retry)."""
        try:
            self._call("put_object", name, Key=self._key(name), Body=body, IfNoneMatch="*")
            return True
        except _Exists:
            return False

    def get(self, name: str) -> bytes | None:
        try:
            answer = self._call("get_object", name, Key=self._key(name))
        except _Missing:
            return None
        try:
            return bytes(answer["Body"].read())
        except Exception as exc:  # a connection cut mid-body
            raise BackendUnavailable(f"object store: reading {name}: {type(exc).__name__}",
                                     key=name) from None

    def get_verified(self, name: str, sha: str) -> bytes | None:
        """The object, checked against the SHA-256 its name carries."""
        data = self.get(name)
        if data is not None and hashlib.sha256(data).hexdigest() != sha:
            raise CorruptObject(f"object {name} does not match its hash", key=name)
        return data

    def download(self, name: str, target: IO[bytes]) -> bool:
        """Append the object to ``target`` at its current position, streamed (boto3's
        download_fileobj is not used: it seeks to the object's own offsets)."""
        try:
            answer = self._call("get_object", name, Key=self._key(name))
        except _Missing:
            return False
        try:
            for block in answer["Body"].iter_chunks(1 << 20):
                target.write(block)
        except Exception as exc:  # a connection cut mid-body
            raise BackendUnavailable(f"object store: reading {name}: {type(exc).__name__}",
                                     key=name) from None
        return True

    def size(self, name: str) -> int | None:
        """The object's size, or None when there is no such object."""
        try:
            return int(self._call("head_object", name, Key=self._key(name))["ContentLength"])
        except _Missing:
            return None

    def exists(self, name: str) -> bool:
        return self.size(name) is not None

    def delete(self, name: str) -> None:
        self._call("delete_object", name, Key=self._key(name))

    def list(self, prefix: str, start_after: str = "") -> Iterator[tuple[str, int, float]]:
        """(name, size, age in seconds) of each object under ``prefix``, in key order;
        from the first name after ``start_after`` (a name) when given. Pages are fetched
        as the caller iterates: stopping early lists no more."""
        token: str | None = None
        now = time.time()
        while True:
            extra: dict[str, str] = {"ContinuationToken": token} if token else {}
            if start_after and not token:
                extra["StartAfter"] = self._key(start_after)
            page = self._call("list_objects_v2", prefix, Prefix=self._key(prefix), **extra)
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(self.url.prefix):]
                yield name, int(item["Size"]), now - item["LastModified"].timestamp()
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")


class _Exists(Exception):
    """412: the conditional put found the name taken."""


class _Missing(Exception):
    """404: no such object."""
