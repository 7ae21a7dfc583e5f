"""The holding search returns exactly the tick of its former all-NumPy form (kept here as the
reference): over random series, states and strategies, with stops, trailing, rungs, DCA, cooling,
early spans and day boundaries."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np

from coinpilot.backtest.quotes import ReplayQuotes
from coinpilot.backtest.wakeups import DAY, SCAN_CHUNK, WakeUps
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import Granularity


def _reference(w: WakeUps, k: int, bot: Any, account: Any, restart: int | None, last_visit: int) -> int:
    """``WakeUps.next_holding`` as it was before the bisection (commit 03f4f90)."""
    n = len(w.times)
    pos = bot.position
    avg = float(pos.avg_entry_price or 0)
    base, cost = float(pos.base_size), float(pos.cost)
    s = w.strategy
    high = bot.cycle.high_water
    hw = float(high) if high is not None else 0.0
    slack = w.quotes.slack
    rung = w._next_rung(bot)
    day_start = day_end = 0
    if last_visit >= 0:
        day = int(w.times[last_visit]) // DAY * DAY
        day_start, day_end = (int(i) for i in np.searchsorted(w.times, [day, day + DAY]))
    loss_level = -float(w.limits.daily_loss_limit_usd) + 1e-6
    most = min(bot.decision_config.max_tranches, w.limits.max_tranches)
    last_entry = pos.last_entry_price
    dca_trigger: float | None = None
    if bot.tranche_count < most and pos.cost < w.limits.max_position_usd_per_bot and last_entry:
        dca_trigger = float(last_entry) * (1 - float(s.dca_step_pct) / 100) + slack
    ticks = np.arange(n, dtype=np.int64)
    early_all = w.early(ticks, restart)
    chunk = SCAN_CHUNK
    while k < n:
        end = min(n, k + chunk)
        bid = w.quotes.bid_f[k:end]
        signal = np.zeros(end - k, dtype=bool)
        if s.exit_on_sell_signal:
            signal |= w.confirmed_sell[k:end]
        if dca_trigger is not None:
            signal |= w.confirmed_buy[k:end] & (w.quotes.ask_f[k:end] - slack <= dca_trigger)
        signal &= ~early_all[k:end]
        hit = signal
        if w.cooled is not None:
            hit |= w.cooled[k:end]
        if s.stop_loss_pct is not None:
            hit |= bid - slack <= avg * (1 - float(s.stop_loss_pct) / 100) + slack
        if s.trailing_stop_pct is not None:
            peak = np.maximum(np.maximum.accumulate(bid), hw) + slack
            hit |= bid - slack <= peak * (1 - float(s.trailing_stop_pct) / 100)
        if rung is not None:
            hit |= bid + slack >= avg * (1 + float(rung) / 100)
        if account.trading_state is TradingState.ACTIVE and base > 0:
            realised = np.zeros(end - k)
            realised[max(0, day_start - k) : max(0, day_end - k)] = float(account.realised_today)
            hit |= realised + base * (bid - slack) - cost <= loss_level
        idx = np.flatnonzero(hit)
        if idx.size:
            return k + int(idx[0])
        if s.trailing_stop_pct is not None and bid.size:
            hw = max(hw, float(bid.max()))
        k = end
        chunk *= 2
    return n


def _series(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Minute ticks with gaps, some long (day boundaries fall inside), actions in runs.
    gaps = np.where(rng.random(n) < 0.05, rng.choice([180, 3600, 40000], size=n), 60)
    times = np.cumsum(gaps).astype(np.int64) + 1_700_000_000 + int(rng.integers(0, DAY))
    action = np.repeat(rng.integers(-1, 2, size=n), rng.integers(1, 40, size=n))[:n].astype(np.int8)
    price = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, size=n)))
    return times, action, price


def _case(seed: int) -> tuple[WakeUps, np.random.Generator]:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([300, 1500, 3000]))
    times, action, price = _series(rng, n)
    c = Candles("BTC-USD", Granularity.ONE_MINUTE, times, price, price, price, price, np.ones(n))
    quotes = ReplayQuotes(c, times, Decimal(10), Decimal("0.01"))
    base = StrategyConfig.from_dict({})
    strategy = dataclasses.replace(
        base,
        stop_loss_pct=rng.choice([None, Decimal("1"), Decimal("3")]),
        trailing_stop_pct=rng.choice([None, Decimal("0.5"), Decimal("2")]),
        exit_on_sell_signal=bool(rng.random() < 0.7),
        take_profit_ladder=((), base.take_profit_ladder)[int(rng.integers(0, 2))],
        dca_step_pct=Decimal(str(rng.choice([0.1, 1.0, 2.0]))),
    )
    limits = SafetyLimits(daily_loss_limit_usd=Decimal(str(rng.choice([1, 5, 50]))))
    cooled = rng.random(n) < 0.002 if rng.random() < 0.3 else None
    required = float(rng.choice([0.0, 60.0, 90.5, 600.0]))
    return WakeUps(times, action, required, quotes, strategy, limits, cooled=cooled), rng


def _state(w: WakeUps, rng: np.random.Generator, k: int) -> tuple[Any, Any]:
    price = Decimal(str(round(float(w.quotes.bid_f[k]) * float(rng.uniform(0.97, 1.03)), 2)))
    base = Decimal(str(round(float(rng.uniform(0.05, 3.0)), 4)))
    position = SimpleNamespace(
        avg_entry_price=price,
        base_size=base,
        cost=price * base,
        last_entry_price=price if rng.random() < 0.8 else None,
    )
    ladder = w.strategy.take_profit_ladder
    taken = frozenset(range(int(rng.integers(0, len(ladder) + 1))))
    high = (
        Decimal(str(round(float(price) * float(rng.uniform(1.0, 1.04)), 2))) if rng.random() < 0.7 else None
    )
    bot = SimpleNamespace(
        position=position,
        cycle=SimpleNamespace(high_water=high, rungs_taken=taken),
        decision_config=SimpleNamespace(max_tranches=int(rng.integers(1, 4))),
        tranche_count=int(rng.integers(1, 3)),
    )
    account = SimpleNamespace(
        trading_state=TradingState.ACTIVE if rng.random() < 0.85 else TradingState.HALTED,
        realised_today=Decimal(str(round(float(rng.uniform(-60, 5)), 2))),
    )
    return bot, account


def test_next_holding_returns_the_reference_tick() -> None:
    checked = 0
    for seed in range(150):
        w, rng = _case(seed)
        n = len(w.times)
        for _ in range(40):
            k = int(rng.integers(0, n))
            bot, account = _state(w, rng, k)
            last_visit = int(rng.integers(-1, k + 1)) if rng.random() < 0.8 else k - 1
            restart = None if rng.random() < 0.3 else int(rng.integers(max(0, k - 50), k + 1))
            want = _reference(w, k, bot, account, restart, last_visit)
            got = w.next_holding(k, bot, account, restart, last_visit)
            assert got == want, (seed, k, restart, last_visit)
            checked += 1
    assert checked == 6000


def test_the_daily_loss_level_is_found_at_its_exact_tick() -> None:
    # The loss level lands exactly on a bid (a tie): the threshold shortcut must still see it.
    for seed in range(40):
        w, rng = _case(seed)
        n = len(w.times)
        w.strategy = dataclasses.replace(
            w.strategy,
            stop_loss_pct=None,
            trailing_stop_pct=None,
            take_profit_ladder=(),
            exit_on_sell_signal=False,
        )
        w.cooled = None
        for _ in range(20):
            k = int(rng.integers(0, n - 1))
            j = int(rng.integers(k, n))
            bot, account = _state(w, rng, k)
            bot.position.last_entry_price = None
            base, cost = float(bot.position.base_size), float(bot.position.cost)
            loss = -float(w.limits.daily_loss_limit_usd) + 1e-6
            # Choose the realised P&L that puts the level exactly at tick j's bid (no day: k-1
            # visit may share j's day or not: either way the reference decides).
            realised = loss - (base * (float(w.quotes.bid_f[j]) - w.quotes.slack) - cost)
            account.realised_today = Decimal(repr(realised))
            account.trading_state = TradingState.ACTIVE
            for last_visit in (-1, k - 1, j):
                want = _reference(w, k, bot, account, None, last_visit)
                assert w.next_holding(k, bot, account, None, last_visit) == want, (seed, k, j)
