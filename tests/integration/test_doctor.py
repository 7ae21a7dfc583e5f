"""coinpilot doctor on a good set-up and on broken ones: each problem named with its fix, the
exit code by the worst severity, read-only calls only against the exchange stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinpilot.config import Settings
from coinpilot.doctor import DoctorReport, Severity, run_doctor
from coinpilot.domain.clock import SystemClock
from coinpilot.domain.types import TradingMode
from coinpilot.engine.risk.control import ControlService
from coinpilot.security import load_or_create_token
from coinpilot.store.db import make_session_factory
from coinpilot.testing.fake_coinbase import FakeCoinbase
from coinpilot.testing.keys import generate_ec_key
from tests.e2e._production import production_settings

COINPILOT = [sys.executable, "-c", "from coinpilot.cli import main; main()"]


def findings(report: DoctorReport, area: str) -> list[tuple[Severity, str, str]]:
    return [(f.severity, f.message, f.fix) for f in report.findings if f.area == area]


def worst(report: DoctorReport, area: str) -> Severity:
    return max(s for s, _m, _f in findings(report, area))


@pytest.fixture
def home_settings(db_url: str, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    load_or_create_token(home, None)  # written 0600, as a first start does
    return Settings(home=home, database_url=db_url)


def enable(settings: Settings, engine: sa.Engine) -> ControlService:
    control = ControlService(make_session_factory(engine), SystemClock(), settings.trading_mode)
    control.enable_trading(actor="test", production_ready=True)
    return control


def test_a_good_mock_set_up_reports_ok_and_exits_0(home_settings, engine) -> None:
    enable(home_settings, engine)
    report = run_doctor(home_settings)
    assert report.exit_code == 0, [(f.area, f.message) for f in report.findings if f.severity]
    areas = {f.area for f in report.findings}
    assert {"configuration", "database", "migrations", "secrets", "disk", "exchange", "trading"} <= areas


def test_disabled_trading_is_a_warning_with_the_command_that_enables_it(home_settings) -> None:
    report = run_doctor(home_settings)
    assert report.exit_code == 1
    ((severity, message, fix),) = findings(report, "trading")
    assert severity == Severity.WARN and "HALTED" in message and "coinpilot trading enable" in fix


def test_an_emergency_stop_is_a_problem_that_names_its_reason(home_settings, engine) -> None:
    control = enable(home_settings, engine)
    control.engage_emergency(actor="circuit_breaker", reason="5 exchange failures in a row")
    report = run_doctor(home_settings)
    assert report.exit_code == 2
    ((severity, message, fix),) = findings(report, "trading")
    assert severity == Severity.FAIL and "5 exchange failures" in message and "coinpilot release" in fix


def test_a_secret_readable_by_others_is_a_problem_with_chmod_as_fix(home_settings, engine) -> None:
    enable(home_settings, engine)
    token = home_settings.home / "api_token"
    token.chmod(0o644)
    report = run_doctor(home_settings)
    assert report.exit_code == 2
    (fail,) = [f for f in findings(report, "secrets") if f[0] == Severity.FAIL]
    assert "readable by other users" in fail[1] and fail[2] == f"chmod 600 {token}"


def test_an_unreachable_database_is_a_problem(tmp_path) -> None:
    settings = Settings(home=tmp_path / "h", database_url="postgresql://nobody@127.0.0.1:1/none")
    report = run_doctor(settings)
    assert report.exit_code == 2
    (severity, message, fix) = findings(report, "database")[0]
    assert severity == Severity.FAIL and "unreachable" in message and "COINPILOT_DATABASE_URL" in fix


def test_an_old_schema_is_a_warning_and_an_unknown_one_a_problem(home_settings, engine) -> None:
    from coinpilot.store.migrate import head_revision

    def set_revision(revision: str | None) -> None:
        with engine.begin() as conn:  # alembic_version outlives the per-test reset on PostgreSQL
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})

    try:
        set_revision("0001")
        report = run_doctor(home_settings)
        assert worst(report, "migrations") == Severity.WARN
        assert "coinpilot db upgrade" in findings(report, "migrations")[0][2]
        set_revision("ffff")
        report = run_doctor(home_settings)
        assert worst(report, "migrations") == Severity.FAIL and report.exit_code == 2
    finally:
        set_revision(head_revision())


def test_a_nearly_full_disk_is_a_problem(home_settings, engine, monkeypatch) -> None:
    import shutil

    enable(home_settings, engine)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9, 50 * 1024**2))
    report = run_doctor(home_settings)
    assert worst(report, "disk") == Severity.FAIL and report.exit_code == 2


def test_a_tripped_breaker_blocks_buys_and_is_a_problem(home_settings, engine) -> None:
    control = enable(home_settings, engine)
    assert control.breaker_trip("daily_loss_breaker", "daily loss limit reached")
    report = run_doctor(home_settings)
    assert report.exit_code == 2
    ((severity, message, _fix),) = findings(report, "trading")
    assert severity == Severity.FAIL and "REDUCING" in message and "daily loss limit reached" in message


def test_bad_configuration_is_a_problem_naming_the_setting(monkeypatch) -> None:
    monkeypatch.setenv("COINPILOT_PORT", "not-a-port")
    report = run_doctor()
    assert report.exit_code == 2
    ((severity, message, _fix),) = findings(report, "configuration")
    assert severity == Severity.FAIL and "COINPILOT_PORT" in message


# ---- production, against the stand-in (read-only calls) ----------------------------------------
@pytest.fixture
def stand_in() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        yield server


def prod_settings(stand_in: FakeCoinbase, tmp_path: Path, db_url: str, *, can_trade: bool = True) -> Settings:
    key = generate_ec_key()
    stand_in.add_key(key.name, key.public_pem, can_trade=can_trade)
    key_file = key.write_key_file(tmp_path / "cdp_api_key.json")
    key_file.chmod(0o600)
    home = tmp_path / "home"
    load_or_create_token(home, None)
    return production_settings(
        home=home, db_url=db_url, base_url=stand_in.base_url, cert_path=stand_in.cert_path, key_file=key_file
    )


def test_production_with_a_good_key_and_clock_is_ok_and_places_nothing(
    stand_in, tmp_path, db_url, engine
) -> None:
    settings = prod_settings(stand_in, tmp_path, db_url)
    enable(settings, engine)
    report = run_doctor(settings)
    assert report.exit_code == 0, [(f.area, f.message) for f in report.findings if f.severity]
    assert worst(report, "exchange") == Severity.OK
    assert worst(report, "clock") == Severity.OK
    assert stand_in.request_count("/orders", method="POST") == 0


def test_production_clock_skew_and_a_key_that_cannot_trade_are_problems(
    stand_in, tmp_path, db_url, engine
) -> None:
    settings = prod_settings(stand_in, tmp_path, db_url, can_trade=False)
    enable(settings, engine)
    stand_in.date_offset = 95
    report = run_doctor(settings)
    assert report.exit_code == 2
    messages = " | ".join(m for s, m, _f in findings(report, "exchange") if s == Severity.FAIL)
    assert "cannot trade" in messages and "clock" in messages
    assert stand_in.request_count("/orders", method="POST") == 0


def test_production_without_keys_is_a_problem(tmp_path, db_url) -> None:
    settings = Settings(home=tmp_path / "h", database_url=db_url, trading_mode=TradingMode.PRODUCTION)
    report = run_doctor(settings)
    assert report.exit_code == 2
    assert "needs Coinbase API keys" in findings(report, "exchange")[0][1]


def test_the_doctor_command_exits_with_the_worst_severity(db_url, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_"))}
    env.update(
        COINPILOT_HOME=str(tmp_path / "home"),
        COINPILOT_DATABASE_URL=db_url,
        COINPILOT_UNDER_TEST="1",
        COLUMNS="200",
    )
    r = subprocess.run([*COINPILOT, "doctor"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr  # a fresh install: trading disabled is a warning
    assert "trading is HALTED" in r.stdout and "fix: 'coinpilot trading enable'" in r.stdout
    assert "result: warnings (0 problems, 1 warnings)" in r.stdout
