"""GET /metrics after a scripted session: order counts equal the trades made, refusals equal the
refused requests by reason, positions and latencies are there, and a restart keeps the counts
(they come from the database, not from memory)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from coinpilot.config import LimitsConfig, Settings
from coinpilot.store.models import Position
from tests.conftest import API_TOKEN, AUTH


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        api_token=API_TOKEN,
        paper_fill_delay_seconds=0,
        candle_cache_ttl_seconds=0,
        limits=LimitsConfig(cooldown_minutes=0),
    )


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(got: dict, name: str, **labels: str) -> float:
    return got.get((name, frozenset(labels.items())), 0.0)


def execute(client: TestClient, bot: int, side: str, **size: str) -> dict:
    r = client.post("/api/v1/trades/execute", json={"bot_id": bot, "side": side, **size}, headers=AUTH)
    assert r.status_code in (201, 403), r.text
    return r.json()


def test_metrics_after_a_scripted_session_equal_what_was_traded(client, services, settings) -> None:
    bots = {}
    for name, pair in (("btc", "BTC-USD"), ("eth", "ETH-USD")):
        r = client.post(
            "/api/v1/bots", json={"name": name, "pair": pair, "trade_size_usd": "10"}, headers=AUTH
        )
        bots[name] = r.json()["id"]
    refused: Counter[str] = Counter()

    def note_refusal(body: dict) -> None:
        assert body["allowed"] is False
        for reason in body["decision"]["reasons"]:
            refused[reason["code"]] += 1

    note_refusal(execute(client, bots["btc"], "buy", quote_size="10"))  # trading still disabled
    client.post("/api/v1/trading/enable", headers=AUTH)
    for name in ("btc", "eth"):
        assert execute(client, bots[name], "buy", quote_size="10")["trade"]
        services.sync.sync_all()
    note_refusal(execute(client, bots["eth"], "buy", quote_size="1000"))  # above the max trade
    with services.sessions() as s:
        btc_size = s.scalar(sa.select(Position.base_size).where(Position.bot_id == bots["btc"]))
    assert execute(client, bots["btc"], "sell", base_size=str(btc_size))["trade"]
    services.sync.sync_all()

    got = samples(client)
    assert value(got, "coinpilot_orders_total", mode="mock", side="buy", state="SETTLED") == 2
    assert value(got, "coinpilot_orders_total", mode="mock", side="sell", state="SETTLED") == 1
    assert value(got, "coinpilot_orders_in_flight", mode="mock", side="buy", state="PENDING") == 0
    assert refused and sum(refused.values()) >= 2
    for code, n in refused.items():
        assert value(got, "coinpilot_safety_refusals_total", mode="mock", reason=code) == n
    assert value(got, "coinpilot_trading_state", mode="mock", state="ACTIVE") == 1
    assert value(got, "coinpilot_bots", status="STOPPED", temperature="unknown") == 2
    assert value(got, "coinpilot_open_positions", mode="mock") == 1
    with services.sessions() as s:
        eth = s.scalars(sa.select(Position).where(Position.bot_id == bots["eth"])).one()
    key = {"bot": "eth", "pair": "ETH-USD", "mode": "mock"}
    assert Decimal(str(value(got, "coinpilot_position_cost_usd", **key))) == eth.cost.quantize(
        Decimal("1e-8")
    )
    assert value(got, "coinpilot_exposure_usd", mode="mock") == pytest.approx(float(eth.cost))
    bid = services.market.get_best_bid_ask(["ETH-USD"])["ETH-USD"].bid
    assert value(got, "coinpilot_position_unrealized_pnl_usd", **key) == pytest.approx(
        float(eth.base_size * bid - eth.cost)
    )
    assert value(got, "coinpilot_order_ack_seconds_count", mode="mock", side="buy") == 2
    assert value(got, "coinpilot_order_ack_seconds_count", mode="mock", side="sell") == 1
    assert value(got, "coinpilot_order_fill_seconds_count", mode="mock", side="buy") == 2
    assert value(got, "coinpilot_order_sync_lag_seconds", mode="mock") == 0
    assert value(got, "coinpilot_database_up") == 1
    # a scrape is idempotent: counting the audit rows twice would double the refusals
    again = samples(client)
    for code, n in refused.items():
        assert value(again, "coinpilot_safety_refusals_total", mode="mock", reason=code) == n


def test_a_restart_keeps_the_database_backed_counts(client, services, settings, replay_clock) -> None:
    from coinpilot.api.app import create_app
    from coinpilot.services import build_services

    bot = client.post(
        "/api/v1/bots", json={"name": "btc", "pair": "BTC-USD", "trade_size_usd": "10"}, headers=AUTH
    ).json()["id"]
    (reason,) = execute(client, bot, "buy", quote_size="10")["decision"]["reasons"]  # disabled
    client.post("/api/v1/trading/enable", headers=AUTH)
    execute(client, bot, "buy", quote_size="10")
    services.sync.sync_all()
    before = samples(client)
    restarted = build_services(settings, clock=replay_clock, migrate=False)
    try:
        with TestClient(create_app(settings, restarted), base_url="http://127.0.0.1:8000") as fresh:
            after = samples(fresh)
    finally:
        restarted.close()
    for name, labels in (
        ("coinpilot_orders_total", {"mode": "mock", "side": "buy", "state": "SETTLED"}),
        ("coinpilot_safety_refusals_total", {"mode": "mock", "reason": reason["code"]}),
    ):
        assert value(after, name, **labels) == value(before, name, **labels) == 1
    # in-flight measurements are per process: the new one has seen no order yet
    assert value(after, "coinpilot_order_ack_seconds_count", mode="mock", side="buy") == 0


def test_two_apps_in_one_process_do_not_share_counters(services, settings, replay_clock) -> None:
    from coinpilot.services import build_services

    other = build_services(settings, clock=replay_clock, migrate=False)
    try:
        services.telemetry.exchange_request("get order", "429", 0.01)
        assert services.telemetry.registry is not other.telemetry.registry
        mine = services.telemetry.registry.get_sample_value(
            "coinpilot_exchange_requests_total", {"endpoint": "get order", "status": "429"}
        )
        theirs = other.telemetry.registry.get_sample_value(
            "coinpilot_exchange_requests_total", {"endpoint": "get order", "status": "429"}
        )
        assert (mine, theirs) == (1.0, None)
    finally:
        other.close()


def test_database_errors_are_counted(services) -> None:
    with pytest.raises(sa.exc.DBAPIError) as info, services.engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    error = type(info.value.orig).__name__  # the driver's own error type
    assert (
        services.telemetry.registry.get_sample_value("coinpilot_database_errors_total", {"error": error})
        == 1.0
    )


def test_the_grafana_dashboard_uses_only_metrics_that_exist(client, services) -> None:
    import json
    import re

    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"coinpilot_[a-z_]+", target["expr"])
    }
    exposed: set[str] = set()
    for family in text_string_to_metric_families(client.get("/metrics").text):
        exposed.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [])
        exposed.update(family.name + s for s in suffixes)
    assert used and used <= exposed, f"the dashboard asks for metrics nobody exports: {used - exposed}"


def test_archived_bots_are_not_counted_as_live_bots_by_status(client, services) -> None:
    """An archived bot is STOPPED in its row but gone from the overview, the bot lists and the
    engine: the status gauge counts the bots a person sees, and archives get their own count."""
    from datetime import UTC, datetime

    from coinpilot.store.models import Bot

    def create(name: str, pair: str) -> int:
        r = client.post(
            "/api/v1/bots", json={"name": name, "pair": pair, "trade_size_usd": "10"}, headers=AUTH
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    old = create("btc", "BTC-USD")
    with services.sessions() as s, s.begin():  # archived (the archiving itself is tested elsewhere)
        s.execute(sa.update(Bot).where(Bot.id == old).values(archived_at=datetime(2026, 1, 1, tzinfo=UTC)))
    create("btc", "BTC-USD")  # its successor, STOPPED
    assert client.post(f"/api/v1/bots/{create('eth', 'ETH-USD')}/start", headers=AUTH).status_code == 200

    got = samples(client)
    assert value(got, "coinpilot_bots", status="STOPPED", temperature="unknown") == 1  # the successor only
    assert value(got, "coinpilot_bots", status="RUNNING", temperature="unknown") == 1
    live = sum(v for (name, _), v in got.items() if name == "coinpilot_bots")
    assert live == 2 == len(client.get("/api/v1/bots").json())  # what the bot list shows
    assert value(got, "coinpilot_archived_bots") == 1
