"""What a person does to one bot: start (resume), pause, stop (optionally closing the position), and
switch the position's automatic protection off or on. Each is audited as a ControlEvent.

Why these live together: each changes what the engine may do for the bot, and none may do it as
a side effect of something else. Stopping a bot blocks its entries only; the protection pass
keeps running its stop-loss, trailing stop and take-profit until a person explicitly turns
protection off (:func:`set_protection`) or closes the position (``stop(close_position=True)``).
Starting a bot is a person's resume: it clears the consecutive-loss lock and restarts the
confirmation, so the first order after a start needs a full confirmation period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.confirmation import ConfirmationState
from coinpilot.domain.types import BotStatus, Side, TradeIntent, TradingMode
from coinpilot.engine.bots.admin import archived_message
from coinpilot.engine.orders.execution import TradeService
from coinpilot.store import bots as bot_repo
from coinpilot.store.models import Bot
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos import positions as position_repo


@dataclass
class CloseOutcome:
    """What "stop and close" did with the position (nothing when the bot held none)."""

    base_size: str | None = None
    allowed: bool | None = None
    trade_id: int | None = None
    reasons: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def start(session: Session, bot: Bot, *, now: datetime, actor: str, mode: TradingMode) -> None:
    """A person starts (resumes) the bot: RUNNING, loss lock cleared, confirmation restarted.
    An archived bot never runs again (StartRefused)."""
    if bot.archived_at is not None:
        raise StartRefused(archived_message(bot, "started"))
    was = bot.status
    bot_repo.set_status(session, bot, BotStatus.RUNNING, now, None)
    rt = bot_repo.runtime_of(session, bot)
    rt.loss_lock_cleared_at = now
    bot_repo.save_confirmation(rt, ConfirmationState())
    control_repo.record_event(
        session,
        at=now,
        action="bot_started",
        actor=actor,
        mode=mode,
        detail={"bot_id": bot.id, "from": was.value, "loss_lock_cleared": True},
    )


class StartRefused(ValueError):
    """The bot cannot be started (it is archived)."""


class PauseRefused(ValueError):
    """Only a RUNNING bot can be paused; names the status it has."""


def pause(session: Session, bot: Bot, *, now: datetime, actor: str, mode: TradingMode, reason: str) -> None:
    """A person pauses a RUNNING bot: PAUSED, no new entries; the protection pass keeps running
    its stop-loss, trailing stop and take-profit. A start (resume) takes it back to RUNNING."""
    if bot.status != BotStatus.RUNNING:
        raise PauseRefused(f"only a RUNNING bot can be paused; this bot is {bot.status.value}")
    reason = reason.strip()
    bot_repo.set_status(
        session, bot, BotStatus.PAUSED, now, f"paused by {actor}" + (f": {reason}" if reason else "")
    )
    control_repo.record_event(
        session,
        at=now,
        action="bot_paused",
        actor=actor,
        mode=mode,
        detail={"bot_id": bot.id, "from": BotStatus.RUNNING.value, "reason": reason},
    )


def stop(
    session: Session, bot: Bot, *, now: datetime, actor: str, mode: TradingMode, close_position: bool
) -> None:
    """STOPPED: no more entries. The position keeps its protection; ``close_position`` is
    recorded here and carried out by :func:`close_position` after this transaction commits."""
    was = bot.status
    bot_repo.set_status(
        session,
        bot,
        BotStatus.STOPPED,
        now,
        "stopped by user" + (", closing the position" if close_position else ""),
    )
    control_repo.record_event(
        session,
        at=now,
        action="bot_stopped",
        actor=actor,
        mode=mode,
        detail={"bot_id": bot.id, "from": was.value, "close_position": close_position},
    )


def close_position(sessions: sessionmaker[Session], trades: TradeService, bot_id: int) -> CloseOutcome:
    """Sell the bot's whole position through the normal safety path (a MANUAL sell: allowed in
    any bot status, never more than the position)."""
    with sessions() as s:
        pos = position_repo.get_position(s, bot_id, trades.mode)
        size = pos.base_size if pos is not None else None
    if size is None or size <= 0:
        return CloseOutcome()
    result = trades.execute(bot_id, Side.SELL, base_size=size, intent=TradeIntent.MANUAL)
    return CloseOutcome(
        base_size=format(size, "f"),
        allowed=result.allowed,
        trade_id=result.trade.id if result.trade else None,
        reasons=list(result.decision.get("reasons") or []),
    )


def set_protection(
    session: Session, bot: Bot, *, enabled: bool, now: datetime, actor: str, mode: TradingMode, reason: str
) -> None:
    """Switch the automatic stop-loss, trailing stop and take-profit of the bot's position on or
    off. Off is a person's explicit choice with a reason, audited; nothing else turns it off."""
    if not enabled and not reason.strip():
        raise ValueError("say why the position's protection is turned off (reason)")
    rt = bot_repo.runtime_of(session, bot)
    rt.protection_off = not enabled
    bot.updated_at = now
    control_repo.record_event(
        session,
        at=now,
        action="protection_on" if enabled else "protection_off",
        actor=actor,
        mode=mode,
        detail={"bot_id": bot.id, "reason": reason},
    )
