"""``coinpilot backtest`` in-process: inputs validated like the API, bad data named by row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    import os

    from coinpilot.cli.main import _register_optional, app, run_cli

    for key in list(os.environ):
        if key.startswith(("COINPILOT_", "COINBASE_")) and key != "COINPILOT_UNDER_TEST":
            monkeypatch.delenv(key)
    monkeypatch.setenv("COINPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COINPILOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    _register_optional()

    def run(*args: str) -> tuple[int, str, str]:
        code = run_cli(app, list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def _config(tmp_path: Path, **fields: Any) -> Path:
    values = {"pair": "BTC-USD", "trade_size_usd": 10, "stop_loss_pct": 5, **fields}
    path = tmp_path / "bot.json"
    path.write_text(json.dumps(values))
    return path


def test_help_explains_inputs_and_exit_codes(cli) -> None:
    code, out, _ = cli("backtest", "--help")
    assert code == 0
    for words in ("--bot", "--config", "--pair", "--data", "--check-lookahead", "--html", "code 3", "code 2"):
        assert words in out


def test_exactly_one_configuration_source(cli, tmp_path) -> None:
    code, _, err = cli("backtest", "--pair", "BTC-USD")
    assert code == 1 and "exactly one of --bot NAME or --config FILE" in err
    code, _, err = cli("backtest", "--bot", "x", "--config", str(_config(tmp_path)))
    assert code == 1 and err.count("\n") == 1


def test_a_bad_config_field_is_one_line_naming_the_field(cli, tmp_path) -> None:
    code, out, err = cli("backtest", "--config", str(_config(tmp_path, buy_threshold=7)))
    assert code == 1
    assert err.startswith("error:") and err.count("\n") == 1, err
    assert "buy_threshold" in err
    assert "Traceback" not in out + err


def test_a_config_with_a_wrongly_typed_field_names_it(cli, tmp_path) -> None:
    code, _, err = cli("backtest", "--config", str(_config(tmp_path, max_tranches="three")))
    assert code == 1 and "max_tranches" in err and err.count("\n") == 1


def test_a_trade_size_over_the_safety_limit_is_refused_like_the_api(cli, tmp_path) -> None:
    code, _, err = cli("backtest", "--config", str(_config(tmp_path, trade_size_usd=5000)))
    assert code == 1 and "trade_size_usd" in err and "maximum" in err


def test_toml_config_is_read(cli, tmp_path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('pair = "BTC-USD"\nbuy_threshold = 2.0\n')
    code, _, err = cli("backtest", "--config", str(path))
    assert code == 1 and "buy_threshold" in err


def test_bad_data_exits_2_naming_the_row(cli, tmp_path) -> None:
    data = tmp_path / "candles.csv"
    data.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1546300800,100,101,99,100,1\n"
        "1546304400,100,101,99,100,1\n"
        "1546308000,100,98,99,100,1\n"
    )
    code, out, err = cli(
        "backtest", "--config", str(_config(tmp_path)), "--data", str(data), "--granularity", "1h"
    )
    assert code == 2
    assert "row 3" in err and "high" in err
    assert err.count("\n") == 1 and "Traceback" not in out + err


def test_a_period_outside_the_data_says_what_the_data_covers(cli, tmp_path) -> None:
    code, _, err = cli(
        "backtest", "--config", str(_config(tmp_path)), "--pair", "BTC-USD", "--from", "2030-01-01"
    )
    assert code == 2 and "the data covers" in err


def test_an_unknown_bot_is_named(cli) -> None:
    code, _, err = cli("backtest", "--bot", "nobody")
    assert code == 1 and "nobody" in err


def test_a_bad_granularity_lists_the_choices(cli, tmp_path) -> None:
    code, _, err = cli("backtest", "--config", str(_config(tmp_path)), "--granularity", "7h")
    assert code == 1 and "1h" in err


def test_a_bad_starting_cash_names_the_option(cli, tmp_path) -> None:
    for cash in ("abc", "-5"):
        code, _, err = cli("backtest", "--config", str(_config(tmp_path)), "--cash", cash)
        assert code == 1 and "--cash" in err and err.count("\n") == 1, err
