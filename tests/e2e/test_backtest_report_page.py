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
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    import os

    if os.environ.get("H12B_SHOT"):
        page.screenshot(path=os.environ["H12B_SHOT"], full_page=True)
