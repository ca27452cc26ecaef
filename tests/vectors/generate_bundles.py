"""Write the frozen vectors of SPEC.md §18.8 (bundles and receipts; run once).

    python tests/vectors/generate_bundles.py            # refuses to overwrite them
    python tests/vectors/generate_bundles.py --out DIR  # somewhere else (tests use this)

Kept apart from ``generate.py`` (the segment vectors of §16, whose test pins that set
exactly), which writes these too (``generate.py --out DIR`` writes every vector).
The bytes are assembled here by hand: the segment from the lowest-level encoders
fed explicit values (as ``generate.py`` does), the tar archive with :mod:`tarfile`
directly, the manifest and receipt as literal dicts; nothing of ``flightlog.bundles`` is
used, so the vectors check the library rather than restate it.

Cases, in ``bundle/``:

- ``tiny.flbundle``: one run ``p/8c2kq0zd`` of one segment (a ``segment``, a ``run``, a
  ``file`` and a ``finish`` record, seq 0..3) and its attached file; ``tiny.json`` states
  its members (name, offsets, size, SHA-256) and records, for an independent reader.
- ``receipt.json``: the receipt of importing ``tiny.flbundle`` (``next_seq`` 4).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

from flightlog.format._framing import encode_frame
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.segment import encode_file_header

HERE = Path(__file__).resolve().parent
RUN_ID = "8c2kq0zd"
PROJECT = "p"
T0 = 1_700_000_000.0
CREATED = "2023-11-14T22:13:20Z"  # T0 as UTC
BUNDLE_ID = "0123456789abcdef0123456789abcdef"
RECEIPT_ID = "fedcba9876543210fedcba9876543210"
CONTENT = b"hello, air gap\n"


def tiny_segment() -> tuple[bytes, list[dict[str, Any]]]:
    sha = hashlib.sha256(CONTENT).hexdigest()
    records: list[tuple[int, dict[str, Any]]] = [
        (1, {"run": RUN_ID, "index": 0, "writer": {}}),
        (2, {"id": RUN_ID, "project": PROJECT, "name": "tiny", "created": T0, "config": {},
             "tags": {}, "resumed": False, "host": "sender", "pid": 1}),
        (11, {"name": "hello.txt", "sha256": sha, "size": len(CONTENT), "time": T0 + 1}),
        (12, {"exit_code": 0, "time": T0 + 2}),
    ]
    data = bytearray(encode_file_header(1, 1))
    facts = []
    for seq, (rtype, body) in enumerate(records):  # one record per frame
        facts.append({"seq": seq, "type": rtype, "frame_offset": len(data)})
        data += encode_frame(pack_record(rtype, body), first_seq=seq, record_count=1)
    return bytes(data), facts


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(T0)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def tiny_bundle() -> tuple[bytes, dict[str, Any]]:
    segment, records = tiny_segment()
    frames = segment[16:]
    sha = hashlib.sha256(CONTENT).hexdigest()
    part = f"frames/{PROJECT}/{RUN_ID}/00000000-0.frames"
    blob = f"files/sha256/{sha[:2]}/{sha[2:]}"
    manifest = {
        "format": "flightlog-bundle", "version": [1, 0], "bundle_id": BUNDLE_ID,
        "number": 1, "destination": "site", "source": {"host": "sender"},
        "created": CREATED,
        "runs": [{"project": PROJECT, "id": RUN_ID, "first_seq": 0, "last_seq": 3,
                  "writer_alive": False, "lost": [], "files": [sha],
                  "parts": [{"member": part, "segment": 0, "offset": 16,
                             "size": len(frames), "first_seq": 0, "last_seq": 3,
                             "frames": 4}]}],
        "files": [{"sha256": sha, "size": len(CONTENT)}],
        "members": [{"name": part, "size": len(frames),
                     "sha256": hashlib.sha256(frames).hexdigest()},
                    {"name": blob, "size": len(CONTENT), "sha256": sha}],
    }
    body = (json.dumps(manifest, indent=1, ensure_ascii=True) + "\n").encode()
    digest = hashlib.sha256(body).hexdigest()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _member(tar, part, frames)
        _member(tar, blob, CONTENT)
        _member(tar, "manifest.json", body)
        _member(tar, "manifest.sha256", f"{digest}  manifest.json\n".encode())
    data = out.getvalue()
    members = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar.getmembers():
            members.append({"name": info.name, "header_offset": info.offset,
                            "data_offset": info.offset_data, "size": info.size,
                            "sha256": hashlib.sha256(
                                data[info.offset_data:info.offset_data + info.size]
                            ).hexdigest()})
    facts = {"format": "flightlog bundle 1.0 test vector (SPEC.md §18.8)",
             "file_size": len(data), "manifest_sha256": digest, "members": members,
             "run": {"project": PROJECT, "id": RUN_ID, "records": records,
                     "segment_sha256": hashlib.sha256(segment).hexdigest()},
             "attached": {"sha256": sha, "content": CONTENT.decode()}}
    return data, facts


def receipt() -> bytes:
    body = {"format": "flightlog-receipt", "version": [1, 0], "receipt_id": RECEIPT_ID,
            "created": CREATED, "receiver": {"host": "receiver", "target": "data:data"},
            "destinations": ["site"], "bundles": [BUNDLE_ID],
            "runs": [{"project": PROJECT, "id": RUN_ID, "next_seq": 4, "missing": []}]}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return (json.dumps({**body, "sha256": digest}, indent=1, sort_keys=True,
                       ensure_ascii=True) + "\n").encode("ascii")


def build() -> dict[str, bytes]:
    data, facts = tiny_bundle()
    return {"bundle/tiny.flbundle": data,
            "bundle/tiny.json": (json.dumps(facts, indent=2) + "\n").encode(),
            "bundle/receipt.json": receipt()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    files = build()
    existing = [name for name in files if (args.out / name).exists()]
    if existing:
        print(f"generate_bundles.py: refusing to overwrite frozen vectors: {existing}",
              file=sys.stderr)
        return 1
    sums = []
    for name, data in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {Path(name).name}")
        print(f"wrote {path} ({len(data)} bytes)")
    (args.out / "bundle" / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
