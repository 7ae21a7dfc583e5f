"""The dashboard in real headless Chromium.

Live tests run the real app (see conftest.py). Contract tests serve the static files and a
fixture summary (the documented JSON contract) through Playwright routing, so every field,
including nulls and production mode, is rendered deterministically.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

import coinpilot.web

pytestmark = pytest.mark.browser

STATIC = Path(coinpilot.web.__file__).parent / "static"
FAKE_ORIGIN = "http://coinpilot.test"
POLL_WAIT_MS = 6500  # one 5 s poll plus slack
SCREENSHOT = Path("/tmp/dashboard.png")

CONTRACT_SUMMARY: dict[str, Any] = {
    "generated_at": "2024-03-01T12:00:00+00:00",
    "mode": "production",
    "trading": {
        "enabled": True,
        "emergency_stop": True,
        "emergency_reason": "exchange outage",
        "emergency_at": "2024-03-01T11:59:00+00:00",
    },
    "safety": {
        "trades_today": 3,
        "max_daily_trades": 30,
        "realized_pnl_today": "-12.5",
        "daily_loss_limit_usd": "50",
        "max_trade_usd": "25",
    },
    "totals": {
        "bots": 2,
        "running": 1,
        "realized_pnl": "1234567.895",
        "unrealized_pnl": "-0.05",
        "exposure": "43.26",
    },
    "bots": [
        {
            "id": 1,
            "name": "btc-demo",
            "pair": "BTC-USD",
            "status": "RUNNING",
            "status_reason": None,
            "buy_threshold": 0.3,
            "sell_threshold": 0.3,
            "score": 0.42,
            "action": "buy",
            "price": "43210.50",
            "temperature": {
                "level": "warm",
                "emoji": "🌤️",
                "ratio": 0.7,
                "distance_to_action": 0.08,
                "leaning": "buy",
            },
            "confirmation": {
                "action": "buy",
                "since": "2024-03-01T11:58:00+00:00",
                "required_seconds": 300,
                "elapsed_seconds": 120,
                "progress": 0.4,
                "remaining_seconds": 180,
                "confirmed": False,
            },
            "signals": [
                {
                    "name": "rsi",
                    "status": "ok",
                    "value": 28.1,
                    "score": 0.6,
                    "weight": 0.4,
                    "effective_weight": 0.4,
                    "contribution": 0.24,
                    "detail": {},
                }
            ],
            "last_evaluated_at": "2024-03-01T12:00:00+00:00",
            "last_error": None,
            "position": {
                "status": "BUILDING",
                "base_size": "0.00100000",
                "avg_entry_price": "43000",
                "cost": "43.26",
                "unrealized_pnl": "-0.05",
                "realized_pnl": "0",
                "tranches": 1,
                "max_tranches": 3,
            },
            "last_trade": {
                "id": 7,
                "side": "buy",
                "intent": "entry",
                "status": "SETTLED",
                "created_at": "2024-03-01T11:50:00+00:00",
                "filled_value": "24.85",
                "mode": "production",
            },
            "cooldown_remaining_seconds": 540,
        },
        {
            "id": 2,
            "name": "eth-fresh",
            "pair": "ETH-USD",
            "status": "STOPPED",
            "status_reason": "created",
            "buy_threshold": 0.4,
            "sell_threshold": 0.35,
            "score": None,
            "action": None,
            "price": None,
            "temperature": None,
            # the API sends an idle confirmation (action null) rather than null
            "confirmation": {
                "action": None,
                "since": None,
                "required_seconds": 300.0,
                "elapsed_seconds": 0.0,
                "progress": 0.0,
                "remaining_seconds": 300.0,
                "confirmed": False,
            },
            "signals": [],
            "last_evaluated_at": None,
            "last_error": "candles unavailable: <b>not html</b>",
            "position": None,
            "last_trade": None,
            "cooldown_remaining_seconds": 0,
        },
    ],
    "recent_trades": [
        {
            "id": 7,
            "bot_id": 1,
            "bot_name": "btc-demo",
            "pair": "BTC-USD",
            "side": "buy",
            "intent": "entry",
            "status": "SETTLED",
            "mode": "production",
            "created_at": "2024-03-01T11:50:00+00:00",
            "requested_quote_size": "25",
            "requested_base_size": None,
            "filled_base_size": "0.00057",
            "average_fill_price": "43210.5",
            "filled_value": "24.85",
            "fees": "0.15",
        },
    ],
}
HISTORY = [{"evaluated_at": f"2024-03-01T11:{m:02d}:00+00:00", "score": (m % 7 - 3) / 5} for m in range(20)]


def serve_contract(page: Any, summary: dict[str, Any]) -> list[str]:
    """Route the fake origin: static files from disk, the API from fixtures. Returns API paths hit."""
    hits: list[str] = []

    def handle(route: Any) -> None:
        path = route.request.url[len(FAKE_ORIGIN) :].split("?")[0]
        if path.startswith("/api/"):
            hits.append(path)
            if path == "/api/v1/bots/status/summary":
                route.fulfill(status=200, content_type="application/json", body=json.dumps(summary))
            elif path.endswith("/signal-history"):
                route.fulfill(status=200, content_type="application/json", body=json.dumps(HISTORY))
            else:
                route.fulfill(status=404, content_type="application/json", body='{"detail": "no"}')
            return
        # the app serves index.html at / and the assets under /static/
        file = STATIC / ("index.html" if path == "/" else path.removeprefix("/static/"))
        if not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        route.fulfill(
            status=200,
            content_type=types.get(file.suffix, "application/octet-stream"),
            body=file.read_bytes(),
        )

    page.route(f"{FAKE_ORIGIN}/**", handle)
    return hits


RECORD_SUMMARY_FETCHES = """
window.__summaryFetches = [];
const realFetch = window.fetch.bind(window);
window.fetch = (url, options) => {
  if (String(url).includes("bots/status/summary")) window.__summaryFetches.push(Date.now());
  return realFetch(url, options);
};
"""


def is_summary(request_or_response: Any) -> bool:
    return "/api/v1/bots/status/summary" in request_or_response.url


def use_fake_timers(page: Any) -> None:
    """Playwright's page clock: after pause_timers(), page timers fire only when the test says."""
    page.clock.install()
    page.add_init_script(RECORD_SUMMARY_FETCHES)


def pause_timers(page: Any) -> None:
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.5)  # Python takes seconds


def open_dashboard(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#bots article.bot, #bots .empty", timeout=5000)


def card(page: Any, name: str) -> Any:
    return page.locator("article.bot", has=page.locator(".bot-name", has_text=name))


# ---------------------------------------------------------------- live server


def test_live_dashboard_loads_without_console_errors_and_shows_mode_and_every_bot(
    live_server: Any, page: Any
) -> None:
    btc = live_server.create_bot("btc-e2e", "BTC-USD")
    live_server.create_bot("eth-e2e", "ETH-USD")
    live_server.post(f"/bots/{btc}/evaluate")

    open_dashboard(page, live_server.url)

    assert page.locator("#mode-badge").inner_text() == "MOCK"
    assert page.locator("article.bot").count() == 2
    evaluated = card(page, "btc-e2e")
    assert evaluated.locator(".temperature .temp-level").inner_text().strip() not in ("", "—")
    assert evaluated.locator(".score-value").inner_text() != "—"
    assert evaluated.locator(".confirmation").count() == 1
    assert card(page, "eth-e2e").locator(".temperature").inner_text().endswith("—")
    assert re.match(r"Last updated \d\d:\d\d:\d\d", page.locator("#last-updated").inner_text())
    page.screenshot(path=str(SCREENSHOT), full_page=True)
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
    assert page.locator("#trading-state").inner_text() == "Trading enabled"
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


def test_control_without_token_shows_the_401_refusal_and_changes_nothing(live_server: Any, page: Any) -> None:
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.accept())
    page.click("#btn-enable")
    message = page.locator("#action-message")
    page.wait_for_function(
        "() => /401/.test(document.querySelector('#action-message').textContent)", timeout=5000
    )
    assert "no API token set" in message.inner_text()
    assert live_server.summary()["trading"]["enabled"] is False


def test_dismissed_confirmation_sends_no_request(live_server: Any, page: Any) -> None:
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.dismiss())
    page.click("#btn-enable")
    page.click("#btn-emergency-stop")  # prompt dismissed: no stop
    page.wait_for_timeout(300)
    assert page.log.posts() == []
    assert live_server.summary()["trading"]["enabled"] is False


def test_control_with_saved_token_enables_trading_and_sends_bearer_header(
    live_server: Any, page: Any
) -> None:
    from tests.e2e.conftest import API_TOKEN

    open_dashboard(page, live_server.url)
    page.fill("#token-input", API_TOKEN)
    page.click("#token-form button[type=submit]")
    assert page.evaluate("localStorage.getItem('coinpilot.apiToken')") == API_TOKEN
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/trading/enable")
    ) as req:
        page.click("#btn-enable")
    assert req.value.headers.get("authorization") == f"Bearer {API_TOKEN}"
    assert dialogs and "Enable trading" in dialogs[0]
    page.locator("#trading-state", has_text="Trading enabled").wait_for(timeout=5000)
    assert live_server.summary()["trading"]["enabled"] is True


def test_emergency_stop_sends_reason_shows_banner_and_release_clears_it(live_server: Any, page: Any) -> None:
    from tests.e2e.conftest import API_TOKEN

    page.add_init_script(f"localStorage.setItem('coinpilot.apiToken', '{API_TOKEN}')")
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.accept("e2e drill") if d.type == "prompt" else d.accept())

    with page.expect_request(lambda r: r.url.endswith("/safety/emergency-stop")) as req:
        page.click("#btn-emergency-stop")
    body = json.loads(req.value.post_data or "{}")
    assert body == {"reason": "e2e drill", "cancel_open_orders": False, "close_positions": False}
    banner = page.locator("#emergency-banner")
    banner.wait_for(state="visible", timeout=5000)
    assert "e2e drill" in banner.inner_text()
    assert live_server.summary()["trading"]["emergency_stop"] is True

    page.click("#btn-emergency-release")
    banner.wait_for(state="hidden", timeout=5000)
    assert live_server.summary()["trading"]["emergency_stop"] is False


def test_bot_stop_button_stops_a_running_bot(live_server: Any, page: Any) -> None:
    from tests.e2e.conftest import API_TOKEN

    bot = live_server.create_bot("btc-e2e", "BTC-USD")
    live_server.post(f"/bots/{bot}/start")
    page.add_init_script(f"localStorage.setItem('coinpilot.apiToken', '{API_TOKEN}')")
    open_dashboard(page, live_server.url)
    card(page, "btc-e2e").locator("button[data-bot-action=stop]").click()
    card(page, "btc-e2e").locator(".bot-status", has_text="STOPPED").wait_for(timeout=5000)
    statuses = {b["id"]: b["status"] for b in live_server.summary()["bots"]}
    assert statuses[bot] == "STOPPED"


# ---------------------------------------------------------------- contract fixture


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
