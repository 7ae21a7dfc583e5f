"""A person pauses a RUNNING bot: PAUSED with the reason recorded, audited with the token's name;
any other status is a 409 naming it; a start (resume) takes the PAUSED bot back to RUNNING."""

from __future__ import annotations

from coinpilot.store.db import session_scope
from coinpilot.store.repos.tokens import create_token
from tests.conftest import AUTH


def _bot(client) -> int:
    r = client.post(
        "/api/v1/bots", json={"name": "b1", "pair": "BTC-USD", "trade_size_usd": "10"}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_pause_takes_a_running_bot_to_paused_with_the_reason_and_resume_brings_it_back(client) -> None:
    bid = _bot(client)
    assert client.post(f"/api/v1/bots/{bid}/start", headers=AUTH).json()["status"] == "RUNNING"
    r = client.post(f"/api/v1/bots/{bid}/pause", json={"reason": "news at 14:00"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAUSED"
    assert "news at 14:00" in r.json()["status_reason"]
    assert client.get(f"/api/v1/bots/{bid}").json()["status"] == "PAUSED"
    assert client.post(f"/api/v1/bots/{bid}/start", headers=AUTH).json()["status"] == "RUNNING"


def test_pause_without_a_body_records_who_paused(client) -> None:
    bid = _bot(client)
    client.post(f"/api/v1/bots/{bid}/start", headers=AUTH)
    r = client.post(f"/api/v1/bots/{bid}/pause", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAUSED" and "paused by default" in r.json()["status_reason"]


def test_pausing_a_stopped_or_paused_bot_is_a_409_naming_the_status(client) -> None:
    bid = _bot(client)
    r = client.post(f"/api/v1/bots/{bid}/pause", headers=AUTH)
    assert r.status_code == 409
    assert r.json()["field"] == "status" and "STOPPED" in r.json()["detail"]
    client.post(f"/api/v1/bots/{bid}/start", headers=AUTH)
    client.post(f"/api/v1/bots/{bid}/pause", headers=AUTH)
    r = client.post(f"/api/v1/bots/{bid}/pause", headers=AUTH)
    assert r.status_code == 409 and "PAUSED" in r.json()["detail"]
    assert client.get(f"/api/v1/bots/{bid}").json()["status"] == "PAUSED"


def test_pause_needs_a_token_and_the_reason_is_bounded(client) -> None:
    bid = _bot(client)
    client.post(f"/api/v1/bots/{bid}/start", headers=AUTH)
    assert client.post(f"/api/v1/bots/{bid}/pause").status_code == 401
    r = client.post(f"/api/v1/bots/{bid}/pause", json={"reason": "x" * 501}, headers=AUTH)
    assert r.status_code == 422
    assert client.get(f"/api/v1/bots/{bid}").json()["status"] == "RUNNING"
    assert client.post("/api/v1/bots/999/pause", headers=AUTH).status_code == 404


def test_pause_is_audited_with_the_token_name_and_the_reason(client, services) -> None:
    bid = _bot(client)
    client.post(f"/api/v1/bots/{bid}/start", headers=AUTH)
    with session_scope(services.sessions) as s:
        secret = create_token(s, "alice", services.clock.now())
    alice = {"Authorization": f"Bearer {secret}"}
    assert (
        client.post(f"/api/v1/bots/{bid}/pause", json={"reason": "checking"}, headers=alice).status_code
        == 200
    )
    [entry] = client.get("/api/v1/audit", params={"action": "bot_paused"}).json()["items"]
    assert entry["actor"] == "alice" and entry["bot_id"] == bid
    assert entry["before"] == {"status": "RUNNING"} and entry["after"] == {"status": "PAUSED"}
    assert entry["detail"]["reason"] == "checking"
