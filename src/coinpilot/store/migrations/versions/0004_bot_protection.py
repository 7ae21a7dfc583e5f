"""bot protection: loss-streak lock cleared by a person, protection switched off explicitly

``bot_runtime.loss_lock_cleared_at``: when a person last resumed the bot; losing exits before it
no longer count toward the consecutive-loss lock. ``bot_runtime.protection_off``: a person
turned the position's automatic stop-loss, trailing stop and take-profit off (audited); existing
bots keep their protection on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import coinpilot.store.coltypes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_runtime", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("loss_lock_cleared_at", coinpilot.store.coltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("protection_off", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("bot_runtime", schema=None) as batch_op:
        batch_op.drop_column("protection_off")
        batch_op.drop_column("loss_lock_cleared_at")
