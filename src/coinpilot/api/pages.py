"""Data for the dashboard's bot page and trade page, one request each (read-only), and the
no-op the dashboard calls to check a token before saving it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from coinpilot.api.bots import stale_after
from coinpilot.api.deps import get_services, require_token
from coinpilot.api.errors import NotFound
from coinpilot.api.strict_types import BotIdPath, TradeIdPath
from coinpilot.domain.safety import day_start
from coinpilot.services import Services
from coinpilot.store.db import read_session
from coinpilot.views.pages import bot_page, trade_page

router = APIRouter(tags=["dashboard"])


@router.get("/bots/{bot_id}/page", summary="Everything the bot page shows, except candles")
def bot_page_data(bot_id: BotIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    now = services.clock.now()
    with read_session(services.sessions) as s:
        page = bot_page(
            s,
            bot_id,
            now,
            services.mode,
            services.settings.safety_limits,
            day_start(now),
            stale_after(services),
        )
    if page is None:
        raise NotFound(f"bot {bot_id}")
    return page


@router.get("/trades/{trade_id}/page", summary="A trade with its full safety decision and position change")
def trade_page_data(trade_id: TradeIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    dto = services.trades.get_trade(trade_id)
    if dto is None:
        raise NotFound(f"trade {trade_id}")
    with read_session(services.sessions) as s:
        return trade_page(s, dto)


@router.post(
    "/auth/check",
    summary="Check a bearer token (changes nothing)",
    dependencies=[Depends(require_token)],
)
def auth_check() -> dict[str, bool]:
    return {"ok": True}
