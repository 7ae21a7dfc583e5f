"""Market data of the Coinbase adapter: products, candles and best bid/ask.

Split out of ``coinbase.py`` so the adapter module holds orders and accounts; these reads only
choose the private or the public endpoint (by whether a key is configured) and parse the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from coinpilot.domain.clock import Clock
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity
from coinpilot.exchange.base import ProductNotFound
from coinpilot.exchange.coinbase_parse import parse_decimal, parse_product, parse_time
from coinpilot.exchange.coinbase_requests import CoinbaseRequests

MAX_CANDLES_PER_REQUEST = 350


class CoinbaseMarketData(CoinbaseRequests):
    """Product, candle and price-book reads (set up by ``CoinbaseExchange.__init__``)."""

    _clock: Clock
    _products: dict[str, Product]

    def list_products(self) -> list[Product]:
        c = self._client
        if self.authenticated:
            resp = self._call("list products", c.get_products)
        else:
            resp = self._call("list products", c.get_public_products)
        products = [parse_product(p) for p in resp.to_dict().get("products") or []]
        self._products.update({p.product_id: p for p in products})
        return products

    def get_product(self, pair: str) -> Product:
        fn = self._client.get_product if self.authenticated else self._client.get_public_product
        product = parse_product(self._call("get product", fn, pair, not_found=ProductNotFound).to_dict())
        self._products[pair] = product
        return product

    def cached_product(self, pair: str) -> Product:
        return self._products.get(pair) or self.get_product(pair)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        g = granularity.seconds
        lo, hi = int(start.timestamp()), int(end.timestamp())
        fn = self._client.get_candles if self.authenticated else self._client.get_public_candles
        rows: dict[int, dict[str, Any]] = {}
        chunk_start = lo
        while chunk_start < hi:
            chunk_end = min(hi, chunk_start + MAX_CANDLES_PER_REQUEST * g)
            resp = self._call(
                "get candles",
                fn,
                pair,
                str(chunk_start),
                str(chunk_end),
                granularity.value,
                not_found=ProductNotFound,
            )
            for c in resp.to_dict().get("candles") or []:
                t = int(c["start"])
                if lo <= t < hi:
                    rows[t] = c
            chunk_start = chunk_end
        # Coinbase includes the candle still forming at the window's end (callers ask up to
        # "now"): only candles closed by then leave the adapter. The shared cache also cuts at
        # the engine's clock, so a window reaching past now cannot let a forming one through.
        rows = {t: c for t, c in rows.items() if t + g <= hi}
        if not rows:
            return Candles.empty(pair, granularity)
        order = sorted(rows)

        def col(name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
            return np.array([float(rows[t][name]) for t in order], dtype=np.float64)

        return Candles(
            pair,
            granularity,
            np.array(order, dtype=np.int64),
            col("open"),
            col("high"),
            col("low"),
            col("close"),
            col("volume"),
        )

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        if not pairs:
            return {}
        if self.authenticated:
            books = (
                self._call("best bid ask", self._client.get_best_bid_ask, list(pairs))
                .to_dict()
                .get("pricebooks")
                or []
            )
        else:
            books = [
                self._call("product book", self._client.get_public_product_book, p, limit=1)
                .to_dict()
                .get("pricebook")
                or {}
                for p in pairs
            ]
        out: dict[str, BestBidAsk] = {}
        for b in books:
            bids, asks = b.get("bids") or [], b.get("asks") or []
            if not bids or not asks:
                continue
            when = parse_time(b.get("time")) if isinstance(b.get("time"), str) else None
            out[str(b["product_id"])] = BestBidAsk(
                str(b["product_id"]),
                parse_decimal(bids[0]["price"]),
                parse_decimal(asks[0]["price"]),
                when or self._clock.now(),
            )
        return out
