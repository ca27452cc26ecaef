"""Values of ``run.log({...})`` that are not scalars, turned into records.

Tables, charts, images, HTML, matplotlib and plotly figures each become a record that
names an attached file (SPEC.md §8, §10): the file is stored (durably, by content hash)
when the record is prepared, so a prepared record never points at nothing. Preparing
raises :class:`~flightlog.errors.InvalidValue` naming the key before anything is queued.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flightlog.format.arrowlimits import CHART_LIMITS, TABLE_LIMITS, ArrowLimits, check_ipc_file
from flightlog.format.records import RecordType

from flightlog.errors import FormatError, InvalidValue

from .blobs import store_bytes
from .values import check_key

#: (record type, body) pairs ready to be packed and queued.
Prepared = list[tuple[RecordType, dict[str, Any]]]


def is_rich(value: Any) -> bool:
    """True for the values this module stores (cheap: no optional library is imported)."""
    from flightlog import figures
    from flightlog.charts import Chart, Table
    from flightlog.media import Html, Image, Plotly

    return (isinstance(value, (Chart, Table, Image, Html, Plotly))
            or figures.is_matplotlib(value) or figures.is_plotly(value))


def split_rich(data: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any],
                                                                   dict[str, Any]]:
    """(the scalar part of ``data``, nesting kept; the rich values by flattened key)."""
    plain: dict[str, Any] = {}
    rich: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            inner, inner_rich = split_rich(value, f"{prefix}{key}/")
            if inner or not inner_rich:
                plain[key] = inner
            rich.update(inner_rich)
        elif is_rich(value):
            rich[f"{prefix}{check_key(key)}"] = value
        else:
            plain[key] = value
    return plain, rich


def ipc_file(table: Any, key: str = "", limits: ArrowLimits = TABLE_LIMITS) -> bytes:
    """``table`` as an uncompressed Arrow IPC file (SPEC.md §10), within the limits
    readers apply to it (else InvalidValue naming ``key``: better refused now than
    logged and then refused by every reader)."""
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue()
    try:
        check_ipc_file(data, limits)
    except FormatError as exc:
        raise InvalidValue(f"{key!r}: {exc.message}", key=key or None) from None
    return data


def prepare(run_dir: Path, key: str, value: Any, step: int | None,
            now: float | None = None) -> Prepared:
    """The records that store ``value`` under ``key`` (its files stored already);
    ``now`` is their time (default: the current time)."""
    from flightlog import figures
    from flightlog.charts import Chart, Table
    from flightlog.media import Image, Plotly

    if now is None:
        now = time.time()
    if isinstance(value, Chart):
        return [_chart(run_dir, key, value, step, now)]
    if isinstance(value, Table):
        return [_table(run_dir, key, value, step, now)]
    if figures.is_matplotlib(value):
        # As W&B: the picture always, and an interactive chart where it converts.
        fig = figures.matplotlib_figure(value)
        image = Image(fig)
        out = [_media(run_dir, key, image, step, now)]
        chart = figures.figure_to_chart(fig)
        if chart is not None:
            out.append(_chart(run_dir, key, chart, step, now))
        return out
    if figures.is_plotly(value):
        value = Plotly(value)
    if hasattr(value, "kind") and hasattr(value, "data"):
        return [_media(run_dir, key, value, step, now)]
    raise InvalidValue(f"value of {key!r} has unsupported type {type(value).__name__}",
                       key=key)


def _with_step(body: dict[str, Any], step: int | None) -> dict[str, Any]:
    if step is not None:
        body["step"] = step
    return body


def _chart(run_dir: Path, key: str, chart: Any, step: int | None, now: float
           ) -> tuple[RecordType, dict[str, Any]]:
    sha, _ = store_bytes(run_dir, ipc_file(chart.table, key, CHART_LIMITS))
    return RecordType.CHART, _with_step({
        "key": key, "sha256": sha, "rows": chart.table.num_rows, "spec": chart.spec_json,
        "kind": chart.kind, "time": now}, step)


def _media(run_dir: Path, key: str, media: Any, step: int | None, now: float
           ) -> tuple[RecordType, dict[str, Any]]:
    sha, size = store_bytes(run_dir, media.data)
    body: dict[str, Any] = {"key": key, "kind": media.kind, "mime": media.mime,
                            "sha256": sha, "size": size, "time": now}
    for field in ("caption", "width", "height"):
        if getattr(media, field, None) is not None:
            body[field] = getattr(media, field)
    return RecordType.MEDIA, _with_step(body, step)


def _table(run_dir: Path, key: str, table: Any, step: int | None, now: float
           ) -> tuple[RecordType, dict[str, Any]]:
    from flightlog.media import Html, Image, Plotly, media_cell

    blobs: list[str] = []

    def cell(column: str, value: Any) -> Any:
        if isinstance(value, (Image, Html, Plotly)):
            sha, _ = store_bytes(run_dir, value.data)
            blobs.append(sha)
            return media_cell(value.kind, sha, value.mime, value.caption, value.width,
                              value.height)
        return value

    arrow = table.to_arrow(cell)
    sha, _ = store_bytes(run_dir, ipc_file(arrow, key))
    body: dict[str, Any] = {"key": key, "sha256": sha, "rows": arrow.num_rows, "time": now,
                            "replace": True}
    if blobs:
        body["blobs"] = sorted(set(blobs))
    return RecordType.TABLE, _with_step(body, step)
