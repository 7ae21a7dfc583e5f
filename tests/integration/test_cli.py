"""The command line: real subprocesses, one-line errors and non-zero exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

COINPILOT = [sys.executable, "-c", "from coinpilot.cli import main; main()"]


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_"))}
    env.update(
        COINPILOT_HOME=str(tmp_path / "home"),
        COINPILOT_DATABASE_URL=db_url,
        COINPILOT_UNDER_TEST="1",
        COINPILOT_PAPER_FILL_DELAY_SECONDS="0",
        COLUMNS="200",
    )
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COINPILOT, *args], env=env, capture_output=True, text=True, timeout=120)


def test_help_explains_the_commands(cli_env) -> None:
    r = run(cli_env, "--help")
    assert r.returncode == 0
    for command in ("serve", "demo", "bots", "trading", "kill", "trade", "evaluate"):
        assert command in r.stdout


def test_bot_lifecycle_and_evaluate(cli_env) -> None:
    r = run(cli_env, "bots", "create", "--name", "b1", "--pair", "BTC-USD", "--trade-size", "10")
    assert r.returncode == 0, r.stderr
    assert "created bot" in r.stdout
    assert run(cli_env, "bots", "start", "b1").returncode == 0
    listing = run(cli_env, "bots", "list")
    assert "RUNNING" in listing.stdout
    assert "mode: mock" in listing.stdout
    r = run(cli_env, "evaluate", "b1")
    assert r.returncode == 0, r.stderr
    assert "score" in r.stdout and "rsi" in r.stdout


def test_errors_are_one_line_and_exit_non_zero(cli_env) -> None:
    run(cli_env, "bots", "create", "--name", "b1", "--pair", "BTC-USD")
    cases = [
        ("bots", "create", "--name", "b2", "--pair", "BTC-USD"),  # pair taken
        ("bots", "create", "--name", "b3", "--pair", "ETH-USD", "--trade-size", "5000"),  # above cap
        ("bots", "start", "nope"),  # unknown bot
        ("evaluate", "nope"),
    ]
    for args in cases:
        r = run(cli_env, *args)
        assert r.returncode != 0, args
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, r.stderr)
        assert lines[0].startswith("error:"), lines
        assert "Traceback" not in r.stderr


def test_invalid_configuration_is_reported_with_the_setting(cli_env) -> None:
    r = run({**cli_env, "COINPILOT_LIMITS__MAX_TRADE_USD": "1000"}, "bots", "list")
    assert r.returncode == 2
    assert "limits.max_trade_usd" in r.stderr
    assert "hard cap" in r.stderr


@pytest.mark.slow
def test_trading_states_enable_kill_release_and_state_commands(cli_env) -> None:
    run(cli_env, "bots", "create", "--name", "b1", "--pair", "BTC-USD")
    assert "HALTED" in run(cli_env, "trading", "status").stdout
    r = run(cli_env, "trade", "b1", "buy", "--quote", "10")
    assert r.returncode == 1
    assert "TRADING_HALTED" in r.stdout
    assert run(cli_env, "trading", "enable").returncode == 0
    r = run(cli_env, "trade", "b1", "buy", "--quote", "10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SETTLED" in r.stdout
    assert run(cli_env, "kill", "--reason", "test").returncode == 0
    r = run(cli_env, "trade", "b1", "buy", "--quote", "10")
    assert r.returncode == 1
    assert "TRADING_HALTED" in r.stdout
    r = run(cli_env, "trading", "status")
    assert "HALTED" in r.stdout and "test" in r.stdout
    assert run(cli_env, "release").returncode == 0
    assert "REDUCING" in run(cli_env, "trading", "state").stdout
    r = run(cli_env, "trade", "b1", "buy", "--quote", "10")
    assert r.returncode == 1 and "TRADING_REDUCING" in r.stdout
    r = run(cli_env, "trading", "state", "ACTIVE", "--reason", "checked")
    assert r.returncode == 0 and "ACTIVE" in r.stdout and "checked" in r.stdout
    assert "HALTED" in run(cli_env, "trading", "halt", "--reason", "night").stdout
    assert "REDUCING" in run(cli_env, "trading", "reduce").stdout
    assert "ACTIVE" in run(cli_env, "trading", "activate").stdout
    r = run(cli_env, "trading", "state", "PANIC")
    assert r.returncode == 1 and "unknown trading state" in r.stderr


def test_db_upgrade_prints_the_absolute_database_and_revision(cli_env) -> None:
    r = run(cli_env, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert "revision 0001" in r.stdout or "revision" in r.stdout


def test_a_taken_port_is_reported_in_one_clear_line(cli_env) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(cli_env, "serve", "--port", str(port))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"port {port}" in lines[0] and "already in use" in lines[0]


def test_exchange_check_without_keys_says_what_to_set(cli_env) -> None:
    r = run(cli_env, "exchange", "check")
    assert r.returncode == 1
    assert "COINPILOT_COINBASE_API_KEY" in r.stderr


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_exchange_check_with_a_bad_key_is_one_line_without_traceback(cli_env) -> None:
    env = {
        **cli_env,
        "COINPILOT_COINBASE_API_KEY": "organizations/x/apiKeys/y",
        "COINPILOT_COINBASE_API_SECRET": "not a private key",
        "COINPILOT_COINBASE_BASE_URL": "127.0.0.1:9",
    }
    r = run(env, "exchange", "check")
    assert r.returncode == 1
    line = _one_line(r)
    assert "API key" in line and "COINPILOT_COINBASE_API_KEY" in line


def test_an_unexpected_error_is_one_line_and_the_traceback_needs_debug(cli_env) -> None:
    env = {**cli_env, "COINPILOT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    r = run(env, "bots", "list")
    assert r.returncode == 1
    assert "--debug" in _one_line(r)
    r = run(env, "--debug", "bots", "list")
    assert r.returncode != 0
    assert "Traceback" in r.stderr


def test_a_short_api_token_stops_start_up_in_one_line(cli_env) -> None:
    r = run({**cli_env, "COINPILOT_API_TOKEN": "x"}, "serve", "--port", "1")
    assert r.returncode == 2
    assert "COINPILOT_API_TOKEN" in _one_line(r) and "32 characters" in r.stderr


def test_a_non_loopback_bind_needs_expose(cli_env) -> None:
    r = run(cli_env, "serve", "--host", "0.0.0.0", "--port", "1")
    assert r.returncode == 1
    line = _one_line(r)
    assert "--expose" in line and "0.0.0.0" in line


def test_expose_prints_what_is_reachable_before_serving(cli_env) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*COINPILOT, "serve", "--host", "0.0.0.0", "--port", str(port), "--expose", "--no-engine"],
        env={**cli_env, "COINPILOT_API_TOKEN": "t" * 32},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stderr.readline() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.wait(30)
    assert "0.0.0.0" in first and "without a token" in first and "COINPILOT_ALLOWED_HOSTS" in first


def test_stop_with_close_sells_the_position_and_protection_off_needs_a_reason(cli_env) -> None:
    run(cli_env, "bots", "create", "--name", "b1", "--pair", "BTC-USD")
    assert run(cli_env, "trading", "enable").returncode == 0
    assert run(cli_env, "trade", "b1", "buy", "--quote", "10").returncode == 0
    r = run(cli_env, "bots", "protection", "b1", "off")
    assert r.returncode == 1 and "reason" in (r.stdout + r.stderr)
    r = run(cli_env, "bots", "protection", "b1", "off", "--reason", "selling by hand")
    assert r.returncode == 0 and "protection off" in r.stdout
    r = run(cli_env, "bots", "stop", "b1", "--close")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STOPPED" in r.stdout and "closing" in r.stdout
    assert "no position to close" in run(cli_env, "bots", "stop", "b1", "--close").stdout


def test_bots_pause_pauses_a_running_bot_and_refuses_a_stopped_one(cli_env) -> None:
    assert (
        run(cli_env, "bots", "create", "--name", "b1", "--pair", "BTC-USD", "--trade-size", "10").returncode
        == 0
    )
    r = run(cli_env, "bots", "pause", "b1")
    assert r.returncode != 0 and "STOPPED" in r.stderr + r.stdout
    assert run(cli_env, "bots", "start", "b1").returncode == 0
    r = run(cli_env, "bots", "pause", "b1", "--reason", "lunch")
    assert r.returncode == 0, r.stderr
    assert "PAUSED" in r.stdout
    assert "PAUSED" in run(cli_env, "bots", "list").stdout
    assert "bot_paused" in run(cli_env, "audit").stdout
