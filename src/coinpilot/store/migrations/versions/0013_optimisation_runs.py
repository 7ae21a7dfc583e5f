"""stored optimisation runs

``optimisation_runs`` keeps each ``coinpilot optimize`` report (walk-forward windows, in- and
out-of-sample figures, parameter stability, the suggested configuration) so runs can be listed,
compared and applied to a bot later.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import coinpilot.store.coltypes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "optimisation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pair", sa.String(length=32), nullable=False),
        sa.Column("granularity", sa.String(length=16), nullable=False),
        sa.Column("objective", sa.String(length=16), nullable=False),
        sa.Column("sampler", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("folds", sa.Integer(), nullable=False),
        sa.Column("base_bot", sa.String(length=64), nullable=True),
        sa.Column("oos_return_pct", sa.Float(), nullable=False),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint("mode = 'backtest'", name=op.f("ck_optimisation_runs_optimisation_mode")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimisation_runs")),
    )


def downgrade() -> None:
    op.drop_table("optimisation_runs")
