"""Shared fixtures: a fresh migrated database per test (SQLite or PostgreSQL) and a fake clock.

Set ``COINPILOT_TEST_DATABASE`` to a PostgreSQL URL to run the suite against PostgreSQL: a
private database is created for the run, migrated once, and truncated between tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import FakeClock
from coinpilot.store.db import make_engine, make_session_factory
from coinpilot.store.migrate import upgrade
from coinpilot.store.models import Base

os.environ.setdefault("COINPILOT_UNDER_TEST", "1")
# Never let a developer's real keys or settings leak into a test run (test knobs stay).
_TEST_KNOBS = {
    "COINPILOT_UNDER_TEST",
    "COINPILOT_TEST_DATABASE",
    "COINPILOT_TEST_ARTIFACTS",
    "COINPILOT_CRASH_ROUNDS",
    "COINPILOT_CRASH_SEED",
}
for _name in list(os.environ):
    if _name.startswith("COINBASE_") or (_name.startswith("COINPILOT_") and _name not in _TEST_KNOBS):
        del os.environ[_name]

TEST_DATABASE = os.environ.get("COINPILOT_TEST_DATABASE", "sqlite")
IS_POSTGRES = TEST_DATABASE.startswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that open the test database, keep only those in the PostgreSQL pass, and
    start the long tests first.

    A test opens the test database when it uses the ``db_url`` fixture (directly or through
    ``engine``, ``settings``, ``services``, ``client``, ``live_server`` …) or is marked
    ``database`` (a test that makes a database of its own from ``COINPILOT_TEST_DATABASE``). Any
    other test runs the same code whatever the database is: the SQLite pass already proves it,
    and running it again on PostgreSQL only costs CI time.

    Long tests (marked ``slow``) go first so that, with several workers (pytest-xdist), they
    start at once beside the short ones instead of leaving one worker running them alone at the
    end. The sort is stable and the same in every worker, as xdist requires.
    """
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
    if IS_POSTGRES:
        kept = [item for item in items if item.get_closest_marker("database")]
        dropped = [item for item in items if not item.get_closest_marker("database")]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Tests that are not about gradual risk escalation run production at the configured limits (the
# top step), as they did before escalation existed. Escalation tests start from the canary step
# by deleting this row (tests/integration/test_escalation_service.py).
_TOP_ESCALATION_STEP = (
    "INSERT INTO escalation_state (mode, step, step_since, reason, updated_at) VALUES "
    "('production', 4, '2026-01-01T00:00:00+00:00', 'test default: configured limits', "
    "'2026-01-01T00:00:00+00:00')"
)


def _seed_top_escalation_step(url: str) -> None:
    engine = make_engine(url, pool_size=1) if url.startswith("postgresql") else make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(_TOP_ESCALATION_STEP)
    engine.dispose()


def _pg_admin_url() -> str:
    return TEST_DATABASE


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run; tests get copies (SQLite) or truncated tables (PostgreSQL)."""
    if IS_POSTGRES:
        name = f"coinpilot_t_{uuid.uuid4().hex[:10]}"
        admin = make_engine(_pg_admin_url(), pool_size=1)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        _seed_top_escalation_step(url)
        yield str(path)


def _reset_postgres(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        conn.exec_driver_sql(
            "INSERT INTO control_state (id, trading_state, state_reason, state_by, lock_version, updated_at)"
            " VALUES (1, 'HALTED', 'not enabled yet', 'install', 0, '2026-01-01T00:00:00+00:00')"
        )
        conn.exec_driver_sql(_TOP_ESCALATION_STEP)
    engine.dispose()


@pytest.fixture
def db_url(_template_db: str, tmp_path: Path) -> str:
    """URL of a fresh, migrated, empty database for this test."""
    if IS_POSTGRES:
        _reset_postgres(_template_db)
        return _template_db
    target = tmp_path / "coinpilot.db"
    shutil.copyfile(_template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 3, 1, 12, 0, tzinfo=UTC))


API_TOKEN = "test-token-0123456789-abcdefghijklmnop"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
REPLAY_TIME = datetime(2018, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def replay_clock() -> FakeClock:
    """A fake clock positioned inside the shipped hourly candles (2017-07 … 2019-06)."""
    return FakeClock(REPLAY_TIME)


@pytest.fixture
def settings(db_url: str, tmp_path: Path):
    from coinpilot.config import Settings

    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        api_token=API_TOKEN,
        paper_fill_delay_seconds=0,
        candle_cache_ttl_seconds=0,
    )


@pytest.fixture
def services(settings, replay_clock: FakeClock):
    from coinpilot.services import build_services

    svc = build_services(settings, clock=replay_clock, migrate=False)
    yield svc
    svc.close()


@pytest.fixture
def client(settings, services):
    from fastapi.testclient import TestClient

    from coinpilot.api.app import create_app

    with TestClient(create_app(settings, services), base_url="http://127.0.0.1:8000") as c:
        yield c
