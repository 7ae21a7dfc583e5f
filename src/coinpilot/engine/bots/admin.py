"""Creating, editing and deleting bots: the checks the API, the dashboard and the CLI share.

Field rules live in :func:`coinpilot.domain.bot.validate_bot_fields`; this module adds what needs
the outside world: whether the exchange of the current mode trades the pair (so ``BTC-USDX`` is
refused at creation, naming the pairs that exist, instead of failing later on every evaluation),
merging an edit with the stored bot so paired fields are checked together, and whether a bot may
be deleted (never with an open position or an unfinished order; a bot with trade history to
keep is archived instead).

Every function here either returns the problems or changes the database, never both: the callers
store nothing when a list of problems comes back.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.bot import validate_bot_fields
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.signal_config import FieldError, SignalConfig
from coinpilot.domain.types import FINAL_TRADE_STATUSES, BotStatus
from coinpilot.exchange.base import ExchangeError, MarketData, ProductNotFound
from coinpilot.store.bots import BotConflict
from coinpilot.store.models import Bot, Position, Trade

MAX_LISTED_PAIRS = 40


class BotDeleteRefused(Exception):
    """The bot cannot be deleted now; the message says why and what to do instead."""


def tradable_pairs(market: MarketData) -> list[str]:
    """Product ids the exchange of the current mode accepts orders for, sorted."""
    return sorted(p.product_id for p in market.list_products() if p.tradable)


def check_pair_tradable(market: MarketData, pair: str) -> list[FieldError]:
    """A problem naming the tradable pairs when ``pair`` is unknown or not tradable; else [].

    Fails closed: when the product list cannot be read, the bot is not created (the message says
    so), because a bot on a pair nobody checked fails later on every evaluation.
    """
    try:
        product = market.get_product(pair)
        if product.tradable:
            return []
        problem = f"{pair} is not tradable now (status {product.status})"
    except ProductNotFound:
        problem = f"unknown pair {pair}"
    except ExchangeError as exc:
        return [FieldError("pair", f"cannot check {pair} with the exchange: {exc.reason}")]
    try:
        pairs = tradable_pairs(market)
    except ExchangeError as exc:
        return [FieldError("pair", f"{problem}; the list of tradable pairs is unavailable: {exc.reason}")]
    quote = pair.rsplit("-", 1)[-1]
    same_quote = [p for p in pairs if p.endswith(f"-{quote}")] or pairs
    shown = same_quote[:MAX_LISTED_PAIRS]
    more = f" and {len(same_quote) - len(shown)} more" if len(same_quote) > len(shown) else ""
    return [FieldError("pair", f"{problem}; tradable: {', '.join(shown)}{more}")]


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Stored form of validated values: signal config with defaults filled in, and the bot-level
    stop-loss kept equal to the strategy's when the strategy sets one (one stop, not two)."""
    out = dict(values)
    if "signal_config" in out:
        out["signal_config"] = SignalConfig.from_dict(out["signal_config"]).to_dict()
    strategy = out.get("strategy")
    if isinstance(strategy, dict) and "stop_loss_pct" in strategy:
        raw = strategy["stop_loss_pct"]
        out["stop_loss_pct"] = None if raw is None else Decimal(str(raw))
    return out


def creation_problems(values: dict[str, Any], limits: SafetyLimits, market: MarketData) -> list[FieldError]:
    """Every problem with a new bot: its fields, then (only if the pair is well-formed) the pair."""
    errors = validate_bot_fields(values, limits)
    if not any(e.field == "pair" for e in errors):
        errors.extend(check_pair_tradable(market, str(values["pair"])))
    return errors


def archived_message(bot: Bot, action: str) -> str:
    """Why an archived bot cannot be ``action`` (edited, started), and what a person does instead."""
    return (
        f"bot {bot.name!r} (#{bot.id}) is archived and cannot be {action}; it is kept only for its "
        "trade history: create a new bot (its name and pair are free) to trade again"
    )


def refuse_if_archived(bot: Bot, action: str) -> None:
    """BotConflict (409 in the API, one line in the CLI) when ``bot`` is archived: an archived
    bot's settings and status are its record, so no edit or start may change them."""
    if bot.archived_at is not None:
        raise BotConflict("archived_at", archived_message(bot, action))


def edit_problems(
    bot_fields: dict[str, Any], patch: dict[str, Any], limits: SafetyLimits
) -> list[FieldError]:
    """Problems with applying ``patch`` to a bot whose current fields are ``bot_fields``.

    Paired fields are checked together with their stored partner (a new buy threshold with the
    stored sell threshold), so an edit cannot leave a combination the creation would refuse.
    """
    if "pair" in patch:
        return [FieldError("pair", "a bot's pair cannot change; create a new bot for another pair")]
    merged = {**bot_fields, **patch}
    check = {k: merged[k] for k in patch}
    if "buy_threshold" in patch or "sell_threshold" in patch:
        check["buy_threshold"] = merged["buy_threshold"]
        check["sell_threshold"] = merged["sell_threshold"]
    return validate_bot_fields(check, limits)


def delete_refusal(session: Session, bot: Bot) -> str | None:
    """Why ``bot`` may be neither deleted nor archived now, or None. A bot with trade history is
    archived rather than deleted (its trades are kept), which needs it STOPPED too."""
    if bot.archived_at is not None:
        return f"bot {bot.name!r} is already archived"
    unfinished = session.scalar(
        sa.select(sa.func.count())
        .select_from(Trade)
        .where(Trade.bot_id == bot.id, Trade.status.not_in(list(FINAL_TRADE_STATUSES)))
    )
    if unfinished:
        return f"bot {bot.name!r} has {unfinished} unfinished trade(s); wait until they end"
    sizes = session.scalars(sa.select(Position.base_size).where(Position.bot_id == bot.id))
    if any(size > 0 for size in sizes):  # compared as Decimals: SQLite stores money as text
        return f"bot {bot.name!r} holds a position; close it (sell) before deleting the bot"
    if trade_history(session, bot) and bot.status is not BotStatus.STOPPED:
        return (
            f"bot {bot.name!r} is {bot.status.value}; stop it first "
            "(a bot with trade history is archived, which needs it STOPPED)"
        )
    return None


def trade_history(session: Session, bot: Bot) -> int:
    """How many trades ``bot`` has (in any mode): kept, so such a bot is archived, not deleted."""
    return int(
        session.scalar(sa.select(sa.func.count()).select_from(Trade).where(Trade.bot_id == bot.id)) or 0
    )


def delete_bot(session: Session, bot: Bot, now: datetime) -> str:
    """Delete ``bot`` (with its runtime, evaluations and empty positions), or archive it when it
    has trade history; returns ``"deleted"`` or ``"archived"``, or raises BotDeleteRefused.

    Archived: ``archived_at`` set; it leaves the overview, the bot lists and the engine (it is
    STOPPED and cannot be started), while its trades stay in analytics, exports and the audit."""
    reason = delete_refusal(session, bot)
    if reason is not None:
        raise BotDeleteRefused(reason)
    if trade_history(session, bot):
        bot.archived_at = now
        bot.updated_at = now
        bot.status_reason = "archived"
        session.flush()
        return "archived"
    session.execute(sa.delete(Position).where(Position.bot_id == bot.id))
    session.delete(bot)
    session.flush()
    return "deleted"
