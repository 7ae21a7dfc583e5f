"""Bot endpoints for what a person does to a bot's run: start (resume), pause, stop (optionally
closing the position), stop every bot, turn the position's protection off or on, evaluate now and
restart the confirmation. Each is audited; each changes what the engine may do for the bot, and
none changes its settings (those are the CRUD endpoints in :mod:`coinpilot.api.bots`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from coinpilot.api.bots import audit_bot_change, load_bot
from coinpilot.api.deps import get_services, require_token
from coinpilot.api.field_errors import FieldValidationError
from coinpilot.api.path_params import BotIdPath
from coinpilot.domain.signal_config import FieldError
from coinpilot.domain.types import BotStatus
from coinpilot.engine.bots import control as bot_control
from coinpilot.services import Services
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import session_scope
from coinpilot.views import rows as views

router = APIRouter(prefix="/bots", tags=["bots"])


@router.post("/stop-all", summary="Stop every bot", dependencies=[Depends(require_token)])
def stop_all(
    services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> dict[str, Any]:
    now = services.clock.now()
    stopped = []
    with session_scope(services.sessions) as s:
        for bot in bot_repo.list_bots(s):
            if bot.status != BotStatus.STOPPED:
                before = bot.status.value
                bot_repo.set_status(s, bot, BotStatus.STOPPED, now, "stopped by stop-all")
                stopped.append(bot.id)
                audit_bot_change(
                    s, services, actor, "bot_stopped", bot.id, {"status": before}, {"status": "STOPPED"}
                )
    return {"stopped": stopped}


@router.post(
    "/{bot_id}/start",
    summary="Start (resume) a bot: evaluated and, if trading is enabled, trading",
    description="A person's resume: clears the consecutive-loss lock and restarts the confirmation "
    "(audited).",
    dependencies=[Depends(require_token)],
)
def start_bot(
    bot_id: BotIdPath, services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> dict[str, Any]:
    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        try:
            bot_control.start(s, bot, now=services.clock.now(), actor=actor, mode=services.mode)
        except bot_control.StartRefused as exc:
            from coinpilot.store.bots import BotConflict

            raise BotConflict("status", str(exc)) from None
        return views.bot_dict(bot)


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500, description="why the bot is paused (recorded)")


@router.post(
    "/{bot_id}/pause",
    summary="Pause a RUNNING bot: no new entries; its position keeps its automatic exits",
    description="A person's pause (audited with the reason). Stop-loss, trailing stop and "
    "take-profit keep running; start resumes it. 409 unless the bot is RUNNING.",
    dependencies=[Depends(require_token)],
)
def pause_bot(
    bot_id: BotIdPath,
    body: PauseRequest | None = None,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    from coinpilot.store.bots import BotConflict

    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        try:
            bot_control.pause(
                s,
                bot,
                now=services.clock.now(),
                actor=actor,
                mode=services.mode,
                reason=body.reason if body is not None else "",
            )
        except bot_control.PauseRefused as exc:
            raise BotConflict("status", str(exc)) from None
        return views.bot_dict(bot)


@router.post(
    "/{bot_id}/stop",
    summary="Stop a bot (no more entries); optionally close its position",
    description="A stopped bot's position keeps its stop-loss, trailing stop and take-profit. "
    "With close_position=true the whole position is also sold through the safety check.",
    dependencies=[Depends(require_token)],
)
def stop_bot(
    bot_id: BotIdPath,
    close_position: bool = Query(default=False, description="also sell the whole position now"),
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        bot_control.stop(
            s, bot, now=services.clock.now(), actor=actor, mode=services.mode, close_position=close_position
        )
        out = views.bot_dict(bot)
    if close_position:
        out["close"] = bot_control.close_position(services.sessions, services.trades, bot_id).to_dict()
    return out


class ProtectionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="false turns the position's automatic exits off")
    reason: str = Field(default="", max_length=500, description="required when turning protection off")


@router.post(
    "/{bot_id}/protection",
    summary="Turn the position's automatic stop-loss, trailing stop and take-profit on or off",
    description="Off is an explicit, audited choice with a reason; nothing else turns it off.",
    dependencies=[Depends(require_token)],
)
def set_protection(
    bot_id: BotIdPath,
    body: ProtectionChange,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        try:
            bot_control.set_protection(
                s,
                bot,
                enabled=body.enabled,
                now=services.clock.now(),
                actor=actor,
                mode=services.mode,
                reason=body.reason,
            )
        except ValueError as exc:
            raise FieldValidationError([FieldError("reason", str(exc))]) from None
        return views.bot_dict(bot)


@router.post(
    "/{bot_id}/evaluate",
    summary="Evaluate now (scores and confirmation; places no order)",
    dependencies=[Depends(require_token)],
)
def evaluate_bot(bot_id: BotIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    with services.sessions() as s:
        load_bot(s, bot_id)
    return services.evaluations.evaluate_bot(bot_id).to_dict()


@router.post(
    "/{bot_id}/confirmation/reset",
    summary="Clear the confirmation timer",
    dependencies=[Depends(require_token)],
)
def reset_confirmation(bot_id: BotIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    from coinpilot.domain.confirmation import ConfirmationState

    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        bot_repo.save_confirmation(bot_repo.runtime_of(s, bot), ConfirmationState())
        return views.confirmation_dict(bot, services.clock.now())
