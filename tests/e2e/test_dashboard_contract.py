"""The dashboard rendering the documented summary contract, in real headless Chromium.

The static files and a fixture summary are served through Playwright routing (see
_dashboard_contract.py), so every field, including nulls and production mode, is rendered
deterministically.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._dashboard import POLL_WAIT_MS, STATIC, card, open_dashboard, pause_timers, use_fake_timers
from tests.e2e._dashboard_contract import CONTRACT_SUMMARY, FAKE_ORIGIN, serve_contract

pytestmark = pytest.mark.browser


def test_contract_summary_renders_every_field_with_exact_money(page: Any) -> None:
    serve_contract(page, CONTRACT_SUMMARY)
    open_dashboard(page, FAKE_ORIGIN)

    badge = page.locator("#mode-badge")
    assert badge.inner_text() == "PRODUCTION"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(225, 29, 72)"
    assert "exchange outage" in page.locator("#emergency-banner").inner_text()
    assert page.locator("#trading-state").inner_text() == "Trading HALTED"
    assert page.locator("#trades-today").inner_text() == "3 / 30"
    assert "1,234,567.90" in page.locator("#totals").inner_text()  # a float would give …89
    assert "−12.50" in page.locator("#safety").inner_text()
    loss = page.locator("#safety [aria-label='Daily loss limit used']")
    assert loss.get_attribute("aria-valuenow") == "25"

    btc = card(page, "btc-demo")
    temp = btc.locator(".temperature")
    assert temp.inner_text().strip().lower() == "warm"  # a word and a colour: no emoji font needed
    assert temp.get_attribute("title") == "0.08 from buy"
    assert "🌤" not in btc.inner_text()
    assert btc.locator(".confirm-text").inner_text() == "40% · 3m 00s left"
    assert btc.locator(".confirmation [role=progressbar]").get_attribute("aria-valuenow") == "40"
    marker_left = btc.locator(".scorebar .marker").evaluate("e => e.style.left")
    assert float(marker_left.rstrip("%")) == pytest.approx(71.0)  # (0.42 + 1) / 2
    for text in ("BUILDING", "0.00100000", "43,000.00", "1 / 3"):  # size at the base increment
        assert text in btc.locator(".position").inner_text(), text
    assert "−0.05" in btc.inner_text()
    assert "9m 00s" in btc.locator(".cooldown").inner_text()
    assert "#7 BUY entry" in btc.locator(".last-trade").inner_text()

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


def test_contract_overview_makes_one_request_per_refresh_and_keeps_its_sort(page: Any) -> None:
    summary = copy.deepcopy(CONTRACT_SUMMARY)
    hits = serve_contract(page, summary)
    use_fake_timers(page)
    open_dashboard(page, FAKE_ORIGIN)
    pause_timers(page)
    page.locator("button[data-sort-key=name]").click()  # name, descending
    names = page.locator("tr.bot-row .bot-name").all_inner_texts()
    assert names == ["eth-fresh", "btc-demo"]
    before = len(hits)

    summary["bots"][0]["score"] = -0.5  # the routed handler serves this dict on the next poll
    page.clock.run_for(5_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('tr.bot-row .score-value')]"
        ".some(e => e.textContent === '−0.50')",
        timeout=POLL_WAIT_MS,
    )
    assert page.locator("tr.bot-row .bot-name").all_inner_texts() == ["eth-fresh", "btc-demo"]
    assert hits[before:] == ["/api/v1/bots/status/summary"]  # one request, not one per bot
    assert page.locator("th[aria-sort=descending] button").inner_text().lower().startswith("bot")


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
        "formatPriceAt('43210.5', '0.01')": "43,210.50",
        "formatPriceAt('0.081234567', '0.0001')": "0.0812",
        "formatSizeAt('0.0994', '0.00000001')": "0.09940000",
        "formatSizeAt('12.5', '1')": "13",
        "formatUsd('-12.5')": "−$12.50",
        "formatUsd('3', true)": "+$3.00",
        "formatPct(0.0123)": "+1.23%",
        "formatPct(-0.5, 1)": "−50.0%",
        "ratio('1', '0')": None,
    }
    got = {expr: page.evaluate(f"CoinpilotFormat.{expr}") for expr in cases}
    assert got == cases


def test_contract_screenshot_in_narrow_dark_viewport_has_no_horizontal_overflow(
    browser: Any, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    pg = context.new_page()
    try:
        serve_contract(pg, CONTRACT_SUMMARY)
        pg.goto(FAKE_ORIGIN + "/")
        pg.wait_for_selector("#bots tr.bot-row")
        time.sleep(0.2)
        pg.screenshot(path=str(artifacts / "overview-phone-dark.png"), full_page=True)
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(15, 19, 24)"
    finally:
        context.close()
