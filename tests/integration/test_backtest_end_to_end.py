"""The real driver behind the CLI, the API and the look-ahead check, on the shipped candles."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from coinpilot.backtest import lookahead
from coinpilot.backtest.data import shipped_candles, window
from coinpilot.backtest.engine import run_backtest
from coinpilot.domain.types import Granularity
from tests.conftest import AUTH
from tests.integration.test_api_backtests import wait_done
from tests.integration.test_api_bots import new_bot
from tests.integration.test_cli_backtest import cli  # noqa: F401  (fixture)

FIELDS = {
    "pair": "BTC-USD",
    "trade_size_usd": 20,
    "buy_threshold": 0.3,
    "sell_threshold": 0.3,
    "confirmation_minutes": 0,
    "cooldown_minutes": 60,
    "stop_loss_pct": 5,
}


def _candles() -> Any:
    full = shipped_candles("BTC-USD", Granularity.ONE_HOUR)
    return window(full, datetime(2018, 10, 1, tzinfo=UTC), datetime(2019, 3, 1, tzinfo=UTC))


def test_the_real_driver_passes_both_look_ahead_checks() -> None:
    from coinpilot.api.backtest_inputs import bot_from_fields, make_spec
    from coinpilot.domain.limits import SafetyLimits

    limits = SafetyLimits()
    bot, strategy = bot_from_fields(dict(FIELDS), limits)
    spec, _ = make_spec(
        bot,
        strategy,
        limits,
        fee_rate=Decimal("0.006"),
        slippage_bps=Decimal(5),
        starting_cash=Decimal(1000),
        label="lookahead",
    )
    report = lookahead.check(lambda c, start: run_backtest(spec, c, start=start), _candles())
    assert report.future.compared > 0 and report.history.compared > 0  # not vacuous
    assert report.passed, report.to_dict()


def test_cli_backtest_writes_reports_and_passes_the_look_ahead_check(cli, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "bot.json"
    config.write_text(json.dumps(FIELDS))
    out_json, out_html = tmp_path / "bt.json", tmp_path / "bt.html"
    code, out, err = cli(
        "backtest",
        "--config",
        str(config),
        "--pair",
        "BTC-USD",
        "--granularity",
        "1h",
        "--from",
        "2019-01-01",
        "--to",
        "2019-03-01",
        "--json",
        str(out_json),
        "--html",
        str(out_html),
        "--check-lookahead",
    )
    assert code == 0, err
    assert "total return" in out and "buy and hold" in out
    assert "look-ahead check, future: pass" in out and "look-ahead check, history: pass" in out
    data = json.loads(out_json.read_text())
    assert data["period"]["start"] == "2019-01-01T00:00:00+00:00"  # history before --from warmed up
    assert data["summary"]["fills"] == len(data["fills"]) > 0
    page = out_html.read_text()
    block = re.search(r"<script id=backtest-data type=application/json>(.*?)</script>", page, re.S)
    assert block is not None and len(json.loads(block.group(1))["markers"]) == len(data["fills"])


def test_the_api_runs_the_real_driver(client) -> None:
    body = {
        "bot": new_bot(**{k: v for k, v in FIELDS.items() if k != "trade_size_usd"}, trade_size_usd="20"),
        "start": "2019-01-01T00:00:00Z",
        "end": "2019-02-01T00:00:00Z",
    }
    r = client.post("/api/v1/backtests", json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    done = wait_done(client, r.json()["id"], timeout=60)
    assert done["status"] == "done", done["error"]
    assert done["summary"]["period_start"] == "2019-01-01T00:00:00+00:00"
    assert client.get(done["report_url"]).status_code == 200


def test_cli_backtests_a_stored_bot_with_its_own_settings(cli) -> None:  # noqa: F811
    code, _, err = cli("bots", "create", "--name", "btc", "--pair", "BTC-USD", "--trade-size", "20")
    assert code == 0, err
    code, out, err = cli("backtest", "--bot", "btc", "--from", "2019-01-01", "--to", "2019-02-01")
    assert code == 0, err
    assert "Backtest BTC-USD ONE_HOUR" in out and "final equity" in out


def test_cli_backtests_a_csv_file(cli, tmp_path: Path) -> None:  # noqa: F811
    c = window(
        shipped_candles("BTC-USD", Granularity.ONE_HOUR),
        datetime(2018, 12, 1, tzinfo=UTC),
        datetime(2019, 2, 1, tzinfo=UTC),
    )
    data = tmp_path / "candles.csv"
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{int(t)},{float(o)!r},{float(h)!r},{float(lo)!r},{float(cl)!r},{float(v)!r}"
        for t, o, h, lo, cl, v in zip(c.start, c.open, c.high, c.low, c.close, c.volume, strict=True)
    ]
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / "bot.json"
    config.write_text(json.dumps(FIELDS))
    out_json = tmp_path / "bt.json"
    code, _, err = cli(
        "backtest",
        "--config",
        str(config),
        "--data",
        str(data),
        "--granularity",
        "1h",
        "--from",
        "2019-01-01",
        "--json",
        str(out_json),
    )
    assert code == 0, err
    report = json.loads(out_json.read_text())
    # the file's December warmed the signals up; trading starts on --from
    assert report["period"]["start"] == "2019-01-01T00:00:00+00:00"
    assert report["pair"] == "BTC-USD"


def test_cli_look_ahead_check_fails_a_leaky_driver_with_exit_code_3(
    cli,  # noqa: F811
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    """The real driver fed each candle's *next* close (a classic look-ahead bug) is caught."""
    import numpy as np

    from coinpilot.cli import backtest as backtest_cli
    from coinpilot.domain.market import Candles

    def leaky(spec: Any, c: Candles, **kw: Any) -> Any:
        close = np.concatenate((c.close[1:], c.close[-1:]))
        peeked = Candles(
            c.pair,
            c.granularity,
            c.start,
            c.open,
            np.maximum(c.high, close),
            np.minimum(c.low, close),
            close,
            c.volume,
        )
        return run_backtest(spec, peeked, **kw)

    monkeypatch.setattr(backtest_cli, "_driver", lambda: leaky)
    config = tmp_path / "bot.json"
    config.write_text(json.dumps(FIELDS))
    code, out, _ = cli(
        "backtest",
        "--config",
        str(config),
        "--pair",
        "BTC-USD",
        "--from",
        "2019-01-01",
        "--to",
        "2019-03-01",
        "--check-lookahead",
    )
    assert code == 3
    assert "look-ahead check, future: CHANGED" in out
    assert "decision #" in out  # the first decision that changed is shown
