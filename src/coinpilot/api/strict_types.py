"""Strict input types for the API edge: what a field says it takes is all it takes.

Found by fuzzing (issue 11): pydantic's lax mode reads ``true`` as 1 and ``0`` as false, and
Python's ``Decimal`` reads " 5", "+5", "1_0" and non-ASCII digits; JSON's ``NaN``/``Infinity``
and ``1e400`` (parsed as infinity) reach the business rules; ids past the database's integer
range crash the driver. Each type here refuses those with a 422 naming the field, before any
code that could store or crash runs.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

# Ids are INTEGER columns on PostgreSQL (2^31 - 1); SQLite allows more, one limit for both.
MAX_ID = 2**31 - 1

# A plain non-negative decimal: ASCII digits, an optional fraction; no sign, spaces, '_' or 'e'.
# Matched whole (``fullmatch``), so a trailing newline cannot slip through.
PLAIN_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,18})?")
PLAIN_DECIMAL_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"
_PLAIN_MESSAGE = 'must be a plain decimal number like "10.50" (ASCII digits; no sign, spaces or exponent)'

# JSON numbers inside free-form objects (signal_config, strategy) stay within float range and
# are finite; integers beyond 2^53 are not numbers a setting needs.
MAX_JSON_INT = 2**53


def _decimal_text(value: str) -> str:
    if not PLAIN_DECIMAL.fullmatch(value):
        raise ValueError(_PLAIN_MESSAGE)
    return value


def _decimal_input(value: Any) -> Any:
    """A JSON number (finite, not a boolean) or a plain decimal string."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        return Decimal(_decimal_text(value))
    raise ValueError(_PLAIN_MESSAGE)


def finite_json(value: Any, path: str = "") -> Any:
    """Refuse NaN, infinities and out-of-range numbers anywhere inside a JSON value."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'}: must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
        raise ValueError(f"{path or 'value'}: number out of range")
    if isinstance(value, dict):
        for key, item in value.items():
            finite_json(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            finite_json(item, f"{path}[{i}]")
    return value


DbId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
"""An id in a JSON body: an integer (not a boolean, string or float) the database can hold."""

StrictNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
StrictInt = Annotated[int, Field(strict=True)]

DecimalText = Annotated[
    str,
    AfterValidator(_decimal_text),
    WithJsonSchema({"type": "string", "pattern": PLAIN_DECIMAL_PATTERN, "examples": ["10.50"]}),
]
"""A decimal sent as text, e.g. ``"10.50"``."""

PlainDecimal = Annotated[
    Decimal,
    BeforeValidator(_decimal_input),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": PLAIN_DECIMAL_PATTERN},
            ],
            "examples": ["10.50"],
        }
    ),
]
"""A non-negative decimal as a JSON number or plain text."""

FiniteJsonObject = Annotated[dict[str, Any], AfterValidator(finite_json)]
