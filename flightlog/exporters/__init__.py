"""Exports of runs to the tools analysts use: a Parquet dataset readable without flightlog
(:mod:`.to_parquet`, layout in docs/parquet-layout.md) and a running MLflow tracking
server (:mod:`.to_mlflow`). Both read runs one at a time through the :class:`RunLike`
interface, from run directories or from a flightlog server (:mod:`.sources`).

Nothing heavy is imported here: pyarrow is imported by the Parquet exporter, mlflow only
when an MLflow export starts (``pip install 'flightlog[mlflow]'``).
"""

from __future__ import annotations

__all__ = ["export_mlflow", "export_parquet"]

from typing import Any


def export_parquet(*args: Any, **kwargs: Any) -> Any:
    """See :func:`flightlog.exporters.to_parquet.export_parquet`."""
    from .to_parquet import export_parquet as impl

    return impl(*args, **kwargs)


def export_mlflow(*args: Any, **kwargs: Any) -> Any:
    """See :func:`flightlog.exporters.to_mlflow.export_mlflow`."""
    from .to_mlflow import export_mlflow as impl

    return impl(*args, **kwargs)
