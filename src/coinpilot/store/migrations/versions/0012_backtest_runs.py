"""backtest runs requested over the API

``backtest_runs`` holds each run's inputs, status and progress and, once done, its JSON report
and chart data; ``mode`` is always 'backtest' so its figures are never mixed with mock or
production analytics.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import coinpilot.store.coltypes

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="backtest_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=True),
        sa.Column("pair", sa.String(length=32), nullable=False),
        sa.Column(
            "granularity",
            sa.Enum(
                "ONE_MINUTE",
                "FIVE_MINUTE",
                "FIFTEEN_MINUTE",
                "THIRTY_MINUTE",
                "ONE_HOUR",
                "TWO_HOUR",
                "SIX_HOUR",
                "ONE_DAY",
                name="granularity",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("request", _json(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("report", _json(), nullable=True),
        sa.Column("chart", _json(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode = 'backtest'", name=op.f("ck_backtest_runs_backtest_mode")),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_backtest_runs_bot_id_bots"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )


def downgrade() -> None:
    op.drop_table("backtest_runs")
