"""Data for the dashboard's bot page and trade page, one request each (read-only), and the
no-op the dashboard calls to check a token before saving it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from coinpilot.api.bots import shared_overview, stale_after
from coinpilot.api.deps import get_services, require_token
from coinpilot.api.errors import NotFound
from coinpilot.api.path_params import BotIdPath, TradeIdPath
from coinpilot.api.shared_answer import Built, encode_json, json_response, packed
from coinpilot.domain.safety import day_start
from coinpilot.services import Services
from coinpilot.store.db import read_session
from coinpilot.store.models import Bot
from coinpilot.views.pages import MAX_PAGE_SIZE, PAGE_SIZE, bot_page, decisions_page, trade_page, trades_page

router = APIRouter(tags=["dashboard"])

PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="how many, newest first")]
Before = Annotated[
    int | None, Query(ge=1, description="only ids below this (the previous page's next_before)")
]


@router.get(
    "/bots/{bot_id}/page",
    summary="Everything the bot page shows, except candles",
    description="With the newest `limit` trades (with fills) and safety decisions; older ones from "
    "`/bots/{bot_id}/page/trades` and `/bots/{bot_id}/page/decisions` with `before`. The bot's live "
    "row is the shared overview's (`live_age_seconds`).",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def bot_page_data(request: Request, bot_id: BotIdPath, limit: PageLimit = PAGE_SIZE) -> Response:
    services: Services = request.app.state.services
    overview = await shared_overview(request)
    # The overview's own row for this bot (the same figures, built once for every reader); an
    # archived bot has none, and a stale overview is not used: then it is read for this bot.
    live = None if overview.stale else overview.extra.get(bot_id)

    def compute() -> Built | None:
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
                limit,
                live=live,
            )
        if page is None:
            return None
        page["live_age_seconds"] = round(overview.age_seconds, 3) if live is not None else 0.0
        return packed(encode_json(page))  # encoded and gzipped here, off the event loop

    built = await run_in_threadpool(compute)
    if built is None:
        raise NotFound(f"bot {bot_id}")
    return json_response(request.headers.get("accept-encoding", ""), built)


def _bot_page_part(
    services: Services, bot_id: int, read: Callable[..., dict[str, Any]], limit: int, before: Any
) -> dict[str, Any]:
    """One page of a bot's older rows, read in the same session that checks the bot exists."""
    with read_session(services.sessions) as s:
        if s.get(Bot, bot_id) is None:
            raise NotFound(f"bot {bot_id}")
        return read(s, bot_id, services.mode, limit, before)


@router.get("/bots/{bot_id}/page/trades", summary="Older trades for the bot page (with fills), newest first")
def bot_page_trades(
    bot_id: BotIdPath,
    services: Services = Depends(get_services),
    limit: PageLimit = PAGE_SIZE,
    before: Before = None,
) -> dict[str, Any]:
    return _bot_page_part(services, bot_id, trades_page, limit, before)


@router.get("/bots/{bot_id}/page/decisions", summary="Older safety decisions for the bot page, newest first")
def bot_page_decisions(
    bot_id: BotIdPath,
    services: Services = Depends(get_services),
    limit: PageLimit = PAGE_SIZE,
    before: Before = None,
) -> dict[str, Any]:
    return _bot_page_part(services, bot_id, decisions_page, limit, before)


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
