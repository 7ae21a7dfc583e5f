"""Stopping a bot offers "stop and close the position"; turning a position's protection off is
an explicit, audited choice (API and CLI), never a side effect of stopping."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent
from coinpilot.store.models import BotRuntime, ControlEvent, Trade
from tests.conftest import AUTH
from tests.integration.test_api_trading import make_bot

D = Decimal


def _buy(client, services, bot: int) -> None:
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()


def _events(services, action: str) -> list[ControlEvent]:
    with services.sessions() as s:
        return list(s.scalars(sa.select(ControlEvent).where(ControlEvent.action == action)))


def test_stop_keeps_the_position_and_its_protection(client, services) -> None:
    bot = make_bot(client)
    _buy(client, services, bot)
    r = client.post(f"/api/v1/bots/{bot}/stop", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "STOPPED"
    assert "close" not in r.json() and r.json()["protection_off"] is False
    pos = client.get(f"/api/v1/bots/{bot}/position").json()
    assert D(pos["base_size"]) > 0
    [event] = _events(services, "bot_stopped")
    assert event.detail == {"bot_id": bot, "from": "STOPPED", "close_position": False}


def test_stop_and_close_sells_the_whole_position(client, services, engine) -> None:
    bot = make_bot(client)
    client.post(f"/api/v1/bots/{bot}/start", headers=AUTH)
    _buy(client, services, bot)
    r = client.post(f"/api/v1/bots/{bot}/stop?close_position=true", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "STOPPED"
    assert body["close"]["allowed"] is True and body["close"]["trade_id"]
    services.sync.sync_all()
    assert D(client.get(f"/api/v1/bots/{bot}/position").json()["base_size"]) == 0
    with services.sessions() as s:
        sell = s.get(Trade, body["close"]["trade_id"])
        assert sell.intent == TradeIntent.MANUAL and sell.side == Side.SELL
    assert _events(services, "bot_stopped")[0].detail["close_position"] is True


def test_stop_and_close_without_a_position_sells_nothing(client, services, engine) -> None:
    bot = make_bot(client)
    r = client.post(f"/api/v1/bots/{bot}/stop?close_position=true", headers=AUTH)
    assert r.status_code == 200 and r.json()["close"]["trade_id"] is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Trade)).scalar_one() == 0


def test_turning_protection_off_needs_a_reason_and_is_audited(client, services) -> None:
    bot = make_bot(client)
    r = client.post(f"/api/v1/bots/{bot}/protection", json={"enabled": False}, headers=AUTH)
    assert r.status_code == 422 and "reason" in r.text
    with services.sessions() as s:
        assert s.get(BotRuntime, bot).protection_off is False  # nothing changed
    assert (
        client.post(f"/api/v1/bots/{bot}/protection", json={"enabled": False, "reason": "x"}).status_code
        == 401
    )
    r = client.post(
        f"/api/v1/bots/{bot}/protection",
        json={"enabled": False, "reason": "manual exit planned"},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["protection_off"] is True
    [event] = _events(services, "protection_off")
    assert event.actor == "default" and event.detail == {"bot_id": bot, "reason": "manual exit planned"}
    r = client.post(f"/api/v1/bots/{bot}/protection", json={"enabled": True}, headers=AUTH)
    assert r.json()["protection_off"] is False
    assert len(_events(services, "protection_on")) == 1


def test_start_and_stop_never_change_the_protection(client, services) -> None:
    bot = make_bot(client)
    client.post(f"/api/v1/bots/{bot}/protection", json={"enabled": False, "reason": "r"}, headers=AUTH)
    client.post(f"/api/v1/bots/{bot}/start", headers=AUTH)
    assert client.post(f"/api/v1/bots/{bot}/stop", headers=AUTH).json()["protection_off"] is True
    client.post(f"/api/v1/bots/{bot}/protection", json={"enabled": True}, headers=AUTH)
    assert client.post(f"/api/v1/bots/{bot}/stop", headers=AUTH).json()["protection_off"] is False
