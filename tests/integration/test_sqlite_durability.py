"""SQLite: the trading-locked transaction (the PENDING row before an order) is fsynced; WAL
checkpoints run in the background."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from coinpilot.store.db import WalCheckpointer, acquire_trading_lock, make_session_factory
from tests.conftest import IS_POSTGRES

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="SQLite durability settings")


def _record_synchronous(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _spy(conn, cursor, statement, *args) -> None:
        if statement.startswith("PRAGMA synchronous"):
            seen.append(statement)

    return seen


def test_trading_locked_transactions_commit_with_full_sync(engine: sa.Engine) -> None:
    seen = _record_synchronous(engine)
    sf = make_session_factory(engine)
    with sf() as s, s.begin():
        acquire_trading_lock(s, datetime.now(UTC))
    assert seen == ["PRAGMA synchronous=FULL"]


def test_ordinary_transactions_commit_with_normal_sync(engine: sa.Engine) -> None:
    seen = _record_synchronous(engine)
    sf = make_session_factory(engine)
    with sf() as s, s.begin():
        s.execute(sa.text("UPDATE control_state SET updated_at = updated_at"))
    assert seen == ["PRAGMA synchronous=NORMAL"]


def test_background_checkpointer_empties_the_wal(engine: sa.Engine, db_url: str) -> None:
    path = Path(db_url.removeprefix("sqlite:///") + "-wal")
    sf = make_session_factory(engine)
    for _ in range(20):
        with sf() as s, s.begin():
            acquire_trading_lock(s, datetime.now(UTC))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    checkpointer = WalCheckpointer(engine, interval_seconds=3600)
    try:
        checkpointer.checkpoint()
        with engine.connect() as conn:
            busy, log_frames, checkpointed = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert busy == 0 and log_frames == checkpointed
        assert path.exists()
    finally:
        checkpointer.stop()
