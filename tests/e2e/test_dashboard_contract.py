"""The dashboard rendering the documented summary contract, in real headless Chromium.

The static files and a fixture summary are served through Playwright routing (see
_dashboard_contract.py), so every field, including nulls and production mode, is rendered
deterministically.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tests.e2e._dashboard import POLL_WAIT_MS, STATIC, card, open_dashboard, pause_timers, use_fake_timers
from tests.e2e._dashboard_contract import CONTRACT_SUMMARY, FAKE_ORIGIN, HISTORY, serve_contract

pytestmark = pytest.mark.browser


def test_contract_summary_renders_every_field_with_exact_money(page: Any) -> None:
    serve_contract(page, CONTRACT_SUMMARY)
    open_dashboard(page, FAKE_ORIGIN)

    badge = page.locator("#mode-badge")
    assert badge.inner_text() == "PRODUCTION"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(225, 29, 72)"
    assert "exchange outage" in page.locator("#emergency-banner").inner_text()
    assert page.locator("#trading-state").inner_text() == "Trading enabled"
    assert page.locator("#trades-today").inner_text() == "3 / 30"
    assert "1,234,567.90" in page.locator("#totals").inner_text()  # a float would give …89
    assert "−12.50" in page.locator("#safety").inner_text()
    loss = page.locator("#safety [aria-label='Daily loss limit used']")
    assert loss.get_attribute("aria-valuenow") == "25"

    btc = card(page, "btc-demo")
    assert btc.locator(".temperature").inner_text().replace("\n", " ").lower().startswith("🌤️ warm")
    assert "0.08 from buy" in btc.locator(".temperature").inner_text()
    assert btc.locator(".confirm-text").inner_text() == "40% · 3m 00s left"
    assert btc.locator(".confirmation [role=progressbar]").get_attribute("aria-valuenow") == "40"
    marker_left = btc.locator(".scorebar .marker").evaluate("e => e.style.left")
    assert float(marker_left.rstrip("%")) == pytest.approx(71.0)  # (0.42 + 1) / 2
    position = btc.locator(".position").inner_text()
    for text in ("BUILDING", "0.001", "43,000.00", "−0.05", "1 / 3", "9m 00s left", "#7 BUY entry"):
        assert text in position, text
    assert btc.locator(".signals").is_hidden()
    btc.locator(".signals-box summary").click()
    assert "rsi" in btc.locator(".signals").inner_text()

    fresh = card(page, "eth-fresh")
    assert fresh.locator(".score-value").inner_text() == "—"
    assert "no pending action" in fresh.locator(".confirmation").inner_text()
    assert fresh.locator(".confirmation [role=progressbar]").count() == 0
    assert "none" in fresh.locator(".position").inner_text()
    assert fresh.locator(".last-error").inner_text().endswith("<b>not html</b>")  # text, not markup

    row = page.locator("#trades-body tr").first.inner_text()
    for text in (
        "btc-demo",
        "BUY",
        "entry",
        "SETTLED",
        "0.00057",
        "43,210.50",
        "$24.85",
        "$0.15",
        "PRODUCTION",
    ):
        assert text in row, text
    assert page.log.errors == []


def test_contract_sparkline_draws_history_and_expanded_signals_survive_a_refresh(page: Any) -> None:
    summary = copy.deepcopy(CONTRACT_SUMMARY)
    hits = serve_contract(page, summary)
    use_fake_timers(page)
    open_dashboard(page, FAKE_ORIGIN)
    pause_timers(page)
    btc = card(page, "btc-demo")
    btc.locator(".spark polyline").wait_for(timeout=5000)
    assert len(btc.locator(".spark polyline").get_attribute("points").split()) == len(HISTORY)
    btc.locator(".signals-box summary").click()

    summary["bots"][0]["score"] = -0.5  # the routed handler serves this dict on the next poll
    page.clock.run_for(5_000)
    page.wait_for_function(
        "() => document.querySelector('article.bot .score-value').textContent === '−0.50'",
        timeout=POLL_WAIT_MS,
    )
    assert card(page, "btc-demo").locator(".signals").is_visible()
    # history is only fetched for evaluated bots, and not again while last_evaluated_at is unchanged
    assert hits.count("/api/v1/bots/1/signal-history") == 1
    assert "/api/v1/bots/2/signal-history" not in hits


def test_money_formatting_uses_exact_decimals(page: Any) -> None:
    page.set_content("<html><body></body></html>")
    page.add_script_tag(path=str(STATIC / "format.js"))
    cases = {
        "formatMoney('1234567.895')": "1,234,567.90",
        "formatMoney('0.005')": "0.01",
        "formatMoney('-0.004')": "0.00",
        "formatMoney('0E-8')": "0.00",
        "formatMoney('1E+3')": "1,000.00",
        "formatMoney(null)": "—",
        "formatPnl('2.5')": "+2.50",
        "formatPnl('-1000.125')": "−1,000.13",
        "formatSize('0.00100000')": "0.001",
        "formatPrice('0.081234567')": "0.08123457",
        "formatPrice('43210.5')": "43,210.50",
        "formatDuration(180)": "3m 00s",
        "formatDuration(3725)": "1h 02m",
        "ratio('-12.5', '50')": -0.25,
        "ratio('1', '0')": None,
    }
    got = {expr: page.evaluate(f"CoinpilotFormat.{expr}") for expr in cases}
    assert got == cases


def test_contract_screenshot_in_narrow_dark_viewport_has_no_horizontal_overflow(browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    pg = context.new_page()
    try:
        serve_contract(pg, CONTRACT_SUMMARY)
        pg.goto(FAKE_ORIGIN + "/")
        pg.wait_for_selector("#bots article.bot")
        time.sleep(0.2)
        pg.screenshot(path="/tmp/dashboard-mobile-dark.png", full_page=True)
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(15, 19, 24)"
    finally:
        context.close()
