"""Trading state, safety service, manual trades, trade and position reads.

Every state-changing endpoint needs the bearer token. A refused trade answers 403 with every
reason; malformed input answers 422 naming the field, and only the audit entry is recorded.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from coinpilot.api.deps import get_services, require_token
from coinpilot.api.errors import NotFound
from coinpilot.api.strict_types import BotIdPath, DbId, DecimalText, TradeIdPath
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import Side
from coinpilot.engine.audit import record_manual_trade
from coinpilot.services import Services, production_ready
from coinpilot.store import bots as bot_repo
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos.dto import position_dto, trade_dto
from coinpilot.views import rows as views
from coinpilot.views.safety_status import safety_status as safety_status_view

trading = APIRouter(prefix="/trading", tags=["trading"])
safety = APIRouter(prefix="/safety", tags=["safety"])
trades = APIRouter(tags=["trades"])
routers = [trading, safety, trades]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
DecimalString = Field(default=None, max_length=40, description='decimal string, e.g. "10.50"')


class TradeRequestBody(BaseModel):
    model_config = _STRICT

    bot_id: DbId
    side: Side
    quote_size: DecimalText | None = DecimalString
    base_size: DecimalText | None = DecimalString


class EmergencyBody(BaseModel):
    model_config = _STRICT

    reason: str = Field(default="emergency stop by user", max_length=500)
    cancel_open_orders: StrictBool = False
    close_positions: StrictBool = False


class StateBody(BaseModel):
    model_config = _STRICT

    state: TradingState = Field(description="ACTIVE, REDUCING or HALTED")
    reason: str = Field(default="", max_length=500)


class ReasonBody(BaseModel):
    model_config = _STRICT

    reason: str = Field(default="", max_length=500)


def _invalid(exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", "body")
    message = getattr(exc, "message", str(exc))
    return JSONResponse(
        status_code=422,
        content={
            "detail": [{"loc": ["body", *str(field).split(".")], "msg": message, "type": "value_error"}]
        },
    )


def _trade_call(
    services: Services, body: TradeRequestBody, execute: bool, actor: str | None = None
) -> JSONResponse:
    from coinpilot.engine.orders.execution import InvalidTradeRequest

    fn = services.trades.execute if execute else services.trades.validate
    try:
        result = fn(body.bot_id, body.side, quote_size=body.quote_size, base_size=body.base_size)
    except InvalidTradeRequest as exc:
        return _invalid(exc)
    payload = {"mode": services.mode.value, **result.to_dict()}
    if execute and actor is not None:
        record_manual_trade(services.sessions, services.clock, services.mode, actor, body.bot_id, result)
    if execute:
        return JSONResponse(status_code=201 if result.allowed else 403, content=payload)
    return JSONResponse(status_code=200, content=payload)


# ---- trading state -----------------------------------------------------------------------------
@trading.get("/status", summary="Mode and trading state (ACTIVE / REDUCING / HALTED), reason, who, when")
def trading_status(services: Services = Depends(get_services)) -> dict[str, Any]:
    return services.control.state()


@trading.get("/state", summary="The trading state with its reason, who set it and when")
def trading_state(services: Services = Depends(get_services)) -> dict[str, Any]:
    return services.control.state()


@trading.post(
    "/state",
    summary="Set the trading state: ACTIVE, REDUCING (exits only) or HALTED (persisted, audited)",
    dependencies=[Depends(require_token)],
)
def set_trading_state(
    body: StateBody, services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> Any:
    from coinpilot.engine.risk.control import ControlError

    try:
        return services.control.set_state(
            body.state, actor, body.reason, production_ready=production_ready(services.settings)
        )
    except ControlError as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc)})


@trading.post(
    "/enable", summary="Enable trading: ACTIVE (persisted and audited)", dependencies=[Depends(require_token)]
)
def enable(services: Services = Depends(get_services), actor: str = Depends(require_token)) -> Any:
    from coinpilot.engine.risk.control import ControlError

    try:
        return services.control.enable_trading(
            actor=actor, production_ready=production_ready(services.settings)
        )
    except ControlError as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc)})


@trading.post("/disable", summary="Disable trading: HALTED", dependencies=[Depends(require_token)])
def disable(
    body: ReasonBody | None = None,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    return services.control.disable_trading(actor=actor, reason=body.reason if body else "")


@trading.get("/events", summary="Audit trail of enable/disable/emergency actions")
def events(
    limit: int = Query(default=50, ge=1, le=500), services: Services = Depends(get_services)
) -> list[dict[str, Any]]:
    return services.control.events(limit)


# ---- safety -----------------------------------------------------------------------------------
@safety.get("/status", summary="Limits, usage today, cooldowns, emergency state")
def safety_status(services: Services = Depends(get_services)) -> dict[str, Any]:
    return safety_status_view(services.control, services.settings.safety_limits)


@safety.post(
    "/emergency-stop",
    summary="HALTED now; unsent orders are never sent (optionally cancel orders, close positions)",
    dependencies=[Depends(require_token)],
)
def emergency_stop(
    body: EmergencyBody | None = None,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    body = body or EmergencyBody()
    report = services.control.engage_emergency(
        actor, body.reason, cancel_open_orders=body.cancel_open_orders, close_positions=body.close_positions
    )
    return {"report": report.to_dict(), "state": services.control.state()}


@safety.post(
    "/emergency-release",
    summary="Release a halt: HALTED -> REDUCING (exits only)",
    dependencies=[Depends(require_token)],
)
def emergency_release(
    body: ReasonBody | None = None,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> Any:
    from coinpilot.engine.risk.control import ControlError

    try:
        return services.control.release_emergency(actor, body.reason if body else "")
    except ControlError as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc)})


@safety.get("/audit", summary="Recent safety decisions, allowed and refused")
def audit(
    limit: int = Query(default=50, ge=1, le=500), services: Services = Depends(get_services)
) -> list[dict[str, Any]]:
    from coinpilot.store.repos.audit import recent_audits
    from coinpilot.store.repos.dto import audit_summary
    from coinpilot.store.repos.jsonable import jsonable

    with services.sessions() as s:
        return [
            {**(audit_summary(a) or {}), "request": jsonable(a.request), "inputs": jsonable(a.inputs)}
            for a in recent_audits(s, services.mode, limit)
        ]


@safety.get("/drift", summary="Positions compared with exchange balances (reports, never rewrites)")
def drift(services: Services = Depends(get_services)) -> list[dict[str, Any]]:
    from coinpilot.engine.orders.reconcile import position_drift

    return [d.to_dict() for d in position_drift(services.sessions, services.exchange, services.mode)]


# ---- trades and positions ---------------------------------------------------------------------
@trades.post(
    "/trades/validate",
    summary="Would this trade pass safety now? (audited, places nothing)",
    dependencies=[Depends(require_token)],
)
def validate_trade(body: TradeRequestBody, services: Services = Depends(get_services)) -> JSONResponse:
    return _trade_call(services, body, execute=False)


@trades.post(
    "/trades/execute",
    summary="Place a manual market order for a bot",
    dependencies=[Depends(require_token)],
    status_code=201,
)
def execute_trade(
    body: TradeRequestBody, services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> JSONResponse:
    return _trade_call(services, body, execute=True, actor=actor)


@trades.get("/trades", summary="Recent trades in this mode")
def list_trades(
    limit: int = Query(default=50, ge=1, le=500), services: Services = Depends(get_services)
) -> list[dict[str, Any]]:
    with services.sessions() as s:
        return views.recent_trades(s, services.mode, limit)


@trades.get("/trades/{trade_id}", summary="One trade with fills and its safety decision")
def get_trade(trade_id: TradeIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    dto = services.trades.get_trade(trade_id)
    if dto is None:
        raise NotFound(f"trade {trade_id}")
    return dto.to_dict()


@trades.get("/bots/{bot_id}/trades", summary="A bot's trades, newest first")
def bot_trades(
    bot_id: BotIdPath,
    limit: int = Query(default=50, ge=1, le=500),
    services: Services = Depends(get_services),
) -> list[dict[str, Any]]:
    with services.sessions() as s:
        if bot_repo.get_bot(s, bot_id) is None:
            raise NotFound(f"bot {bot_id}")
        return [trade_dto(t, None).to_dict() for t in views.trades_for_bot(s, services.mode, bot_id, limit)]


@trades.get("/bots/{bot_id}/position", summary="The bot's position with tranches and P&L")
def bot_position(bot_id: BotIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    with services.sessions() as s:
        bot = bot_repo.get_bot(s, bot_id)
        if bot is None:
            raise NotFound(f"bot {bot_id}")
        pos = position_repo.get_position(s, bot_id, services.mode)
        pair = bot.pair
        fallback = bot.runtime.last_price if bot.runtime else None
    mark = views.mark_price(services.market, pair, fallback)
    if pos is None:
        return {
            "bot_id": bot_id,
            "mode": services.mode.value,
            "pair": pair,
            "status": "FLAT",
            "base_size": "0",
            "cost": "0",
            "realized_pnl": "0",
            "tranches": [],
            "mark": views.money(mark),
        }
    return position_dto(pos, mark).to_dict()
