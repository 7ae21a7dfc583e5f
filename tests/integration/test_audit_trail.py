"""Audit trail with named tokens: every kind of change with who, when, before and after;
queryable with filters and paging, exported as CSV; tokens several, revocable, hashed."""

from __future__ import annotations

import csv
import io
import json

import sqlalchemy as sa

from coinpilot.store.db import session_scope
from coinpilot.store.models import ApiToken
from coinpilot.store.repos.audit_trail import record_optimisation_applied
from coinpilot.store.repos.tokens import create_token, revoke_token
from tests.conftest import AUTH


def _token(services, name: str) -> dict[str, str]:
    with session_scope(services.sessions) as s:
        secret = create_token(s, name, services.clock.now())
    return {"Authorization": f"Bearer {secret}"}


def _changes(client, **params) -> list[dict]:
    r = client.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_named_token_works_and_is_who_in_the_audit(client, services):
    alice = _token(services, "alice")
    r = client.post(
        "/api/v1/bots", json={"name": "b1", "pair": "BTC-USD", "trade_size_usd": "10"}, headers=alice
    )
    assert r.status_code == 201
    [entry] = _changes(client, action="bot_created")
    assert entry["actor"] == "alice" and entry["bot_id"] == r.json()["id"]
    assert entry["after"]["name"] == "b1" and entry["before"] is None
    assert entry["at"].startswith("2018-06-01")  # the injected clock, UTC


def test_the_configured_token_is_named_default(client):
    client.post("/api/v1/trading/enable", headers=AUTH)
    [entry] = _changes(client, action="state_active")
    assert entry["actor"] == "default"
    assert entry["before"] == {"state": "HALTED"} and entry["after"] == {"state": "ACTIVE"}


def test_a_revoked_token_is_refused_and_the_secret_is_not_stored(client, services):
    bob = _token(services, "bob")
    assert client.post("/api/v1/trading/disable", headers=bob).status_code == 200
    with session_scope(services.sessions) as s:
        revoke_token(s, "bob", services.clock.now())
        stored = s.scalars(sa.select(ApiToken.token_hash)).all()
    assert bob["Authorization"].split()[1] not in stored
    assert client.post("/api/v1/trading/disable", headers=bob).status_code == 401


def test_every_kind_of_bot_change_is_audited_with_before_and_after(client):
    bot = client.post(
        "/api/v1/bots", json={"name": "b1", "pair": "BTC-USD", "trade_size_usd": "10"}, headers=AUTH
    ).json()
    bid = bot["id"]
    assert client.patch(f"/api/v1/bots/{bid}", json={"trade_size_usd": "12"}, headers=AUTH).status_code == 200
    client.post(f"/api/v1/bots/{bid}/start", headers=AUTH)
    client.post(f"/api/v1/bots/{bid}/stop", headers=AUTH)
    assert client.delete(f"/api/v1/bots/{bid}", headers=AUTH).status_code == 204
    entries = list(reversed(_changes(client, bot_id=bid)))
    assert [e["action"] for e in entries] == [
        "bot_created",
        "bot_updated",
        "bot_started",
        "bot_stopped",
        "bot_deleted",
    ]
    updated = entries[1]
    assert updated["before"] == {"trade_size_usd": "10"} and updated["after"] == {"trade_size_usd": "12"}
    assert entries[2]["before"] == {"status": "STOPPED"} and entries[2]["after"] == {"status": "RUNNING"}
    assert entries[4]["before"]["name"] == "b1"
    assert all(e["actor"] == "default" for e in entries)


def test_a_manual_trade_and_a_safety_refusal_are_in_the_trail(client, services):
    bid = client.post(
        "/api/v1/bots", json={"name": "b1", "pair": "BTC-USD", "trade_size_usd": "10"}, headers=AUTH
    ).json()["id"]
    refused = client.post(
        "/api/v1/trades/execute", json={"bot_id": bid, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert refused.status_code == 403  # trading is disabled
    client.post("/api/v1/trading/enable", headers=AUTH)
    placed = client.post(
        "/api/v1/trades/execute", json={"bot_id": bid, "side": "buy", "quote_size": "10"}, headers=AUTH
    )
    assert placed.status_code == 201
    [trade] = _changes(client, action="manual_trade")
    assert trade["actor"] == "default" and trade["after"]["trade_id"] == placed.json()["trade"]["id"]
    assert trade["detail"]["safety_audit_id"] == placed.json()["audit_id"]
    [refusal] = _changes(client, source="refusals", bot_id=bid)
    assert refusal["id"] == refused.json()["audit_id"]
    assert refusal["detail"]["reasons"][0]["code"] == "TRADING_HALTED"


def test_the_optimisation_hook_records_before_and_after(client, services):
    with session_scope(services.sessions) as s:
        record_optimisation_applied(
            s,
            at=services.clock.now(),
            actor="alice",
            mode=services.mode,
            bot_id=7,
            before={"buy_threshold": 0.5},
            after={"buy_threshold": 0.4},
            source="walk-forward run 3",
        )
    [entry] = _changes(client, action="optimisation_applied")
    assert entry["before"] == {"buy_threshold": 0.5} and entry["after"] == {"buy_threshold": 0.4}
    assert entry["detail"]["source"] == "walk-forward run 3"


def test_the_trail_pages_newest_first_and_filters(client):
    for i in range(5):
        client.post("/api/v1/trading/disable", json={"reason": f"r{i}"}, headers=AUTH)
    first = client.get("/api/v1/audit", params={"limit": 2}).json()
    assert [e["detail"]["reason"] for e in first["items"]] == ["r4", "r3"]
    second = client.get("/api/v1/audit", params={"limit": 2, "before_id": first["next_before_id"]}).json()
    assert [e["detail"]["reason"] for e in second["items"]] == ["r2", "r1"]
    assert _changes(client, actor="nobody") == []
    assert len(_changes(client, since="2018-06-01T00:00:00", until="2018-06-02T00:00:00")) == 5
    assert _changes(client, since="2018-06-02T00:00:00") == []


def test_bad_filters_answer_422_naming_the_field(client):
    r = client.get("/api/v1/audit", params={"bot_id": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "bot_id"
    r = client.get("/api/v1/audit", params={"source": "everything"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "source"


def test_the_trail_exports_as_csv(client):
    client.post("/api/v1/trading/disable", json={"reason": 'a, "quoted" reason'}, headers=AUTH)
    r = client.get("/api/v1/audit.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0]["action"] == "state_halted" and rows[0]["actor"] == "default"
    assert json.loads(rows[0]["detail"])["reason"] == 'a, "quoted" reason'


def test_token_names_are_listed_without_secrets(client, services):
    _token(services, "alice")
    names = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in names] == ["default", "alice"]
    assert all("hash" not in str(t) for t in names)


def test_escalation_is_shown_in_the_api_and_approval_needs_a_token(client):
    status = client.get("/api/v1/escalation").json()
    assert status["escalated"] is False and "mock mode is not escalated" in status["note"]
    assert client.post("/api/v1/escalation/approve").status_code == 401
    refused = client.post("/api/v1/escalation/approve", headers=AUTH)
    assert refused.status_code == 409 and "mock mode" in refused.json()["detail"]


def test_a_start_with_new_limits_is_audited_with_before_and_after(session_factory, clock):
    from dataclasses import replace
    from decimal import Decimal

    from coinpilot.domain.limits import SafetyLimits
    from coinpilot.domain.types import TradingMode
    from coinpilot.engine.audit import record_limits_if_changed
    from coinpilot.store.db import read_session
    from coinpilot.store.repos.audit_trail import query

    first = SafetyLimits()
    assert record_limits_if_changed(session_factory, clock, TradingMode.MOCK, first)
    assert not record_limits_if_changed(session_factory, clock, TradingMode.MOCK, first)  # unchanged
    stricter = replace(first, max_trade_usd=Decimal("15"))
    assert record_limits_if_changed(session_factory, clock, TradingMode.MOCK, stricter)
    with read_session(session_factory) as s:
        latest, initial = query(s, action="limits_changed")
    assert latest["actor"] == "configuration"
    assert latest["before"] == {"max_trade_usd": "25"} and latest["after"] == {"max_trade_usd": "15"}
    assert initial["before"] is None and initial["after"]["max_trade_usd"] == "25"
