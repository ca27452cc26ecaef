"""A table answered in bounded memory: as an Arrow IPC stream or as JSON rows, one
batch of rows at a time.

The table's buffers are the memory-mapped file (``format/arrowlimits.py``), so a whole
table of millions of rows costs the server one batch of encoded rows at a time, never
a copy of the table or a Python object per cell of all of it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, Final

from flightlog.format.jsonable import jsonable

#: Rows per batch encoded at a time.
ARROW_BATCH_ROWS: Final = 65_536
JSON_BATCH_ROWS: Final = 4_096


def arrow_stream_chunks(table: Any) -> Iterator[bytes]:
    """``table`` as Arrow IPC stream bytes (schema, then one message per batch)."""
    import pyarrow as pa

    sink = io.BytesIO()

    def taken() -> bytes:
        data = sink.getvalue()
        sink.seek(0)
        sink.truncate()
        return data

    writer = pa.ipc.new_stream(sink, table.schema)
    yield taken()
    for batch in table.to_batches(max_chunksize=ARROW_BATCH_ROWS):
        writer.write_batch(batch)
        yield taken()
    writer.close()
    yield taken()


def json_rows_chunks(table: Any) -> Iterator[bytes]:
    """``table`` as a JSON array of row objects (NaN and infinities as jsonable says)."""
    yield b"["
    first = True
    for start in range(0, table.num_rows, JSON_BATCH_ROWS):
        rows = table.slice(start, JSON_BATCH_ROWS).to_pylist()
        text = ",".join(json.dumps(jsonable(row), ensure_ascii=False, allow_nan=False,
                                   separators=(",", ":")) for row in rows)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]"
