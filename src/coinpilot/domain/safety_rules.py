"""The safety checks that :func:`coinpilot.domain.safety.validate` runs, in ``CHECKS`` order.

Each check takes the request, its context and the limits and returns None when it does not apply,
else its reasons (an empty list passes). The policy they implement is written once, in the
docstring of :mod:`coinpilot.domain.safety`; this module exists so that ``safety.py`` holds the
policy and the runner while the rules themselves sit here, one section per kind of check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from coinpilot.domain import trading_state
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety_types import I, Reason, SafetyContext, SafetyRequest
from coinpilot.domain.temperature import level_rank
from coinpilot.domain.types import BotStatus, Side
from coinpilot.domain.usage import cooldown_minutes, cooldown_ready_at, tranche_limit

__all__ = ["CHECKS", "Check"]


Check = Callable[[SafetyRequest, SafetyContext, SafetyLimits], list[Reason] | None]
# A check returns None when it does not apply to the request, else its reasons (empty = pass).


def _r(code: str, message: str) -> list[Reason]:
    return [Reason(code, message)]


# ------------------------------------------------------------------------------------------------
# The request itself, the trading state, the bot's status and its unfinished orders
# ------------------------------------------------------------------------------------------------


def _request(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    out: list[Reason] = []
    sizes = [s for s in (r.quote_size, r.base_size) if s is not None]
    if len(sizes) != 1 or sizes[0] <= 0:
        out += _r("INVALID_SIZE", "Give exactly one positive size: a quote amount or a base amount.")
    if r.side is Side.SELL and r.base_size is None:
        out += _r("INVALID_SIZE", "A sell needs a base size (how much of the coin to sell).")
    if not r.price > 0:
        out += _r("NO_PRICE", "No current price for this pair; wait for market data and retry.")
    if r.side is Side.BUY and r.intent not in (I.ENTRY, I.MANUAL):
        out += _r("INVALID_INTENT", f"A buy cannot have intent {r.intent.value}.")
    if r.side is Side.SELL and r.intent is I.ENTRY:
        out += _r("INVALID_INTENT", "A sell cannot be an entry: Coinpilot does not short.")
    return out


def _trading_state(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    refused = trading_state.refusal(c.trading_state, r.side, r.intent)
    return [] if refused is None else _r(*refused)


def _bot_status(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    s = c.bot_status
    if r.intent is I.EMERGENCY_CLOSE:
        return []
    if r.intent is I.ENTRY and s is not BotStatus.RUNNING:
        return _r("BOT_NOT_RUNNING", f"The bot is {s.value}; start it to let it enter trades.")
    if r.is_exit:
        return []  # reducing risk is never blocked by the bot's status
    if r.intent is I.MANUAL and s is BotStatus.ERROR:
        return _r("BOT_ERROR", "The bot is in ERROR; fix the error (or use emergency close) first.")
    return []


def _open_trade(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    out: list[Reason] = []
    if c.has_open_trade:
        out += _r(
            "OPEN_TRADE_EXISTS",
            "This bot already has an unfinished order; wait until it is filled or cancelled.",
        )
    if c.trade_needs_attention and not r.is_exit:
        out += _r(
            "TRADE_NEEDS_ATTENTION",
            "An earlier order of this bot could not be settled and needs attention; resolve it "
            "before buying more (exits still sell the settled position).",
        )
    return out


# ------------------------------------------------------------------------------------------------
# The product: known, tradable, and the order within its minimum and maximum sizes
# ------------------------------------------------------------------------------------------------


def _product(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    p = c.product
    if p is None:
        return _r("PRODUCT_UNKNOWN", f"The pair {r.pair} is not a known product; check the pair name.")
    if p.product_id != r.pair:
        return _r("PRODUCT_MISMATCH", f"Product data is for {p.product_id}, not {r.pair}.")
    if p.trading_disabled or p.cancel_only or p.status.lower() != "online":
        return _r("PRODUCT_NOT_TRADABLE", f"The product {r.pair} is not tradable right now; try again later.")
    return []


def _product_minimums(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    p = c.product
    if p is None:
        return None
    out: list[Reason] = []
    if r.notional < p.quote_min_size:
        out += _r(
            "BELOW_PRODUCT_MINIMUM",
            f"The order of about ${r.notional:.2f} is below {r.pair}'s minimum order of "
            f"${p.quote_min_size}; trade a larger amount.",
        )
    if r.base_size is not None and r.base_size < p.base_min_size:
        out += _r(
            "BELOW_PRODUCT_MINIMUM",
            f"The size {r.base_size} is below {r.pair}'s minimum base size {p.base_min_size}.",
        )
    if p.quote_max_size is not None and r.quote_size is not None and r.quote_size > p.quote_max_size:
        out += _r(
            "ABOVE_PRODUCT_MAXIMUM",
            f"The pair {r.pair} accepts at most ${p.quote_max_size} per order; trade less.",
        )
    if p.base_max_size is not None and r.base_size is not None and r.base_size > p.base_max_size:
        out += _r(
            "ABOVE_PRODUCT_MAXIMUM",
            f"The pair {r.pair} accepts at most {p.base_max_size} base per order; sell in parts.",
        )
    return out


# ------------------------------------------------------------------------------------------------
# Our own size and pace limits (buys only): trade size, daily counts, cooldown, tranches
# ------------------------------------------------------------------------------------------------


def _trade_size(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    n = r.notional
    if n > lim.max_trade_usd:
        return _r(
            "MAX_TRADE_SIZE",
            f"The order of about ${n:.2f} exceeds the ${lim.max_trade_usd} per-trade limit; buy less.",
        )
    if n < lim.min_trade_usd:
        return _r(
            "MIN_TRADE_SIZE",
            f"The order of about ${n:.2f} is below the ${lim.min_trade_usd} minimum trade; buy more.",
        )
    return []


def _daily_counts(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    out: list[Reason] = []
    if c.trades_today_total >= lim.max_daily_trades:
        out += _r(
            "DAILY_TRADES",
            f"All {lim.max_daily_trades} trades for today are used; trading resumes after 00:00 UTC.",
        )
    if c.trades_today_bot >= lim.max_daily_trades_per_bot:
        out += _r(
            "DAILY_TRADES_BOT",
            f"This bot used its {lim.max_daily_trades_per_bot} trades for today; "
            "it can trade again after 00:00 UTC.",
        )
    return out


def _cooldown(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    ready = cooldown_ready_at(c.last_fill_at, lim, c.bot_cooldown_minutes)
    if ready is None or c.now >= ready:
        return []
    minutes = cooldown_minutes(lim, c.bot_cooldown_minutes)
    return _r(
        "COOLDOWN",
        f"Cooling down for {minutes:g} minutes after the last fill; "
        f"next trade possible at {ready.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC.",
    )


def _tranches(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    most = tranche_limit(lim, c.bot_max_tranches)
    if c.position_tranches < most:
        return []
    return _r(
        "MAX_TRANCHES",
        f"The position already has {most} tranches, the maximum; wait for an exit before adding.",
    )


# ------------------------------------------------------------------------------------------------
# Money at risk (buys only): the bot's position and the exposure across bots
# ------------------------------------------------------------------------------------------------


def _position(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    after = c.position_cost + r.notional
    if after <= lim.max_position_usd_per_bot:
        return []
    return _r(
        "MAX_POSITION",
        f"The position would cost ${after:.2f}, over the ${lim.max_position_usd_per_bot} "
        "per-bot maximum; buy less or take profit first.",
    )


def _exposure(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    after = c.total_exposure + r.notional
    if after <= lim.max_total_exposure_usd:
        return []
    return _r(
        "MAX_EXPOSURE",
        f"Exposure across bots would be ${after:.2f}, over the ${lim.max_total_exposure_usd} maximum.",
    )


# ------------------------------------------------------------------------------------------------
# Loss limits (buys only): daily, consecutive losses, per position daily and weekly
# ------------------------------------------------------------------------------------------------


def _daily_loss(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.realized_pnl_today > -lim.daily_loss_limit_usd:
        return []
    return _r(
        "DAILY_LOSS_LIMIT",
        f"Realised loss today (${-c.realized_pnl_today:.2f}) reached the "
        f"${lim.daily_loss_limit_usd} daily limit; trading is REDUCING (exits only). "
        "Review before setting it back to ACTIVE.",
    )


def _consecutive_losses(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.loss_lock_until is None or c.now >= c.loss_lock_until:
        return []
    return _r(
        "CONSECUTIVE_LOSSES",
        f"The bot had {c.consecutive_losses} losing exits in a row; its buys are locked until "
        f"{c.loss_lock_until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC. Review its settings; "
        "resuming the bot (start) clears the lock.",
    )


def _daily_position_loss(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.daily_pnl_position > -lim.daily_loss_limit_per_position_usd:
        return []
    return _r(
        "DAILY_POSITION_LOSS_LIMIT",
        f"This position lost ${-c.daily_pnl_position:.2f} today, reaching the "
        f"${lim.daily_loss_limit_per_position_usd} daily limit per position; it can buy again "
        "tomorrow (UTC).",
    )


def _weekly_loss(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.weekly_pnl_position > -lim.weekly_loss_limit_per_position_usd:
        return []
    return _r(
        "WEEKLY_LOSS_LIMIT",
        f"This position lost ${-c.weekly_pnl_position:.2f} this week, reaching the "
        f"${lim.weekly_loss_limit_per_position_usd} weekly limit; it can buy again on Monday.",
    )


# ------------------------------------------------------------------------------------------------
# Balances and temperature: the reserve and warmth for buys, the holdings for sells
# ------------------------------------------------------------------------------------------------


def _reserve(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.quote_available is None:
        return _r("BALANCE_UNKNOWN", "The quote balance is unknown; retry when it is available.")
    left = c.quote_available - r.notional
    if left >= lim.min_reserved_balance_usd:
        return []
    return _r(
        "MIN_RESERVED_BALANCE",
        f"Only ${left:.2f} would remain; ${lim.min_reserved_balance_usd} must stay reserved. "
        "Deposit funds or buy less.",
    )


def _temperature(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    minimum = lim.min_entry_temperature
    if r.is_exit or minimum is None:
        return None
    if c.entry_temperature is None:
        return _r(
            "TEMPERATURE_UNKNOWN",
            "The bot's temperature is unknown (not evaluated yet); evaluate it before buying.",
        )
    if level_rank(c.entry_temperature) >= level_rank(minimum):
        return []
    return _r(
        "TOO_COOL",
        f"The bot is {c.entry_temperature.value} for a buy; opening or adding to a position needs "
        f"at least {minimum.value}. Wait for a stronger buy signal.",
    )


def _holdings(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if not r.is_exit or r.base_size is None:
        return None
    out: list[Reason] = []
    if r.base_size > c.position_base:
        out += _r(
            "EXCEEDS_POSITION",
            f"Selling {r.base_size} is more than the bot's position of {c.position_base}.",
        )
    if c.base_available is None:
        out += _r("BALANCE_UNKNOWN", "The coin balance is unknown; retry when it is available.")
    elif r.base_size > c.base_available:
        out += _r(
            "INSUFFICIENT_BASE",
            f"Selling {r.base_size} is more than the {c.base_available} available.",
        )
    return out


CHECKS: tuple[tuple[str, Check], ...] = (
    ("request", _request),
    ("trading_state", _trading_state),
    ("bot_status", _bot_status),
    ("open_trade", _open_trade),
    ("product", _product),
    ("product_minimums", _product_minimums),
    ("trade_size", _trade_size),
    ("daily_loss", _daily_loss),
    ("daily_counts", _daily_counts),
    ("cooldown", _cooldown),
    ("tranches", _tranches),
    ("position", _position),
    ("exposure", _exposure),
    ("consecutive_losses", _consecutive_losses),
    ("daily_position_loss", _daily_position_loss),
    ("weekly_loss", _weekly_loss),
    ("reserve", _reserve),
    ("temperature", _temperature),
    ("holdings", _holdings),
)
