"""bot name and pair unique among live bots only

An archived bot (0014) keeps its row so its trades stay in analytics and the audit, but the
table-wide ``UNIQUE (name)`` and ``UNIQUE (pair)`` then kept its name and pair taken forever:
after archiving the BTC-USD bot no new BTC-USD bot could be created. Both constraints become
partial unique indexes over the bots not archived (``WHERE archived_at IS NULL``), so one live bot
per pair and per name is still enforced by the database, and any number of archived bots may
share a name or pair with each other and with the live one.

Downgrade puts the table-wide constraints back, which is only possible when no two bots (live or
archived) share a name or a pair; otherwise it refuses, naming them, and changes nothing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

LIVE = "archived_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.drop_constraint("uq_bots_name", type_="unique")
        batch.drop_constraint("uq_bots_pair", type_="unique")
    for column in ("name", "pair"):
        op.create_index(
            f"uq_bots_{column}_live",
            "bots",
            [column],
            unique=True,
            sqlite_where=sa.text(LIVE),
            postgresql_where=sa.text(LIVE),
        )


def downgrade() -> None:
    conn = op.get_bind()
    bots = sa.table("bots", sa.column("name"), sa.column("pair"))
    shared = []
    for column in (bots.c.name, bots.c.pair):
        n = sa.func.count()
        rows = conn.execute(sa.select(column, n).group_by(column).having(n > 1).order_by(column)).all()
        shared += [f"{column.name} {value!r} ({count} bots)" for value, count in rows]
    if shared:
        raise RuntimeError(
            "cannot downgrade below 0015: archived bots share a name or pair with another bot, which "
            f"the older table-wide unique constraints forbid: {', '.join(shared)}. Rename or delete "
            "them first, or stay at 0015."
        )
    op.drop_index("uq_bots_pair_live", table_name="bots")
    op.drop_index("uq_bots_name_live", table_name="bots")
    with op.batch_alter_table("bots") as batch:
        batch.create_unique_constraint("uq_bots_name", ["name"])
        batch.create_unique_constraint("uq_bots_pair", ["pair"])
