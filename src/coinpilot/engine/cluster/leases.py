"""Worker leases: with PostgreSQL, several processes share the bots, each bot owned by one.

A worker owns a bot while it holds an unexpired row in ``worker_leases``. Times are the
database server's ``now()``, so workers with different clocks agree. A heartbeat thread, every
``heartbeat_seconds``:

1. renews this worker's leases (``expires_at = now() + ttl``, ttl = 3 × heartbeat by default);
2. counts the live workers of this database: each worker holds a session-level advisory lock
   on a dedicated connection for its whole life, so a worker killed with SIGKILL disappears from ``pg_locks``
   the moment its connection drops;
3. keeps its fair share ``ceil(bots / workers)``: releases extra leases (so a newcomer gets
   work) and claims free or expired ones with one statement::

       INSERT INTO worker_leases … SELECT <RUNNING/PAUSED or holding bots without a live lease> LIMIT n
       ON CONFLICT (bot_id) DO UPDATE … WHERE worker_leases.expires_at < now()
       RETURNING bot_id

   Two workers racing for the same bot serialise on its row; the loser's ``WHERE`` no longer
   holds, so exactly one gets it.

A dead worker's bots are taken over within ``ttl + heartbeat`` seconds (its presence lock
vanishes with its connection, so the survivors' shares grow at once). A worker that is alive
but stuck keeps its presence; its leases, once expired for another whole ttl, are "stale" and
taken by any worker regardless of shares: takeover within ``2 × ttl + heartbeat``. The scheduler only
evaluates bots in :meth:`owned`, and the trading step calls :meth:`holds` (a fresh database
check) right before placing an order, so a worker that stalled past its lease never trades a
bot another worker now owns. Safety limits hold across workers anyway: every check-then-place
serialises on the control row lock (``acquire_trading_lock``).

SQLite serves one process: there is nothing to share and this class is not used.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid
import zlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from coinpilot.domain.types import BotStatus
from coinpilot.store.models import Bot, Position, WorkerLease

log = logging.getLogger("coinpilot.engine")

PRESENCE_CLASS = 0x636F696E  # advisory lock namespace for worker presence ("coin")
DEFAULT_HEARTBEAT_SECONDS = 1.0
LEASED_STATUSES = (BotStatus.RUNNING, BotStatus.PAUSED)


def _leased() -> sa.ColumnElement[bool]:
    """Bots a worker leases: RUNNING or PAUSED ones, and any bot that holds a position, so a
    STOPPED or ERROR bot's position still gets the protection pass (stop-loss, trailing stop,
    take-profit) from whichever worker holds its lease."""
    holding = sa.exists().where(Position.bot_id == Bot.id, Position.base_size > 0)
    return sa.or_(Bot.status.in_(LEASED_STATUSES), holding)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LeaseManager:
    def __init__(
        self,
        engine: Engine,
        worker_id: str | None = None,
        *,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        ttl_seconds: float | None = None,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("worker leases need PostgreSQL; SQLite serves a single process")
        self._engine = engine
        self.worker_id = worker_id or new_worker_id()
        self.heartbeat = heartbeat_seconds
        self.ttl = ttl_seconds if ttl_seconds is not None else 3 * heartbeat_seconds
        self._presence_key = zlib.crc32(self.worker_id.encode()) & 0x7FFFFFFF
        self._presence: Connection | None = None
        self._owned: frozenset[int] = frozenset()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.workers_seen = 1

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> LeaseManager:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.heartbeat * 5 + 5)
            self._thread = None
        if release:
            self.release_all()
        if self._presence is not None:
            try:
                self._presence.execute(
                    sa.select(sa.func.pg_advisory_unlock(PRESENCE_CLASS, self._presence_key))
                )
                self._presence.close()
            except Exception:
                log.debug("presence connection already gone", exc_info=True)
            self._presence = None

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                self.refresh()
            except Exception:  # the database may be briefly away: keep trying
                log.exception("lease heartbeat failed")

    # ---- queries -----------------------------------------------------------------------
    def owned(self) -> frozenset[int]:
        with self._lock:
            return self._owned

    def filter(self, bot_ids: list[int]) -> list[int]:
        """The scheduler's bot filter: only bots this worker holds."""
        mine = self.owned()
        return [b for b in bot_ids if b in mine]

    def holds(self, bot_id: int) -> bool:
        """Fresh check, right before an order: is the lease still ours and unexpired?"""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(WorkerLease.bot_id).where(
                    WorkerLease.bot_id == bot_id,
                    WorkerLease.worker_id == self.worker_id,
                    WorkerLease.expires_at > sa.func.now(),
                )
            ).first()
        return row is not None

    # ---- one heartbeat -----------------------------------------------------------------
    def refresh(self) -> frozenset[int]:
        self._ensure_presence()
        ttl = sa.func.make_interval(0, 0, 0, 0, 0, 0, self.ttl)
        with self._engine.begin() as conn:
            mine = set(
                conn.scalars(
                    sa.update(WorkerLease)
                    .where(WorkerLease.worker_id == self.worker_id, WorkerLease.expires_at > sa.func.now())
                    .values(expires_at=sa.func.now() + ttl)
                    .returning(WorkerLease.bot_id)
                )
            )
        with self._engine.begin() as conn:
            # Bots no longer leased (stopped without a position, deleted): let them go.
            active = set(conn.scalars(sa.select(Bot.id).where(_leased())))
            gone = mine - active
            if gone:
                self._delete(conn, gone)
                mine -= gone
            workers = max(1, self._count_workers(conn))
            self.workers_seen = workers
            target = math.ceil(len(active) / workers) if active else 0
            if len(mine) > target:
                extra = sorted(mine)[target:]
                self._delete(conn, set(extra))
                mine -= set(extra)
        if len(mine) < target:
            mine |= self._claim(target - len(mine), ttl)
        # Leases nobody renewed or took for a whole ttl after expiry belong to a worker that is
        # present but stuck (or to fair shares nobody claimed): take them regardless of shares.
        mine |= self._claim(None, ttl, stale=True)
        with self._lock:
            self._owned = frozenset(mine)
        return self._owned

    def _claim(self, n: int | None, ttl: Any, *, stale: bool = False) -> set[int]:
        expired_before = sa.func.now() - ttl if stale else sa.func.now()
        free = (
            sa.select(
                Bot.id,
                sa.literal(self.worker_id, sa.String(64)),
                sa.func.now() + ttl,
                sa.func.now(),
            )
            .outerjoin(WorkerLease, WorkerLease.bot_id == Bot.id)
            .where(_leased())
            .order_by(Bot.id)
        )
        if stale:
            free = free.where(WorkerLease.expires_at < expired_before)
        else:
            free = free.where(sa.or_(WorkerLease.bot_id.is_(None), WorkerLease.expires_at < expired_before))
        if n is not None:
            free = free.limit(n)
        stmt = pg_insert(WorkerLease).from_select(["bot_id", "worker_id", "expires_at", "acquired_at"], free)
        upsert = stmt.on_conflict_do_update(
            index_elements=[WorkerLease.bot_id],
            set_={
                "worker_id": stmt.excluded.worker_id,
                "expires_at": stmt.excluded.expires_at,
                "acquired_at": stmt.excluded.acquired_at,
            },
            where=WorkerLease.expires_at < expired_before,
        ).returning(WorkerLease.bot_id)
        with self._engine.begin() as conn:
            got = set(conn.scalars(upsert))
        if got:
            log.info("worker %s took %d bot lease(s)", self.worker_id, len(got))
        return got

    def _delete(self, conn: Connection, ids: set[int]) -> None:
        conn.execute(
            sa.delete(WorkerLease).where(WorkerLease.worker_id == self.worker_id, WorkerLease.bot_id.in_(ids))
        )

    def release_all(self) -> None:
        """Give every lease back (graceful shutdown: others take over at once)."""
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.delete(WorkerLease).where(WorkerLease.worker_id == self.worker_id))
        except Exception:
            log.exception("could not release leases")
        with self._lock:
            self._owned = frozenset()

    # ---- presence ----------------------------------------------------------------------
    def _ensure_presence(self) -> None:
        if self._presence is not None and not self._presence.closed:
            try:
                self._presence.exec_driver_sql("SELECT 1")
                return
            except Exception:
                self._presence = None
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.select(sa.func.pg_advisory_lock(PRESENCE_CLASS, self._presence_key)))
        self._presence = conn

    def _count_workers(self, conn: Connection) -> int:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(DISTINCT objid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND classid = :ns AND objsubid = 2 AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"ns": PRESENCE_CLASS},
            ).scalar_one()
        )
