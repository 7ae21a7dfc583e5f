"""Entry and exit rules of a bot's position (pure): tranche sizing, DCA steps, the take-profit
ladder, stop-loss, trailing stop and signal exits.

Entries (one tranche per entry trade):
- sizing "fixed": every tranche is the bot's ``trade_size_usd``;
- sizing "graduated": the size comes from ``graduated_sizes`` by temperature level (seed: WARM ->
  $15 test tranche, HOT -> $35 main tranche); the optional key "conviction" is used for a HOT
  entry that would be the third or later tranche (seed: $50 conviction). A level without a size
  means "no entry at this temperature". Entries need a confirmed BUY, which always *displays* as
  HOT (it reached its threshold), so the engine sizes with :func:`sizing_temperature`: a signal
  only just past its threshold is WARM (weak: the test tranche), a strong one HOT;
- sizing "pyramid": tranche i is ``trade_size_usd * pyramid_factor**i`` (decreasing);
- a second or later tranche (DCA) only when the price is at least ``dca_step_pct`` below the last
  entry price (exactly the step is enough); never more than max_tranches, and the size is cut
  so the position cost never exceeds max_position_usd. Sizes are rounded down to cents.

Exits (priority order; one decision per call):
1. stop-loss: bid <= avg_entry * (1 - stop_loss_pct/100) -> sell everything;
2. trailing stop: bid <= high_water * (1 - trailing_stop_pct/100) -> sell everything;
3. confirmed SELL signal (if ``exit_on_sell_signal``) -> sell everything;
4. take-profit ladder: rung i (gain_pct, sell_pct) fires once per position cycle when
   bid >= avg_entry * (1 + gain_pct/100), selling sell_pct % of the base bought in this cycle
   (default 30% at +10%, 50% at +20%, leaving a 20% runner). When several rungs are reached at
   once the lowest untaken rung fires first; the caller records it in ``rungs_taken`` and
   clears the set when the position closes.
``avg_entry`` includes entry fees, so targets and stops are measured from break-even cost.
Sizes are rounded down to the product's base increment.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from coinpilot.domain.levels import stop_loss_price, take_profit_price, trailing_stop_price
from coinpilot.domain.position import PositionState
from coinpilot.domain.strategy_config import CONVICTION, HUNDRED, SIZING_MODES, StrategyConfig
from coinpilot.domain.strategy_config import GRADUATED_KEYS as GRADUATED_KEYS
from coinpilot.domain.types import TemperatureLevel, TradeIntent, quantize_down

__all__ = [
    "SIZING_MODES",
    "EntryPlan",
    "ExitDecision",
    "StrategyConfig",
    "entry_size",
    "exit_decision",
    "plan_entry",
    "sizing_temperature",
]

CENT = Decimal("0.01")


STRONG_SIGNAL_RATIO = 1.5


def sizing_temperature(score: float, buy_threshold: float) -> TemperatureLevel:
    """How strong a confirmed BUY is, for graduated sizing.

    Strong (HOT) from ``min(1.5 × threshold, midway between threshold and +1)``; weaker confirmed
    buys are WARM. Below the threshold there is no entry at all, so that case is not graded.
    """
    strong = min(STRONG_SIGNAL_RATIO * buy_threshold, (buy_threshold + 1.0) / 2.0)
    # The tolerance keeps 1.5 x 0.4 (= 0.6000000000000001 in floats) from grading 0.6 as weak.
    return TemperatureLevel.HOT if score >= strong - 1e-9 else TemperatureLevel.WARM


@dataclass(frozen=True)
class EntryPlan:
    """Size of the next entry tranche, or None with the reason there is no entry now."""

    quote_size: Decimal | None
    reason: str


def _raw_size(
    cfg: StrategyConfig, base_trade_usd: Decimal, temperature: TemperatureLevel, index: int
) -> Decimal | None:
    if cfg.sizing == "fixed":
        return base_trade_usd
    if cfg.sizing == "pyramid":
        return base_trade_usd * cfg.pyramid_factor**index
    if cfg.sizing == "graduated":
        if temperature is TemperatureLevel.HOT and index >= 2 and CONVICTION in cfg.graduated_sizes:
            return cfg.graduated_sizes[CONVICTION]
        return cfg.graduated_sizes.get(temperature.value)
    raise ValueError(f"unknown sizing mode {cfg.sizing!r}")


def plan_entry(
    cfg: StrategyConfig,
    base_trade_usd: Decimal,
    temperature: TemperatureLevel,
    tranche_index: int,
    position_cost: Decimal,
    max_position_usd: Decimal,
    max_tranches: int,
    last_entry_price: Decimal | None,
    price: Decimal,
) -> EntryPlan:
    """Decide the quote size of entry tranche ``tranche_index`` (0 = first of the cycle)."""
    if tranche_index >= max_tranches:
        return EntryPlan(None, f"the position already has {max_tranches} tranches")
    if tranche_index > 0 and last_entry_price is not None:
        trigger = last_entry_price * (1 - cfg.dca_step_pct / HUNDRED)
        if price > trigger:
            return EntryPlan(
                None,
                f"price {price} is not {cfg.dca_step_pct}% below the last entry "
                f"{last_entry_price} (next entry at or below {trigger.quantize(CENT)})",
            )
    size = _raw_size(cfg, base_trade_usd, temperature, tranche_index)
    if size is None:
        return EntryPlan(None, f"no {cfg.sizing} size for temperature {temperature.value}")
    room = max_position_usd - position_cost
    if room <= 0:
        return EntryPlan(None, f"the position already costs its maximum ${max_position_usd}")
    size = min(size, room).quantize(CENT, rounding=ROUND_DOWN)
    if size <= 0:
        return EntryPlan(None, "the entry size rounds to zero")
    return EntryPlan(size, f"tranche {tranche_index + 1} of {max_tranches}: ${size}")


def entry_size(
    cfg: StrategyConfig,
    base_trade_usd: Decimal,
    temperature: TemperatureLevel,
    tranche_index: int,
    position_cost: Decimal,
    max_position_usd: Decimal,
    max_tranches: int,
    last_entry_price: Decimal | None,
    price: Decimal,
) -> Decimal | None:
    """Quote size of the next entry, or None for no entry now (``plan_entry`` says why)."""
    return plan_entry(
        cfg,
        base_trade_usd,
        temperature,
        tranche_index,
        position_cost,
        max_position_usd,
        max_tranches,
        last_entry_price,
        price,
    ).quote_size


@dataclass(frozen=True)
class ExitDecision:
    intent: TradeIntent
    base_size: Decimal
    reason: str
    rung: int | None = None


def min_sell_size(
    bid: Decimal, base_increment: Decimal, base_min_size: Decimal, quote_min_size: Decimal
) -> Decimal:
    """The smallest sale the exchange accepts at ``bid``: the base minimum, the increment, and
    enough base to reach the quote minimum (rounded up to the increment)."""
    smallest = max(base_min_size, base_increment)
    if quote_min_size > 0 and bid > 0:
        by_quote = quantize_down(quote_min_size / bid, base_increment)
        if by_quote * bid < quote_min_size:
            by_quote += base_increment
        smallest = max(smallest, by_quote)
    return smallest


def exit_decision(
    cfg: StrategyConfig,
    position: PositionState,
    bid: Decimal,
    high_water: Decimal | None,
    rungs_taken: frozenset[int],
    confirmed_sell: bool,
    base_increment: Decimal,
    *,
    base_min_size: Decimal = Decimal(0),
    quote_min_size: Decimal = Decimal(0),
) -> ExitDecision | None:
    """The exit to place now, or None. Priority: stop-loss, trailing, sell signal, take-profit.

    Never an order the product's minimums refuse (it would be refused on every retry): a rung
    below the minimum waits and merges into the next rung (the last rung takes the whole
    remainder), a rung after which less than the minimum would remain sells everything, and a
    position smaller than the minimum plans no exit at all. A rung before a taken rung counts as
    taken (it was merged into it).
    """
    avg = position.avg_entry_price
    everything = quantize_down(position.base_size, base_increment)
    if avg is None or everything <= 0:
        return None
    smallest = min_sell_size(bid, base_increment, base_min_size, quote_min_size)
    if everything < smallest:
        return None
    if cfg.stop_loss_pct is not None:
        stop = stop_loss_price(avg, cfg.stop_loss_pct)
        if bid <= stop:
            return ExitDecision(
                TradeIntent.STOP_LOSS,
                everything,
                f"bid {bid} at or below the {cfg.stop_loss_pct}% stop {stop.quantize(CENT)}",
            )
    if cfg.trailing_stop_pct is not None and high_water is not None:
        peak = max(high_water, bid)
        stop = trailing_stop_price(peak, cfg.trailing_stop_pct)
        if bid <= stop:
            return ExitDecision(
                TradeIntent.TRAILING_STOP,
                everything,
                f"bid {bid} fell {cfg.trailing_stop_pct}% from the high {peak}",
            )
    if confirmed_sell and cfg.exit_on_sell_signal:
        return ExitDecision(TradeIntent.SIGNAL_EXIT, everything, "confirmed SELL signal")
    return _take_profit(cfg, position, avg, bid, rungs_taken, base_increment, everything, smallest)


def _take_profit(
    cfg: StrategyConfig,
    position: PositionState,
    avg: Decimal,
    bid: Decimal,
    rungs_taken: frozenset[int],
    base_increment: Decimal,
    everything: Decimal,
    smallest: Decimal,
) -> ExitDecision | None:
    bought = sum((t.base_size for t in position.tranches), Decimal(0)) or position.base_size
    ladder = cfg.take_profit_ladder
    last_taken = max(rungs_taken, default=-1)
    carried = Decimal(0)  # percent of reached rungs too small to sell on their own
    for i, (gain, pct) in enumerate(ladder):
        if i <= last_taken:
            continue  # taken, or merged into a later rung that was taken
        target = take_profit_price(avg, gain)
        if bid < target:
            break  # gains increase: no later rung is reached either
        carried += pct
        size = min(quantize_down(bought * carried / HUNDRED, base_increment), everything)
        if size < smallest:
            if i < len(ladder) - 1:
                continue  # merge into the next rung
            size = everything  # the last rung takes the whole remainder
        if position.base_size - size < smallest:
            size = everything  # what would remain could never be sold
        share = f"{carried}% of the position" if size < everything else "the whole position"
        return ExitDecision(
            TradeIntent.TAKE_PROFIT,
            size,
            f"+{gain}% reached (target {target.quantize(CENT)}): selling {share}",
            rung=i,
        )
    return None
