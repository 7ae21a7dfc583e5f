"""Plain ``serve`` in mock mode: history replayed at real speed, dated today (not 2017)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from coinpilot.config import Settings
from coinpilot.domain.types import Granularity, Side
from coinpilot.exchange.replay import ReplayMarketData
from coinpilot.exchange.replay_today import ReplayWallClock


def plain_settings(home: Path, db_url: str) -> Settings:
    return Settings(home=home, database_url=db_url, paper_fill_delay_seconds=0, candle_cache_ttl_seconds=0)


def test_plain_mock_server_dates_its_first_trade_today_with_replayed_prices(
    tmp_path: Path, db_url: str
) -> None:
    from coinpilot.services import build_services
    from coinpilot.store import bots as bot_repo
    from coinpilot.store.db import session_scope

    services = build_services(plain_settings(tmp_path, db_url), migrate=False)
    try:
        assert isinstance(services.clock, ReplayWallClock)
        wall = datetime.now(UTC)
        assert abs((services.clock.now() - wall).total_seconds()) < 5
        with session_scope(services.sessions) as s:
            values = {"name": "b", "pair": "BTC-USD", "signal_config": {}, "buy_threshold": 0.5,
                      "sell_threshold": 0.5, "trade_size_usd": Decimal(10), "strategy": {}}  # fmt: skip
            bot_id = bot_repo.create_bot(s, values, services.clock.now()).id
        services.control.enable_trading(actor="test", production_ready=False)
        result = services.trades.execute(bot_id, Side.BUY, quote_size=Decimal(10))
        assert result.allowed, result.decision
        assert result.trade is not None
        assert result.trade.created_at.date() == wall.date()  # not 2017-07-13

        # The prices are the shipped history, moved forward by whole days.
        offset = services.clock.offset
        assert offset.days > 365 * 5 and offset == timedelta(days=offset.days)
        history = ReplayMarketData(type("C", (), {"now": staticmethod(lambda: wall - offset)})())
        candles = services.market.get_candles(
            "BTC-USD", Granularity.ONE_HOUR, wall - timedelta(hours=6), wall
        )
        past = history.get_candles(
            "BTC-USD", Granularity.ONE_HOUR, wall - offset - timedelta(hours=6), wall - offset
        )
        assert list(candles.close) == list(past.close)
        assert int(candles.start[-1]) == int(past.start[-1]) + int(offset.total_seconds())
        assert wall - timedelta(hours=2) <= datetime.fromtimestamp(int(candles.start[-1]), UTC) <= wall
    finally:
        services.close()


def test_a_restart_continues_the_same_shifted_series(tmp_path: Path, db_url: str) -> None:
    from coinpilot.exchange.replay import replay_clock
    from coinpilot.services import shared_replay_clock

    first = shared_replay_clock(plain_settings(tmp_path, db_url), replay_clock)
    again = shared_replay_clock(plain_settings(tmp_path, db_url), replay_clock)
    assert isinstance(first, ReplayWallClock) and isinstance(again, ReplayWallClock)
    assert first.offset_days == again.offset_days
    fast = shared_replay_clock(Settings(home=tmp_path, database_url=db_url, replay_speed=60), replay_clock)
    assert not isinstance(fast, ReplayWallClock)  # an explicit speed is simulated time
