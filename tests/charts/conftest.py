"""Fixtures of the chart tests: real scikit-learn data sets and fitted small models
(module-independent, computed once per session; each takes well under a second).

- ``binary``: breast_cancer, StandardScaler + LogisticRegression; held-out ``y`` and
  ``proba`` (n, 2).
- ``iris``: iris, StandardScaler + LogisticRegression; ``y``, ``proba`` (n, 3), ``names``.
- ``digits``: digits, GaussianNB (its probabilities are 0 or 1 for most samples: many
  tied scores, which the curves must handle as sklearn does); ``y``, ``proba`` (n, 10).
- ``diabetes``: diabetes, Ridge; held-out ``y`` and ``pred``.

Helpers for Vega-Lite validation and rendering live in ``vl.py`` (same directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest


@dataclass(frozen=True)
class Fitted:
    y: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any]
    names: list[str]


def _split(X: Any, y: Any) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    return X_train, X_test, y_train, y_test


def _logistic(dataset: Any) -> Fitted:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = _split(dataset.data, dataset.target)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    return Fitted(y_test, model.predict_proba(X_test), [str(n) for n in dataset.target_names])


@pytest.fixture(scope="session")
def binary() -> Fitted:
    from sklearn.datasets import load_breast_cancer

    return _logistic(load_breast_cancer())


@pytest.fixture(scope="session")
def iris() -> Fitted:
    from sklearn.datasets import load_iris

    return _logistic(load_iris())


@pytest.fixture(scope="session")
def digits() -> Fitted:
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB

    data = load_digits()
    X_train, X_test, y_train, y_test = _split(data.data, data.target)
    model = GaussianNB().fit(X_train, y_train)
    return Fitted(y_test, model.predict_proba(X_test), [str(n) for n in data.target_names])


@dataclass(frozen=True)
class Regression:
    y: np.ndarray[Any, Any]
    pred: np.ndarray[Any, Any]


@pytest.fixture(scope="session")
def diabetes() -> Regression:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    return Regression(y_test, model.predict(X_test))
