"""Upgrading a database that already holds trades: 0001 -> head keeps every row and backfills
the columns later revisions derive from it; downgrading and upgrading again is lossless."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import BotStatus, Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.store.db import make_engine
from coinpilot.store.migrate import current_revision, head_revision, upgrade
from coinpilot.store.models import Bot, Fill, Trade
from tests.conftest import IS_POSTGRES, TEST_DATABASE

# Each test migrates a database of its own made from COINPILOT_TEST_DATABASE (no db_url):
# marked so that the PostgreSQL pass keeps them.
pytestmark = pytest.mark.database

D = Decimal
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def scratch_url(tmp_path) -> Iterator[str]:
    """An empty database of its own (the shared test database is already at head)."""
    if not IS_POSTGRES:
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    name = f"coinpilot_up_{uuid.uuid4().hex[:10]}"
    admin = make_engine(TEST_DATABASE, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(TEST_DATABASE).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# Columns of revision 0001 only: the ORM models already have the later ones.
def _trade_0001(bot_id: int, n: int, **extra: object) -> dict[str, object]:
    return {
        "bot_id": bot_id,
        "mode": TradingMode.MOCK,
        "side": Side.SELL,
        "intent": TradeIntent.MANUAL,
        "pair": "BTC-USD",
        "client_order_id": f"c-{n}",
        "order_id": f"o-{n}",
        "status": TradeStatus.SETTLED,
        "requested_base_size": D("0.001"),
        "filled_base_size": D("0.001"),
        "filled_value": D("50"),
        "fees": D("0.3"),
        "position_applied": True,
        "sync_attempts": 0,
        "status_history": [],
        "created_at": T0,
        "updated_at": T0,
        **extra,
    }


def test_upgrade_from_0001_backfills_realized_at_and_last_fill_at(scratch_url):
    upgrade(scratch_url, "0001")
    engine = make_engine(scratch_url, pool_size=1)
    settled, closed = T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)
    try:
        with engine.begin() as conn:
            bot_id = conn.execute(
                sa.insert(Bot.__table__).returning(Bot.id),
                {
                    "name": "old",
                    "description": "",
                    "pair": "BTC-USD",
                    "status": BotStatus.STOPPED,
                    "granularity": "ONE_HOUR",
                    "signal_config": {},
                    "buy_threshold": 0.5,
                    "sell_threshold": 0.5,
                    "confirmation_minutes": 0,
                    "trade_size_usd": D("10"),
                    "cooldown_minutes": 0,
                    "max_tranches": 3,
                    "strategy": {},
                    "created_at": T0,
                    "updated_at": T0,
                },
            ).scalar_one()
            ids = [
                conn.execute(sa.insert(Trade.__table__).returning(Trade.id), row).scalar_one()
                for row in (
                    _trade_0001(bot_id, 1, realized_pnl=D("-2.5"), settled_at=settled),
                    _trade_0001(
                        bot_id, 2, realized_pnl=D("1"), closed_at=closed, status=TradeStatus.CANCELLED
                    ),
                    _trade_0001(bot_id, 3, side=Side.BUY, settled_at=settled),  # an entry: no P&L
                )
            ]
            for trade_id, minutes in ((ids[0], 1), (ids[0], 4), (ids[2], 2)):
                conn.execute(
                    sa.insert(Fill.__table__),
                    {
                        "trade_id": trade_id,
                        "fill_id": f"f-{trade_id}-{minutes}",
                        "price": D("50000"),
                        "base_size": D("0.0005"),
                        "fee": D("0.15"),
                        "liquidity": "TAKER",
                        "time": T0 + timedelta(minutes=minutes),
                    },
                )
    finally:
        engine.dispose()

    upgrade(scratch_url)
    assert current_revision(scratch_url) == head_revision()
    engine = make_engine(scratch_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = {
                r.id: r
                for r in conn.execute(
                    sa.select(Trade.id, Trade.realized_pnl, Trade.realized_at, Trade.last_fill_at)
                )
            }
    finally:
        engine.dispose()
    # 0003: realised P&L is dated by its (newest) fill, not by the settlement.
    assert rows[ids[0]].realized_at == T0 + timedelta(minutes=4) and rows[ids[0]].realized_pnl == D("-2.5")
    assert settled != T0 + timedelta(minutes=4)
    assert rows[ids[1]].realized_at == closed  # closed with partial fills: booked at close
    assert rows[ids[2]].realized_at is None
    assert rows[ids[0]].last_fill_at == T0 + timedelta(minutes=4)  # the newest of its fills
    assert rows[ids[1]].last_fill_at is None
    assert rows[ids[2]].last_fill_at == T0 + timedelta(minutes=2)

    # Down to 0001 and back up: nothing is lost, the backfill is recomputed the same.
    upgrade_down(scratch_url, "0001")
    upgrade(scratch_url)
    engine = make_engine(scratch_url, pool_size=1)
    try:
        with engine.connect() as conn:
            again = {
                r.id: r for r in conn.execute(sa.select(Trade.id, Trade.realized_at, Trade.last_fill_at))
            }
    finally:
        engine.dispose()
    assert {k: (v.realized_at, v.last_fill_at) for k, v in again.items()} == {
        k: (v.realized_at, v.last_fill_at) for k, v in rows.items()
    }


def upgrade_down(url: str, revision: str) -> None:
    from alembic import command

    from coinpilot.store.migrate import alembic_config

    command.downgrade(alembic_config(url), revision)


@pytest.mark.parametrize(
    ("enabled", "stopped", "expected"),
    [
        (True, False, ("ACTIVE", "trading was enabled")),
        (True, True, ("HALTED", "exchange outage")),
        (False, True, ("HALTED", "exchange outage")),
        (False, False, ("HALTED", "not enabled yet")),
    ],
)
def test_upgrade_to_0003_carries_todays_switches_over_to_a_trading_state(
    scratch_url, enabled, stopped, expected
):
    upgrade(scratch_url, "0002")
    engine = make_engine(scratch_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE control_state SET trading_enabled = :enabled, enabled_mode = 'mock',"
                    " emergency_stop = :stopped, emergency_reason = :reason, emergency_at = :at"
                ),
                {
                    "enabled": enabled,
                    "stopped": stopped,
                    "reason": "exchange outage" if stopped else None,
                    "at": T0.replace(tzinfo=None)
                    if stopped and not IS_POSTGRES
                    else (T0 if stopped else None),
                },
            )
    finally:
        engine.dispose()
    upgrade(scratch_url)
    engine = make_engine(scratch_url, pool_size=1)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT trading_state, state_reason, enabled_mode FROM control_state")
            ).one()
    finally:
        engine.dispose()
    assert (row[0], row[1]) == expected and row[2] == "mock"


def _bot_row(name: str, pair: str, archived_at: datetime | None = None) -> dict[str, object]:
    return {
        "name": name,
        "description": "",
        "pair": pair,
        "status": BotStatus.STOPPED,
        "granularity": "ONE_HOUR",
        "signal_config": {},
        "buy_threshold": 0.5,
        "sell_threshold": 0.5,
        "confirmation_minutes": 0,
        "trade_size_usd": D("10"),
        "cooldown_minutes": 0,
        "max_tranches": 3,
        "strategy": {},
        "created_at": T0,
        "updated_at": T0,
        "archived_at": archived_at,
    }


def _insert_bot(url: str, name: str, pair: str, archived_at: datetime | None = None) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(Bot.__table__), _bot_row(name, pair, archived_at))
    finally:
        engine.dispose()


def test_0015_frees_an_archived_bots_name_and_pair_and_downgrades_only_without_shared_ones(scratch_url):
    upgrade(scratch_url, "0014")
    _insert_bot(scratch_url, "btc", "BTC-USD", archived_at=T0)
    with pytest.raises(sa.exc.IntegrityError):  # 0014: the archived bot holds its name and pair
        _insert_bot(scratch_url, "btc", "BTC-USD")

    upgrade(scratch_url)
    _insert_bot(scratch_url, "btc", "BTC-USD")  # a live bot beside the archived one
    _insert_bot(scratch_url, "btc", "BTC-USD", archived_at=T0 + timedelta(days=1))  # archives share too
    with pytest.raises(sa.exc.IntegrityError):  # still one live bot per pair ...
        _insert_bot(scratch_url, "other", "BTC-USD")
    with pytest.raises(sa.exc.IntegrityError):  # ... and per name
        _insert_bot(scratch_url, "btc", "ETH-USD")

    with pytest.raises(RuntimeError, match=r"cannot downgrade below 0015.*name 'btc' \(3 bots\)"):
        upgrade_down(scratch_url, "0014")
    assert current_revision(scratch_url) == head_revision()  # refused: nothing changed
    engine = make_engine(scratch_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(Bot.__table__).where(Bot.archived_at.is_not(None)))
    finally:
        engine.dispose()

    upgrade_down(scratch_url, "0014")  # no shared names left: the table-wide constraints return
    assert current_revision(scratch_url) == "0014"
    with pytest.raises(sa.exc.IntegrityError):
        _insert_bot(scratch_url, "btc", "BTC-USD", archived_at=T0)
    upgrade(scratch_url)
    assert current_revision(scratch_url) == head_revision()
    _insert_bot(scratch_url, "btc", "BTC-USD", archived_at=T0)
