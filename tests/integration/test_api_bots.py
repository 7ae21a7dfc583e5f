"""Bot API: CRUD, validation (422 naming the field, nothing stored), one bot per pair, polling."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import sqlalchemy as sa

from coinpilot.store.models import Base
from tests.conftest import AUTH


def new_bot(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "btc-bot", "pair": "BTC-USD", "trade_size_usd": "10"}
    body.update(over)
    return body


def table_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


def database_fingerprint(engine: sa.Engine) -> str:
    """A hash of every row of every table: equal fingerprints mean nothing changed."""
    h = hashlib.sha256()
    with engine.connect() as conn:
        for t in Base.metadata.sorted_tables:
            rows = conn.execute(sa.select(t).order_by(*t.primary_key.columns)).all()
            h.update(t.name.encode())
            h.update(json.dumps([list(map(str, r)) for r in rows]).encode())
    return h.hexdigest()


def test_create_bot_returns_it_stopped_with_defaults(client) -> None:
    r = client.post("/api/v1/bots", json=new_bot(), headers=AUTH)
    assert r.status_code == 201, r.text
    bot = r.json()
    assert bot["status"] == "STOPPED"
    assert bot["pair"] == "BTC-USD"
    assert bot["max_tranches"] == 3
    assert bot["trade_size_usd"] == "10"
    assert set(bot["signal_config"]) == {"rsi", "ma_crossover", "macd", "min_data_weight"}
    assert bot["signal_config"]["min_data_weight"] == 1.0


def test_create_bot_requires_token(client, engine) -> None:
    r = client.post("/api/v1/bots", json=new_bot())
    assert r.status_code == 401
    r = client.post("/api/v1/bots", json=new_bot(), headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert table_counts(engine)["bots"] == 0


def test_second_bot_on_same_pair_is_refused_with_409(client, engine) -> None:
    assert client.post("/api/v1/bots", json=new_bot(), headers=AUTH).status_code == 201
    r = client.post("/api/v1/bots", json=new_bot(name="other"), headers=AUTH)
    assert r.status_code == 409
    assert "one bot per pair" in r.json()["detail"]
    assert r.json()["field"] == "pair"
    assert table_counts(engine)["bots"] == 1


def test_duplicate_name_is_refused_with_409(client) -> None:
    client.post("/api/v1/bots", json=new_bot(), headers=AUTH)
    r = client.post("/api/v1/bots", json=new_bot(pair="ETH-USD"), headers=AUTH)
    assert r.status_code == 409
    assert r.json()["field"] == "name"


def sig(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "rsi": {"enabled": True, "weight": 0.4, "period": 14, "oversold": 30, "overbought": 70},
        "ma_crossover": {"enabled": True, "weight": 0.3, "fast_period": 10, "slow_period": 30},
        "macd": {"enabled": True, "weight": 0.3, "fast_period": 12, "slow_period": 26, "signal_period": 9},
    }
    for path, value in over.items():
        section, key = path.split("__")
        cfg[section][key] = value
    return cfg


INVALID_BOTS = [
    ("weights_do_not_sum_to_one", {"signal_config": sig(rsi__weight=0.5)}, "signal_config"),
    ("rsi_period_too_small", {"signal_config": sig(rsi__period=1)}, "signal_config.rsi.period"),
    ("rsi_period_too_large", {"signal_config": sig(rsi__period=500)}, "signal_config.rsi.period"),
    (
        "ma_slow_not_above_fast",
        {"signal_config": sig(ma_crossover__slow_period=10)},
        "signal_config.ma_crossover",
    ),
    ("macd_slow_not_above_fast", {"signal_config": sig(macd__slow_period=12)}, "signal_config.macd"),
    ("rsi_overbought_below_oversold", {"signal_config": sig(rsi__overbought=20)}, "signal_config.rsi"),
    ("buy_threshold_zero", {"buy_threshold": 0}, "buy_threshold"),
    ("buy_threshold_above_one", {"buy_threshold": 1.5}, "buy_threshold"),
    ("sell_threshold_negative", {"sell_threshold": -0.2}, "sell_threshold"),
    (
        "no_signal_enabled",
        {"signal_config": sig(rsi__enabled=False, ma_crossover__enabled=False, macd__enabled=False)},
        "signal_config",
    ),
    ("unknown_signal_key", {"signal_config": {**sig(), "bollinger": {"enabled": True}}}, "signal_config"),
    ("unknown_nested_key", {"signal_config": sig(rsi__colour="red")}, "signal_config.rsi"),
    ("unknown_top_level_key", {"colour": "red"}, "colour"),
    ("trade_size_above_cap", {"trade_size_usd": "5000"}, "trade_size_usd"),
    ("trade_size_negative", {"trade_size_usd": "-5"}, "trade_size_usd"),
    ("trade_size_not_a_number", {"trade_size_usd": "ten"}, "trade_size_usd"),
    ("bad_pair", {"pair": "btcusd"}, "pair"),
    ("max_tranches_zero", {"max_tranches": 0}, "max_tranches"),
    ("confirmation_negative", {"confirmation_minutes": -1}, "confirmation_minutes"),
    ("stop_loss_over_100", {"stop_loss_pct": "150"}, "stop_loss_pct"),
]


@pytest.mark.parametrize(("case", "override", "field"), INVALID_BOTS, ids=[c[0] for c in INVALID_BOTS])
def test_invalid_bot_is_refused_with_422_naming_the_field(client, engine, case, override, field) -> None:
    r = client.post("/api/v1/bots", json=new_bot(**override), headers=AUTH)
    assert r.status_code == 422, r.text
    locs = [".".join(str(p) for p in d["loc"][1:]) for d in r.json()["detail"]]
    assert any(loc.startswith(field) for loc in locs), (field, locs)
    assert table_counts(engine)["bots"] == 0


def test_update_validates_the_merged_bot_and_changes_nothing_on_error(client) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    r = client.patch(f"/api/v1/bots/{bot['id']}", json={"buy_threshold": 2}, headers=AUTH)
    assert r.status_code == 422
    assert client.get(f"/api/v1/bots/{bot['id']}").json()["buy_threshold"] == bot["buy_threshold"]
    r = client.patch(f"/api/v1/bots/{bot['id']}", json={"buy_threshold": 0.7}, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["buy_threshold"] == 0.7


def test_unknown_bot_is_404(client) -> None:
    assert client.get("/api/v1/bots/999").status_code == 404
    assert client.post("/api/v1/bots/999/start", headers=AUTH).status_code == 404


def test_start_stop_and_stop_all(client) -> None:
    a = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    b = client.post("/api/v1/bots", json=new_bot(name="eth", pair="ETH-USD"), headers=AUTH).json()
    assert client.post(f"/api/v1/bots/{a['id']}/start", headers=AUTH).json()["status"] == "RUNNING"
    assert client.post(f"/api/v1/bots/{b['id']}/start", headers=AUTH).json()["status"] == "RUNNING"
    assert client.post(f"/api/v1/bots/{a['id']}/stop", headers=AUTH).json()["status"] == "STOPPED"
    r = client.post("/api/v1/bots/stop-all", headers=AUTH)
    assert r.json()["stopped"] == [b["id"]]
    assert {x["status"] for x in client.get("/api/v1/bots").json()} == {"STOPPED"}


def test_evaluate_returns_breakdown_temperature_and_confirmation(client) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    r = client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)
    assert r.status_code == 200, r.text
    ev = r.json()
    assert -1 <= ev["score"] <= 1
    assert {s["name"] for s in ev["signals"]} == {"rsi", "ma_crossover", "macd"}
    assert sum(s["contribution"] for s in ev["signals"]) == pytest.approx(ev["score"])
    assert ev["temperature"]["level"] in {"frozen", "cool", "warm", "hot"}
    assert 0 <= ev["confirmation"]["progress"] <= 1
    history = client.get(f"/api/v1/bots/{bot['id']}/signal-history").json()
    assert len(history) == 1
    assert history[0]["score"] == ev["score"]


def test_confirmation_reset_clears_the_timer(client, replay_clock) -> None:
    bot = client.post(
        "/api/v1/bots", json=new_bot(buy_threshold=0.01, sell_threshold=0.01), headers=AUTH
    ).json()
    ev = client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH).json()
    conf = client.get(f"/api/v1/bots/{bot['id']}/confirmation").json()
    if ev["action"] != "hold":
        assert conf["action"] == ev["action"]
    r = client.post(f"/api/v1/bots/{bot['id']}/confirmation/reset", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["action"] is None
    assert r.json()["progress"] == 0


def test_polling_get_endpoints_leaves_the_database_unchanged(client, engine, replay_clock) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    client.post(f"/api/v1/bots/{bot['id']}/start", headers=AUTH)
    client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)
    before = database_fingerprint(engine)
    replay_clock.advance(3600)
    for path in [
        "/api/v1/health",
        "/api/v1/bots",
        f"/api/v1/bots/{bot['id']}",
        "/api/v1/bots/temperatures",
        "/api/v1/bots/status/summary",
        f"/api/v1/bots/{bot['id']}/confirmation",
        f"/api/v1/bots/{bot['id']}/signal-history",
        "/api/v1/market/products",
        "/api/v1/market/candles/BTC-USD",
        "/api/v1/market/best-bid-ask/BTC-USD",
    ]:
        for _ in range(3):
            assert client.get(path).status_code == 200, path
    assert database_fingerprint(engine) == before


def test_summary_has_everything_the_dashboard_polls(client) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)
    s = client.get("/api/v1/bots/status/summary").json()
    assert s["mode"] == "mock"
    assert s["trading"]["state"] == "HALTED" and s["trading"]["reason"] == "not enabled yet"
    assert {"trades_today", "max_daily_trades", "realized_pnl_today"} <= set(s["safety"])
    row = s["bots"][0]
    assert row["temperature"]["emoji"]
    assert row["confirmation"]["required_seconds"] == bot["confirmation_minutes"] * 60
    assert row["signals"]


def test_openapi_docs_are_served(client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/bots/status/summary" in spec["paths"]
