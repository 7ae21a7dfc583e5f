"""Analytics and CSV export over real paper round trips: figures match the trades, modes apart."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from tests.conftest import AUTH
from tests.integration.test_api_bots import new_bot


def round_trip(client: Any, services: Any, clock: Any, bot_id: int, hours: float) -> None:
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot_id, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()
    size = client.get(f"/api/v1/trades/{r.json()['trade']['id']}").json()["filled_base_size"]
    clock.advance(hours * 3600)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot_id, "side": "sell", "base_size": size}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()
    clock.advance(24 * 3600)  # past the cooldown and into the next day


def test_report_figures_match_the_settled_trades_and_production_stays_apart(
    client, services, replay_clock
) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(cooldown_minutes=0), headers=AUTH).json()
    client.post("/api/v1/trading/enable", headers=AUTH)
    for hours in (5, 30, 60):
        round_trip(client, services, replay_clock, bot["id"], hours)
    trades = client.get("/api/v1/trades", params={"limit": 100}).json()
    trades = trades["items"] if isinstance(trades, dict) else trades
    realised = [Decimal(t["realized_pnl"]) for t in trades if t.get("realized_pnl") is not None]
    fees = sum((Decimal(t["fees"]) for t in trades), Decimal(0))
    assert len(realised) == 3

    report = client.get("/api/v1/analytics").json()
    mock = report["modes"]["mock"]
    assert mock["stats"]["count"] == 3
    assert Decimal(mock["stats"]["total_pnl"]) == sum(realised, Decimal(0))
    assert mock["stats"]["wins"] == sum(1 for p in realised if p > 0)
    assert Decimal(mock["fees"]) == fees
    assert Decimal(mock["equity_curve"][-1]["pnl"]) == sum(realised, Decimal(0))
    assert Decimal(mock["pnl_by_bot"]["btc-bot"]) == sum(realised, Decimal(0))
    assert set(mock["pnl_by_exit_reason"]) == {"manual"}
    assert len(mock["pnl_by_period"]["day"]) == 3  # one exit per day
    assert report["modes"]["production"]["stats"]["count"] == 0  # never summed with mock
    assert report["backtest"] is None
    assert client.get("/api/v1/analytics", params={"bot_id": 999}).status_code == 404


def test_csv_exports_hold_every_trade_and_fill_with_exact_decimals(client, services, replay_clock) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(cooldown_minutes=0), headers=AUTH).json()
    client.post("/api/v1/trading/enable", headers=AUTH)
    round_trip(client, services, replay_clock, bot["id"], 5)
    r = client.get("/api/v1/export/trades.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["side"] for row in rows] == ["buy", "sell"]
    assert rows[1]["realized_pnl"] and Decimal(rows[1]["realized_pnl"]) == Decimal(
        client.get(f"/api/v1/trades/{rows[1]['id']}").json()["realized_pnl"]
    )
    fills = list(csv.DictReader(io.StringIO(client.get("/api/v1/export/fills.csv").text)))
    assert len(fills) >= 2 and {f["bot"] for f in fills} == {"btc-bot"}
    assert client.get("/api/v1/export/trades.csv", params={"mode": "production"}).text.count("\n") == 1


def test_signal_accuracy_counts_calls_from_stored_evaluations(client, replay_clock) -> None:
    bot = client.post("/api/v1/bots", json=new_bot(), headers=AUTH).json()
    for _ in range(8):
        client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)
        replay_clock.advance(3600)
    replay_clock.advance(5 * 3600)
    body = client.get(f"/api/v1/analytics/signal-accuracy/{bot['id']}", params={"horizon": 2}).json()
    assert body["evaluations"] == 8
    assert {s["signal"] for s in body["signals"]} == {"rsi", "ma_crossover", "macd"}
    for s in body["signals"]:
        assert 0 <= s["correct"] <= s["calls"] <= 8
    assert any(s["calls"] > 0 for s in body["signals"])


def test_cli_export_writes_the_same_csv_as_the_api(
    client, services, replay_clock, settings, tmp_path, monkeypatch
) -> None:
    from coinpilot.cli.main import _register_optional, app, run_cli

    bot = client.post("/api/v1/bots", json=new_bot(cooldown_minutes=0), headers=AUTH).json()
    client.post("/api/v1/trading/enable", headers=AUTH)
    round_trip(client, services, replay_clock, bot["id"], 5)
    monkeypatch.setenv("COINPILOT_HOME", str(settings.home))
    monkeypatch.setenv("COINPILOT_DATABASE_URL", settings.resolved_database_url)
    _register_optional()
    for what in ("trades", "fills"):
        out = tmp_path / f"{what}.csv"
        assert run_cli(app, ["export", what, "--csv", str(out)]) == 0
        assert out.read_text() == client.get(f"/api/v1/export/{what}.csv").text
        assert run_cli(app, ["export", what, "--csv", str(out)]) == 1  # never overwrites silently
