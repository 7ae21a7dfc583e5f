"""bot archive (soft delete) and the indexes the dashboard's pages read through

``bots.archived_at``: a bot with trade history cannot be deleted (its trades are kept), so
``bots delete`` archives it instead. ``ix_trades_mode_id`` serves the overview's newest trades
without sorting every trade; ``ix_trades_bot_mode_id`` and ``ix_safety_audit_bot_mode_id`` serve
the bot page's trades and safety decisions, paged by id.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import coinpilot.store.coltypes

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("archived_at", coinpilot.store.coltypes.UTCDateTime(), nullable=True))
    op.create_index("ix_trades_mode_id", "trades", ["mode", "id"])
    op.create_index("ix_trades_bot_mode_id", "trades", ["bot_id", "mode", "id"])
    op.create_index("ix_safety_audit_bot_mode_id", "safety_audit", ["bot_id", "mode", "id"])


def downgrade() -> None:
    op.drop_index("ix_safety_audit_bot_mode_id", table_name="safety_audit")
    op.drop_index("ix_trades_bot_mode_id", table_name="trades")
    op.drop_index("ix_trades_mode_id", table_name="trades")
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("archived_at")
