"""Engine and session creation, SQLite tuning, migrations, and the trading lock.

SQLite runs in WAL mode with a busy timeout so the API can read while the engine writes; its
driver-level transaction handling is replaced by explicit ``BEGIN`` so that the trading lock
(:func:`acquire_trading_lock`) really is the first statement of its transaction.

Durability on SQLite: ordinary commits use ``synchronous=NORMAL`` (they survive a killed
process, not a power cut), but every transaction that takes the trading lock — above all the
one that writes a PENDING trade before its order is sent — runs with ``synchronous=FULL``, so
that row is on disk before anything reaches the exchange. Anything else lost to a power cut is
rebuilt from the exchange by reconciliation. WAL checkpoints run in a background thread
(:class:`WalCheckpointer`) instead of inside whichever commit crosses the threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.private_files import make_private_file
from coinpilot.store.models import ControlState
from coinpilot.store.repos.control import new_state_row

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 30_000
DURABLE = "coinpilot_durable"
WAL_CHECKPOINT_SECONDS = 30.0


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url and "mode=memory" not in url:
            db_file = Path(url[len("sqlite:///") :].split("?", 1)[0])
            db_file.parent.mkdir(parents=True, exist_ok=True)
            make_private_file(db_file)  # 0600, and so its -wal/-shm files
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=20,
        )
        _tune_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(url, echo=echo, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA wal_autocheckpoint=0")  # see WalCheckpointer
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The safety level can only change outside a transaction, so it is set here, per
        # transaction: FULL for the trading-locked ones (see the module docstring).
        durable = bool(conn.get_execution_options().get(DURABLE))
        conn.exec_driver_sql("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
        conn.exec_driver_sql("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads that need no transaction of their own (each statement sees what was
    committed before it). On PostgreSQL it runs in autocommit, which saves the BEGIN and ROLLBACK
    round trips; on SQLite it is a plain session (reads are local, and ``BEGIN`` is ours to
    issue). Never write through it."""
    session = factory()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
    finally:
        session.close()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_TAKE_LOCK = (  # built once: every order runs it
    sa.update(ControlState)
    .where(ControlState.id == 1)
    .values(lock_version=ControlState.lock_version + 1)
    .returning(ControlState)
)


def acquire_trading_lock(session: Session, now: datetime) -> ControlState:
    """Serialise every check-then-place: must be the first statement of the transaction.

    An UPDATE of the single control row takes SQLite's write lock (waiting up to the busy
    timeout) and PostgreSQL's row lock; whoever holds it sees every counter committed before it,
    so two concurrent requests can never both pass a limit only one of them fits.
    """
    # On SQLite this transaction commits with synchronous=FULL (module docstring). The option must
    # be on the connection before the transaction begins, i.e. before any statement of it.
    # (SQLAlchemy warns "execution_options ignored" if a caller broke the first-statement rule.)
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={DURABLE: True})
    # One statement: the UPDATE takes the lock and RETURNING reads the row it locked.
    state = session.scalars(_TAKE_LOCK, execution_options={"populate_existing": True}).first()
    if state is None:  # first start: the migration seeds it, but be robust
        state = new_state_row(now)
        session.add(state)
        session.flush()
    return state


def describe_url(url: str) -> str:
    """The database location without credentials, for start-up logs."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


class WalCheckpointer:
    """Checkpoints a SQLite WAL in the background (autocheckpoint is off: otherwise one unlucky
    commit in a thousand pays for copying the WAL into the database, which is the order path's
    p99). PASSIVE never blocks writers or readers. No-op for other databases."""

    def __init__(self, engine: Engine, interval_seconds: float = WAL_CHECKPOINT_SECONDS) -> None:
        import threading

        self._engine = engine
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if engine.dialect.name == "sqlite":
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def checkpoint(self) -> None:
        with self._engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            conn.rollback()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except Exception:  # a missed checkpoint is retried next time
                log.debug("WAL checkpoint failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
            try:
                self.checkpoint()
            except Exception:  # best effort at shutdown
                log.debug("final WAL checkpoint failed", exc_info=True)
