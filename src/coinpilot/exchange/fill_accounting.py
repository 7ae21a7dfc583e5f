"""Fills as the exchange accounts them: the order's own totals are the ground truth.

Coinbase credits the account with the order's ``filled_size`` and charges or credits its
``filled_value`` and ``total_fees``; a fill's ``size * price`` or ``value / price`` is only an
approximation of its share. So, for a finished order:

- quote-unit fills (``size_in_quote``) get their base sizes by splitting the order's
  ``filled_size`` across them in proportion to their quote values (at the precision the exchange
  reported, the last fill taking the remainder): the sizes sum to ``filled_size`` exactly;
- base-unit fills keep their sizes; their quote values are the order's ``filled_value`` split in
  proportion to ``size * price`` (the last fill taking the remainder);
- the fees are the fills' commissions, or the order's ``total_fees`` split the same way when the
  commissions do not add up to it.

Pure functions over adapter values; the order sync applies them before recording fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_DOWN, Context, Decimal, localcontext

from coinpilot.domain.exchange_values import FillReport, OrderSnapshot

ZERO = Decimal(0)
FINEST = Decimal("1e-18")  # the scale of the money columns
_CTX = Context(prec=60)


def _quantum_of(total: Decimal) -> Decimal:
    """The precision ``total`` was reported with (never finer than the money columns)."""
    exponent = total.as_tuple().exponent
    if not isinstance(exponent, int):
        return FINEST
    return max(Decimal(1).scaleb(exponent), FINEST)


def split(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights``; the parts sum to ``total`` exactly and are
    on its precision (finer only when a part would otherwise be zero)."""
    if not weights:
        return []
    with localcontext(_CTX):
        whole = sum(weights, ZERO)
        if whole <= 0:
            return [ZERO] * (len(weights) - 1) + [total]
        for quantum in (_quantum_of(total), FINEST):
            parts = [(total * w / whole).quantize(quantum, rounding=ROUND_DOWN) for w in weights[:-1]]
            parts.append(total - sum(parts, ZERO))
            if all(p > 0 for p in parts) or quantum == FINEST:
                return parts
    raise AssertionError("unreachable")  # pragma: no cover


def account_fills(snap: OrderSnapshot, fills: Sequence[FillReport]) -> list[FillReport] | None:
    """The order's fills with base sizes, values and fees as the exchange accounted them.

    Returns None while the fill list is short of the order's reported totals (the fill list lags
    the order status: wait and ask again).
    """
    mine = [f for f in fills if f.order_id == snap.order_id]
    if not mine:
        return []
    with localcontext(_CTX):
        if any(f.size_in_quote for f in mine):
            values = [f.value if f.value is not None else f.base_size * f.price for f in mine]
            if sum(values, ZERO) < snap.filled_value or snap.filled_base <= 0:
                return None
            bases = split(snap.filled_base, values)
        else:
            bases = [f.base_size for f in mine]
            if sum(bases, ZERO) < snap.filled_base:
                return None
            gross = [(f.base_size * f.price).quantize(FINEST) for f in mine]
            exact = sum(bases, ZERO) == snap.filled_base and snap.filled_value > 0
            values = split(snap.filled_value, gross) if exact else gross
        fees = [f.fee for f in mine]
        if (
            snap.total_fees > 0
            and sum(fees, ZERO) != snap.total_fees
            and sum(bases, ZERO) == snap.filled_base
        ):
            fees = split(snap.total_fees, values)
        return [
            replace(f, base_size=b, value=v, fee=fee, size_in_quote=False)
            for f, b, v, fee in zip(mine, bases, values, fees, strict=True)
        ]
