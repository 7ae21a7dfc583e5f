"""Backups and restores of the SQLite database, and the lock that keeps a restore away from a
database a server is using.

Backups use SQLite's online backup API, so they are consistent while the server keeps writing
(copying the file would miss what still sits in the WAL). PostgreSQL has better tools of its own
(``pg_dump``/``pg_restore``); for it we print the commands instead of re-implementing them.

A restore checks the backup before it touches anything: SQLite's integrity check, Coinpilot's
tables, and an Alembic revision this version knows (an older one is migrated forward at the next
start; a newer one would be a downgrade and is refused). The database it replaces is kept next
to it (with its WAL), never deleted.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coinpilot.store.db import describe_url

if TYPE_CHECKING:
    from coinpilot.config import Settings


class BackupError(Exception):
    """A backup or restore cannot go ahead; the message says why and what to do."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a file-based SQLite URL, else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix) :])


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


class ServerLock:
    """An exclusive ``flock`` on ``<database>.serve.lock`` held by a serving process.

    The kernel drops it when the process dies (even by ``kill -9``), so a crashed server never
    leaves a stale lock behind, and ``restore`` can tell a running server from a dead one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> ServerLock:
        db = sqlite_path(settings.resolved_database_url)
        return cls(db.with_name(db.name + ".serve.lock") if db else settings.home / "serve.lock")

    def acquire(self) -> ServerLock:
        """Take the lock without waiting; BackupError if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise BackupError(
                f"a Coinpilot server is running on this database (lock {self.path}): stop it first"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def held_elsewhere(self) -> bool:
        try:
            self.acquire()
        except BackupError:
            return True
        self.release()
        return False


@dataclass(frozen=True)
class BackupCheck:
    path: Path
    revision: str | None
    trades: int
    bots: int


def check_backup_file(path: Path, known_revisions: set[str]) -> BackupCheck:
    """Integrity, Coinpilot's tables and a known schema revision; BackupError naming the problem."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened as SQLite: {exc}") from None
    try:
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a SQLite database ({exc})") from None
        if result != ["ok"]:
            raise BackupError(f"{path} failed SQLite's integrity check: {'; '.join(result[:5])}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"alembic_version", "bots", "trades", "fills", "positions"} - tables
        if missing:
            raise BackupError(f"{path} is not a Coinpilot database (missing tables: {sorted(missing)})")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
        if revision not in known_revisions:
            raise BackupError(
                f"{path} has schema revision {revision!r}, which this Coinpilot does not know "
                "(made by a newer version?): restore it with that version"
            )
        trades = int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])
        bots = int(conn.execute("SELECT count(*) FROM bots").fetchone()[0])
        return BackupCheck(path, revision, trades, bots)
    finally:
        conn.close()


def backup_sqlite(db: Path, target: Path) -> Path:
    """Copy ``db`` to ``target`` through SQLite's online backup API (safe while serving)."""
    if not db.is_file():
        raise BackupError(f"there is no database at {db}")
    if target.exists():
        raise BackupError(f"{target} already exists: choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(db), timeout=30)
    dst = sqlite3.connect(str(target))
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)
    return target


def default_backup_path(settings: Settings, now: datetime) -> Path:
    return settings.home / "backups" / f"coinpilot-{_stamp(now)}.db"


def pg_dump_instructions(url: str) -> str:
    shown = describe_url(url)
    return (
        "PostgreSQL databases are backed up with PostgreSQL's own tools:\n"
        f"  pg_dump --format=custom --file=coinpilot-$(date -u +%Y%m%dT%H%M%SZ).dump '{shown}'\n"
        "Restore (with the server stopped) into an empty database:\n"
        f"  pg_restore --clean --if-exists --no-owner --dbname='{shown}' coinpilot-<stamp>.dump\n"
        "then start Coinpilot: it applies any newer migrations and reconciles unfinished trades."
    )


def restore_sqlite(
    backup: Path, db: Path, lock: ServerLock, known_revisions: set[str], now: datetime
) -> Path:
    """Replace ``db`` with ``backup`` after the checks; returns where the old database was kept."""
    checked = check_backup_file(backup, known_revisions)
    lock.acquire()  # refuses while a server runs; held so none starts during the swap
    try:
        kept = db.with_name(f"{db.name}.replaced-{_stamp(now)}")
        if db.exists():
            for suffix in ("", "-wal", "-shm"):
                part = Path(str(db) + suffix)
                if part.exists():
                    shutil.move(str(part), str(kept) + suffix)
        db.parent.mkdir(parents=True, exist_ok=True)
        tmp = db.with_name(db.name + ".restoring")
        tmp.unlink(missing_ok=True)
        backup_sqlite(checked.path, tmp)
        os.replace(tmp, db)
        return kept
    finally:
        lock.release()
