"""Market data value types: candles as NumPy arrays, products, best bid/ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from coinpilot.domain.types import Granularity

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Candles:
    """Candles oldest-first. ``start`` is the candle start in unix seconds (UTC).

    Indicators run on float64 arrays (they are statistics, not money); prices used for orders
    and P&L always come from the exchange as ``Decimal``.
    """

    pair: str
    granularity: Granularity
    start: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def last_close(self) -> float | None:
        return float(self.close[-1]) if len(self) else None

    @property
    def last_time(self) -> datetime | None:
        return datetime.fromtimestamp(int(self.start[-1]), UTC) if len(self) else None

    def tail(self, n: int) -> Candles:
        return Candles(
            self.pair,
            self.granularity,
            self.start[-n:],
            self.open[-n:],
            self.high[-n:],
            self.low[-n:],
            self.close[-n:],
            self.volume[-n:],
        )

    @staticmethod
    def empty(pair: str, granularity: Granularity) -> Candles:
        f = np.empty(0, dtype=np.float64)
        return Candles(pair, granularity, np.empty(0, dtype=np.int64), f, f, f, f, f)

    def closed(self, as_of: datetime) -> Candles:
        """Only the candles that had closed at ``as_of`` (start + granularity <= as_of).

        Coinbase returns the still-forming candle, whose close moves until it ends; scoring it
        would make live scores differ from replay and backtests, which only ever see closed
        candles. The market-data edge (the Coinbase adapter and the shared cache) drops it, so
        it never reaches the signals in any mode; reaction inside a candle comes from the bid.
        """
        if not len(self):
            return self
        cutoff = int(as_of.timestamp()) - self.granularity.seconds  # last start that has closed
        keep = int(np.searchsorted(self.start, cutoff, side="right"))
        if keep == len(self):
            return self
        return Candles(
            self.pair,
            self.granularity,
            self.start[:keep],
            self.open[:keep],
            self.high[:keep],
            self.low[:keep],
            self.close[:keep],
            self.volume[:keep],
        )


@dataclass(frozen=True)
class Product:
    product_id: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    quote_min_size: Decimal
    base_max_size: Decimal | None = None
    quote_max_size: Decimal | None = None
    price_increment: Decimal | None = None
    status: str = "online"
    trading_disabled: bool = False
    cancel_only: bool = False
    price: Decimal | None = None

    @property
    def tradable(self) -> bool:
        return self.status.lower() == "online" and not self.trading_disabled and not self.cancel_only


@dataclass(frozen=True)
class BestBidAsk:
    pair: str
    bid: Decimal
    ask: Decimal
    time: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2
