"""Market data endpoints (read through the shared cache, like the bots)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query

from coinpilot.api.deps import get_services
from coinpilot.api.errors import FieldValidationError
from coinpilot.domain.bot import PAIR_PATTERN
from coinpilot.domain.signal_config import FieldError
from coinpilot.domain.types import Granularity
from coinpilot.services import Services
from coinpilot.views.rows import money

router = APIRouter(prefix="/market", tags=["market"])


@router.get("/products", summary="Tradable products with increments and minimum sizes")
def products(services: Services = Depends(get_services)) -> list[dict[str, Any]]:
    return [
        {
            "product_id": p.product_id,
            "base_currency": p.base_currency,
            "quote_currency": p.quote_currency,
            "base_increment": money(p.base_increment),
            "quote_increment": money(p.quote_increment),
            "base_min_size": money(p.base_min_size),
            "quote_min_size": money(p.quote_min_size),
            "status": p.status,
            "tradable": p.tradable,
            "price": money(p.price),
        }
        for p in services.market.list_products()
    ]


@router.get("/candles/{pair}", summary="Recent candles, oldest first")
def candles(
    pair: str,
    granularity: Granularity = Granularity.ONE_HOUR,
    limit: int = Query(default=300, ge=1, le=1000),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    if not PAIR_PATTERN.fullmatch(pair):
        raise FieldValidationError([FieldError("pair", "must look like BTC-USD")])
    now = services.clock.now()
    start = now - timedelta(seconds=granularity.seconds * (limit + 1))
    c = services.market.get_candles(pair, granularity, start, now).tail(limit)
    return {
        "pair": pair,
        "granularity": granularity.value,
        "candles": [
            {
                "time": datetime.fromtimestamp(int(c.start[i]), UTC).isoformat(),
                "open": float(c.open[i]),
                "high": float(c.high[i]),
                "low": float(c.low[i]),
                "close": float(c.close[i]),
                "volume": float(c.volume[i]),
            }
            for i in range(len(c))
        ],
    }


@router.get("/best-bid-ask/{pair}", summary="Best bid and ask")
def best_bid_ask(pair: str, services: Services = Depends(get_services)) -> dict[str, Any]:
    if not PAIR_PATTERN.fullmatch(pair):
        raise FieldValidationError([FieldError("pair", "must look like BTC-USD")])
    q = services.market.get_best_bid_ask([pair])[pair]
    return {"pair": pair, "bid": money(q.bid), "ask": money(q.ask), "time": q.time.isoformat()}
