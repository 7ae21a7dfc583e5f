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


def test_a_backtest_from_a_bot_file_loads_no_web_database_or_optimiser_stack(tmp_path: Path) -> None:
    """Start-up is part of a whole-process backtest (issue 12): a new process running
    ``backtest --config FILE --data FILE`` must not import FastAPI, SQLAlchemy, Optuna or Dask."""
    import os
    import subprocess
    import sys

    data = tmp_path / "c.csv"
    data.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},10,11,9,10.5,1\n" for i in range(300))
    )
    script = (
        "import sys\n"
        "from coinpilot.cli.main import _register_optional, app, run_cli\n"
        "_register_optional()\n"
        f"code = run_cli(app, ['backtest', '--config', {str(_config(tmp_path))!r}, '--data', {str(data)!r},"
        " '--granularity', '1m'])\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'optuna', 'dask', 'distributed', 'uvicorn')\n"
        "print('LOADED', code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_"))}
    env["COINPILOT_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert "LOADED 0 []" in proc.stdout, proc.stdout[-500:] + proc.stderr[-500:]


def test_the_command_line_freezes_the_collector_before_exit_and_its_reports_are_whole(tmp_path: Path) -> None:
    """``main()`` freezes the garbage collector once the command is done (the interpreter's exit
    then skips its full collections, ~0.1 s of a year's backtest); what the command wrote — the
    JSON report, the printed table — is complete, and atexit handlers still run."""
    import os
    import subprocess
    import sys

    data = tmp_path / "c.csv"
    data.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},10,11,9,10.5,1\n" for i in range(300))
    )
    report = tmp_path / "r.json"
    script = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('FROZEN', gc.get_freeze_count() > 0))\n"
        "from coinpilot.cli import main\n"
        f"sys.argv = ['coinpilot', 'backtest', '--config', {str(_config(tmp_path))!r},"
        f" '--data', {str(data)!r}, '--granularity', '1m', '--json', {str(report)!r}]\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_"))}
    env["COINPILOT_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.rstrip().endswith("FROZEN True") and "300 candles in" in proc.stdout
    assert json.loads(report.read_text())["mode"] == "backtest"  # parses: written whole
