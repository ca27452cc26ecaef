"""A stand-in for ``azureml.opendatasets.Diabetes`` (Azure Open Datasets): the same
table, from scikit-learn. Azure's columns are AGE, SEX, BMI, BP, S1..S6 and the target Y;
its values are those of ``load_diabetes()`` (the seed's printed best RMSE, 57.2347..., is
what these give to three decimals)."""

from __future__ import annotations

from typing import Any

from sklearn.datasets import load_diabetes

AZURE_COLUMNS = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6", "Y"]


class _TabularDataset:
    def to_pandas_dataframe(self) -> Any:
        frame = load_diabetes(as_frame=True).frame
        frame.columns = AZURE_COLUMNS
        return frame


class Diabetes:
    @staticmethod
    def get_tabular_dataset() -> _TabularDataset:
        return _TabularDataset()
