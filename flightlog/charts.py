"""``flightlog.Table`` and ``Chart``: what ``run.log({"name": ...})`` takes besides scalars.

A :class:`Table` is rows of cells (W&B's ``wandb.Table``); cells may hold
:class:`~flightlog.media.Image` or :class:`~flightlog.media.Html`. A :class:`Chart` is a
table plus a Vega-Lite spec that draws it; ``flightlog.plot``, ``flightlog.plot_table``
and ``flightlog.sklearn`` make them. How both are stored: SPEC.md §10.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from flightlog.format.vega import (
    DATA_NAME,
    MAX_SPEC_DEPTH,
    VEGA_LITE_SCHEMA,
    inline_data,
    value_depth,
)

from .errors import InvalidValue

__all__ = ["Chart", "Table"]


def _as_list(key: str, values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidValue(f"{key} must be a sequence, got {type(values).__name__}", key=key)
    return list(values)


class Table:
    """Rows of cells with named columns, as ``wandb.Table``.

    Args:
        columns: column names.
        data: rows (a list of lists, or a 2-d array), each as long as ``columns``.
        dataframe: a pandas DataFrame instead of ``columns``/``data``.

    Cells are int, float, bool, str, None, lists/dicts of those, numpy scalars, or
    :class:`~flightlog.media.Image` / :class:`~flightlog.media.Html`. A table is stored
    whole (SPEC.md §10): its rows are never dropped or sampled.

    Raises:
        InvalidValue: a row whose length differs from the number of columns (both named).
    """

    def __init__(self, columns: Sequence[str] | None = None, data: Any = None, *,
                 dataframe: Any = None, rows: Any = None) -> None:
        if dataframe is not None:
            if columns is not None or data is not None:
                raise InvalidValue("Table takes either dataframe= or columns=/data=, not both")
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.itertuples(index=False, name=None)
        if data is None:
            data = rows
        if columns is None:
            if data is None:
                raise InvalidValue("Table needs columns= (and data=), or dataframe=")
            data = _as_list("Table data", data)
            width = len(_as_list("Table row 0", data[0])) if data else 0
            columns = [str(i) for i in range(width)]
        self.columns: list[str] = [str(c) for c in _as_list("Table columns", columns)]
        if len(set(self.columns)) != len(self.columns):
            raise InvalidValue(f"Table columns are not unique: {self.columns}")
        self.data: list[list[Any]] = []
        for row in _as_list("Table data", data if data is not None else []):
            self.add_data(*_as_list(f"Table row {len(self.data)}", row))

    def add_data(self, *row: Any) -> None:
        """Append one row (one value per column)."""
        if len(row) != len(self.columns):
            raise InvalidValue(f"Table row {len(self.data)} has {len(row)} values but the "
                               f"table has {len(self.columns)} columns {self.columns}")
        self.data.append(list(row))

    def add_column(self, name: str, data: Any) -> None:
        """Add a column; ``data`` has one value per existing row."""
        values = _as_list(f"column {name!r}", data)
        if self.data and len(values) != len(self.data):
            raise InvalidValue(f"column {name!r} has {len(values)} values but the table has "
                               f"{len(self.data)} rows", key=name)
        if name in self.columns:
            raise InvalidValue(f"Table already has a column {name!r}", key=name)
        if not self.data:
            self.data = [[] for _ in values]
        self.columns.append(str(name))
        for row, value in zip(self.data, values, strict=True):
            row.append(value)

    def get_column(self, name: str) -> list[Any]:
        if name not in self.columns:
            raise InvalidValue(f"Table has no column {name!r}; it has {self.columns}",
                               key=name)
        index = self.columns.index(name)
        return [row[index] for row in self.data]

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<flightlog.Table {len(self.data)} rows x {self.columns}>"

    def to_arrow(self, cell: Callable[[str, Any], Any] | None = None) -> Any:
        """The table as a ``pyarrow.Table``. ``cell(column, value)`` converts each cell
        first (the writer uses it to store media cells, SPEC.md §10.3)."""
        return table_to_arrow("Table", self.columns, self.data, cell)


def table_to_arrow(what: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                   cell: Callable[[str, Any], Any] | None = None) -> Any:
    """Rows of cells as a ``pyarrow.Table``. A column Arrow cannot type from its cells
    (mixed kinds) is stored as their JSON text, as SPEC.md §11 does for history; a column
    of media cells (``cell`` turned them into :func:`~flightlog.media.media_cell` dicts) is
    a struct column marked as SPEC.md §10.3 says."""
    import pyarrow as pa

    from flightlog.writer.values import plain

    from .media import MEDIA_FIELD_KEY, is_media_cell, media_cell_type

    fields = []
    arrays = []
    for index, name in enumerate(columns):
        values = []
        for row in rows:
            value = row[index]
            value = cell(name, value) if cell is not None else value
            values.append(value if is_media_cell(value) else plain(f"{what}.{name}", value))
        if any(is_media_cell(v) for v in values):
            if not all(v is None or is_media_cell(v) for v in values):
                raise InvalidValue(f"{what} column {name!r} mixes media and other values",
                                   key=name)
            arrays.append(pa.array(values, media_cell_type()))
            fields.append(pa.field(name, media_cell_type(), metadata={MEDIA_FIELD_KEY: b"1"}))
        else:
            array = _column(values)
            arrays.append(array)
            fields.append(pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else json.dumps(v, default=repr) for v in values],
                        pa.string())


def as_arrow(what: str, data: Any) -> Any:
    """``data`` (a :class:`Table`, a ``pyarrow.Table``, a pandas DataFrame or a mapping
    of column → values) as a ``pyarrow.Table``."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, Table):
        return data.to_arrow()
    if hasattr(data, "columns") and hasattr(data, "itertuples"):
        return Table(dataframe=data).to_arrow()
    if isinstance(data, Mapping):
        columns = {str(k): _as_list(f"{what} column {k!r}", v) for k, v in data.items()}
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{k!r} has {n}" for k, n in lengths.items())
            raise InvalidValue(f"{what}: columns differ in length ({described})")
        names = list(columns)
        return table_to_arrow(what, names, list(zip(*columns.values(), strict=True)))
    raise InvalidValue(f"{what} takes a flightlog.Table, a pyarrow.Table, a DataFrame or a "
                       f"dict of columns, got {type(data).__name__}")


class Chart:
    """A chart to log: a data table and a Vega-Lite spec that draws it.

    The spec refers to its data as ``{"name": "table"}`` (SPEC.md §10.2); the table is
    stored as an Arrow file beside it, so the archive stays drawable without flightlog.

    Args:
        data: the chart's data (:class:`Table`, ``pyarrow.Table``, DataFrame, or dict of
            columns).
        spec: a Vega-Lite spec (dict). Its top-level ``data`` is set to the table.
        kind: what made it (``"line"``, ``"roc_curve"``, ``"sklearn/roc"``, ``"custom"``).
    """

    def __init__(self, data: Any, spec: Mapping[str, Any], *, kind: str = "custom") -> None:
        if not isinstance(spec, Mapping):
            raise InvalidValue(f"a chart spec must be a dict (Vega-Lite), got "
                               f"{type(spec).__name__}")
        depth = value_depth(dict(spec))
        if depth > MAX_SPEC_DEPTH:
            raise InvalidValue(f"chart spec nests over {MAX_SPEC_DEPTH} levels deep "
                               f"(SPEC.md §10.4 bounds it; readers would refuse it)")
        self.table = as_arrow("chart data", data)
        own: dict[str, Any] = copy.deepcopy(dict(spec))
        own.setdefault("$schema", VEGA_LITE_SCHEMA)
        own["data"] = {"name": DATA_NAME}
        try:
            self.spec_json = json.dumps(own, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidValue(f"chart spec is not JSON: {exc}") from exc
        self.spec = own
        self.kind = str(kind)

    @property
    def title(self) -> str | None:
        title = self.spec.get("title")
        if isinstance(title, dict):
            title = title.get("text")
        return None if title is None else str(title)

    def vega_lite(self) -> dict[str, Any]:
        """The spec with its data inlined: ready for any Vega-Lite renderer."""
        return inline_data(self.spec, self.table)

    def __repr__(self) -> str:
        return f"<flightlog.Chart {self.kind} {self.title!r} {self.table.num_rows} rows>"
