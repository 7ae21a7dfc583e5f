"""Products, prices and synthetic candles of the stand-in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

GRANULARITY_SECONDS = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES = 350


@dataclass
class FakeProduct:
    product_id: str
    price: Decimal
    base_increment: Decimal = Decimal("0.00000001")
    quote_increment: Decimal = Decimal("0.01")
    base_min_size: Decimal = Decimal("0.00000001")
    base_max_size: Decimal = Decimal("3400")
    quote_min_size: Decimal = Decimal("1")
    quote_max_size: Decimal = Decimal("150000000")
    price_increment: Decimal = Decimal("0.01")
    spread: Decimal = Decimal("0.02")
    status: str = "online"
    trading_disabled: bool = False
    cancel_only: bool = False

    @property
    def base(self) -> str:
        return self.product_id.split("-")[0]

    @property
    def quote(self) -> str:
        return self.product_id.split("-")[1]

    @property
    def bid(self) -> Decimal:
        return (self.price - self.spread / 2).quantize(self.price_increment)

    @property
    def ask(self) -> Decimal:
        return (self.price + self.spread / 2).quantize(self.price_increment)

    def to_json(self) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "price": fmt(self.price),
            "price_percentage_change_24h": "0",
            "volume_24h": "1000",
            "volume_percentage_change_24h": "0",
            "base_increment": fmt(self.base_increment),
            "quote_increment": fmt(self.quote_increment),
            "quote_min_size": fmt(self.quote_min_size),
            "quote_max_size": fmt(self.quote_max_size),
            "base_min_size": fmt(self.base_min_size),
            "base_max_size": fmt(self.base_max_size),
            "base_name": self.base,
            "quote_name": self.quote,
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": self.status,
            "cancel_only": self.cancel_only,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": self.trading_disabled,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": self.quote,
            "base_currency_id": self.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": self.base,
            "quote_display_symbol": self.quote,
            "view_only": False,
            "price_increment": fmt(self.price_increment),
            "display_name": self.product_id.replace("-", "/"),
            "product_venue": "CBE",
            "approximate_quote_24h_volume": "1000000",
        }


def fmt(value: Decimal) -> str:
    """Coinbase writes plain decimal strings ("0.00000001", never "1E-8")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".") or "0"
    return text


def synthetic_close(price: Decimal, start: int, granularity_seconds: int) -> Decimal:
    """Deterministic close for the candle starting at ``start``: tests recompute it."""
    step = start // granularity_seconds
    wiggle = Decimal(str(round(math.sin(step / 7.0) * 0.02, 6)))
    return (price * (1 + wiggle)).quantize(Decimal("0.01"))


def candle_json(price: Decimal, start: int, granularity_seconds: int) -> dict[str, str]:
    close = synthetic_close(price, start, granularity_seconds)
    prev = synthetic_close(price, start - granularity_seconds, granularity_seconds)
    return {
        "start": str(start),
        "low": fmt(min(prev, close) - 1),
        "high": fmt(max(prev, close) + 1),
        "open": fmt(prev),
        "close": fmt(close),
        "volume": fmt(Decimal(start // granularity_seconds % 100) + Decimal("0.5")),
    }


def candle_starts(start: int, end: int, granularity_seconds: int) -> list[int]:
    """Aligned candle starts in [start, end), newest first (Coinbase's order)."""
    first = -(-start // granularity_seconds) * granularity_seconds
    return list(range(first, end, granularity_seconds))[::-1]
