"""Coinbase Advanced Trade JSON (plain dicts from the SDK's ``to_dict()``) → domain values.

Amounts arrive as strings and become ``Decimal`` without passing through float.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from coinpilot.domain.exchange_values import ExchangeOrderStatus, FillReport, OrderSnapshot
from coinpilot.domain.market import Product
from coinpilot.domain.types import Side


def parse_decimal(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    if value is None or value == "":
        return default
    return Decimal(str(value))


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_product(d: dict[str, Any]) -> Product:
    pid = str(d["product_id"])
    base, _, quote = pid.partition("-")
    return Product(
        product_id=pid,
        base_currency=str(d.get("base_currency_id") or base),
        quote_currency=str(d.get("quote_currency_id") or quote),
        base_increment=parse_decimal(d.get("base_increment")),
        quote_increment=parse_decimal(d.get("quote_increment")),
        base_min_size=parse_decimal(d.get("base_min_size")),
        quote_min_size=parse_decimal(d.get("quote_min_size")),
        base_max_size=parse_decimal(d.get("base_max_size")) if d.get("base_max_size") else None,
        quote_max_size=parse_decimal(d.get("quote_max_size")) if d.get("quote_max_size") else None,
        price_increment=parse_decimal(d.get("price_increment")) if d.get("price_increment") else None,
        status=str(d.get("status") or "online"),
        trading_disabled=bool(d.get("trading_disabled")),
        cancel_only=bool(d.get("cancel_only")),
        price=parse_decimal(d.get("price")) if d.get("price") else None,
    )


def order_end_reason(o: dict[str, Any]) -> str | None:
    """Why an order ended early, in the exchange's words: the reject code with its message, or
    the cancel message (Coinbase puts an IOC order's "not fully filled" there)."""
    parts = [str(o.get(k) or "").strip() for k in ("reject_reason", "reject_message", "cancel_message")]
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return ": ".join(seen) or None


def parse_order(o: dict[str, Any]) -> OrderSnapshot:
    try:
        status = ExchangeOrderStatus(str(o.get("status")))
    except ValueError:
        status = ExchangeOrderStatus.UNKNOWN
    avg = parse_decimal(o.get("average_filled_price"))
    return OrderSnapshot(
        order_id=str(o["order_id"]),
        client_order_id=str(o.get("client_order_id") or ""),
        pair=str(o.get("product_id") or ""),
        side=Side(str(o.get("side") or "BUY").lower()),
        status=status,
        filled_base=parse_decimal(o.get("filled_size")),
        average_price=avg if avg > 0 else None,
        filled_value=parse_decimal(o.get("filled_value")),
        total_fees=parse_decimal(o.get("total_fees")),
        number_of_fills=int(parse_decimal(o.get("number_of_fills"))),
        reject_reason=order_end_reason(o),
        created_at=parse_time(o.get("created_time")),
        last_fill_at=parse_time(o.get("last_fill_time")),
    )


def parse_fill(f: dict[str, Any]) -> FillReport:
    """One fill. With ``size_in_quote`` Coinbase's ``size`` is the fill's quote value: it is kept
    as ``value`` and the base size is left at 0 until ``account_fills`` takes it from the order
    (dividing by the price would invent digits the account never received)."""
    price = parse_decimal(f.get("price"))
    size = parse_decimal(f.get("size"))
    in_quote = bool(f.get("size_in_quote"))
    return FillReport(
        fill_id=str(f.get("entry_id") or f.get("trade_id")),
        order_id=str(f.get("order_id")),
        price=price,
        base_size=Decimal(0) if in_quote else size,
        fee=parse_decimal(f.get("commission")),
        liquidity=str(f.get("liquidity_indicator") or "UNKNOWN"),
        time=parse_time(f.get("trade_time")) or datetime.fromtimestamp(0, UTC),
        value=size if in_quote else None,
        size_in_quote=in_quote,
    )
