"""gradual risk escalation state and named API tokens

``escalation_state`` holds the step production trades at and since when (its clean record is
counted from then); ``api_tokens`` holds named, revocable tokens (hashes only) so the audit
trail can say who made a change.

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import coinpilot.store.coltypes

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation_state",
        sa.Column(
            "mode",
            sa.Enum(
                "mock",
                "production",
                name="escalation_mode",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_since", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("updated_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mode", name=op.f("pk_escalation_state")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", coinpilot.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("escalation_state")
