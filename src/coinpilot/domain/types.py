"""Value types shared by every layer.

Enums are ``StrEnum`` so the same member is what the database stores, the API returns and the code
compares: no free strings that can drift apart.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Action(StrEnum):
    """What the signals ask for. Sign convention: +1 = strong buy, -1 = strong sell."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class BotStatus(StrEnum):
    STOPPED = "STOPPED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    ERROR = "ERROR"


class TradeStatus(StrEnum):
    PENDING = "PENDING"  # row committed with client_order_id, not yet acknowledged
    OPEN = "OPEN"  # exchange accepted, order_id known
    FILLED = "FILLED"  # fully filled, fills recorded
    SETTLED = "SETTLED"  # position and P&L updated
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_TRADE_STATUSES


FINAL_TRADE_STATUSES = frozenset(
    {TradeStatus.SETTLED, TradeStatus.FAILED, TradeStatus.CANCELLED, TradeStatus.EXPIRED}
)


class TradingMode(StrEnum):
    MOCK = "mock"
    PRODUCTION = "production"


class TemperatureLevel(StrEnum):
    FROZEN = "frozen"
    COOL = "cool"
    WARM = "warm"
    HOT = "hot"


class PositionStatus(StrEnum):
    FLAT = "FLAT"
    BUILDING = "BUILDING"
    OPEN = "OPEN"
    REDUCING = "REDUCING"


class Granularity(StrEnum):
    """Coinbase Advanced Trade candle granularities."""

    ONE_MINUTE = "ONE_MINUTE"
    FIVE_MINUTE = "FIVE_MINUTE"
    FIFTEEN_MINUTE = "FIFTEEN_MINUTE"
    THIRTY_MINUTE = "THIRTY_MINUTE"
    ONE_HOUR = "ONE_HOUR"
    TWO_HOUR = "TWO_HOUR"
    SIX_HOUR = "SIX_HOUR"
    ONE_DAY = "ONE_DAY"

    @property
    def seconds(self) -> int:
        return _GRANULARITY_SECONDS[self]


_GRANULARITY_SECONDS = {
    Granularity.ONE_MINUTE: 60,
    Granularity.FIVE_MINUTE: 300,
    Granularity.FIFTEEN_MINUTE: 900,
    Granularity.THIRTY_MINUTE: 1800,
    Granularity.ONE_HOUR: 3600,
    Granularity.TWO_HOUR: 7200,
    Granularity.SIX_HOUR: 21600,
    Granularity.ONE_DAY: 86400,
}


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Parse money from str/int/Decimal; refuse floats, NaN and infinities (they lose cents)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{field}: pass money as a decimal string, not {type(value).__name__}")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{field}: {value!r} is not a decimal number") from exc
    if not d.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    if d != 0 and not -30 <= d.adjusted() <= MAX_DECIMAL_EXPONENT:
        raise ValueError(f"{field}: {value!r} is out of range")
    return d


MAX_DECIMAL_EXPONENT = 15  # 10^15: far beyond any real order, small enough to stay exact


def quantize_down(value: Decimal, increment: Decimal) -> Decimal:
    """Round ``value`` down to a multiple of ``increment`` (Coinbase rejects excess precision)."""
    if increment <= 0:
        return value
    steps = (value / increment).to_integral_value(rounding=ROUND_DOWN)
    return (steps * increment).quantize(increment)


class TradeIntent(StrEnum):
    """Why a trade was placed: entries grow a position, everything else shrinks it."""

    MANUAL = "manual"
    ENTRY = "entry"
    SIGNAL_EXIT = "signal_exit"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"
    EMERGENCY_CLOSE = "emergency_close"

    @property
    def is_exit(self) -> bool:
        return self not in (TradeIntent.MANUAL, TradeIntent.ENTRY)


class BacktestStatus(StrEnum):
    """Where a backtest run requested over the API is: waiting for the single runner, running,
    finished with a result, or failed with a message (also when the server stopped under it)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
