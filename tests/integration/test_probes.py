"""/health answers while the process runs; /ready answers 503 naming each failing part:
database, migrations, start-up reconciliation, exchange, order-sync lag."""

from __future__ import annotations

import sqlalchemy as sa

from coinpilot.domain.types import TradingMode
from tests.conftest import AUTH


def ready(client) -> tuple[int, dict]:
    r = client.get("/ready")
    return r.status_code, r.json()


def test_health_is_up_even_before_reconciliation(client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_not_ready_until_reconciliation_finished_and_order_sync_runs(client, services) -> None:
    code, body = ready(client)
    assert code == 503
    assert body["failing"] == ["reconciliation"]
    services.reconciled = True
    code, body = ready(client)
    assert code == 503 and body["failing"] == ["order_sync"]
    assert "not running" in body["checks"]["order_sync"]["detail"]
    services.sync.start()
    try:
        code, body = ready(client)
        assert code == 200, body
        assert body["ready"] is True and body["failing"] == []
        assert body["checks"]["exchange"]["detail"] == "paper exchange (mock mode)"
        assert body["trading_state"] == "HALTED"
    finally:
        services.sync.stop()


def test_an_order_waiting_too_long_for_sync_makes_it_not_ready(client, services, replay_clock) -> None:
    services.reconciled = True
    # order sync is not started: nothing moves the order on while the clock runs ahead
    bot = client.post(
        "/api/v1/bots", json={"name": "b", "pair": "BTC-USD", "trade_size_usd": "10"}, headers=AUTH
    ).json()["id"]
    client.post("/api/v1/trading/enable", headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert r.status_code == 201
    replay_clock.advance(services.settings.sync_lag_limit_seconds + 5)
    code, body = ready(client)
    assert code == 503
    assert "order_sync" in body["failing"]
    assert "lag" in body["checks"]["order_sync"]["detail"]
    services.sync.sync_all()
    services.sync.start()
    try:
        code, body = ready(client)
        assert code == 200, body
    finally:
        services.sync.stop()


def test_an_old_schema_revision_is_named(client, services, engine) -> None:
    from coinpilot.store.migrate import head_revision

    services.reconciled = True
    update = sa.text("UPDATE alembic_version SET version_num = :v")
    with engine.begin() as conn:
        conn.execute(update, {"v": "0001"})
    try:
        code, body = ready(client)
    finally:
        with engine.begin() as conn:  # alembic_version outlives the per-test reset on PostgreSQL
            conn.execute(update, {"v": head_revision()})
    assert code == 503
    assert "migrations" in body["failing"]
    assert "coinpilot db upgrade" in body["checks"]["migrations"]["detail"]


def test_an_unreachable_database_is_named(client, services) -> None:
    services.reconciled = True
    working = services.engine
    services.engine = sa.create_engine("sqlite:////dev/null/unreachable.db")
    try:
        code, body = ready(client)
    finally:
        services.engine.dispose()
        services.engine = working
    assert code == 503
    assert {"database", "migrations", "order_sync"} <= set(body["failing"])


def test_production_names_an_unreachable_exchange(client, services) -> None:
    from coinpilot.api.probes import readiness

    services.reconciled = True
    services.settings = services.settings.model_copy(update={"trading_mode": TradingMode.PRODUCTION})
    assert readiness(services)["exchange"]["ok"] is True  # nothing asked yet
    services.telemetry.exchange_request("list accounts", "200", 0.01)
    services.telemetry.exchange_request("get order", "503", 0.01)
    check = readiness(services)["exchange"]
    assert check["ok"] is False and "get order: 503" in check["detail"]
    services.telemetry.exchange_request("get order", "200", 0.01)
    assert readiness(services)["exchange"]["ok"] is True


def test_the_last_log_lines_are_served_redacted_and_filtered(client, settings) -> None:
    import logging

    from coinpilot.logs import configure_logging

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging(settings)
        log = logging.getLogger("coinpilot.test")
        log.info("order sent", extra={"client_order_id": "c-42"})
        log.warning("token %s leaked?", settings.api_token.get_secret_value())
        body = client.get("/api/v1/logs", params={"lines": 2}).json()
        assert [line["message"] for line in body["lines"]] == ["order sent", "token [REDACTED] leaked?"]
        assert body["lines"][0]["client_order_id"] == "c-42"
        warnings = client.get("/api/v1/logs", params={"level": "WARNING"}).json()["lines"]
        assert [line["level"] for line in warnings] == ["WARNING"]
        r = client.get("/api/v1/logs", params={"lines": 0})
        assert r.status_code == 422 and "lines" in r.text
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
