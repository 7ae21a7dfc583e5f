"""Bot endpoints: CRUD, the overview summary, temperatures, confirmation progress and history.

What a person does to a bot's run (start, pause, stop, protection, evaluate now) is in
:mod:`coinpilot.api.bot_actions`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from coinpilot.api.bot_schemas import BotCreate, BotUpdate
from coinpilot.api.deps import get_services, require_token
from coinpilot.api.errors import NotFound
from coinpilot.api.field_errors import FieldValidationError
from coinpilot.api.path_params import BotIdPath
from coinpilot.api.shared_answer import (
    Built,
    Served,
    SharedAnswer,
    age_headers,
    encode_json,
    json_response,
    packed,
)
from coinpilot.domain.safety import day_start
from coinpilot.engine.bots import admin as bot_admin
from coinpilot.services import Services
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import read_session, session_scope
from coinpilot.store.models import Bot
from coinpilot.store.repos.audit_trail import changed_fields, record_change
from coinpilot.views import rows as views
from coinpilot.views.overview import bot_overview_row, build_overview

router = APIRouter(prefix="/bots", tags=["bots"])


def _raise_if(errors: list[Any]) -> None:
    if errors:
        raise FieldValidationError(errors)


def load_bot(session: Any, bot_id: int) -> Bot:
    """The bot (archived ones too: they stay readable), or 404."""
    bot = bot_repo.get_bot(session, bot_id)
    if bot is None:
        raise NotFound(f"bot {bot_id}")
    return bot


def audit_bot_change(
    s: Any, services: Services, actor: str, action: str, bot_id: int, before: Any = None, after: Any = None
) -> None:
    """An audit-trail entry for a person's change to a bot, in the caller's transaction."""
    record_change(
        s,
        at=services.clock.now(),
        actor=actor,
        mode=services.mode,
        action=action,
        bot_id=bot_id,
        before=before,
        after=after,
    )


@router.get("", summary="List bots")
def list_bots(services: Services = Depends(get_services)) -> list[dict[str, Any]]:
    with services.sessions() as s:
        return [views.bot_dict(b) for b in bot_repo.list_bots(s)]


@router.post(
    "",
    status_code=201,
    summary="Create a bot (STOPPED); an unknown pair is refused with the tradable ones",
    dependencies=[Depends(require_token)],
)
def create_bot(
    body: BotCreate, services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> dict[str, Any]:
    values = body.model_dump(exclude_none=False)
    _raise_if(bot_admin.creation_problems(values, services.settings.safety_limits, services.market))
    values = bot_admin.normalise(values)
    if values.get("strategy") is None:
        values["strategy"] = {}
    with session_scope(services.sessions) as s:
        bot = bot_repo.create_bot(s, values, services.clock.now())
        out = views.bot_dict(bot)
        audit_bot_change(s, services, actor, "bot_created", bot.id, after=out)
        return out


@router.get("/defaults", summary="The values a new bot gets when a field is left out (for the form)")
def bot_defaults() -> dict[str, Any]:
    from coinpilot.domain.strategy import StrategyConfig

    values = BotCreate(name="defaults", pair="BTC-USD").model_dump()
    out = {
        k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items() if k not in ("name", "pair")
    }
    out["effective_strategy"] = StrategyConfig.from_dict({"stop_loss_pct": values["stop_loss_pct"]}).to_dict()
    return out


@router.get("/pairs", summary="Pairs the exchange of the current mode trades (for new bots)")
def tradable_pairs(services: Services = Depends(get_services)) -> dict[str, Any]:
    return {"mode": services.mode.value, "pairs": bot_admin.tradable_pairs(services.market)}


@router.get("/temperatures", summary="Temperature of every bot")
def temperatures(services: Services = Depends(get_services)) -> list[dict[str, Any]]:
    with services.sessions() as s:
        return [
            {
                "id": b.id,
                "name": b.name,
                "pair": b.pair,
                "status": b.status.value,
                "score": b.runtime.last_score if b.runtime else None,
                "temperature": views.temperature_dict(b),
            }
            for b in bot_repo.list_bots(s)
        ]


async def shared_overview(request: Request) -> Served:
    """The overview every dashboard shares (see ``api/shared_answer.py``); its rows by bot id
    come along in ``extra`` for the bot pages. Awaited from the event loop: a shared answer is
    handed out without a thread hop; only a request that must compute one uses the thread pool."""
    services: Services = request.app.state.services

    def compute() -> Built:
        now = services.clock.now()
        with read_session(services.sessions) as s:
            overview = build_overview(
                s, now, services.mode, services.settings.safety_limits, day_start(now), stale_after(services)
            )
        return packed(encode_json(overview), {row["id"]: row for row in overview["bots"]})

    shared: SharedAnswer = request.app.state.overview_answer
    served = shared.peek(compute)
    if served is None:
        served = await run_in_threadpool(shared.get, compute)
    return served


@router.get(
    "/status/summary",
    summary="Everything the dashboard polls every 5 s (read-only)",
    description="Shared by every poller: the `X-Answer-Age-Seconds` header says how old it is (at "
    "most 2 s, or `X-Answer-Stale: true` while a slow rebuild runs).",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def status_summary(request: Request) -> Response:
    served = await shared_overview(request)
    return json_response(request.headers.get("accept-encoding", ""), served.built, age_headers(served))


def stale_after(services: Services) -> timedelta:
    """A RUNNING bot whose last evaluation is older than three engine intervals is shown stale."""
    return timedelta(seconds=3 * float(services.settings.engine_interval_seconds))


@router.get("/{bot_id}", summary="One bot")
def get_bot(bot_id: BotIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    now = services.clock.now()
    with services.sessions() as s:
        bot = load_bot(s, bot_id)
        out = views.bot_dict(bot)
        out["live"] = bot_overview_row(
            s,
            bot.id,
            now,
            services.mode,
            services.settings.safety_limits,
            day_start(now),
            stale_after(services),
        )
        return out


@router.patch("/{bot_id}", summary="Change a bot's settings", dependencies=[Depends(require_token)])
def update_bot(
    bot_id: BotIdPath,
    body: BotUpdate,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    patch = body.model_dump(exclude_unset=True)
    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        bot_admin.refuse_if_archived(bot, "edited")
        old = views.bot_dict(bot)
        _raise_if(bot_admin.edit_problems(old, patch, services.settings.safety_limits))
        bot = bot_repo.update_bot(s, bot, bot_admin.normalise(patch), services.clock.now())
        new = views.bot_dict(bot)
        before, after = changed_fields(old, new)
        if after:
            audit_bot_change(s, services, actor, "bot_updated", bot.id, before, after)
        return new


@router.delete(
    "/{bot_id}",
    status_code=204,
    summary="Delete a bot, or archive it when it has trade history (409 says why neither)",
    description="A bot without trades is deleted (204). A bot with trade history is archived (200, "
    '`{"archived": true}`): it must be STOPPED and flat with nothing unfinished; it leaves the '
    "overview, the bot lists and the engine, and its trades stay in analytics, exports and the audit.",
    responses={200: {"description": "archived (its trades are kept)"}},
    dependencies=[Depends(require_token)],
)
def delete_bot(
    bot_id: BotIdPath, services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> Response:
    from coinpilot.store.bots import BotConflict

    now = services.clock.now()
    with session_scope(services.sessions) as s:
        bot = load_bot(s, bot_id)
        archiving = bot_admin.trade_history(s, bot) > 0
        if archiving:  # recorded first: a refusal below rolls it back with everything else
            audit_bot_change(
                s,
                services,
                actor,
                "bot_archived",
                bot_id,
                views.bot_dict(bot),
                {"archived_at": now.isoformat()},
            )
        else:
            audit_bot_change(s, services, actor, "bot_deleted", bot_id, before=views.bot_dict(bot))
        try:
            bot_admin.delete_bot(s, bot, now)
        except bot_admin.BotDeleteRefused as exc:
            raise BotConflict("id", str(exc)) from None
    if archiving:
        body = encode_json({"id": bot_id, "archived": True, "message": "archived: its trades are kept"})
        return Response(body, status_code=200, media_type="application/json")
    return Response(status_code=204)


@router.get("/{bot_id}/confirmation", summary="Confirmation progress (read-only)")
def confirmation(bot_id: BotIdPath, services: Services = Depends(get_services)) -> dict[str, Any]:
    with services.sessions() as s:
        return views.confirmation_dict(load_bot(s, bot_id), services.clock.now())


@router.get("/{bot_id}/signal-history", summary="Stored evaluations, newest first")
def signal_history(
    bot_id: BotIdPath,
    limit: int = Query(default=100, ge=1, le=1000),
    services: Services = Depends(get_services),
) -> list[dict[str, Any]]:
    with services.sessions() as s:
        load_bot(s, bot_id)
        return [
            {
                "evaluated_at": views.iso(e.evaluated_at),
                "score": e.score,
                "action": e.action.value,
                "temperature": e.temperature.value,
                "price": views.money(e.price),
                "signals": e.breakdown,
                "confirmation": e.confirmation,
            }
            for e in bot_repo.evaluation_history(s, bot_id, limit)
        ]
