"""Evaluation history retention and confirmation that survives a restart."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from coinpilot.domain.types import Action
from coinpilot.store.models import Evaluation
from tests.conftest import AUTH


def test_history_keeps_only_the_retention_limit(client, services, replay_clock, engine) -> None:
    services.evaluations._retention = 10
    bot = client.post("/api/v1/bots", json={"name": "b", "pair": "BTC-USD"}, headers=AUTH).json()
    for _ in range(25):
        client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)
        replay_clock.advance(3600)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(Evaluation)).scalar_one()
    assert n == 10
    history = client.get(f"/api/v1/bots/{bot['id']}/signal-history?limit=50").json()
    assert len(history) == 10
    times = [h["evaluated_at"] for h in history]
    assert times == sorted(times, reverse=True)


def test_history_keeps_what_the_cooling_exit_needs(client, services, replay_clock, engine) -> None:
    """Beyond the retention limit, every evaluation of the cooling period is kept, and the newest
    one at or before its start (it proves the period from its start)."""
    services.evaluations._retention = 10
    strategy = {"cooling_exit_below": "warm", "cooling_exit_minutes": "30"}
    bot = client.post(
        "/api/v1/bots", json={"name": "b", "pair": "BTC-USD", "strategy": strategy}, headers=AUTH
    ).json()
    start = replay_clock.now()
    for _ in range(45):  # minutes 0 to 44
        client.post(f"/api/v1/bots/{bot['id']}/evaluate", headers=AUTH)
        replay_clock.advance(60)
    with engine.connect() as conn:
        times = (
            conn.execute(sa.select(Evaluation.evaluated_at).order_by(Evaluation.evaluated_at)).scalars().all()
        )
    # The last one (minute 44) needs minute 14, the start of its period, and everything since.
    assert len(times) == 31
    assert times[0] == start + timedelta(minutes=14)


def test_confirmation_state_survives_a_restart(client, services, settings, replay_clock) -> None:
    from coinpilot.services import build_services

    # Thresholds tiny: whatever the market does, the bot leans to an action and starts confirming.
    bot = client.post(
        "/api/v1/bots",
        json={
            "name": "b",
            "pair": "BTC-USD",
            "buy_threshold": 0.001,
            "sell_threshold": 0.001,
            "confirmation_minutes": 120,
        },
        headers=AUTH,
    ).json()
    first = services.evaluations.evaluate_bot(bot["id"])
    assert first.evaluation.action != Action.HOLD
    replay_clock.advance(timedelta(minutes=30).total_seconds())
    restarted = build_services(settings, clock=replay_clock, migrate=False)
    try:
        conf = client.get(f"/api/v1/bots/{bot['id']}/confirmation").json()
        assert conf["action"] == first.evaluation.action.value
        assert conf["elapsed_seconds"] == 1800
        assert conf["progress"] == 0.25
        from coinpilot.store import bots as bot_repo
        from coinpilot.views.rows import confirmation_dict

        with restarted.sessions() as s:
            again = confirmation_dict(bot_repo.get_bot(s, bot["id"]), replay_clock.now())
        assert again["since"] == conf["since"]
    finally:
        restarted.close()
