"""The overview with the demo bots, a trade appearing within one refresh, the bot page's chart
with a marker per trade, and the trade page with its fills and safety checks, in real headless
Chromium against the live app. Screenshots go to the ``artifacts`` directory (conftest.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coinpilot.cli.demo import DEMO_BOTS
from tests.e2e._dashboard import (
    card,
    enforce_strict_csp,
    is_summary,
    open_dashboard,
    pause_timers,
    use_fake_timers,
)

pytestmark = pytest.mark.browser


def _jsonable(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in spec.items()}


def _demo_bots(live_server: Any) -> dict[str, int]:
    ids = {}
    for spec in DEMO_BOTS:
        bot = live_server.post("/bots", json=_jsonable(spec))
        ids[spec["name"]] = int(bot["id"])
        live_server.post(f"/bots/{bot['id']}/evaluate")
    return ids


def _settle(live_server: Any) -> None:
    live_server.services.sync.sync_all()


def _buy_and_sell_twice(live_server: Any, bot: int) -> list[int]:
    """A buy, then two sales of a third of it each (a third stays held): three settled trades."""
    live_server.post("/trading/enable")
    ids = [live_server.post("/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "20"})]
    _settle(live_server)
    size = Decimal(live_server.request("GET", f"/bots/{bot}/position").json()["base_size"])
    third = (size / 3).quantize(Decimal("0.00000001"))
    for _ in range(2):
        ids.append(
            live_server.post("/trades/execute", json={"bot_id": bot, "side": "sell", "base_size": str(third)})
        )
        _settle(live_server)
    return [int(r["trade"]["id"]) for r in ids]


def test_overview_shows_the_demo_bots_mode_state_and_usage(
    live_server: Any, page: Any, artifacts: Path
) -> None:
    ids = _demo_bots(live_server)
    live_server.post(f"/bots/{ids['btc-demo']}/start")
    live_server.post("/trading/enable")
    live_server.post("/trades/execute", json={"bot_id": ids["btc-demo"], "side": "buy", "quote_size": "20"})
    _settle(live_server)
    page.set_viewport_size({"width": 1280, "height": 800})
    enforce_strict_csp(page, live_server.url)
    open_dashboard(page, live_server.url)

    assert page.locator("#mode-badge").inner_text() == "MOCK"
    assert page.locator("#trading-state").inner_text() == "Trading ACTIVE"
    assert page.locator("tr.bot-row").count() == 2
    btc = card(page, "btc-demo")
    assert "1 / 10 trades" in btc.locator(".usage").inner_text()
    assert "cooldown" in btc.locator(".cooldown").inner_text()  # the buy filled just now
    assert "1 / 3" in btc.locator(".position").inner_text()
    eth = card(page, "eth-demo")
    assert "bot is stopped" in eth.locator(".confirmation").inner_text()  # no live confirmation
    assert eth.locator(".temperature .temp-level").inner_text().strip() not in ("", "—")
    align = btc.locator("td.num").first.evaluate("e => getComputedStyle(e).textAlign")
    assert align == "right"
    assert "Paper wallet" in page.locator("#totals").inner_text()
    page.screenshot(path=str(artifacts / "overview-1280x800.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # the bots table scrolls inside its own box
    page.screenshot(path=str(artifacts / "overview-phone.png"), full_page=True)
    assert page.evaluate("window.__cspViolations") == []
    assert page.log.errors == []


def test_a_trade_made_through_the_api_appears_within_one_refresh_with_one_request(
    live_server: Any, page: Any
) -> None:
    bot = live_server.create_bot("btc-e2e", "BTC-USD")
    use_fake_timers(page)
    open_dashboard(page, live_server.url)
    pause_timers(page)
    assert page.locator("#trades-body").inner_text() == "No trades yet."
    live_server.post("/trading/enable")
    trade = live_server.post("/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10"})
    before = len([r for r in page.log.requests if "/api/" in r[2]])
    with page.expect_response(is_summary):
        page.clock.run_for(5_000)
    row = page.locator(f"#trades-body tr[data-trade-id='{trade['trade']['id']}']")
    row.wait_for(timeout=2000)
    assert "btc-e2e" in row.inner_text() and "BUY" in row.inner_text()
    assert f"#{trade['trade']['id']}" in card(page, "btc-e2e").locator(".last-trade").inner_text()
    api_calls = [r[2] for r in page.log.requests if "/api/" in r[2]][before:]
    assert len(api_calls) == 1 and "bots/status/summary" in api_calls[0], api_calls


def test_bot_page_chart_has_a_marker_for_each_trade_and_the_levels(
    live_server: Any, page: Any, artifacts: Path
) -> None:
    ids = _demo_bots(live_server)
    bot = ids["btc-demo"]
    trade_ids = _buy_and_sell_twice(live_server, bot)
    refused = live_server.request(  # the cooldown refuses it: a decision, no trade, no marker
        "POST", "/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "20"}
    )
    assert refused.status_code == 403
    page.set_viewport_size({"width": 1280, "height": 800})
    enforce_strict_csp(page, live_server.url)
    page.goto(f"{live_server.url}/bots/{bot}")  # a deep link
    chart = page.locator("#bot-chart")
    page.wait_for_function(
        "() => (document.querySelector('#bot-chart') || {dataset: {}}).dataset.markerCount",
        timeout=10_000,
    )
    assert int(chart.get_attribute("data-marker-count")) == len(trade_ids) == 3
    assert int(chart.get_attribute("data-candle-count")) > 50
    assert chart.locator("canvas").count() > 0
    assert "3 trade markers" in page.locator("#chart-note").inner_text()
    assert page.locator(".card.wide .trades tbody tr:not(.fill-row)").count() == 3
    assert page.locator(".fill-row").count() >= 3  # every trade filled at least once
    assert "COOLDOWN" in page.locator(".decisions tr.refused").first.inner_text()
    page.screenshot(path=str(artifacts / "bot-page.png"), full_page=True)
    chart.screenshot(path=str(artifacts / "bot-chart.png"))

    # The levels the chart draws are the server's: average entry and the demo bot's 4% stop.
    data = live_server.request("GET", f"/bots/{bot}/page").json()
    assert Decimal(data["levels"]["stop_loss"]) == Decimal(data["levels"]["avg_entry"]) * Decimal("0.96")
    assert len(data["levels"]["take_profit"]) == 2
    assert page.evaluate("window.__cspViolations") == []  # no inline script or style text
    assert page.log.errors == []


def test_trade_page_shows_fills_safety_checks_and_position_change(
    live_server: Any, page: Any, artifacts: Path
) -> None:
    ids = _demo_bots(live_server)
    trade_ids = _buy_and_sell_twice(live_server, ids["eth-demo"])
    sell = trade_ids[1]
    detail = live_server.request("GET", f"/trades/{sell}/page").json()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/bots/{ids['eth-demo']}")
    page.locator(f"a[href='/trades/{sell}']").first.click()  # SPA navigation
    page.locator("#trade-fills").wait_for(timeout=5000)
    assert page.url.endswith(f"/trades/{sell}")
    fills = page.locator("#trade-fills tbody tr.fill-row")
    assert fills.count() == len(detail["trade"]["fills"]) >= 1
    checks = page.locator("#trade-safety tr.check-row")
    assert checks.count() == len(detail["safety"]["checks"]) > 5
    assert "ALLOWED" in page.locator("#trade-safety").inner_text()
    body = page.locator("#view-page").inner_text()
    assert "Before" in body and "After" in body and "Realised P&L" in body
    page.screenshot(path=str(artifacts / "trade-page.png"), full_page=True)
    page.go_back()
    page.locator("#bot-chart").wait_for(timeout=5000)
    assert page.log.errors == []


TRADE_ROWS = ".card.wide .trades tbody tr:not(.fill-row)"


def test_bot_page_loads_older_trades_on_demand_from_the_keyboard(
    live_server: Any, page: Any, artifacts: Path
) -> None:
    from coinpilot.testing.dashboard_seed import seed_dashboard

    now = live_server.services.clock.now()
    (bot,) = seed_dashboard(live_server.services.sessions, now, bots=1, trades=60, pairs=["BTC-USD"])
    total = len(live_server.request("GET", f"/bots/{bot}/page", params={"limit": 200}).json()["trades"])
    assert total > 50
    enforce_strict_csp(page, live_server.url)
    page.goto(f"{live_server.url}/bots/{bot}")
    rows = page.locator(TRADE_ROWS)
    rows.first.wait_for(timeout=10_000)
    assert rows.count() == 25  # the newest page only
    more = page.locator("#older-trades")
    more.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.querySelectorAll('{TRADE_ROWS}').length === 50")
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "older-trades"
    page.keyboard.press("Enter")  # focus stayed on the button: the next page
    page.wait_for_function(f"() => document.querySelectorAll('{TRADE_ROWS}').length === {total}")
    assert page.locator("#older-trades").count() == 0  # nothing older
    page.screenshot(path=str(artifacts / "bot-page-older-trades.png"), full_page=True)
