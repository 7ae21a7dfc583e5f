"""The backtest's cooling exit: the vectorised "cooled" of every tick is live's, reading for reading.

Live (``engine.loop.due_bots._cooled``) reads, at each tick, the evaluations over the period plus
the last one at or before its start, and asks :func:`cooling_exit_due`; the backtest computes
the same answer for all ticks at once (:func:`cooled_ticks`). Here both run on random evaluation
times (with gaps of any length) and scores (many exactly on a temperature boundary).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.backtest.cooling import buy_side_ranks, cooled_ticks
from coinpilot.backtest.quotes import ReplayQuotes
from coinpilot.backtest.wakeups import WakeUps
from coinpilot.domain.bot import bot_config_from_fields
from coinpilot.domain.cooling import Reading, cooling_exit_due
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles
from coinpilot.domain.position import PositionState
from coinpilot.domain.state import AccountState, BotState
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.temperature import COOL_RATIO, WARM_RATIO, buy_side_temperature, level_rank
from coinpilot.domain.types import BotStatus, Granularity, TemperatureLevel, TradingMode

LEVELS = (TemperatureLevel.COOL, TemperatureLevel.WARM, TemperatureLevel.HOT)
T0 = 1_700_000_000
FIELDS = {
    "pair": "BTC-USD",
    "buy_threshold": 0.5,
    "sell_threshold": 0.5,
    "confirmation_minutes": 0,
    "trade_size_usd": 20,
    "cooldown_minutes": 0,
    "max_tranches": 1,
    "granularity": Granularity.ONE_MINUTE,
}


def _live_cooled(
    times: list[int],
    scores: list[float],
    k: int,
    below: TemperatureLevel,
    minutes: float,
    buy: float,
    sell: float,
) -> bool:
    """What live decides at tick ``k``: its two queries over the stored evaluations, then the domain."""
    at = [datetime.fromtimestamp(t, UTC) for t in times]
    now = at[k]
    start = now - timedelta(minutes=minutes)
    inside = [Reading(at[j], scores[j]) for j in range(k + 1) if start < at[j] <= now]
    before = [Reading(at[j], scores[j]) for j in range(k + 1) if at[j] <= start][-1:]
    return cooling_exit_due([*before, *inside], now, below, minutes, buy, sell)


def _scores(buy: float, sell: float) -> st.SearchStrategy[float]:
    """Scores anywhere, and often exactly on (or one float from) a level's boundary."""
    edges = [0.0, buy, COOL_RATIO * buy, WARM_RATIO * buy, -sell, -WARM_RATIO * sell]
    near = st.sampled_from(edges).flatmap(
        lambda e: st.sampled_from([e, float(np.nextafter(e, 2.0)), float(np.nextafter(e, -2.0))])
    )
    return st.one_of(near, st.floats(-1.0, 1.0, allow_nan=False))


@st.composite
def _series(draw: st.DrawFn) -> tuple[list[int], list[float], float, float]:
    buy = draw(st.sampled_from([0.05, 0.2, 0.25, 0.3, 0.55, 0.9]))
    sell = draw(st.sampled_from([0.05, 0.3, 0.5]))
    # Steps of one candle mostly, with gaps (a few candles, or hours) and sub-candle steps.
    steps = draw(st.lists(st.sampled_from([60, 60, 60, 60, 1, 30, 120, 300, 3600]), min_size=1, max_size=60))
    times = (T0 + np.cumsum([0, *steps[:-1]])).tolist()
    scores = draw(st.lists(_scores(buy, sell), min_size=len(times), max_size=len(times)))
    return times, scores, buy, sell


@settings(max_examples=300, deadline=None)
@given(
    _series(),
    st.sampled_from(LEVELS),
    st.one_of(st.sampled_from([1.0, 2.0, 3.0, 5.0, 30.0, 60.0]), st.floats(0.01, 90.0)),
)
def test_cooled_at_every_tick_is_what_live_reads_from_its_evaluations(
    series: tuple[list[int], list[float], float, float], below: TemperatureLevel, minutes: float
) -> None:
    times, scores, buy, sell = series
    got = cooled_ticks(np.asarray(times, dtype=np.int64), np.asarray(scores), below, minutes, buy)
    want = [_live_cooled(times, scores, k, below, minutes, buy, sell) for k in range(len(times))]
    assert got.tolist() == want


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_buy_side_rank_is_the_live_level(data: st.DataObject) -> None:
    buy = data.draw(st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.3, 0.35, 0.55, 0.7, 0.9]))
    sell = data.draw(st.sampled_from([0.05, 0.3, 0.5]))
    scores = data.draw(st.lists(_scores(buy, sell), min_size=1, max_size=40))
    got = buy_side_ranks(np.asarray(scores), buy).tolist()
    assert got == [level_rank(buy_side_temperature(s, buy, sell)) for s in scores]


def test_cooled_needs_the_whole_period_from_a_reading_at_its_start() -> None:
    # Minute ticks, cool (0.2 of a 0.5 threshold) from tick 2 on; 3 minutes below warm.
    times = np.arange(T0, T0 + 10 * 60, 60, dtype=np.int64)
    scores = np.array([0.4, 0.4, 0.2, 0.2, 0.2, 0.2, 0.4, 0.2, 0.2, 0.2])
    got = cooled_ticks(times, scores, TemperatureLevel.WARM, 3.0, 0.5)
    # Tick 5: readings at ticks 2..5 all cool (tick 2 at the period's start). Tick 4: the reading
    # at its start is tick 1 (warm). Tick 6 is warm again, which keeps ticks up to 9 from cooling.
    assert got.tolist() == [False, False, False, False, False, True, False, False, False, False]


def test_cooled_never_without_a_reading_at_or_before_the_start() -> None:
    times = np.arange(T0, T0 + 5 * 60, 60, dtype=np.int64)
    got = cooled_ticks(times, np.zeros(5), TemperatureLevel.HOT, 10.0, 0.5)
    assert not got.any()
    assert cooled_ticks(times[:0], np.zeros(0), TemperatureLevel.HOT, 10.0, 0.5).size == 0


def test_a_holding_bot_wakes_at_the_first_tick_the_cooling_exit_is_due() -> None:
    rng = np.random.default_rng(7)
    n = 300
    times = T0 + 60 * np.arange(n, dtype=np.int64)
    price = 100.0 + np.cumsum(rng.normal(0, 0.05, size=n))
    c = Candles("BTC-USD", Granularity.ONE_MINUTE, times, price, price, price, price, np.ones(n))
    quotes = ReplayQuotes(c, times, Decimal(10), Decimal("0.01"))
    # Nothing else can wake the bot: no stops, no ladder, no sell-signal exit, no HOLD -> BUY.
    strategy = StrategyConfig(
        take_profit_ladder=(),
        stop_loss_pct=None,
        exit_on_sell_signal=False,
        cooling_exit_below=TemperatureLevel.WARM,
    )
    cooled = rng.random(n) < 0.03
    action = np.zeros(n, dtype=np.int8)
    limits = SafetyLimits(daily_loss_limit_usd=Decimal(10_000))
    w = WakeUps(times, action, 0.0, quotes, strategy, limits, cooled=cooled)
    bot = BotState(
        bot_id=1,
        pair="BTC-USD",
        status=BotStatus.RUNNING,
        config=bot_config_from_fields(FIELDS),
        strategy=strategy,
        position=PositionState(base_size=Decimal(1), cost=Decimal(100)),
    )
    account = AccountState(mode=TradingMode.MOCK)
    for k in range(0, n, 3):
        due = np.flatnonzero(cooled[k:])
        want = k + int(due[0]) if due.size else n
        assert w.next_holding(k, bot, account, None, k - 1) == want, k
    off = WakeUps(times, action, 0.0, quotes, strategy, limits)
    assert off.next_holding(0, bot, account, None, -1) == n
