"""Bot, bot-runtime and evaluation-history persistence."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.confirmation import ConfirmationState
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import Action, BotStatus
from coinpilot.store.models import Bot, BotRuntime, Evaluation


class BotConflict(Exception):
    """Unique name or pair already taken."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def bot_config(bot: Bot) -> BotConfig:
    return BotConfig(
        pair=bot.pair,
        signals=SignalConfig.from_dict(bot.signal_config),
        buy_threshold=bot.buy_threshold,
        sell_threshold=bot.sell_threshold,
        confirmation_minutes=bot.confirmation_minutes,
        trade_size_usd=bot.trade_size_usd,
        cooldown_minutes=bot.cooldown_minutes,
        max_tranches=bot.max_tranches,
        granularity=bot.granularity,
        stop_loss_pct=bot.stop_loss_pct,
        take_profit_pct=bot.take_profit_pct,
        strategy=StrategyConfig.from_dict(bot.strategy or {}),
    )


def bot_label(name: str, bot_id: int, archived_at: datetime | None) -> str:
    """The name a report groups a bot's figures under. An archived bot may share its name with
    the live bot that replaced it (and with other archived ones), so its label carries its id:
    their trades are never summed as one bot's."""
    return name if archived_at is None else f"{name} (archived #{bot_id})"


def get_bot(session: Session, bot_id: int) -> Bot | None:
    return session.get(Bot, bot_id)


def get_bot_by_name_or_id(session: Session, ref: str, *, include_archived: bool = True) -> Bot | None:
    """The bot a person means by ``ref``: an id, else a name. Archived bots may share a name with
    each other and with the live bot, so a name means the live bot; without one, the most recently
    archived bot of that name (still readable), unless ``include_archived`` is False."""
    if ref.isdigit():
        bot = session.get(Bot, int(ref))
        if bot is not None and (include_archived or bot.archived_at is None):
            return bot
    q = sa.select(Bot).where(Bot.name == ref)
    if not include_archived:
        q = q.where(Bot.archived_at.is_(None))
    # Live first (NULL archived_at), then the newest archive; written out so both databases agree.
    live_first = sa.case((Bot.archived_at.is_(None), 0), else_=1)
    return session.scalars(q.order_by(live_first, Bot.archived_at.desc(), Bot.id.desc()).limit(1)).first()


def list_bots(session: Session, status: BotStatus | None = None, include_archived: bool = False) -> list[Bot]:
    """The bots, archived ones left out unless asked for (they are shown nowhere by default)."""
    q = sa.select(Bot).order_by(Bot.id)
    if not include_archived:
        q = q.where(Bot.archived_at.is_(None))
    if status is not None:
        q = q.where(Bot.status == status)
    return list(session.scalars(q).unique())


def check_unique(session: Session, name: str | None, pair: str | None, exclude_id: int | None = None) -> None:
    """BotConflict naming the field when a live bot already has ``name`` or ``pair``.

    Archived bots are left out, like the database's partial unique indexes (0015): an archived
    bot's name and pair are free for a new bot. Checked here first so the refusal names the field
    instead of surfacing as an IntegrityError."""
    live = Bot.archived_at.is_(None)
    if name is not None:
        q = sa.select(Bot.id).where(Bot.name == name, live)
        if exclude_id is not None:
            q = q.where(Bot.id != exclude_id)
        if session.scalar(q) is not None:
            raise BotConflict("name", f"a bot named {name!r} already exists")
    if pair is not None:
        q2 = sa.select(Bot.id, Bot.name).where(Bot.pair == pair, live)
        if exclude_id is not None:
            q2 = q2.where(Bot.id != exclude_id)
        row = session.execute(q2).first()
        if row is not None:
            raise BotConflict("pair", f"bot {row.name!r} already trades {pair}: one bot per pair")


def create_bot(session: Session, values: dict[str, Any], now: datetime) -> Bot:
    check_unique(session, values.get("name"), values.get("pair"))
    bot = Bot(**values, status=BotStatus.STOPPED, created_at=now, updated_at=now)
    bot.runtime = BotRuntime()
    session.add(bot)
    session.flush()
    return bot


def update_bot(session: Session, bot: Bot, values: dict[str, Any], now: datetime) -> Bot:
    check_unique(session, values.get("name"), values.get("pair"), exclude_id=bot.id)
    for key, value in values.items():
        setattr(bot, key, value)
    bot.updated_at = now
    session.flush()
    return bot


def set_status(
    session: Session, bot: Bot, status: BotStatus, now: datetime, reason: str | None = None
) -> None:
    bot.status = status
    bot.status_reason = reason
    bot.updated_at = now
    if status == BotStatus.RUNNING:
        rt = runtime_of(session, bot)
        rt.consecutive_errors = 0
        rt.last_error = None
        rt.next_evaluation_at = None


def runtime_of(session: Session, bot: Bot) -> BotRuntime:
    if bot.runtime is None:
        bot.runtime = BotRuntime()
        session.flush()
    return bot.runtime


def confirmation_state(rt: BotRuntime | None) -> ConfirmationState:
    if rt is None or rt.confirm_action is None:
        return ConfirmationState()
    return ConfirmationState(action=Action(rt.confirm_action), since=rt.confirm_since)


def save_confirmation(rt: BotRuntime, state: ConfirmationState) -> None:
    rt.confirm_action = state.action
    rt.confirm_since = state.since


def record_evaluation(
    session: Session,
    bot: Bot,
    *,
    at: datetime,
    price: Decimal | None,
    score: float,
    action: Action,
    temperature: Any,
    breakdown: list[dict[str, Any]],
    confirmation: dict[str, Any],
    retention: int,
    keep_since: datetime | None = None,
) -> Evaluation:
    row = Evaluation(
        bot_id=bot.id,
        evaluated_at=at,
        price=price,
        score=score,
        action=action,
        temperature=temperature,
        breakdown=breakdown,
        confirmation=confirmation,
    )
    session.add(row)
    session.flush()
    prune_evaluations(session, bot.id, retention, keep_since)
    return row


def prune_evaluations(session: Session, bot_id: int, keep: int, keep_since: datetime | None = None) -> int:
    """Keep the newest ``keep`` evaluations of a bot so history cannot grow without bound.

    With ``keep_since`` (the start of the bot's cooling period, see
    :func:`coinpilot.domain.cooling.history_needed_since`) the newest evaluation at or before it
    and every later one are kept as well, however many: the cooling exit needs them all. One
    DELETE, bounded by the bot's index either way.
    """
    cutoff = (
        sa.select(Evaluation.id)
        .where(Evaluation.bot_id == bot_id)
        .order_by(Evaluation.id.desc())
        .offset(keep)
        .limit(1)
        .scalar_subquery()
    )
    # No row past ``keep`` (or none at or before ``keep_since``): the subquery is NULL, the
    # comparison is never true and nothing is deleted.
    condition = sa.and_(Evaluation.bot_id == bot_id, Evaluation.id <= cutoff)
    if keep_since is not None:
        anchor = (
            sa.select(sa.func.max(Evaluation.evaluated_at))
            .where(Evaluation.bot_id == bot_id, Evaluation.evaluated_at <= keep_since)
            .scalar_subquery()
        )
        condition = sa.and_(condition, Evaluation.evaluated_at < anchor)
    result = session.execute(sa.delete(Evaluation).where(condition))
    return int(getattr(result, "rowcount", 0) or 0)


def evaluation_history(session: Session, bot_id: int, limit: int) -> list[Evaluation]:
    return list(
        session.scalars(
            sa.select(Evaluation)
            .where(Evaluation.bot_id == bot_id)
            .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
            .limit(limit)
        )
    )
