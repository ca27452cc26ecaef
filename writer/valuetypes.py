"""One kind of value per history key: a key's numbers stay numbers (SPEC.md §9.2).

A history column's type follows from every value logged under its key (SPEC.md §11.2), so
one ``"n/a"`` among a thousand floats would turn the whole column into text. The writer
keeps each key to the **kind** of its first non-nil value in this writer (number, bool,
str or histogram); a value of another kind goes to the sibling key ``KEY:KIND`` (``loss``
logged ``0.5`` then ``"diverged"``: ``loss`` stays float64, ``loss:str`` holds the text),
and a :class:`ValueTypeChanged` warning names the key, the step and both kinds, once per
key. Nothing is dropped and nothing is refused: a training loop is never stopped for it.

How others do it: MLflow refuses a non-number metric; Aim refuses a value of another type
in a sequence; TensorBoard keeps scalars and text apart by plugin; W&B keeps the value and
plots only the numbers. Keeping the numbers numeric and the odd value under a name of its
own gives W&B's forgiveness with TensorBoard's typed columns.
"""

from __future__ import annotations

import warnings
from typing import Any

from flightlog.format.localrun import FlightlogWarning

from flightlog.errors import InvalidKey

from .values import MAX_KEY_CHARS

NUMBER, BOOL, STR, HISTOGRAM = "number", "bool", "str", "histogram"


class ValueTypeChanged(FlightlogWarning):
    """A history key was logged with a value of another kind than its first one; the value
    went to the sibling key ``KEY:KIND`` (SPEC.md §9.2). Attributes: ``key``, ``step``,
    ``first`` (the key's kind) and ``found`` (the new value's kind), ``sibling``."""

    def __init__(self, key: str, step: int, first: str, found: str, sibling: str) -> None:
        super().__init__(f"{key!r} was logged as a {first} and at step {step} as a {found}; "
                         f"its {found} values go to {sibling!r} so that {key!r} keeps only "
                         f"{first} values (SPEC.md §9.2)")
        self.key, self.step, self.first, self.found, self.sibling = (key, step, first, found,
                                                                     sibling)


def kind_of(value: Any) -> str | None:
    """The kind of a normalised history value (None for nil: it fits every key)."""
    kind = type(value)
    if value is None:
        return None
    if kind is float or kind is int:
        return NUMBER
    if kind is bool:
        return BOOL
    if kind is str:
        return STR
    return HISTOGRAM  # the only map history_value makes


class KeyKinds:
    """The kind of each history key of one writer, and the keys already warned about."""

    __slots__ = ("_kinds", "_warned")

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._warned: set[str] = set()

    def all_numbers(self, keys: tuple[str, ...]) -> bool:
        """For the writer's fast path (every value an int or float): registers ``keys`` as
        numbers and says whether each of them is one (else the row takes :meth:`route`)."""
        kinds = self._kinds
        return all(kinds.setdefault(key, NUMBER) == NUMBER for key in keys)

    def route(self, row: dict[str, Any], step: int) -> dict[str, Any]:
        """``row`` with each value whose kind is not its key's moved to its sibling key."""
        out: dict[str, Any] = {}
        changed = False
        for key, value in row.items():
            kind = kind_of(value)
            target = key
            while kind is not None:
                first = self._kinds.setdefault(target, kind)
                if first == kind:
                    break
                sibling = f"{target}:{kind}"
                if len(sibling) > MAX_KEY_CHARS:
                    raise InvalidKey(f"{key!r}: no room for the sibling key of its {kind} "
                                     f"values (the limit is {MAX_KEY_CHARS} characters)",
                                     key=key[:64])
                if target not in self._warned:
                    self._warned.add(target)
                    warnings.warn(ValueTypeChanged(target, step, first, kind, sibling),
                                  stacklevel=4)
                target, changed = sibling, True
            out[target] = value
        return out if changed else row
