"""Import TensorBoard event files (``events.out.tfevents.*``) as flightlog runs.

``flightlog import tensorboard LOGDIR...`` / :func:`import_tensorboard`. Every directory
at or below a LOGDIR that holds event files is one run; several event files in one
directory (a restarted writer, or several writers) are merged in order of wall time.
No TensorFlow needed: the framing is :mod:`flightlog.importers.tfrecord`, the records are
``Event`` protobufs (``tensorboard/compat/proto/event.proto``, ``summary.proto``,
``tensor.proto``; https://github.com/tensorflow/tensorboard/tree/master/tensorboard/compat/proto)
read with :mod:`flightlog.importers._protowire`. The fields used::

    Event        1 wall_time double · 2 step int64 · 3 file_version string · 5 summary
                 (4 graph_def, 6 log_message, 7 session_log, 8 tagged_run_metadata,
                 9 meta_graph_def: counted as unmapped)
    Summary      1 value: repeated Value
    Value        1 tag · 2 simple_value float · 4 image · 5 histo · 6 audio · 8 tensor ·
                 9 metadata (SummaryMetadata: 1 plugin_data {1 plugin_name, 2 content})
    Image        1 height · 2 width · 3 colorspace · 4 encoded_image_string
    Histogram    1 min · 2 max · 3 num · 4 sum · 5 sum_squares · 6 bucket_limit · 7 bucket
    TensorProto  1 dtype · 2 tensor_shape {2 dim {1 size}} · 4 tensor_content ·
                 5 float_val · 6 double_val · 7 int_val · 8 string_val · 10 int64_val ·
                 11 bool_val (repeated numbers packed or not)

What becomes what:

- ``simple_value`` (TF1, tensorboardX, torch.utils.tensorboard) and rank-0 numeric
  ``tensor`` values (TF2 ``tf.summary.scalar``: plugin ``scalars``) are scalar points
  (key = tag, the event's step and wall time);
- ``Image`` values and TF2 ``images`` tensors (a string tensor ``[width, height, png...]``)
  are images at their step;
- ``HistogramProto`` values and TF2 ``histograms`` tensors (``[k, 3]``: left, right, count)
  are ``flightlog.Histogram`` values at their step (``run.histograms(tag)``); the ones
  whose buckets cannot be one (not contiguous, over 512 bins) are rows of the table
  ``<tag>`` instead (columns ``step``, ``wall_time``, ``left``, ``right``, ``count``; for
  ``HistogramProto`` also ``min``, ``max``, ``num``, ``sum``, ``sum_squares``), one row
  per bucket, and the report names them;
- the hparams plugin's session start (``add_hparams``, ``hp.hparams``) becomes the run's
  config; its experiment and session-end messages only describe the hparams dashboard;
- text summaries, audio, graphs, run metadata, other plugins' tensors and non-scalar
  tensors are counted and named in the report as unmapped.

A writer restarted from a checkpoint logs some steps again: the later value of a tag at a
step is kept and the earlier one counted as superseded. TensorBoard's reader also *purges*
the steps after the restart point that were not logged again ("orphaned" data); the
importer keeps them, as they were written.

A run's identity is its directory's name plus the name of its first event file (which
holds the writer's start time, host and pid); the project is the LOGDIR's name unless
given. TensorBoard has no end-of-run record: imported runs are finished (exit code 0),
their end time the last event's wall time.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._protowire import (
    WIRE_FIXED32,
    WIRE_FIXED64,
    WIRE_LEN,
    ProtoWireError,
    as_double,
    as_float,
    as_int32,
    as_int64,
    iter_fields,
    packed_doubles,
    packed_floats,
    packed_varints,
    utf8,
)
from ._target import (
    ImportReport,
    Point,
    SourceMedia,
    SourceRun,
    SourceTableRows,
    Unmapped,
    safe_name,
    write_run,
)
from .tfrecord import TFRecordFile, read_records

__all__ = ["find_runs", "import_tensorboard", "read_run"]

_EVENT_FILE = re.compile(r"(?:^|.*\.)tfevents\..*")
_TIMESTAMP_IN_NAME = re.compile(r"tfevents\.(\d+)")

# TensorProto dtypes (tensorflow/core/framework/types.proto)
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8 = 1, 2, 3, 4, 5, 6
_DT_STRING, _DT_INT64, _DT_BOOL, _DT_HALF = 7, 9, 10, 19
_NUMERIC_DTYPES = {_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8,
                   _DT_INT64, _DT_BOOL, _DT_HALF}
_CONTENT_FORMAT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_UINT8: "<B",
                   _DT_INT16: "<h", _DT_INT8: "<b", _DT_INT64: "<q", _DT_BOOL: "<?",
                   _DT_HALF: "<e"}

_EVENT_UNMAPPED = {4: "graph", 6: "log message", 7: "session log",
                   8: "run metadata", 9: "meta graph", 10: "source metadata"}


def is_event_file(name: str) -> bool:
    return bool(_EVENT_FILE.match(name)) and not name.endswith((".tmp", ".part"))


def _file_order(name: str) -> tuple[int, str]:
    found = _TIMESTAMP_IN_NAME.search(name)
    return (int(found.group(1)) if found else 0, name)


def find_runs(logdir: str | os.PathLike[str]) -> list[tuple[Path, list[Path]]]:
    """Each directory at or below ``logdir`` holding event files, with its event files
    in writing order (by the start time in their names, then by name). Symbolic links to
    directories are not followed."""
    root = Path(logdir)
    if root.is_file():
        return [(root.parent, [root])] if is_event_file(root.name) else []
    runs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        events = sorted((n for n in filenames if is_event_file(n)), key=_file_order)
        paths = [Path(dirpath) / n for n in events if (Path(dirpath) / n).is_file()]
        if paths:
            runs.append((Path(dirpath), paths))
    return runs


@dataclass
class _Decoded:
    points: list[tuple[float, int, int, Point]]     # (wall_time, file index, seq, point)
    media: list[SourceMedia]
    tables: list[SourceTableRows]
    hparams: dict[str, Any] = field(default_factory=dict)
    tag_names: dict[bytes, str] = field(default_factory=dict)
    first_wall: float | None = None
    last_wall: float | None = None


def read_run(run_dir: Path, files: list[Path], *, logdir: Path, project: str
             ) -> SourceRun:
    """The :class:`SourceRun` of one TensorBoard run directory."""
    unmapped = Unmapped()
    problems: list[str] = []
    decoded = _Decoded([], [], [])
    for index, path in enumerate(files):
        report = TFRecordFile(str(path))
        try:
            for offset, data in read_records(path, report):
                try:
                    _decode_event(data, index, offset, decoded, unmapped)
                except ProtoWireError as exc:
                    problems.append(f"{path}: record at offset {offset} is not an Event "
                                    f"(at byte {exc.offset} of it: {exc.message}); skipped")
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc}); skipped")
        problems.extend(report.problems)
    # Several writer files: merged by wall time (ties: file order, then record order).
    decoded.points.sort(key=lambda t: (t[0], t[1], t[2]))
    try:
        relative = run_dir.resolve().relative_to(logdir.resolve()).as_posix()
    except ValueError:
        relative = "."
    name = run_dir.resolve().name if relative == "." else relative
    identity = f"{run_dir.resolve().name}/{files[0].name}"
    return SourceRun(
        kind="tensorboard", identity=identity, project=project, name=name,
        config=decoded.hparams,
        exit_code=0, start_time=decoded.first_wall, end_time=decoded.last_wall,
        points=[t[3] for t in decoded.points], media=decoded.media, tables=decoded.tables,
        source_path=str(run_dir), unmapped=unmapped, problems=problems)


_WALL_STEP = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _fast_scalar(data: memoryview, tags: dict[bytes, str]) -> tuple[float, int, str, float] | None:
    """The common event, decoded without the general loop: ``wall_time``, ``step`` and a
    summary of one ``simple_value`` (tensorboardX, torch and TF1 write each scalar so).
    Exactly this layout or None (the general decoder then reads the event)::

        09 <wall_time f64> 10 <step varint> 2a <len> 0a <len> 0a <len> <tag> 15 <f32>
    """
    n = len(data)
    if n < 20 or data[0] != 0x09 or data[9] != 0x10:
        return None
    pos = 10
    step = 0
    shift = 0
    while True:  # step: at most 10 bytes, values < 2**63 (a negative step goes the long way)
        if pos >= n or shift > 56:
            return None
        byte = data[pos]
        pos += 1
        step |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    # summary (len < 128), one value (len < 128), its tag (len < 128), its simple_value
    if pos + 6 > n or data[pos] != 0x2A or data[pos + 1] >= 0x80 \
            or pos + 2 + data[pos + 1] != n:
        return None
    if data[pos + 2] != 0x0A or data[pos + 3] >= 0x80 or pos + 4 + data[pos + 3] != n:
        return None
    if data[pos + 4] != 0x0A or data[pos + 5] >= 0x80:
        return None
    tag_end = pos + 6 + data[pos + 5]
    if tag_end + 5 != n or data[tag_end] != 0x15:
        return None
    raw = bytes(data[pos + 6:tag_end])
    tag = tags.get(raw)
    if tag is None:
        try:
            tag = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not tag:
            return None
        tags[raw] = tag
    return (_WALL_STEP.unpack_from(data, 1)[0], step, tag,
            float(_FLOAT.unpack_from(data, tag_end + 1)[0]))


def _decode_event(data: memoryview, file_index: int, offset: int, out: _Decoded,
                  unmapped: Unmapped) -> None:
    fast = _fast_scalar(data, out.tag_names)
    if fast is not None:
        fast_wall, fast_step, tag, scalar = fast
        if out.first_wall is None or fast_wall < out.first_wall:
            out.first_wall = fast_wall
        if out.last_wall is None or fast_wall > out.last_wall:
            out.last_wall = fast_wall
        out.points.append((fast_wall, file_index, offset << 16,
                           Point(tag, fast_step, scalar, fast_wall)))
        return
    wall_time = 0.0
    step = 0
    summary: bytes | None = None
    for number, wire, value in iter_fields(data):
        if number == 1 and wire == WIRE_FIXED64:
            assert isinstance(value, int)
            wall_time = as_double(value)
        elif number == 2 and not isinstance(value, bytes):
            step = as_int64(value)
        elif number == 5 and isinstance(value, bytes):
            summary = value
        elif number in _EVENT_UNMAPPED:
            unmapped.add(_EVENT_UNMAPPED[number], "(event)")
    if out.first_wall is None or wall_time < out.first_wall:
        out.first_wall = wall_time
    if out.last_wall is None or wall_time > out.last_wall:
        out.last_wall = wall_time
    if summary is None:
        return
    if step < 0:
        unmapped.add("negative step", str(step))
        return
    seq = 0
    for number, _wire, value in iter_fields(summary):
        if number == 1 and isinstance(value, bytes):
            _decode_value(value, wall_time, step, file_index, (offset << 16) | seq, out,
                          unmapped)
            seq += 1


def _decode_value(buf: bytes, wall_time: float, step: int, file_index: int, seq: int,
                  out: _Decoded, unmapped: Unmapped) -> None:
    tag = ""
    plugin = ""
    content = b""
    kind: str | None = None
    payload: Any = None
    for number, wire, value in iter_fields(buf):
        if number == 1 and isinstance(value, bytes):
            tag = utf8(value, "tag")
        elif number == 7 and isinstance(value, bytes) and not tag:
            tag = utf8(value, "node_name")
        elif number == 2 and wire == WIRE_FIXED32:
            assert isinstance(value, int)
            kind, payload = "simple", as_float(value)
        elif number == 4 and isinstance(value, bytes):
            kind, payload = "image", value
        elif number == 5 and isinstance(value, bytes):
            kind, payload = "histo", value
        elif number == 6:
            kind = "audio"
        elif number == 3:
            kind = "old-style histogram"
        elif number == 8 and isinstance(value, bytes):
            kind, payload = "tensor", value
        elif number == 9 and isinstance(value, bytes):
            plugin, content = _plugin(value)
    if not tag:
        unmapped.add("value without a tag", kind or "?")
        return
    if plugin == "hparams" and kind is None:
        hparams = _hparams(content)
        if hparams is not None:
            out.hparams.update(hparams)
        elif not tag.startswith("_hparams_/"):
            unmapped.add("hparams summary", tag)
        # the experiment and session-end messages describe the hparams UI: nothing to keep
        return
    if kind == "simple":
        out.points.append((wall_time, file_index, seq, Point(tag, step, payload, wall_time)))
    elif kind == "image":
        image = _image(payload)
        if image is None:
            unmapped.add("image without data", tag)
        else:
            data, width, height = image
            out.media.append(SourceMedia(tag, step, wall_time, data, _mime(data), None,
                                         width, height))
    elif kind == "histo":
        columns = _histogram(payload, step, wall_time)
        _add_histogram(tag, step, wall_time, file_index, seq, columns, out, unmapped)
    elif kind == "tensor":
        _decode_tensor(tag, plugin, payload, wall_time, step, file_index, seq, out,
                       unmapped)
    elif kind is not None:
        unmapped.add(kind, tag)
    else:
        unmapped.add("value without data", tag)


def _plugin(metadata: bytes) -> tuple[str, bytes]:
    """(plugin_name, content) of a SummaryMetadata."""
    name, content = "", b""
    for number, _wire, value in iter_fields(metadata):
        if number == 1 and isinstance(value, bytes):
            for inner, _w, item in iter_fields(value):
                if inner == 1 and isinstance(item, bytes):
                    name = utf8(item, "plugin_name")
                elif inner == 2 and isinstance(item, bytes):
                    content = item
    return name, content


def _hparams(content: bytes) -> dict[str, Any] | None:
    """The hyperparameters of an hparams plugin's ``session_start_info``
    (``tensorboard/plugins/hparams/plugin_data.proto``: HParamsPluginData 3
    session_start_info; SessionStartInfo 1 hparams map<string, google.protobuf.Value>;
    Value 1 null · 2 number · 3 string · 4 bool), or None for its other messages."""
    for number, _wire, value in iter_fields(content):
        if number != 3 or not isinstance(value, bytes):
            continue
        out: dict[str, Any] = {}
        for field_number, _w, entry in iter_fields(value):
            if field_number != 1 or not isinstance(entry, bytes):
                continue
            key, item = "", None
            for entry_number, _w2, part in iter_fields(entry):
                if entry_number == 1 and isinstance(part, bytes):
                    key = utf8(part, "hparam name")
                elif entry_number == 2 and isinstance(part, bytes):
                    item = _protobuf_value(part)
            if key:
                out[key] = item
        return out
    return None


def _protobuf_value(buf: bytes) -> Any:
    for number, wire, value in iter_fields(buf):
        if number == 2 and wire == WIRE_FIXED64 and isinstance(value, int):
            return as_double(value)
        if number == 3 and isinstance(value, bytes):
            return utf8(value, "hparam value")
        if number == 4 and isinstance(value, int):
            return bool(value)
    return None


def _image(buf: bytes) -> tuple[bytes, int | None, int | None] | None:
    data = b""
    width = height = None
    for number, _wire, value in iter_fields(buf):
        if number == 1 and isinstance(value, int):
            height = as_int32(value)
        elif number == 2 and isinstance(value, int):
            width = as_int32(value)
        elif number == 4 and isinstance(value, bytes):
            data = value
    if not data:
        return None
    return data, width if width and width > 0 else None, height if height and height > 0 \
        else None


def _mime(data: bytes) -> str:
    from flightlog.images import image_mime

    return image_mime(data) or "application/octet-stream"


def _doubles(wire: int, value: int | bytes) -> list[float]:
    if isinstance(value, bytes):
        return packed_doubles(value)
    return [as_double(value)] if wire == WIRE_FIXED64 else []


def _histogram(buf: bytes, step: int, wall_time: float) -> dict[str, list[Any]]:
    scalars: dict[int, float] = {}
    limits: list[float] = []
    counts: list[float] = []
    for number, wire, value in iter_fields(buf):
        if number in (1, 2, 3, 4, 5) and wire == WIRE_FIXED64 and isinstance(value, int):
            scalars[number] = as_double(value)
        elif number == 6:
            limits.extend(_doubles(wire, value))
        elif number == 7:
            counts.extend(_doubles(wire, value))
    n = min(len(limits), len(counts))
    # Bucket i covers (bucket_limit[i-1], bucket_limit[i]]; the first starts at min.
    lefts = [scalars.get(1, 0.0), *limits[:n - 1]] if n else []
    return {
        "step": [step] * n, "wall_time": [wall_time] * n, "left": lefts,
        "right": limits[:n], "count": counts[:n],
        "min": [scalars.get(1, 0.0)] * n, "max": [scalars.get(2, 0.0)] * n,
        "num": [scalars.get(3, 0.0)] * n, "sum": [scalars.get(4, 0.0)] * n,
        "sum_squares": [scalars.get(5, 0.0)] * n,
    }


def _add_histogram(tag: str, step: int, wall_time: float, file_index: int, seq: int,
                   columns: dict[str, list[Any]], out: _Decoded, unmapped: Unmapped) -> None:
    """A ``flightlog.Histogram`` at its step when its buckets are one, else the buckets as
    rows of the table ``tag`` (and the report says so)."""
    histogram = _as_flightlog_histogram(columns)
    if histogram is None:
        out.tables.append(SourceTableRows(tag, step, columns))
        unmapped.add("histogram kept as table rows (buckets not contiguous, or too many)",
                     tag)
        return
    out.points.append((wall_time, file_index, seq, Point(tag, step, histogram, wall_time)))
    if "sum" in columns and columns["count"]:
        unmapped.add("histogram sum, sum_squares (flightlog keeps bins and counts)", tag)


def _as_flightlog_histogram(columns: dict[str, list[Any]]) -> Any:
    """Buckets (left, right, count) as a flightlog.Histogram, or None.

    Empty degenerate buckets are dropped (tensorboardX starts with an empty bucket
    ``(min, min]``), an unbounded last edge (TF1's ``DBL_MAX``) becomes the histogram's
    ``max``; the buckets left must be contiguous (TensorBoard's are: each bucket starts at
    the previous limit)."""
    try:
        from flightlog.histogram import Histogram, bins_problem
    except ImportError:  # an installation without histogram values: tables then
        return None
    buckets = [(float(a), float(b), float(c)) for a, b, c in
               zip(columns["left"], columns["right"], columns["count"], strict=True)
               if not (c == 0 and b <= a)]
    if not buckets:
        return None
    top = columns.get("max", [None])[0]
    left, right, count = buckets[-1]
    if (right >= 1e300 or not math.isfinite(right)) and isinstance(top, float) and top > left:
        buckets[-1] = (left, top, count)
    if any(b[0] != a[1] for a, b in itertools.pairwise(buckets)):
        return None
    edges = [buckets[0][0]] + [b[1] for b in buckets]
    counts = [b[2] for b in buckets]
    if bins_problem(edges, counts) is not None:
        return None
    return Histogram(np_histogram=(counts, edges))


@dataclass
class _Tensor:
    dtype: int
    shape: list[int]
    values: list[Any]


def _tensor(buf: bytes) -> _Tensor:
    dtype = 0
    shape: list[int] = []
    content: bytes | None = None
    values: list[Any] = []
    for number, wire, value in iter_fields(buf):
        if number == 1 and isinstance(value, int):
            dtype = value
        elif number == 2 and isinstance(value, bytes):
            for dim_number, _w, dim in iter_fields(value):
                if dim_number == 2 and isinstance(dim, bytes):
                    size = 0
                    for size_number, _w2, size_value in iter_fields(dim):
                        if size_number == 1 and isinstance(size_value, int):
                            size = as_int64(size_value)
                    shape.append(size)
        elif number == 4 and isinstance(value, bytes):
            content = value
        elif number == 5:
            values.extend(packed_floats(value) if isinstance(value, bytes)
                          else [as_float(value)] if wire == WIRE_FIXED32 else [])
        elif number == 6:
            values.extend(_doubles(wire, value))
        elif number in (7, 10, 11, 13):
            raw = packed_varints(value) if isinstance(value, bytes) else [value]
            values.extend(_ints(number, dtype, raw))
        elif number == 8 and wire == WIRE_LEN and isinstance(value, bytes):
            values.append(value)
    if content is not None and dtype in _CONTENT_FORMAT:
        fmt = _CONTENT_FORMAT[dtype]
        width = struct.calcsize(fmt)
        if len(content) % width:
            raise ProtoWireError(f"tensor_content of {len(content)} bytes for dtype "
                                 f"{dtype}", offset=0)
        values = [v for (v,) in struct.iter_unpack(fmt, content)]
    return _Tensor(dtype, shape, values)


def _ints(number: int, dtype: int, raw: list[int]) -> Iterable[Any]:
    if number == 11:
        return [bool(v) for v in raw]
    if number == 10:
        return [as_int64(v) for v in raw]
    if number == 13:  # half_val: the float16 bits in an int32
        return [struct.unpack("<e", struct.pack("<H", v & 0xFFFF))[0] for v in raw]
    return [as_int32(v) for v in raw]


def _decode_tensor(tag: str, plugin: str, buf: bytes, wall_time: float, step: int,
                   file_index: int, seq: int, out: _Decoded, unmapped: Unmapped) -> None:
    tensor = _tensor(buf)
    size = 1
    for d in tensor.shape:
        size *= d
    if plugin in ("scalars", "") and tensor.dtype in _NUMERIC_DTYPES and not tensor.shape:
        if len(tensor.values) != 1:
            unmapped.add("scalar tensor without one value", tag)
            return
        value = tensor.values[0]
        if tensor.dtype in (_DT_FLOAT, _DT_DOUBLE, _DT_HALF):
            value = float(value)
        out.points.append((wall_time, file_index, seq, Point(tag, step, value, wall_time)))
    elif plugin == "images" and tensor.dtype == _DT_STRING and len(tensor.values) >= 3:
        width, height = _dimension(tensor.values[0]), _dimension(tensor.values[1])
        for index, data in enumerate(tensor.values[2:]):
            key = tag if len(tensor.values) == 3 else f"{tag}/{index}"
            out.media.append(SourceMedia(key, step, wall_time, bytes(data), _mime(data),
                                         None, width, height))
    elif (plugin == "histograms" and tensor.dtype in (_DT_FLOAT, _DT_DOUBLE)
          and len(tensor.shape) == 2 and tensor.shape[1] == 3
          and len(tensor.values) == size):
        v = tensor.values
        k = tensor.shape[0]
        _add_histogram(tag, step, wall_time, file_index, seq, {
            "step": [step] * k, "wall_time": [wall_time] * k,
            "left": [float(x) for x in v[0::3]], "right": [float(x) for x in v[1::3]],
            "count": [float(x) for x in v[2::3]]}, out, unmapped)
    else:
        what = plugin or "tensor"
        unmapped.add(f"{what} summary" if plugin else "non-scalar tensor", tag)


def _dimension(value: Any) -> int | None:
    try:
        n = int(bytes(value).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return n if n > 0 else None


def import_tensorboard(logdirs: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str],
                       *, project: str | None = None) -> list[ImportReport]:
    """Import every run below each of ``logdirs`` into the flightlog root ``root``.

    Returns one report per run, in the order found. Damaged event files give what is
    intact and name the damage in ``report.problems``; nothing is raised for them."""
    reports = []
    for logdir in logdirs:
        base = Path(logdir)
        default_project = safe_name(base.resolve().name if base.is_dir()
                                    else base.resolve().parent.name, "tensorboard")
        for run_dir, files in find_runs(base):
            source = read_run(run_dir, files, logdir=base if base.is_dir() else run_dir,
                              project=default_project)
            reports.append(write_run(source, root, project=project))
    return reports
