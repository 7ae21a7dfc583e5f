"""``dataclasses.replace`` (and the constructor) for the kernel's plain frozen values, without
their per-call cost.

Why: the decision kernel advances its state by copying frozen dataclasses with a few fields
changed, ~20 times per evaluated tick. ``dataclasses.replace`` walks every field of the class
and calls ``__init__`` on each copy; in a backtest that walk was the largest single cost of a
visited tick. For a class whose ``__init__`` only stores its fields (no ``__post_init__``, no
``InitVar``, no ``init=False`` field, no ``__slots__``, nothing cached in the instance dict)
copying the instance dict and overwriting the changed fields builds the very same value. Any
other class, or a name that is not a field, goes through ``dataclasses.replace`` itself (same
result, same errors).

:func:`build` is the constructor by the same means: a frozen dataclass's ``__init__`` stores each
field through ``object.__setattr__`` (a call per field), which for the 24 fields of a safety
context cost more than the checks that read it. Given every field, a plain class is built by
filling the instance dict; any other class, or a missing or unknown field, goes through the
constructor itself (same result, same errors).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["build", "evolve"]

_FIELDS: dict[type, frozenset[str] | None] = {}


def _plain_fields(cls: type) -> frozenset[str] | None:
    """The field names of ``cls`` when a dict copy equals ``replace``; None otherwise."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        return None
    declared: dict[str, Any] = cls.__dataclass_fields__
    fields = dataclasses.fields(cls)
    if len(fields) != len(declared) or not all(f.init for f in fields):
        return None  # InitVar / ClassVar pseudo-fields or fields __init__ does not take
    for klass in cls.__mro__:
        if any(isinstance(v, functools.cached_property) for v in vars(klass).values()):
            return None
    return frozenset(f.name for f in fields)


def evolve(obj: T, /, **changes: Any) -> T:
    """``dataclasses.replace(obj, **changes)``, by a dict copy where that is the same thing."""
    cls = type(obj)
    try:
        names = _FIELDS[cls]
    except KeyError:
        names = _FIELDS[cls] = _plain_fields(cls)
    if names is None or not changes.keys() <= names:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    state = obj.__dict__.copy()
    state.update(changes)
    new = object.__new__(cls)
    object.__setattr__(new, "__dict__", state)  # frozen: set the way its __init__ sets fields
    return new


def build(cls: type[T], /, **values: Any) -> T:
    """``cls(**values)``, by filling the instance dict where that is the same thing (a plain
    class, every field given: defaults and factories play no part)."""
    try:
        names = _FIELDS[cls]
    except KeyError:
        names = _FIELDS[cls] = _plain_fields(cls)
    if names is None or len(values) != len(names) or not values.keys() <= names:
        return cls(**values)
    new = object.__new__(cls)
    object.__setattr__(new, "__dict__", values)  # a fresh dict: the call's own keyword arguments
    return new
