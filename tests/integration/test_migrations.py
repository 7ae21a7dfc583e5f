"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coinpilot.store.migrate import current_revision, head_revision
from coinpilot.store.models import Base, ControlState


def test_migrated_database_matches_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_database_is_at_head_revision(db_url: str) -> None:
    assert current_revision(db_url) == head_revision()


def test_fresh_database_starts_halted_not_enabled_yet(session_factory) -> None:
    with session_factory() as s:
        state = s.get(ControlState, 1)
        assert state is not None
        assert state.trading_state == "HALTED"
        assert state.state_reason == "not enabled yet"
