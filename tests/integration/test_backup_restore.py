"""coinpilot backup / restore: a round trip keeps every row, a restore checks the backup first,
refuses while a server holds the database and keeps the file it replaces."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coinpilot.store.backup import BackupError, ServerLock, backup_sqlite, restore_sqlite
from coinpilot.store.migrate import known_revisions
from tests.conftest import AUTH, IS_POSTGRES

COINPILOT = [sys.executable, "-c", "from coinpilot.cli import main; main()"]
TABLES = (
    "bots",
    "trades",
    "fills",
    "positions",
    "tranches",
    "safety_audit",
    "control_state",
    "paper_balances",
)


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_"))}
    env.update(COINPILOT_HOME=str(tmp_path / "home"), COINPILOT_DATABASE_URL=db_url, COINPILOT_UNDER_TEST="1")
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COINPILOT, *args], env=env, capture_output=True, text=True, timeout=120)


def snapshot(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        conn.close()


def trade(client, name: str, pair: str, services) -> None:
    bot = client.post("/api/v1/bots", json={"name": name, "pair": pair, "trade_size_usd": "10"}, headers=AUTH)
    r = client.post(
        "/api/v1/trades/execute",
        json={"bot_id": bot.json()["id"], "side": "buy", "quote_size": "10"},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    services.sync.sync_all()


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite backups; PostgreSQL gets pg_dump instructions")
def test_backup_while_serving_then_restore_brings_back_exactly_the_backed_up_data(
    client, services, cli_env, db_url, tmp_path
) -> None:
    db = Path(db_url[len("sqlite:///") :])
    client.post("/api/v1/trading/enable", headers=AUTH)
    trade(client, "btc", "BTC-USD", services)
    before = snapshot(db)
    assert before["trades"] and before["fills"] and before["positions"]

    backup = tmp_path / "b" / "coinpilot.db"
    r = run(cli_env, "backup", str(backup))  # the API's engine is still open (WAL) while it runs
    assert r.returncode == 0, r.stderr
    assert "1 trades" in r.stdout
    assert oct(backup.stat().st_mode & 0o777) == "0o600"

    trade(client, "eth", "ETH-USD", services)  # after the backup: must disappear on restore
    after_backup = snapshot(db)
    assert len(after_backup["trades"]) == 2
    client.close()
    services.close()

    r = run(cli_env, "restore", str(backup), "--yes")
    assert r.returncode == 0, r.stderr
    assert snapshot(db) == before
    kept_main = [
        p for p in db.parent.iterdir() if ".replaced-" in p.name and not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(kept_main) == 1
    assert len(snapshot(kept_main[0])["trades"]) == 2  # nothing of the replaced database is lost


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite restore checks")
def test_restore_refuses_while_a_server_holds_the_database(cli_env, db_url, tmp_path) -> None:
    from coinpilot.config import Settings

    db = Path(db_url[len("sqlite:///") :])
    backup = tmp_path / "copy.db"
    assert run(cli_env, "backup", str(backup)).returncode == 0
    lock = ServerLock.for_settings(Settings(home=tmp_path / "home", database_url=db_url)).acquire()
    try:
        original = db.read_bytes()
        r = run(cli_env, "restore", str(backup), "--yes")
        assert r.returncode == 1
        assert "server is running" in r.stderr
        assert db.read_bytes() == original
    finally:
        lock.release()
    assert run(cli_env, "restore", str(backup), "--yes").returncode == 0


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite restore checks")
@pytest.mark.parametrize("damage", ["garbage", "truncated", "not_coinpilot", "newer_schema", "missing"])
def test_restore_refuses_a_bad_backup_and_changes_nothing(db_url, tmp_path, damage: str) -> None:
    db = Path(db_url[len("sqlite:///") :])
    backup = backup_sqlite(db, tmp_path / "bad.db")
    if damage == "garbage":
        backup.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        backup.write_bytes(backup.read_bytes()[: 4096 + 100])
    elif damage == "not_coinpilot":
        backup.unlink()
        conn = sqlite3.connect(backup)
        conn.execute("CREATE TABLE notes (x)")
        conn.commit()
        conn.close()
    elif damage == "newer_schema":
        conn = sqlite3.connect(backup)
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.commit()
        conn.close()
    else:
        backup.unlink()
    original = db.read_bytes()
    lock = ServerLock(tmp_path / "serve.lock")
    with pytest.raises(BackupError):
        restore_sqlite(backup, db, lock, known_revisions(), datetime.now(UTC))
    assert db.read_bytes() == original
    assert not [p for p in db.parent.iterdir() if ".replaced-" in p.name]
    assert not lock.held_elsewhere()


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite restore checks")
def test_the_restore_command_reports_a_bad_backup_in_one_line(cli_env, tmp_path) -> None:
    backup = tmp_path / "garbage.db"
    backup.write_bytes(b"this is not a database" * 100)
    r = run(cli_env, "restore", str(backup), "--yes")
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and "not a SQLite database" in r.stderr


def test_postgresql_gets_pg_dump_instructions(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_"))}
    env.update(
        COINPILOT_HOME=str(tmp_path / "home"),
        COINPILOT_DATABASE_URL="postgresql://backup_user:s3cret@127.0.0.1:1/coinpilot",
        COINPILOT_UNDER_TEST="1",
    )
    r = run(env, "backup")
    assert r.returncode == 0, r.stderr
    assert "pg_dump --format=custom" in r.stdout
    assert "s3cret" not in r.stdout


def test_the_server_lock_is_exclusive_and_released(tmp_path) -> None:
    first = ServerLock(tmp_path / "db.serve.lock").acquire()
    assert ServerLock(tmp_path / "db.serve.lock").held_elsewhere()
    first.release()
    assert not ServerLock(tmp_path / "db.serve.lock").held_elsewhere()


def test_a_backup_never_overwrites_a_file(cli_env, tmp_path) -> None:
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    r = run(cli_env, "backup", str(target))
    if r.returncode == 0:  # PostgreSQL: instructions only
        assert "pg_dump" in r.stdout
    else:
        assert "already exists" in r.stderr
    assert target.read_text() == "keep me"
