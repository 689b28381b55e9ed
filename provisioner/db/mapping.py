"""Between the domain's dataclasses and their rows: a field and its column share
a name, so only the fields stored differently are spelled out where they are
converted (and a new field needs no mapping code)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def _names(cls: Any) -> tuple[str, ...]:
    """The field names of a dataclass (asked once per class: boot reads every row)."""
    return tuple(f.name for f in fields(cls))


def from_row(cls: Callable[..., T], row: object, **stored_differently: Any) -> T:
    """A ``cls`` whose fields are the row's attributes of the same names, but for
    the ones given."""
    same = (n for n in _names(cls) if n not in stored_differently)
    return cls(**{name: getattr(row, name) for name in same}, **stored_differently)


def columns(obj: object, *omit: str) -> dict[str, Any]:
    """The dataclass's fields (shallow) by name, as columns of the same names,
    but for ``omit``."""
    cls: Callable[..., Any] = type(obj)
    return {n: getattr(obj, n) for n in _names(cls) if n not in omit}


def assign(row: object, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)
