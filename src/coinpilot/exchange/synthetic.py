"""Synthetic test pairs derived deterministically from real replay data (tests and benchmarks).

Coinpilot allows one bot per pair, and the shipped history has two pairs. To run many bots
(the multi-worker test, the engine benchmark) :class:`SyntheticPairs` adds ``count`` extra
pairs named ``BTC1-USD``, ``ETH2-USD``, ``BTC3-USD`` … : pair ``i`` follows BTC-USD (odd ``i``)
or ETH-USD (even ``i``) scaled by ``1 + i/1000``. Scaling keeps every indicator's shape (the
scores equal the source pair's), and the prices differ so the pairs are distinguishable.

These pairs exist only when a caller wraps its market data explicitly (``coinpilot worker
--synthetic-pairs N``, ``bench/engine.py``); they are never part of the normal replay, the
demo, or production, and the real pairs pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity
from coinpilot.exchange.base import MarketData

_NAME = re.compile(r"^(BTC|ETH)(\d+)-USD$")
SOURCES = ("BTC-USD", "ETH-USD")


def synthetic_pairs(count: int) -> list[str]:
    return [f"{'ETH' if i % 2 == 0 else 'BTC'}{i}-USD" for i in range(1, count + 1)]


class SyntheticPairs:
    """:class:`MarketData` adding ``count`` scaled copies of BTC-USD / ETH-USD (see module doc)."""

    def __init__(self, inner: MarketData, count: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        self.inner = inner
        self.count = count
        self._pairs = {p: self._parse(p) for p in synthetic_pairs(count)}

    @staticmethod
    def _parse(pair: str) -> tuple[str, Decimal]:
        m = _NAME.match(pair)
        assert m is not None
        i = int(m.group(2))
        return f"{m.group(1)}-USD", 1 + Decimal(i) / 1000

    def _source(self, pair: str) -> tuple[str, Decimal] | None:
        return self._pairs.get(pair)

    def list_products(self) -> list[Product]:
        real = self.inner.list_products()
        return real + [self.get_product(p) for p in self._pairs]

    def get_product(self, pair: str) -> Product:
        src = self._source(pair)
        if src is None:
            return self.inner.get_product(pair)
        base = self.inner.get_product(src[0])
        return replace(base, product_id=pair, base_currency=pair.split("-")[0])

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        src = self._source(pair)
        if src is None:
            return self.inner.get_candles(pair, granularity, start, end)
        c = self.inner.get_candles(src[0], granularity, start, end)
        f = float(src[1])
        return Candles(pair, granularity, c.start, c.open * f, c.high * f, c.low * f, c.close * f, c.volume)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        wanted = list(dict.fromkeys(pairs))
        real = [p for p in wanted if p not in self._pairs]
        needed = sorted({self._pairs[p][0] for p in wanted if p in self._pairs} | set(real))
        got = self.inner.get_best_bid_ask(needed) if needed else {}
        out: dict[str, BestBidAsk] = {p: got[p] for p in real if p in got}
        for p in wanted:
            src = self._pairs.get(p)
            if src is None or src[0] not in got:
                continue
            q = got[src[0]]
            inc = Decimal("0.01")
            bid = (q.bid * src[1]).quantize(inc, rounding=ROUND_HALF_EVEN)
            ask = max((q.ask * src[1]).quantize(inc, rounding=ROUND_HALF_EVEN), bid + inc)
            out[p] = BestBidAsk(pair=p, bid=bid, ask=ask, time=q.time)
        return out
