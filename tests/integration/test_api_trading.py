"""Trading API: the switch, manual trades through safety, bad input, emergency stop, reads."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coinpilot.store.models import SafetyAudit, Trade
from tests.conftest import AUTH


def make_bot(client, pair: str = "BTC-USD", name: str = "btc") -> int:
    r = client.post("/api/v1/bots", json={"name": name, "pair": pair, "trade_size_usd": "10"}, headers=AUTH)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def count(engine: sa.Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_trading_starts_halted_and_a_trade_is_refused_with_its_reason(client, engine) -> None:
    bot = make_bot(client)
    status = client.get("/api/v1/trading/status").json()
    assert (status["state"], status["reason"]) == ("HALTED", "not enabled yet")
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 403
    body = r.json()
    assert body["allowed"] is False
    assert body["mode"] == "mock"
    assert any("halted" in reason["message"].lower() for reason in body["decision"]["reasons"])
    assert count(engine, Trade) == 0
    assert count(engine, SafetyAudit) == 1


def test_enable_requires_the_token_and_is_audited(client) -> None:
    assert client.post("/api/v1/trading/enable").status_code == 401
    r = client.post("/api/v1/trading/enable", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["state"] == "ACTIVE"
    events = client.get("/api/v1/trading/events").json()
    assert events[0]["action"] == "state_active"
    assert events[0]["actor"] == "default"  # the configured token's name


def test_manual_buy_is_filled_settled_and_builds_a_tranche(client, services) -> None:
    bot = make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    trade = r.json()["trade"]
    assert trade["mode"] == "mock"
    assert trade["client_order_id"]
    services.sync.sync_all()
    t = client.get(f"/api/v1/trades/{trade['id']}").json()
    assert t["status"] == "SETTLED"
    assert t["fills"], t
    from decimal import Decimal

    assert Decimal(t["filled_value"]) + Decimal(t["fees"]) <= Decimal("10")
    assert t["safety_decision"]["allowed"] is True
    pos = client.get(f"/api/v1/bots/{bot}/position").json()
    assert pos["status"] in {"BUILDING", "OPEN"}
    assert len(pos["tranches"]) == 1
    assert Decimal(pos["base_size"]) == Decimal(t["filled_base_size"])
    assert pos["unrealized_pnl"] is not None
    listed = client.get(f"/api/v1/bots/{bot}/trades?limit=5").json()
    assert [x["id"] for x in listed] == [trade["id"]]


BAD_TRADES = [
    ("negative", {"side": "buy", "quote_size": "-5"}, "quote_size"),
    ("zero", {"side": "buy", "quote_size": "0"}, "quote_size"),
    ("nan", {"side": "buy", "quote_size": "NaN"}, "quote_size"),
    ("infinite", {"side": "buy", "quote_size": "Infinity"}, "quote_size"),
    ("not_a_number", {"side": "buy", "quote_size": "ten dollars"}, "quote_size"),
    ("oversized_exponent", {"side": "buy", "quote_size": "1e400"}, "quote_size"),
    ("both_sizes", {"side": "buy", "quote_size": "10", "base_size": "0.001"}, ""),
    ("no_size", {"side": "buy"}, ""),
    ("bad_side", {"side": "hold", "quote_size": "10"}, "side"),
    ("unknown_field", {"side": "buy", "quote_size": "10", "price": "1"}, "price"),
]


@pytest.mark.parametrize(("case", "extra", "field"), BAD_TRADES, ids=[c[0] for c in BAD_TRADES])
def test_bad_trade_input_is_422_naming_the_field_and_records_no_trade(
    client, engine, case, extra, field
) -> None:
    bot = make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post("/api/v1/trades/execute", json={"bot_id": bot, **extra}, headers=AUTH)
    assert r.status_code == 422, r.text
    locs = [".".join(str(p) for p in d["loc"][1:]) for d in r.json()["detail"]]
    assert any(field in loc for loc in locs), locs
    assert count(engine, Trade) == 0


def test_unknown_bot_is_refused_without_a_trade(client, engine) -> None:
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": 999, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code in (404, 422)
    assert count(engine, Trade) == 0


def test_size_below_product_minimum_is_refused(client, engine) -> None:
    bot = make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "0.50"}, headers=AUTH
    )
    assert r.status_code in (403, 422)
    assert count(engine, Trade) == 0


def test_emergency_stop_halts_survives_a_restart_and_release_gives_reducing(
    client, settings, services
) -> None:
    bot = make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post("/api/v1/safety/emergency-stop", json={"reason": "test"}, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["state"]["state"] == "HALTED"
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 403
    # A second process on the same database (a restart) sees the stop.
    from coinpilot.services import build_services

    again = build_services(settings, clock=services.clock, migrate=False)
    try:
        assert again.control.state()["state"] == "HALTED"
    finally:
        again.close()
    r = client.post("/api/v1/safety/emergency-release", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["state"] == "REDUCING"
    assert client.post("/api/v1/safety/emergency-release", headers=AUTH).status_code == 409
    status = client.get("/api/v1/safety/status").json()
    assert status["state"] == "REDUCING"
    assert status["limits"]["max_trade_usd"] == "25"


def test_validate_is_a_dry_run_that_is_audited(client, engine) -> None:
    bot = make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/validate", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 200
    assert r.json()["allowed"] is True
    assert count(engine, Trade) == 0
    assert count(engine, SafetyAudit) == 1
    audit = client.get("/api/v1/safety/audit").json()
    assert audit[0]["allowed"] is True


def test_production_mode_without_keys_refuses_to_start(settings) -> None:
    from coinpilot.services import StartupError, build_services

    prod = settings.model_copy(update={"trading_mode": "production"})
    with pytest.raises(StartupError, match="API keys"):
        build_services(prod, migrate=False)


def test_gets_on_a_fresh_database_change_nothing(client, engine) -> None:
    """GET endpoints are pure in every case: drift used to seed the paper balances."""
    from tests.integration.test_api_bots import database_fingerprint

    before = database_fingerprint(engine)
    for url in (
        "/api/v1/safety/drift",
        "/api/v1/safety/status",
        "/api/v1/trading/status",
        "/api/v1/bots/status/summary",
        "/api/v1/trades",
        "/api/v1/health",
    ):
        assert client.get(url).status_code == 200, url
    assert database_fingerprint(engine) == before


def test_drift_on_a_fresh_database_reports_the_starting_balance(client) -> None:
    r = client.get("/api/v1/safety/drift")
    assert r.status_code == 200
    assert r.json() == []


def test_trading_state_endpoint_sets_each_state_with_token_and_reason(client) -> None:
    body = {"state": "REDUCING", "reason": "volatile"}
    assert client.post("/api/v1/trading/state", json=body).status_code == 401
    r = client.post("/api/v1/trading/state", json=body, headers=AUTH)
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["reason"], r.json()["by"]) == ("REDUCING", "volatile", "default")
    assert client.get("/api/v1/trading/state").json()["state"] == "REDUCING"
    for state in ("ACTIVE", "HALTED"):
        assert (
            client.post("/api/v1/trading/state", json={"state": state}, headers=AUTH).json()["state"] == state
        )
    events = client.get("/api/v1/trading/events").json()
    assert [e["action"] for e in events[:3]] == ["state_halted", "state_active", "state_reducing"]


def test_an_unknown_trading_state_is_a_422_naming_the_field_and_changes_nothing(client) -> None:
    r = client.post("/api/v1/trading/state", json={"state": "PANIC"}, headers=AUTH)
    assert r.status_code == 422
    assert "state" in str(r.json()["detail"][0]["loc"])
    assert client.get("/api/v1/trading/state").json()["state"] == "HALTED"
