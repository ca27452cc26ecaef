"""What MLflow accepts (mlflow.utils.validation), and flightlog names and values made to
fit: keys of alphanumerics, ``_ - . : / space`` that do not change under path
normalisation, at most 250 characters; param values truncated to a limit every MLflow
server takes; batches within ``log_batch``'s limits."""

from __future__ import annotations

import hashlib
import posixpath
import re

#: log_batch limits of the MLflow REST API.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_REQUEST_BYTES = 1_000_000
#: MLflow 1.x servers take 500 characters per param value (newer ones 6000): the value
#: kept everywhere; the full values go to the artifact ``flightlog/params.json``.
PARAM_VALUE_LIMIT = 500
#: MLflow 2+ tag values (older servers: 5000).
TAG_VALUE_LIMIT = 5000
MAX_KEY_LENGTH = 250

_BAD = re.compile(r"[^/\w.\- :]")


def mlflow_key(name: str) -> str:
    """``name`` as a valid MLflow metric/param key; unchanged when it already is one."""
    key = _BAD.sub("_", name) or "_"
    if posixpath.normpath(key) != key or key.startswith(("/", "..")) or key == ".":
        key = key.replace("/", "_")
        if key in (".", "..") or key.startswith(".."):
            key = "_" + key
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        key = f"{key[:MAX_KEY_LENGTH - 13]}~{digest}".replace("~", "_")
    return key


class KeyMap:
    """flightlog key → distinct MLflow key, assigned in first-seen order (stable as a run
    grows: keys are met in history column order, new keys come last)."""

    def __init__(self) -> None:
        self._of: dict[str, str] = {}
        self._used: set[str] = set()
        self.renamed: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        found = self._of.get(name)
        if found is not None:
            return found
        key = base = mlflow_key(name)
        n = 2
        while key in self._used:
            key = f"{base[:MAX_KEY_LENGTH - 8]}_{n}"
            n += 1
        self._of[name] = key
        self._used.add(key)
        if key != name:
            self.renamed[name] = key
        return key
