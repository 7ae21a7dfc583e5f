"""How the command line shows numbers, one set of rules (the dashboard's format.js mirrors them):
money as "$1,234.50" (P&L with its sign), sizes to the product's base increment, prices to its
price increment, percentages with a sign, durations in hours and minutes. Values stay Decimal
until they become text; nothing here rounds a stored figure.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from rich.table import Table

DASH = "—"
MINUS = "−"
CENT = Decimal("0.01")


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def usd(value: Any, signed: bool = False) -> str:
    """``$1,234.50``; with ``signed`` gains get ``+$`` (P&L); losses always ``−$``."""
    d = _dec(value)
    if d is None:
        return DASH
    q = d.quantize(CENT, rounding=ROUND_HALF_UP)
    body = f"{abs(q):,.2f}"
    if q < 0:
        return f"{MINUS}${body}"
    return f"+${body}" if signed and q > 0 else f"${body}"


def to_increment(value: Any, increment: Any) -> str:
    """``value`` shown with the decimals of ``increment`` (``0.01`` → 2, ``1E-8`` → 8)."""
    d = _dec(value)
    if d is None:
        return DASH
    inc = _dec(increment)
    if inc is None or inc <= 0:
        return f"{d.normalize():f}"
    places = max(-inc.normalize().as_tuple().exponent, 0)  # type: ignore[operator]
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{abs(q):,.{places}f}"
    return f"{MINUS}{text}" if q < 0 else text


def pct(value: Any, places: int = 2) -> str:
    """``+2.50%`` / ``−1.25%`` / ``0.00%`` (``value`` already in percent)."""
    d = _dec(value)
    if d is None:
        return DASH
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if q == 0:
        return f"{abs(q):.{places}f}%"
    return f"{'+' if q > 0 else MINUS}{abs(q):.{places}f}%"


def duration(seconds: Any) -> str:
    """``45s``, ``12m``, ``1h 05m``, ``2d 3h``: rounded up, so a cooldown never looks over early."""
    d = _dec(seconds)
    if d is None:
        return DASH
    total = max(0, int(d.to_integral_value(rounding="ROUND_CEILING")))
    if total < 60:
        return f"{total}s"
    minutes = -(-total // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // 1440}d {minutes % 1440 // 60}h"


def table(*columns: str, numeric: tuple[str, ...] = ()) -> Table:
    """A table whose numeric columns are right-aligned and whose text columns may wrap, so it
    fits the terminal instead of cutting cells."""
    t = Table()
    for name in columns:
        if name in numeric:
            t.add_column(name, justify="right", no_wrap=True)
        else:
            t.add_column(name, overflow="fold")
    return t
