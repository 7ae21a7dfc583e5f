"""Settings: environment and TOML sources, validation at load, hard caps, paths."""

from __future__ import annotations

import os
import re
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from coinpilot.config import (
    COINBASE_PRODUCTION_HOST,
    ConfigError,
    is_loopback_host,
    load_settings,
    parse_base_url,
)
from coinpilot.domain.limits import HARD_CAPS, SafetyLimits, limit_violations
from coinpilot.security import load_or_create_token


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("COINPILOT_") and name not in {"COINPILOT_UNDER_TEST", "COINPILOT_TEST_DATABASE"}:
            monkeypatch.delenv(name)


def test_defaults_are_mock_mode_on_loopback_with_sqlite_in_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COINPILOT_HOME", str(tmp_path))
    s = load_settings()
    assert s.trading_mode == "mock"
    assert s.host == "127.0.0.1"
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'coinpilot.db'}"


def test_relative_sqlite_path_is_made_absolute(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(database_url="sqlite:///data/x.db")
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'x.db'}"


def test_environment_variables_with_prefix_are_read(monkeypatch) -> None:
    monkeypatch.setenv("COINPILOT_PORT", "9123")
    monkeypatch.setenv("COINPILOT_LIMITS__MAX_TRADE_USD", "40")
    s = load_settings()
    assert s.port == 9123
    assert s.safety_limits.max_trade_usd == Decimal("40")


def test_toml_config_file_is_read(monkeypatch, tmp_path: Path) -> None:
    cfg = tmp_path / "coinpilot.toml"
    cfg.write_text("port = 8111\nengine_interval_seconds = 30\n[limits]\nmax_daily_trades = 12\n")
    monkeypatch.setenv("COINPILOT_CONFIG", str(cfg))
    s = load_settings()
    assert s.port == 8111
    assert s.engine_interval_seconds == 30
    assert s.safety_limits.max_daily_trades == 12


def test_limit_above_hard_cap_is_refused_at_load_naming_the_setting(monkeypatch) -> None:
    monkeypatch.setenv("COINPILOT_LIMITS__MAX_TRADE_USD", "500")
    with pytest.raises(ConfigError, match=r"limits\.max_trade_usd.*hard cap of 100"):
        load_settings()


@pytest.mark.parametrize("field", sorted(HARD_CAPS))
def test_every_hard_cap_refuses_one_step_above_and_allows_the_cap(field: str) -> None:
    cap = HARD_CAPS[field]
    above = cap + (Decimal("0.01") if isinstance(cap, Decimal) else 1)
    big = SafetyLimits(
        max_trade_usd=Decimal(100),
        max_position_usd_per_bot=Decimal(1000),
        max_total_exposure_usd=Decimal(5000),
        max_daily_trades=100,
        max_daily_trades_per_bot=50,
    )
    fields = {f: getattr(big, f) for f in big.__dataclass_fields__}
    at_cap = SafetyLimits(**{**fields, field: cap})
    assert not [p for p in limit_violations(at_cap) if "hard cap" in p[1]]
    past = SafetyLimits(**{**fields, field: above})
    assert any(name == field and "hard cap" in msg for name, msg in limit_violations(past))


def test_invalid_values_are_refused_with_the_env_name(monkeypatch) -> None:
    monkeypatch.setenv("COINPILOT_PORT", "99999")
    with pytest.raises(ConfigError, match="COINPILOT_PORT"):
        load_settings()
    monkeypatch.delenv("COINPILOT_PORT")
    monkeypatch.setenv("COINPILOT_TRADING_MODE", "yolo")
    with pytest.raises(ConfigError, match="trading_mode"):
        load_settings()


def test_unknown_setting_in_config_file_is_refused(monkeypatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("prot = 1\n")
    monkeypatch.setenv("COINPILOT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="prot"):
        load_settings()


def test_secrets_do_not_appear_in_the_settings_repr() -> None:
    s = load_settings(
        api_token="supersecret-token-0123456789-abcdefgh", coinbase_api_secret="private-key-material"
    )
    assert "supersecret-token-0123456789-abcdefgh" not in repr(s)
    assert "private-key-material" not in repr(s)


def test_generated_api_token_is_stored_with_0600_and_reused(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path, None)
    assert created and len(token) >= 32
    mode = stat.S_IMODE((tmp_path / "api_token").stat().st_mode)
    assert mode == 0o600
    assert load_or_create_token(tmp_path, None) == (token, False)
    configured = "c" * 32
    assert load_or_create_token(tmp_path, configured) == (configured, False)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("127.0.0.1:8443", True),
        ("localhost:1", True),
        ("[::1]:9", True),
        ("api.coinbase.com", False),
        ("10.0.0.1:443", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(url: str, loopback: bool) -> None:
    assert is_loopback_host(url) is loopback


def test_missing_config_file_stops_start_up_naming_its_path(monkeypatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "coinpilot.toml"
    monkeypatch.setenv("COINPILOT_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load_settings()


@pytest.mark.parametrize("kind", ["directory", "bad toml", "not utf-8"])
def test_unreadable_config_file_stops_start_up_naming_its_path(monkeypatch, tmp_path: Path, kind) -> None:
    cfg = tmp_path / "c.toml"
    if kind == "directory":
        cfg.mkdir()
    elif kind == "bad toml":
        cfg.write_text("max_trade_usd = = 5\n")
    else:
        cfg.write_bytes(b"port = \xff\xfe\n")
    monkeypatch.setenv("COINPILOT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=re.escape(str(cfg))):
        load_settings()


def test_unknown_nested_key_in_config_file_is_refused_naming_it(monkeypatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[limits]\nmax_trade_size = 5\n")
    monkeypatch.setenv("COINPILOT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=r"limits\.max_trade_size"):
        load_settings()


@pytest.mark.parametrize(
    "base_url",
    [
        f"{COINBASE_PRODUCTION_HOST}\\@127.0.0.1",
        f"{COINBASE_PRODUCTION_HOST}\\@127.0.0.1:8443",
        f"{COINBASE_PRODUCTION_HOST}@127.0.0.1",
        f"127.0.0.1@{COINBASE_PRODUCTION_HOST}",
        f"user:pw@{COINBASE_PRODUCTION_HOST}",
        f"127.0.0.1:443@{COINBASE_PRODUCTION_HOST}",
        f"127.0.0.1/.{COINBASE_PRODUCTION_HOST}",
        f"{COINBASE_PRODUCTION_HOST}/127.0.0.1",
        f"{COINBASE_PRODUCTION_HOST}#@127.0.0.1",
        f"{COINBASE_PRODUCTION_HOST}?@127.0.0.1",
        "https://127.0.0.1:8443",
        "127.0.0.1:8443/path",
        "127.0.0.1\\",
        "127.0.0.1:99999",
        "127.0.0.1:",
        "127.0.0.1:8x",
        " 127.0.0.1",
        "127.0.0.1\n",
        "127.0.0.1\t:9",
        "[::1",
        "",
    ],
)
def test_base_url_that_is_not_just_host_and_port_is_refused(base_url: str) -> None:
    assert is_loopback_host(base_url) is False
    with pytest.raises(ConfigError, match="coinbase_base_url"):
        load_settings(coinbase_base_url=base_url)


@pytest.mark.parametrize(
    ("base_url", "host", "port"),
    [
        ("127.0.0.1", "127.0.0.1", None),
        ("127.0.0.1:8443", "127.0.0.1", 8443),
        ("localhost:9", "localhost", 9),
        ("[::1]:9", "::1", 9),
        (COINBASE_PRODUCTION_HOST, COINBASE_PRODUCTION_HOST, None),
    ],
)
def test_base_url_is_parsed_to_the_host_the_client_connects_to(base_url, host, port) -> None:
    assert parse_base_url(base_url) == (host, port)


@pytest.mark.parametrize("token", ["x", "short-token", "a" * 31, " " * 40])
def test_an_api_token_shorter_than_32_characters_is_refused_at_start_up(monkeypatch, token) -> None:
    monkeypatch.setenv("COINPILOT_API_TOKEN", token)
    with pytest.raises(ConfigError, match="COINPILOT_API_TOKEN"):
        load_settings()


def test_a_short_token_in_the_token_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    from coinpilot.security import TokenError

    (tmp_path / "api_token").write_text("abc\n")
    with pytest.raises(TokenError, match="api_token"):
        load_or_create_token(tmp_path, None)


def test_allowed_hosts_default_to_loopback_names_and_are_configurable(monkeypatch) -> None:
    assert set(load_settings().allowed_hosts) == {"127.0.0.1", "localhost", "::1"}
    monkeypatch.setenv("COINPILOT_ALLOWED_HOSTS", '["pi.lan", "192.168.1.5"]')
    assert load_settings().allowed_hosts == ["pi.lan", "192.168.1.5"]
