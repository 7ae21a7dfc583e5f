"""The backtest's HTML report opened from disk in Chromium: the inlined chart library runs with
no network, and the price chart carries one marker per fill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coinpilot.backtest import report_html
from tests import backtest_cases as cases

pytestmark = pytest.mark.browser


def test_the_report_renders_offline_with_one_marker_per_fill(page: Any, tmp_path: Path) -> None:
    result = cases.ladder()
    path = tmp_path / "report.html"
    path.write_text(report_html.render(result), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector("#price-chart[data-marker-count]")
    assert page.locator("#price-chart").get_attribute("data-marker-count") == str(len(result.fills))
    assert page.locator("#price-chart canvas").count() > 0
    assert page.locator("#equity-chart canvas").count() > 0
    assert page.locator("#drawdown-chart canvas").count() > 0
    assert not page.log.errors, page.log.errors
    fetched = [url for _, _, url in page.log.requests if not url.startswith("file:")]
    assert fetched == []  # nothing from the network


def test_a_stored_backtest_shows_in_analytics_and_its_report_renders_under_the_api_policy(
    live_server: Any, page: Any
) -> None:
    import time

    bot_id = live_server.create_bot("btc-bt", "BTC-USD")
    run = live_server.post(
        "/backtests",
        json={"bot_id": bot_id, "start": "2019-01-01T00:00:00Z", "end": "2019-03-01T00:00:00Z"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = live_server.request("GET", f"/backtests/{run['id']}", token=None).json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "done", status
    page.goto(live_server.url + "/analytics")
    row = page.locator(
        f"article.mode-card[data-mode='backtest'] section.backtest-run[data-run='{run['id']}']"
    )
    row.wait_for()
    assert "btc-bt" in row.inner_text()
    assert "Buy and hold" in row.inner_text()
    row.locator("h3 a").click()  # the report page, served with its own hash-based policy
    page.wait_for_selector("#price-chart[data-marker-count]")
    fills = status["summary"]["fills"]
    assert page.locator("#price-chart").get_attribute("data-marker-count") == str(fills)
    assert not [e for e in page.log.errors if "Content Security Policy" in e], page.log.errors
