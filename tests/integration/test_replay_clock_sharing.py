"""The replay clock a database's processes share: the CLI beside the demo, --no-fresh, stale writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coinpilot.config import Settings
from coinpilot.exchange.replay import replay_clock
from coinpilot.services import replay_anchor_path, shared_replay_clock

DEMO_START = "2017-07-14T06:00:00+00:00"


def demo_1800x(home: Path) -> Settings:
    return demo_settings(home, replay_speed=1800, replay_start=DEMO_START)


def demo_settings(home: Path, **over: object) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home / 'demo.db'}", **over)  # type: ignore[arg-type]


def test_a_cli_process_adopts_the_demos_clock_instead_of_starting_its_own_in_2017(tmp_path: Path) -> None:
    demo = shared_replay_clock(
        demo_settings(tmp_path, replay_speed=1800, replay_start=DEMO_START), replay_clock
    )
    cli = shared_replay_clock(demo_settings(tmp_path), replay_clock)  # a CLI: no speed or start given
    assert abs((cli.now() - demo.now()).total_seconds()) < 60  # same simulated present (1800x)
    again = shared_replay_clock(
        demo_settings(tmp_path, replay_speed=1800, replay_start=DEMO_START), replay_clock
    )
    assert abs((again.now() - demo.now()).total_seconds()) < 60  # the CLI did not re-pin the demo's clock


def test_each_database_has_its_own_replay_clock(tmp_path: Path) -> None:
    plain = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'coinpilot.db'}")
    assert replay_anchor_path(plain) != replay_anchor_path(demo_settings(tmp_path))
    shared_replay_clock(demo_1800x(tmp_path), replay_clock)
    from coinpilot.exchange.replay_today import ReplayWallClock

    serve = shared_replay_clock(plain, replay_clock)
    assert isinstance(serve, ReplayWallClock)  # real time, not the demo's 1800x


def test_restart_at_continues_from_where_the_demo_stopped(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, replay_speed=1800, replay_start=DEMO_START)
    shared_replay_clock(settings, replay_clock)
    stopped = datetime(2017, 8, 2, 13, 0, tzinfo=UTC)
    clock = shared_replay_clock(settings, replay_clock, restart_at=stopped)
    assert stopped <= clock.now() < stopped + timedelta(minutes=30)
    cli = shared_replay_clock(demo_settings(tmp_path), replay_clock)
    assert abs((cli.now() - clock.now()).total_seconds()) < 60


def test_where_the_demo_stopped_is_its_latest_recorded_time(tmp_path: Path, replay_clock) -> None:
    from coinpilot.cli.demo import where_the_demo_stopped
    from coinpilot.services import build_services
    from coinpilot.store import bots as bot_repo
    from coinpilot.store.db import session_scope

    settings = demo_settings(tmp_path)
    assert where_the_demo_stopped(settings.resolved_database_url) is None
    services = build_services(settings, clock=replay_clock)
    try:
        with session_scope(services.sessions) as s:
            bot = bot_repo.create_bot(
                s, {"name": "b", "pair": "BTC-USD", "signal_config": {}, "buy_threshold": 0.5,
                    "sell_threshold": 0.5, "trade_size_usd": 10, "strategy": {}}, replay_clock.now(),
            )  # fmt: skip
            bot_id = bot.id
        replay_clock.advance(3 * 3600)
        services.evaluations.evaluate_bot(bot_id)
    finally:
        services.close()
    assert where_the_demo_stopped(settings.resolved_database_url) == replay_clock.now()


def test_an_evaluation_older_than_the_bots_latest_is_refused_and_stores_nothing(
    services, replay_clock
) -> None:
    import sqlalchemy as sa

    from coinpilot.engine.loop.evaluator import StaleEvaluation
    from coinpilot.store import bots as bot_repo
    from coinpilot.store.db import session_scope
    from coinpilot.store.models import Evaluation

    with session_scope(services.sessions) as s:
        bot_id = bot_repo.create_bot(
            s, {"name": "b", "pair": "BTC-USD", "signal_config": {}, "buy_threshold": 0.5,
                "sell_threshold": 0.5, "trade_size_usd": 10, "strategy": {}}, replay_clock.now(),
        ).id  # fmt: skip
    services.evaluations.evaluate_bot(bot_id)
    replay_clock.advance(-3600)  # another process on an older clock
    with pytest.raises(StaleEvaluation, match="another clock"):
        services.evaluations.evaluate_bot(bot_id)
    with services.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Evaluation)) == 1
