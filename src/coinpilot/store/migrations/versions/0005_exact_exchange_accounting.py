"""exact exchange accounting: fill values as credited, dust on positions

``fills.value`` holds the quote value the exchange accounted for a fill (Coinbase rounds it; the
old ``base_size * price`` drifted from the cash). Existing rows keep NULL, which means exactly
what they were computed with: ``base_size * price``. ``positions.dust_base_size`` and
``dust_value`` record remainders too small to sell that closed a cycle (0 for existing rows).

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import coinpilot.store.coltypes

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value", coinpilot.store.coltypes.Money(), nullable=True))
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dust_base_size", coinpilot.store.coltypes.Money(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("dust_value", coinpilot.store.coltypes.Money(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_column("dust_value")
        batch_op.drop_column("dust_base_size")
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_column("value")
