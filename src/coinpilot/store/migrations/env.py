"""Alembic environment: the URL comes from the caller (coinpilot.store.migrate), never a file.

On SQLite, foreign keys are switched off while migrations run: a batch migration rebuilds a
table by copying it and dropping the original, and with foreign keys on, dropping ``trades``
would cascade-delete every fill. They are checked (``PRAGMA foreign_key_check``) before the
switch goes back on, so a migration cannot leave a dangling reference behind.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from coinpilot.store.db import make_engine
from coinpilot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", pool_size=1)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Any) -> None:
    if connection.dialect.name != "sqlite" or connection.in_transaction():
        _migrate(connection)
        return
    raw = connection.connection.dbapi_connection  # outside any transaction: PRAGMA takes effect
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        _migrate(connection)
        dangling = raw.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            raise RuntimeError(f"migration left rows pointing at missing parents: {dangling[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
