"""The bot page's and trade page's data endpoints, the token check and the SPA's deep links."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import AUTH


def _bot_with_a_buy(client, services) -> tuple[int, int]:
    r = client.post(
        "/api/v1/bots",
        json={"name": "btc", "pair": "BTC-USD", "trade_size_usd": "10", "stop_loss_pct": "4"},
        headers=AUTH,
    )
    bot = int(r.json()["id"])
    client.post(f"/api/v1/bots/{bot}/evaluate", headers=AUTH)
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()
    return bot, int(r.json()["trade"]["id"])


def test_bot_page_holds_trades_with_fills_position_levels_and_safety_decisions(client, services) -> None:
    bot, trade_id = _bot_with_a_buy(client, services)
    client.post(  # refused: above the max trade size; must show on the page with its reason
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "99"}, headers=AUTH
    )
    page = client.get(f"/api/v1/bots/{bot}/page").json()
    assert page["bot"]["name"] == "btc"
    assert [t["id"] for t in page["trades"]] == [trade_id]
    fills = page["trades"][0]["fills"]
    assert fills and all(Decimal(f["fee"]) > 0 for f in fills)
    assert len(page["position"]["tranches"]) == 1
    avg = Decimal(page["levels"]["avg_entry"])
    assert avg == Decimal(page["position"]["avg_entry_price"])
    assert Decimal(page["levels"]["stop_loss"]) == avg * (1 - Decimal("4") / 100)
    refused = [d for d in page["safety_decisions"] if not d["allowed"]]
    assert refused and any(r["code"] == "MAX_TRADE_SIZE" for r in refused[0]["reasons"]), refused
    assert page["live"]["usage"]["trades_today"] == 1
    assert client.get("/api/v1/bots/999/page").status_code == 404


def test_bot_page_sends_trades_and_decisions_a_page_at_a_time(client, services) -> None:
    """25 trades (with their fills) per request; ``before`` walks back through all of them."""
    import sqlalchemy as sa

    from coinpilot.store.models import Trade
    from coinpilot.testing.dashboard_seed import seed_dashboard

    (bot,) = seed_dashboard(services.sessions, services.clock.now(), bots=1, trades=60)
    with services.sessions() as s:
        all_ids = list(s.scalars(sa.select(Trade.id).where(Trade.bot_id == bot).order_by(Trade.id.desc())))
    assert len(all_ids) > 50
    page = client.get(f"/api/v1/bots/{bot}/page").json()
    seen = [t["id"] for t in page["trades"]]
    assert len(seen) == 25 and all(t["fills"] for t in page["trades"])
    cursor = page["trades_next_before"]
    while cursor is not None:
        older = client.get(f"/api/v1/bots/{bot}/page/trades", params={"before": cursor}).json()
        assert older["trades"] and all(t["id"] < cursor for t in older["trades"])
        seen += [t["id"] for t in older["trades"]]
        cursor = older["next_before"]
    assert seen == all_ids  # every trade once, newest first
    assert len(client.get(f"/api/v1/bots/{bot}/page", params={"limit": 5}).json()["trades"]) == 5
    assert client.get(f"/api/v1/bots/{bot}/page/trades", params={"limit": 201}).status_code == 422
    assert client.get("/api/v1/bots/999/page/trades").status_code == 404


def test_bot_page_decisions_are_paged_too(client, services) -> None:
    bot, _trade = _bot_with_a_buy(client, services)
    for size in ("99", "98"):  # refused: above the max trade size
        client.post(
            "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": size}, headers=AUTH
        )
    page = client.get(f"/api/v1/bots/{bot}/page", params={"limit": 2}).json()
    assert len(page["safety_decisions"]) == 2 and page["decisions_next_before"] is not None
    rest = client.get(
        f"/api/v1/bots/{bot}/page/decisions", params={"before": page["decisions_next_before"]}
    ).json()
    assert rest["next_before"] is None
    ids = [d["id"] for d in page["safety_decisions"] + rest["safety_decisions"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)


def test_trade_page_shows_every_check_and_the_position_before_and_after(client, services) -> None:
    _bot, trade_id = _bot_with_a_buy(client, services)
    page = client.get(f"/api/v1/trades/{trade_id}/page").json()
    assert page["bot_name"] == "btc"
    assert page["safety"]["allowed"] is True
    assert "cooldown" in page["safety"]["checks"] and len(page["safety"]["checks"]) > 5
    assert page["position_before"] == {"base_size": "0", "cost": "0", "avg_entry_price": None}
    after = page["position_after"]
    filled = sum(Decimal(f["base_size"]) for f in page["trade"]["fills"])
    assert Decimal(after["base_size"]) == filled
    assert client.get("/api/v1/trades/999/page").status_code == 404


def test_token_check_refuses_a_wrong_token_and_accepts_the_right_one(client) -> None:
    assert client.post("/api/v1/auth/check").status_code == 401
    assert client.post("/api/v1/auth/check", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/api/v1/auth/check", headers=AUTH).json() == {"ok": True}


def test_bot_and_trade_deep_links_serve_the_dashboard_and_the_chart_library_is_local(client) -> None:
    for path in ("/bots/1", "/trades/7"):
        r = client.get(path)
        assert r.status_code == 200 and "<title>Coinpilot" in r.text
    assert client.get("/bots/abc").status_code == 422
    js = client.get("/static/vendor/lightweight-charts.standalone.production.js")
    assert js.status_code == 200 and "LightweightCharts" in js.text
    assert "Apache License" in client.get("/static/vendor/lightweight-charts.LICENSE").text


def test_overview_is_shared_within_a_second_and_any_write_refreshes_it(client, services) -> None:
    from coinpilot.api.shared_answer import SharedAnswer
    from coinpilot.store.db import session_scope
    from coinpilot.store.models import Bot

    monotonic = [0.0]  # the shared answer's clock, moved by hand (no background rebuild here)
    client.app.state.overview_answer = SharedAnswer(monotonic=lambda: monotonic[0], background=False)
    first = client.get("/api/v1/bots/status/summary").json()
    assert first["totals"]["bots"] == 0
    client.post("/api/v1/bots", json={"name": "btc", "pair": "BTC-USD"}, headers=AUTH)  # a write
    assert client.get("/api/v1/bots/status/summary").json()["totals"]["bots"] == 1
    with session_scope(services.sessions) as s:  # a change behind the API's back (like the engine)
        s.get(Bot, 1).name = "renamed"
    monotonic[0] = 0.4
    again = client.get("/api/v1/bots/status/summary")
    shared = again.json()
    assert shared["bots"][0]["name"] == "btc"  # the answer computed a moment ago, shared
    assert again.headers["x-answer-age-seconds"] == "0.400" and again.headers["x-answer-stale"] == "false"
    monotonic[0] = 1.0  # one second later
    assert client.get("/api/v1/bots/status/summary").json()["bots"][0]["name"] == "renamed"


def test_overview_and_bot_page_go_gzipped_to_clients_that_accept_it(client, services) -> None:
    from coinpilot.testing.dashboard_seed import seed_dashboard

    ids = seed_dashboard(services.sessions, services.clock.now(), bots=10, trades=40)
    for path in ("/api/v1/bots/status/summary", f"/api/v1/bots/{ids[0]}/page"):
        packed = client.get(path, headers={"Accept-Encoding": "gzip"})
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
        assert int(packed.headers["content-length"]) * 3 < int(plain.headers["content-length"])
        strip = ("live_age_seconds",)
        assert {k: v for k, v in packed.json().items() if k not in strip} == {
            k: v for k, v in plain.json().items() if k not in strip
        }
