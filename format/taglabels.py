"""Tags as the list of labels W&B shows: ``name`` for a tag without a value, else
``name=value`` (SPEC.md §8 stores them as a map str → str|nil)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def tag_labels(tags: Mapping[str, Any]) -> list[str]:
    return [key if value is None else f"{key}={value}" for key, value in tags.items()]
