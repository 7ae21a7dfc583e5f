"""COINPILOT_HOME, the SQLite database (with its WAL files) and the log are private to the user:
0700 for the directory, 0600 for the files, whatever the umask (issue 11)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import IS_POSTGRES


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.skipif(IS_POSTGRES, reason="file modes of the SQLite database")
def test_home_database_wal_and_log_are_created_private(tmp_path: Path, open_umask) -> None:
    from coinpilot.config import Settings
    from coinpilot.logs import configure_logging
    from coinpilot.services import build_services

    home = tmp_path / "nested" / "home"
    settings = Settings(home=home, api_token="t" * 32)
    services = build_services(settings)
    try:
        with services.engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        configure_logging(settings)
        import logging

        logging.getLogger("coinpilot.test").warning("a line")
    finally:
        services.close()
    assert _mode(home) == 0o700
    db = home / "coinpilot.db"
    assert _mode(db) == 0o600
    for extra in (home / "coinpilot.db-wal", home / "coinpilot.db-shm"):
        if extra.exists():
            assert _mode(extra) == 0o600, extra
    assert _mode(home / "coinpilot.log") == 0o600


@pytest.mark.skipif(IS_POSTGRES, reason="file modes of the SQLite database")
def test_an_existing_open_home_and_database_are_tightened(tmp_path: Path, open_umask) -> None:
    from coinpilot.config import Settings
    from coinpilot.services import build_services

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "coinpilot.db").touch()
    (home / "coinpilot.db").chmod(0o644)
    services = build_services(Settings(home=home, api_token="t" * 32))
    services.close()
    assert _mode(home) == 0o700
    assert _mode(home / "coinpilot.db") == 0o600
