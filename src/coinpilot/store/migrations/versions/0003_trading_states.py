"""trading states

The two switches (``trading_enabled``, ``emergency_stop``) become one trading state, ACTIVE /
REDUCING / HALTED, with its reason, who set it and since when (see
``coinpilot.domain.trading_state``). Today's switches carry over: an engaged emergency stop is
HALTED with its reason, trading enabled is ACTIVE, anything else HALTED "not enabled yet".

Trades gain ``do_not_send`` (set on every unsent PENDING trade when trading is halted) and a
needs-attention mark with its reason. Realised P&L is now dated by its fill time, not by its
settlement: existing rows are re-dated from ``last_fill_at``.

Revision ID: 0003
Revises: 0005 (the exact-accounting revision merged before this one)
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import coinpilot.store.coltypes

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None

_STATE = sa.Enum(
    "ACTIVE",
    "REDUCING",
    "HALTED",
    name="trading_state",
    native_enum=False,
    create_constraint=True,
    length=24,
)


def upgrade() -> None:
    with op.batch_alter_table("control_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trading_state", _STATE, nullable=False, server_default="HALTED"))
        batch_op.add_column(
            sa.Column("state_reason", sa.String(length=500), nullable=False, server_default="not enabled yet")
        )
        batch_op.add_column(
            sa.Column("state_by", sa.String(length=64), nullable=False, server_default="install")
        )
        batch_op.add_column(
            sa.Column("state_since", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE control_state SET trading_state = 'HALTED',"
        " state_reason = COALESCE(emergency_reason, 'emergency stop'), state_by = 'migration',"
        " state_since = emergency_at WHERE emergency_stop"
    )
    op.execute(
        "UPDATE control_state SET trading_state = 'ACTIVE', state_reason = 'trading was enabled',"
        " state_by = 'migration', state_since = updated_at WHERE trading_enabled AND NOT emergency_stop"
    )
    with op.batch_alter_table("control_state", schema=None) as batch_op:
        batch_op.alter_column("trading_state", server_default=None)
        batch_op.alter_column("state_reason", server_default=None)
        batch_op.alter_column("state_by", server_default=None)
        batch_op.drop_column("trading_enabled")
        batch_op.drop_column("emergency_stop")
        batch_op.drop_column("emergency_reason")
        batch_op.drop_column("emergency_at")

    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.add_column(sa.Column("do_not_send", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("attention_reason", sa.String(length=1000), nullable=True))
        batch_op.add_column(
            sa.Column("attention_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE trades SET realized_at = last_fill_at"
        " WHERE realized_pnl IS NOT NULL AND last_fill_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_column("attention_at")
        batch_op.drop_column("attention_reason")
        batch_op.drop_column("do_not_send")
    op.execute(
        "UPDATE trades SET realized_at = COALESCE(settled_at, closed_at) WHERE realized_pnl IS NOT NULL"
    )

    with op.batch_alter_table("control_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trading_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("emergency_stop", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("emergency_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("emergency_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE control_state SET trading_enabled = true WHERE trading_state = 'ACTIVE'")
    op.execute(
        "UPDATE control_state SET emergency_stop = true, emergency_reason = state_reason,"
        " emergency_at = state_since"
        " WHERE trading_state = 'HALTED' AND state_by NOT IN ('install', 'migration')"
    )
    with op.batch_alter_table("control_state", schema=None) as batch_op:
        batch_op.alter_column("trading_enabled", server_default=None)
        batch_op.alter_column("emergency_stop", server_default=None)
        batch_op.drop_column("state_since")
        batch_op.drop_column("state_by")
        batch_op.drop_column("state_reason")
        batch_op.drop_constraint("trading_state", type_="check")
        batch_op.drop_column("trading_state")
