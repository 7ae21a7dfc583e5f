"""history-independent order path

The safety context read for every order used to scan a bot's (or every bot's) whole trade
history: the loss streak and P&L sums sorted on ``coalesce(settled_at, closed_at)``, the cooldown
joined every fill, in-flight trades scanned the mode's trades, and positions loaded every tranche
they ever had. Each now reads through an index: ``realized_at`` and ``last_fill_at`` are stored
on the trade (backfilled here from the same data the old queries derived them from).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import coinpilot.store.coltypes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.add_column(sa.Column("realized_at", coinpilot.store.coltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_fill_at", coinpilot.store.coltypes.UTCDateTime(), nullable=True))

    # Backfill from what the old queries computed on every read.
    op.execute(
        "UPDATE trades SET realized_at = COALESCE(settled_at, closed_at) WHERE realized_pnl IS NOT NULL"
    )
    op.execute(
        "UPDATE trades SET last_fill_at ="
        " (SELECT MAX(fills.time) FROM fills WHERE fills.trade_id = trades.id)"
    )

    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index("ix_trades_status")
        batch_op.create_index("ix_trades_mode_status", ["mode", "status"], unique=False)
        batch_op.create_index("ix_trades_mode_realized", ["mode", "realized_at"], unique=False)
        batch_op.create_index("ix_trades_bot_realized", ["bot_id", "mode", "realized_at"], unique=False)
        batch_op.create_index("ix_trades_bot_last_fill", ["bot_id", "mode", "last_fill_at"], unique=False)

    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.drop_index("ix_tranches_position")
        batch_op.create_index("ix_tranches_position_open", ["position_id", "closed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.drop_index("ix_tranches_position_open")
        batch_op.create_index("ix_tranches_position", ["position_id"], unique=False)

    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index("ix_trades_bot_last_fill")
        batch_op.drop_index("ix_trades_bot_realized")
        batch_op.drop_index("ix_trades_mode_realized")
        batch_op.drop_index("ix_trades_mode_status")
        batch_op.create_index("ix_trades_status", ["status"], unique=False)
        batch_op.drop_column("last_fill_at")
        batch_op.drop_column("realized_at")
