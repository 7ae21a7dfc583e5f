"""Backtest reports: the JSON schema, the terminal tables, the offline HTML page."""

from __future__ import annotations

import json
import re

from rich.console import Console

from coinpilot.backtest import report, report_html
from coinpilot.cli.backtest_tables import print_report
from tests import backtest_cases as cases


def test_json_is_plain_data_with_decimals_as_strings() -> None:
    data = report.to_dict(cases.ladder())
    text = json.dumps(data)  # no custom encoder needed
    back = json.loads(text)
    assert back["schema"] == report.SCHEMA
    assert back["mode"] == "backtest"
    assert back["summary"]["final_equity"] == "1005"
    assert back["summary"]["trades"] == 1
    assert back["summary"]["sharpe"] is None or isinstance(back["summary"]["sharpe"], float)
    assert back["fills"][0]["price"] == "100"
    assert back["fills"][0]["side"] == "buy"
    assert back["refusals_by_code"] == {"MAX_POSITION": 1, "MAX_TRANCHES": 2}
    assert back["exit_reasons"][0]["pnl"] in ("-5", "10")
    assert back["pnl_by_period"]["month"] == {"2024-03": "5"}
    assert len(back["equity_curve"]["t"]) == len(back["equity_curve"]["equity"]) == 5


def test_flat_json_has_null_ratios_not_nan() -> None:
    text = json.dumps(report.to_dict(cases.flat()), allow_nan=False)
    assert json.loads(text)["summary"]["sharpe"] is None


def test_thinning_keeps_the_ends_and_every_fill_candle() -> None:
    idx = report.thin(100_000, keep=100, must=(12_345, 99_998))
    assert idx[0] == 0 and idx[-1] == 99_999
    assert 12_345 in idx and 99_998 in idx
    assert len(idx) <= 102


def test_terminal_tables_name_the_figures() -> None:
    console = Console(width=200, record=True)
    print_report(console, cases.ladder())
    out = console.export_text()
    for words in (
        "total return",
        "max drawdown",
        "Sharpe",
        "buy and hold",
        "Entries by tranche",
        "Exits by reason",
        "MAX_TRANCHES",
        "2024-03",
    ):
        assert words in out


def test_html_is_self_contained_with_one_marker_per_fill() -> None:
    result = cases.ladder()
    page = report_html.render(result)
    # nothing loaded from anywhere: no src/href attribute on script, link, img, iframe
    for tag in re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", page, flags=re.I):
        assert not re.search(r"\b(?:src|href)\s*=", tag, flags=re.I), tag
    assert "<link" not in page.lower()
    assert "LightweightCharts" in page  # the vendored library is inlined
    data_block = re.search(r"<script id=backtest-data type=application/json>(.*?)</script>", page, re.S)
    assert data_block is not None
    data = json.loads(data_block.group(1))
    assert len(data["markers"]) == len(result.fills) == 4
    assert [m["shape"] for m in data["markers"]] == ["arrowUp", "arrowUp", "arrowDown", "arrowDown"]
    marker_times = {m["time"] for m in data["markers"]}
    assert marker_times <= {p["time"] for p in data["price"]}  # every marker sits on a point
    assert data["avg_entry"][1]["value"] == 90.0  # (100 + 80) / 2 after the second tranche
    assert "value" not in data["avg_entry"][-1]  # flat again: the line ends


def test_html_draws_the_stop_line_when_the_bot_has_a_stop() -> None:
    from decimal import Decimal

    r = cases.ladder()
    r.spec = cases.spec(stop_loss_pct=Decimal(10))
    data = report_html.chart_data(r, report.compute(r))
    first = data["stop"][0]
    assert first["value"] == 90.0  # 10 % under the first entry at 100
