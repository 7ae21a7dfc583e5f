"""Creating, editing and deleting bots through the API: unknown pairs, stop-loss edits, deletes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from coinpilot.store.models import Bot, Trade
from tests.conftest import AUTH
from tests.integration.test_api_bots import database_fingerprint, new_bot


def count(engine: sa.Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_unknown_pair_is_refused_at_creation_with_the_tradable_pairs_and_nothing_stored(
    client, engine
) -> None:
    before = database_fingerprint(engine)
    r = client.post("/api/v1/bots", json=new_bot(pair="BTC-USDX"), headers=AUTH)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["loc"] == ["body", "pair"]
    assert "unknown pair BTC-USDX" in detail["msg"]
    assert "BTC-USD" in detail["msg"] and "ETH-USD" in detail["msg"]  # what the replay trades
    assert database_fingerprint(engine) == before


def test_tradable_pairs_endpoint_lists_the_current_modes_products(client) -> None:
    body = client.get("/api/v1/bots/pairs").json()
    assert body["mode"] == "mock"
    assert {"BTC-USD", "ETH-USD"} <= set(body["pairs"])
    assert "BTC-USDX" not in body["pairs"]


def _effective_stop(client: Any, bot_id: int) -> str | None:
    stop: str | None = client.get(f"/api/v1/bots/{bot_id}").json()["effective_strategy"]["stop_loss_pct"]
    return stop


def test_editing_the_strategy_stop_loss_changes_the_stop_the_engine_uses(client) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(stop_loss_pct="5"), headers=AUTH).json()
    assert _effective_stop(client, bot["id"]) == "5"
    strategy = {"sizing": "fixed", "stop_loss_pct": "2.5", "trailing_stop_pct": "3", "dca_step_pct": "1"}
    r = client.patch(f"/api/v1/bots/{bot['id']}", json={"strategy": strategy}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["stop_loss_pct"] == "2.5"  # bot-level stop kept equal: one stop, not two
    assert _effective_stop(client, bot["id"]) == "2.5"
    assert client.get(f"/api/v1/bots/{bot['id']}").json()["effective_strategy"]["trailing_stop_pct"] == "3"


def test_invalid_strategy_edit_names_the_field_and_changes_nothing(client, engine) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    before = database_fingerprint(engine)
    bad = {"stop_loss_pct": "150", "take_profit_ladder": [["10", "80"], ["5", "40"]]}
    r = client.patch(f"/api/v1/bots/{bot['id']}", json={"strategy": bad}, headers=AUTH)
    assert r.status_code == 422
    locs = {".".join(d["loc"][1:]) for d in r.json()["detail"]}
    assert {"strategy.stop_loss_pct", "strategy.take_profit_ladder[1]", "strategy.take_profit_ladder"} <= locs
    assert database_fingerprint(engine) == before


def test_a_bots_pair_cannot_be_changed_by_an_edit(client) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    r = client.patch(f"/api/v1/bots/{bot['id']}", json={"pair": "ETH-USD"}, headers=AUTH)
    assert r.status_code == 422
    assert client.get(f"/api/v1/bots/{bot['id']}").json()["pair"] == "BTC-USD"


def test_a_bot_without_trades_can_be_deleted(client, engine) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)  # runtime + evaluation rows
    assert client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH).status_code == 204
    assert count(engine, Bot) == 0


def _buy(client: Any, bot_id: int) -> int:
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot_id, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    return int(r.json()["trade"]["id"])


def test_delete_is_refused_while_an_order_is_unfinished(client, engine) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    _buy(client, bot["id"])  # not synced yet: the trade is still OPEN
    r = client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH)
    assert r.status_code == 409
    assert "unfinished trade" in r.json()["detail"]
    assert count(engine, Bot) == 1


def test_delete_is_refused_while_the_bot_holds_a_position_then_for_its_history(
    client, services, engine
) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    trade_id = _buy(client, bot["id"])
    services.sync.sync_all()
    r = client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH)
    assert r.status_code == 409
    assert "holds a position" in r.json()["detail"]
    size = client.get(f"/api/v1/trades/{trade_id}").json()["filled_base_size"]
    r = client.post(
        "/api/v1/trades/execute",
        json={"bot_id": bot["id"], "side": "sell", "base_size": size},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()
    client.post(f"/api/v1/bots/{bot['id']}/start", headers=AUTH)
    r = client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH)
    assert r.status_code == 409  # flat, but RUNNING: a bot with history is archived, once stopped
    assert "stop it first" in r.json()["detail"]
    client.post(f"/api/v1/bots/{bot['id']}/stop", headers=AUTH)
    r = client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH)
    assert r.status_code == 200 and r.json()["archived"] is True  # archived, its history kept
    assert count(engine, Bot) == 1
    assert count(engine, Trade) == 2


def test_an_archived_bot_leaves_the_overview_and_the_engine_and_its_trades_stay(
    client, services, engine
) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    other = client.post("/api/v1/bots", json=new_bot(name="other", pair="ETH-USD"), headers=AUTH).json()
    trade_id = _buy(client, bot["id"])
    services.sync.sync_all()
    size = client.get(f"/api/v1/trades/{trade_id}").json()["filled_base_size"]
    client.post(
        "/api/v1/trades/execute", json={"bot_id": bot["id"], "side": "sell", "base_size": size}, headers=AUTH
    )
    services.sync.sync_all()
    assert client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH).status_code == 200

    summary = client.get("/api/v1/bots/status/summary").json()
    assert [b["id"] for b in summary["bots"]] == [other["id"]]
    assert summary["safety"]["trades_today"] == 2  # its trades still count against today's limits
    assert [b["id"] for b in client.get("/api/v1/bots").json()] == [other["id"]]
    r = client.post(f"/api/v1/bots/{bot['id']}/start", headers=AUTH)
    assert r.status_code == 409 and "archived" in r.json()["detail"]
    assert client.get(f"/api/v1/bots/{bot['id']}").json()["archived_at"] is not None  # still readable
    page = client.get(f"/api/v1/bots/{bot['id']}/page").json()
    assert len(page["trades"]) == 2 and page["live"]["id"] == bot["id"]
    csv = client.get("/api/v1/export/trades.csv").text
    assert csv.count("\n") == 3  # header and its two trades
    archived = client.get("/api/v1/audit", params={"bot_id": bot["id"]}).json()["items"]
    assert archived[0]["action"] == "bot_archived" and archived[0]["after"]["archived_at"]
    r = client.delete(f"/api/v1/bots/{bot['id']}", headers=AUTH)
    assert r.status_code == 409 and "already archived" in r.json()["detail"]


def _archive_after_a_round_trip(client: Any, services: Any, bot_id: int) -> int:
    """Buy, sell everything, archive (it has history); returns the buy's trade id."""
    trade_id = _buy(client, bot_id)
    services.sync.sync_all()
    size = client.get(f"/api/v1/trades/{trade_id}").json()["filled_base_size"]
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot_id, "side": "sell", "base_size": size}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()
    assert client.delete(f"/api/v1/bots/{bot_id}", headers=AUTH).status_code == 200
    return trade_id


def test_an_archived_bots_name_and_pair_are_free_for_a_new_bot_and_it_stays_readable(
    client, services
) -> None:
    old = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    trade_id = _archive_after_a_round_trip(client, services, old["id"])

    r = client.post("/api/v1/bots", json=new_bot(), headers=AUTH)  # same name, same pair
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"] != old["id"] and new["archived_at"] is None

    # A live duplicate is refused as before, naming the field.
    r = client.post("/api/v1/bots", json=new_bot(name="another"), headers=AUTH)
    assert r.status_code == 409 and r.json()["field"] == "pair" and "one bot per pair" in r.json()["detail"]
    r = client.post("/api/v1/bots", json=new_bot(pair="ETH-USD"), headers=AUTH)
    assert r.status_code == 409 and r.json()["field"] == "name"

    # The archived bot and its trades keep its name; the two bots' figures are never summed.
    archived = client.get(f"/api/v1/bots/{old['id']}").json()
    assert archived["name"] == "btc-bot" and archived["archived_at"] is not None
    trade_page = client.get(f"/api/v1/trades/{trade_id}/page").json()
    assert trade_page["trade"]["bot_id"] == old["id"] and trade_page["bot_name"] == "btc-bot"
    assert [b["id"] for b in client.get("/api/v1/bots").json()] == [new["id"]]
    new_trade = _buy(client, new["id"])
    services.sync.sync_all()
    by_bot = client.get("/api/v1/analytics").json()["modes"]["mock"]["by_bot"]
    assert set(by_bot) == {"btc-bot", f"btc-bot (archived #{old['id']})"}
    assert client.get(f"/api/v1/trades/{new_trade}").json()["bot_id"] == new["id"]
    page = client.get(f"/api/v1/bots/{old['id']}/page").json()
    assert [t["id"] for t in page["trades"]] and new_trade not in [t["id"] for t in page["trades"]]


def test_an_archived_bot_cannot_be_edited_or_started_and_nothing_changes(client, services, engine) -> None:
    from tests.integration.test_api_bots import database_fingerprint

    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    _archive_after_a_round_trip(client, services, bot["id"])
    before = database_fingerprint(engine)

    r = client.patch(f"/api/v1/bots/{bot['id']}", json={"trade_size_usd": "20"}, headers=AUTH)
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert f"bot 'btc-bot' (#{bot['id']}) is archived" in detail
    assert "create a new bot" in detail  # what to do instead
    r = client.post(f"/api/v1/bots/{bot['id']}/start", headers=AUTH)
    assert r.status_code == 409, r.text
    assert f"bot 'btc-bot' (#{bot['id']}) is archived" in r.json()["detail"]
    assert "create a new bot" in r.json()["detail"]
    assert database_fingerprint(engine) == before  # no edit, no status change, no audit entry
