"""Replayed market data: real Coinbase candles shipped in ``coinpilot/data``, served as if live.

Mock mode and the demo map "now" onto the history with an :class:`AcceleratedClock` (see
:func:`replay_clock`). Two rules keep the replay honest:

- **No look-ahead for candles.** A candle starting at ``t`` with granularity ``g`` is returned only
  once ``clock.now() >= t + g``: the candle still forming is never visible, in any granularity.
- **Current price.** ``get_best_bid_ask`` prices "now" by linear interpolation between the open
  and the close of the candle that contains ``now`` (``price_mode="interpolate"``, the default, so
  demo prices move smoothly instead of jumping once an hour). That path is a modelling
  assumption: it uses the forming candle's close, which ``get_candles`` never reveals. Strict
  backtests can pass ``price_mode="last_close"`` to price at the last *closed* candle's close.
  Inside a data gap the last closed close is used; after the end of the data the price freezes
  at the final close and the quote's ``time`` stays at the data's end, so staleness is visible.

Coarser granularities than the stored one are built by aggregation on UTC epoch-aligned buckets
(as Coinbase does): open of the first candle, max high, min low, close of the last, summed
volume. A bucket is visible only once the whole bucket has closed. Finer granularities are
refused. Unlike Coinbase there is no 350-candle limit per call.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from importlib import resources
from typing import Literal

import numpy as np

from coinpilot.domain.clock import AcceleratedClock, Clock, ensure_utc
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity
from coinpilot.exchange.base import ExchangeError, ProductNotFound

PriceMode = Literal["interpolate", "last_close"]

# Named sets of shipped files: {source: {pair: (file name, stored granularity)}}.
SOURCES: dict[str, dict[str, tuple[str, Granularity]]] = {
    # BTC and ETH over the same 702 days (2017-07-01 .. 2019-06-04): the default.
    "hourly": {
        "BTC-USD": ("coinbase_BTC-USD_1h.csv.gz", Granularity.ONE_HOUR),
        "ETH-USD": ("coinbase_ETH-USD_1h.csv.gz", Granularity.ONE_HOUR),
    },
    # BTC only, 2024-01-01 .. 2024-09-11.
    "hourly_2024": {"BTC-USD": ("coinbase_BTC-USD_1h_2024.csv.gz", Granularity.ONE_HOUR)},
    # BTC only, one-minute candles, 2020-11-22 .. 2020-12-12.
    "minute_2020": {"BTC-USD": ("coinbase_BTC-USD_1m.csv.gz", Granularity.ONE_MINUTE)},
}
DEFAULT_SOURCE = "hourly"

# Coinbase's published increments for the pairs we ship (ETH-USD with a large minimum, see below).
PRODUCTS: dict[str, Product] = {
    "BTC-USD": Product(
        product_id="BTC-USD",
        base_currency="BTC",
        quote_currency="USD",
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        quote_min_size=Decimal("1"),
        price_increment=Decimal("0.01"),
    ),
    "ETH-USD": Product(
        product_id="ETH-USD",
        base_currency="ETH",
        quote_currency="USD",
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        # A large minimum, as many Coinbase products have: mock mode and backtests meet the same
        # "too small to sell" rules (dust, merged take-profit rungs) as real trading.
        base_min_size=Decimal("0.001"),
        quote_min_size=Decimal("1"),
        price_increment=Decimal("0.01"),
    ),
}


@dataclass(frozen=True)
class _Series:
    """One file (or one aggregation of it) as NumPy arrays, oldest first."""

    granularity: Granularity
    start: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


_FILE_CACHE: dict[str, _Series] = {}
_FILE_LOCK = threading.Lock()


def _load_file(name: str, granularity: Granularity) -> _Series:
    """Parse a shipped gzip CSV once per process (files are read-only, so sharing is safe)."""
    with _FILE_LOCK:
        cached = _FILE_CACHE.get(name)
        if cached is not None:
            return cached
        ref = resources.files("coinpilot.data").joinpath(name)
        with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
            header = text.readline().strip()
            if header != "timestamp,open,high,low,close,volume":
                raise ValueError(f"{name}: unexpected header {header!r}")
            data = np.loadtxt(text, delimiter=",", dtype=np.float64, ndmin=2)
        start = data[:, 0].astype(np.int64)
        if len(start) == 0 or np.any(np.diff(start) <= 0):
            raise ValueError(f"{name}: timestamps must be strictly increasing")
        series = _Series(
            granularity,
            start,
            data[:, 1].copy(),
            data[:, 2].copy(),
            data[:, 3].copy(),
            data[:, 4].copy(),
            data[:, 5].copy(),
        )
        _FILE_CACHE[name] = series
        return series


def aggregate(series: _Series, granularity: Granularity) -> _Series:
    """Combine stored candles into epoch-aligned buckets of ``granularity`` (coarser only)."""
    g_new, g_old = granularity.seconds, series.granularity.seconds
    if g_new == g_old:
        return series
    if g_new < g_old or g_new % g_old:
        raise ExchangeError(
            f"replay data is stored at {series.granularity.value}; {granularity.value} cannot be "
            f"built from it. Choose {series.granularity.value} or a coarser multiple of it.",
            code="UNSUPPORTED_GRANULARITY",
        )
    if len(series.start) == 0:
        return _Series(granularity, *(a[:0] for a in _arrays(series)))
    bucket = (series.start // g_new) * g_new
    first = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    last = np.r_[first[1:] - 1, len(bucket) - 1]
    return _Series(
        granularity,
        bucket[first],
        series.open[first],
        np.maximum.reduceat(series.high, first),
        np.minimum.reduceat(series.low, first),
        series.close[last],
        np.add.reduceat(series.volume, first),
    )


def _arrays(s: _Series) -> tuple[np.ndarray, ...]:
    return (s.start, s.open, s.high, s.low, s.close, s.volume)


def _source_files(source: str) -> dict[str, tuple[str, Granularity]]:
    try:
        return SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown replay source {source!r}; choose one of {sorted(SOURCES)}") from None


def data_range(pair: str, source: str = DEFAULT_SOURCE) -> tuple[datetime, datetime]:
    """(first candle start, last candle end) of ``pair`` in ``source``, aware UTC."""
    files = _source_files(source)
    if pair not in files:
        raise ProductNotFound(
            f"replay source {source!r} has no data for {pair}; it has {sorted(files)}",
            code="INVALID_PRODUCT_ID",
        )
    name, gran = files[pair]
    s = _load_file(name, gran)
    first = datetime.fromtimestamp(int(s.start[0]), UTC)
    last = datetime.fromtimestamp(int(s.start[-1]) + gran.seconds, UTC)
    return first, last


def default_replay_start(source: str = DEFAULT_SOURCE, warmup_candles: int = 300) -> datetime:
    """The earliest time at which every pair of ``source`` has ``warmup_candles`` closed candles."""
    if warmup_candles < 0:
        raise ValueError("warmup_candles must be >= 0")
    starts = []
    for pair, (name, gran) in _source_files(source).items():
        s = _load_file(name, gran)
        if warmup_candles >= len(s.start):
            raise ValueError(f"{pair} has only {len(s.start)} candles; warmup {warmup_candles} is too many")
        # The warm-up candle at index n-1 closes at start[n-1] + g.
        idx = max(warmup_candles - 1, 0)
        starts.append(int(s.start[idx]) + (gran.seconds if warmup_candles else 0))
    return datetime.fromtimestamp(max(starts), UTC)


def replay_clock(
    speed: float,
    start: datetime | None = None,
    warmup_candles: int = 300,
    source: str = DEFAULT_SOURCE,
) -> AcceleratedClock:
    """An :class:`AcceleratedClock` running ``speed``x over the shipped history.

    Without ``start`` it begins once every pair has ``warmup_candles`` closed candles, so
    indicators have history from the first evaluation. A given ``start`` must lie inside the
    data of every pair in ``source``.
    """
    if start is None:
        start = default_replay_start(source, warmup_candles)
    else:
        start = ensure_utc(start)
        for pair in _source_files(source):
            first, last = data_range(pair, source)
            if not first <= start < last:
                raise ValueError(
                    f"replay start {start.isoformat()} is outside the {pair} data "
                    f"({first.isoformat()} .. {last.isoformat()}); pick a time inside it"
                )
    return AcceleratedClock(start=start, speed=speed)


def _quantize(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    steps = (value / increment).to_integral_value(rounding=rounding)
    return (steps * increment).quantize(increment)


def _to_price(value: float, increment: Decimal, rounding: str) -> Decimal:
    """Float from the CSV (or interpolation) -> Decimal via str(), quantised to the increment."""
    return _quantize(Decimal(str(value)), increment, rounding)


class ReplayMarketData:
    """:class:`~coinpilot.exchange.base.MarketData` over shipped history, driven by ``clock``."""

    def __init__(
        self,
        clock: Clock,
        *,
        source: str = DEFAULT_SOURCE,
        spread_bps: Decimal = Decimal("2"),
        price_mode: PriceMode = "interpolate",
    ) -> None:
        if isinstance(spread_bps, float) or spread_bps < 0:
            raise ValueError("spread_bps must be a non-negative Decimal")
        if price_mode not in ("interpolate", "last_close"):
            raise ValueError("price_mode must be 'interpolate' or 'last_close'")
        self._clock = clock
        self._files = _source_files(source)
        self.source = source
        self.spread_bps = Decimal(spread_bps)
        self.price_mode: PriceMode = price_mode
        self._agg: dict[tuple[str, Granularity], _Series] = {}
        self._lock = threading.Lock()

    # -- products ---------------------------------------------------------------------------
    def list_products(self) -> list[Product]:
        return [PRODUCTS[p] for p in self._files]

    def get_product(self, pair: str) -> Product:
        if pair not in self._files:
            raise ProductNotFound(
                f"unknown product {pair!r}: the replay has {', '.join(self._files)}",
                code="INVALID_PRODUCT_ID",
            )
        return PRODUCTS[pair]

    # -- candles ----------------------------------------------------------------------------
    def _series(self, pair: str, granularity: Granularity) -> _Series:
        self.get_product(pair)
        key = (pair, granularity)
        with self._lock:
            cached = self._agg.get(key)
        if cached is not None:
            return cached
        name, stored = self._files[pair]
        series = aggregate(_load_file(name, stored), granularity)
        with self._lock:
            self._agg[key] = series
        return series

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        """Closed candles (by ``clock.now()``) whose start lies in [start, end), oldest first."""
        s = self._series(pair, granularity)
        lo_t = ensure_utc(start).timestamp()
        hi_t = ensure_utc(end).timestamp()
        # Visible only if closed: candle_start + g <= now  <=>  candle_start <= now - g.
        visible_until = self._clock.now().timestamp() - granularity.seconds
        lo = int(np.searchsorted(s.start, lo_t, side="left"))
        hi = min(
            int(np.searchsorted(s.start, hi_t, side="left")),
            int(np.searchsorted(s.start, visible_until, side="right")),
        )
        if hi <= lo:
            return Candles.empty(pair, granularity)
        return Candles(
            pair,
            granularity,
            s.start[lo:hi].copy(),
            s.open[lo:hi].copy(),
            s.high[lo:hi].copy(),
            s.low[lo:hi].copy(),
            s.close[lo:hi].copy(),
            s.volume[lo:hi].copy(),
        )

    # -- prices -----------------------------------------------------------------------------
    def price_at(self, pair: str, now: datetime) -> tuple[float, datetime]:
        """The replayed price of ``pair`` at ``now`` and the data time it reflects."""
        self.get_product(pair)
        name, stored = self._files[pair]
        s = _load_file(name, stored)
        g = stored.seconds
        t = ensure_utc(now).timestamp()
        i = int(np.searchsorted(s.start, t, side="right")) - 1  # candle starting at or before t
        if i < 0:
            first = datetime.fromtimestamp(int(s.start[0]), UTC)
            raise ExchangeError(
                f"no replayed price for {pair} before {first.isoformat()}: start the replay clock "
                "inside the data (see coinpilot.exchange.replay.replay_clock)",
                code="NO_MARKET_DATA",
            )
        candle_start = int(s.start[i])
        if t >= candle_start + g:  # in a gap or past the end: last closed close
            data_time = min(t, candle_start + g)
            return float(s.close[i]), datetime.fromtimestamp(data_time, UTC)
        if self.price_mode == "last_close":
            if i == 0:
                return float(s.open[0]), ensure_utc(now)
            return float(s.close[i - 1]), ensure_utc(now)
        frac = (t - candle_start) / g
        return float(s.open[i] + (s.close[i] - s.open[i]) * frac), ensure_utc(now)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        now = self._clock.now()
        half = self.spread_bps / Decimal(20000)
        out: dict[str, BestBidAsk] = {}
        for pair in pairs:
            product = self.get_product(pair)
            inc = product.price_increment or product.quote_increment
            raw, when = self.price_at(pair, now)
            mid = _to_price(raw, inc, ROUND_HALF_EVEN)
            bid = _quantize(mid * (1 - half), inc, ROUND_FLOOR)
            ask = _quantize(mid * (1 + half), inc, ROUND_CEILING)
            if half and ask <= bid:  # a spread narrower than one tick still shows one tick
                ask = bid + inc
            out[pair] = BestBidAsk(pair=pair, bid=bid, ask=ask, time=when)
        return out


def replay_pairs(source: str = DEFAULT_SOURCE) -> list[str]:
    """Pairs available in a replay source."""
    return list(_source_files(source))


__all__: Sequence[str] = [
    "DEFAULT_SOURCE",
    "PRODUCTS",
    "SOURCES",
    "ReplayMarketData",
    "aggregate",
    "data_range",
    "default_replay_start",
    "replay_clock",
    "replay_pairs",
]
