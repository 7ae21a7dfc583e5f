"""The dashboard in real headless Chromium against the live app: rendering, polling, API outages.

The live server is the real app (see conftest.py); polling is driven on Playwright's page clock.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._dashboard import POLL_WAIT_MS, card, is_summary, open_dashboard, pause_timers, use_fake_timers

pytestmark = pytest.mark.browser


def test_live_dashboard_loads_without_console_errors_and_shows_mode_and_every_bot(
    live_server: Any, page: Any, artifacts: Path
) -> None:
    btc = live_server.create_bot("btc-e2e", "BTC-USD")
    live_server.create_bot("eth-e2e", "ETH-USD")
    live_server.post(f"/bots/{btc}/evaluate")

    open_dashboard(page, live_server.url)

    assert page.locator("#mode-badge").inner_text() == "MOCK"
    assert page.locator("tr.bot-row").count() == 2
    evaluated = card(page, "btc-e2e")
    assert evaluated.locator(".temperature .temp-level").inner_text().strip() not in ("", "—")
    assert evaluated.locator(".score-value").inner_text() != "—"
    assert evaluated.locator(".confirmation").count() == 1
    assert card(page, "eth-e2e").locator(".temperature").inner_text().endswith("—")
    assert re.match(r"Last updated \d\d:\d\d:\d\d", page.locator("#last-updated").inner_text())
    page.screenshot(path=str(artifacts / "dashboard-live.png"), full_page=True)
    assert page.log.errors == []


def test_dashboard_polls_summary_every_five_seconds_and_never_posts_on_its_own(
    live_server: Any, page: Any
) -> None:
    live_server.create_bot("btc-e2e", "BTC-USD")
    use_fake_timers(page)
    open_dashboard(page, live_server.url)
    pause_timers(page)
    for _ in range(3):
        with page.expect_response(is_summary):
            page.clock.run_for(5_000)
        page.wait_for_timeout(150)  # let the page schedule its next poll

    fetched_at = page.evaluate("window.__summaryFetches")  # page clock, milliseconds
    gaps = [b - a for a, b in itertools.pairwise(fetched_at)]
    assert len(gaps) == 3 and all(abs(g - 5_000) <= 20 for g in gaps), gaps
    assert len(page.log.summary_gets()) == 4
    assert page.log.posts() == []


def test_server_side_changes_appear_within_one_poll_without_reload(live_server: Any, page: Any) -> None:
    bot = live_server.create_bot("btc-e2e", "BTC-USD")
    live_server.post(f"/bots/{bot}/start")
    open_dashboard(page, live_server.url)
    page.evaluate("window.__notReloaded = true")
    btc = card(page, "btc-e2e")
    assert btc.locator(".bot-status").inner_text() == "RUNNING"
    assert btc.locator(".score-value").inner_text() == "—"

    assert page.locator("#trades-body").inner_text() == "No trades yet."

    live_server.post(f"/bots/{bot}/evaluate")
    live_server.post("/trading/enable")
    live_server.post("/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"})
    live_server.post(f"/bots/{bot}/stop")
    changed = time.monotonic()
    btc.locator(".bot-status", has_text="STOPPED").wait_for(timeout=POLL_WAIT_MS)
    assert btc.locator(".score-value").inner_text() != "—"
    assert page.locator("#trading-state").inner_text() == "Trading ACTIVE"
    row = page.locator("#trades-body tr").first.inner_text()
    for text in ("btc-e2e", "BUY", "manual", "MOCK"):
        assert text in row, text
    assert "#1 BUY manual" in btc.locator(".last-trade").inner_text()
    assert time.monotonic() - changed < POLL_WAIT_MS / 1000
    assert page.evaluate("window.__notReloaded") is True
    first, second = page.log.summary_gets()[:2]  # real time: the change came with the next poll
    assert 4.5 <= second - first <= 5.8


def test_api_down_banner_appears_keeps_last_data_and_clears_when_the_api_returns(
    live_server: Any, page: Any
) -> None:
    live_server.create_bot("btc-e2e", "BTC-USD")
    use_fake_timers(page)
    open_dashboard(page, live_server.url)
    pause_timers(page)
    banner = page.locator("#conn-banner")
    assert banner.is_hidden()

    live_server.stop()
    with page.expect_event("requestfailed", is_summary):
        page.clock.run_for(5_000)
    banner.wait_for(state="visible", timeout=2000)
    assert "Cannot reach the Coinpilot API" in banner.inner_text()
    assert "Retrying every 5 s" in banner.inner_text()
    assert card(page, "btc-e2e").is_visible()  # the last data stays on screen

    live_server.start()
    page.wait_for_timeout(150)
    with page.expect_response(is_summary):
        page.clock.run_for(5_000)
    banner.wait_for(state="hidden", timeout=2000)
    assert card(page, "btc-e2e").is_visible()
