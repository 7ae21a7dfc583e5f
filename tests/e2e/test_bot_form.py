"""The bot form and the analytics page in headless Chromium against the live app.

Screenshots are saved as test artifacts in ``$COINPILOT_TEST_ARTIFACTS`` (default
``test-artifacts/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import BotStatus
from coinpilot.store.models import Bot
from tests.e2e.conftest import API_TOKEN

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("COINPILOT_TEST_ARTIFACTS", "test-artifacts"))


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def token_form_ready(page: Any) -> None:
    """The page's script has bound the token form (it writes the token state when it does)."""
    page.wait_for_function("() => document.querySelector('#token-state').textContent !== ''")


def keep_token(page: Any) -> None:
    token_form_ready(page)
    page.fill("#token-input", API_TOKEN)
    page.click("#token-form button[type=submit]")
    page.locator("#token-state", has_text="checked and kept").wait_for(timeout=5000)


def bot_rows(db_url: str) -> list[Any]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(Bot.name, Bot.status, Bot.stop_loss_pct, Bot.strategy)))
    finally:
        engine.dispose()


def test_creating_a_bot_with_an_invalid_weight_shows_the_field_error_and_stores_nothing(
    live_server: Any, page: Any, db_url: str
) -> None:
    page.goto(live_server.url + "/bots/new")
    page.wait_for_selector("#f-signal-config-rsi-weight")
    page.wait_for_function("() => document.querySelector('#f-pair').options.length >= 2")
    keep_token(page)
    page.fill("#f-name", "bad-weight")
    page.select_option("#f-pair", "BTC-USD")
    page.fill("#f-signal-config-rsi-weight", "1.5")
    page.click("#btn-save")
    error = page.locator("#err-f-signal-config-rsi-weight")
    error.wait_for(state="visible", timeout=5000)
    assert "between 0 and 1" in error.inner_text()
    assert "has-error" in (
        page.locator("[data-field='signal_config.rsi.weight']").get_attribute("class") or ""
    )
    assert "Nothing was saved" in page.locator("#form-message").inner_text()
    shot(page, "bot-form-invalid-weight")
    assert bot_rows(live_server.settings.resolved_database_url) == []
    assert page.log.errors == [] or all("422" in e for e in page.log.errors)


def test_save_waits_for_the_defaults_so_a_fast_click_cannot_send_a_half_filled_form(
    live_server: Any, page: Any
) -> None:
    held: list[Any] = []
    page.route("**/api/v1/bots/defaults", lambda route: held.append(route))
    page.goto(live_server.url + "/bots/new")
    page.wait_for_function("() => document.querySelector('#f-pair').options.length >= 2")
    for _ in range(250):  # the page's request for the defaults reaches the route
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "the form asks for the defaults"
    assert page.input_value("#f-strategy-stop-loss-pct") == ""
    assert page.is_disabled("#btn-save")  # nothing to save yet: the defaults are not in
    held[0].continue_()
    page.wait_for_selector("#bot-form[data-ready='true']")
    assert page.input_value("#f-strategy-stop-loss-pct") == "5"
    assert page.is_enabled("#btn-save")


def test_creating_a_valid_bot_then_editing_its_stop_loss_changes_the_bot(live_server: Any, page: Any) -> None:
    page.goto(live_server.url + "/bots/new")
    page.wait_for_selector("#bot-form[data-ready='true']")
    assert page.input_value("#f-strategy-stop-loss-pct") == "5"  # the defaults are filled in
    keep_token(page)
    page.fill("#f-name", "eth-form")
    page.select_option("#f-pair", "ETH-USD")
    page.click("#btn-save")
    page.wait_for_url("**/bots/*/edit?created=1", timeout=5000)
    page.locator("#form-message", has_text="Created eth-form").wait_for(timeout=5000)
    keep_token(page)  # sessionStorage survives the navigation; the check is cheap
    page.fill("#f-strategy-stop-loss-pct", "2.5")
    page.fill("#f-strategy-trailing-stop-pct", "3")
    page.click("#btn-save")
    page.locator("#form-message", has_text="Saved").wait_for(timeout=5000)
    shot(page, "bot-form-edited-stop-loss")
    ((name, status, stop, strategy),) = bot_rows(live_server.settings.resolved_database_url)
    assert (name, status) == ("eth-form", BotStatus.STOPPED)
    assert str(stop) == "2.5" and strategy["stop_loss_pct"] == "2.5" and strategy["trailing_stop_pct"] == "3"
    assert page.evaluate("localStorage.length") == 0  # the token is not kept in localStorage
    assert [e for e in page.log.errors if "Content Security Policy" in e] == []


def test_the_bot_page_links_to_its_edit_form(live_server: Any, page: Any) -> None:
    bot_id = live_server.create_bot("btc-link", "BTC-USD")
    page.goto(f"{live_server.url}/bots/{bot_id}")
    page.click(f"a[href='/bots/{bot_id}/edit']")
    page.wait_for_url(f"**/bots/{bot_id}/edit", timeout=5000)
    page.locator("#form-title", has_text="Edit btc-link").wait_for(timeout=5000)
    assert page.input_value("#f-name") == "btc-link"


def test_a_wrong_token_is_refused_when_saved(live_server: Any, page: Any) -> None:
    page.goto(live_server.url + "/bots/new")
    token_form_ready(page)
    page.fill("#token-input", "not-the-token")
    page.click("#token-form button[type=submit]")
    page.locator("#token-state", has_text="refused by the API").wait_for(timeout=5000)
    assert page.evaluate("sessionStorage.length") == 0


def test_a_bot_paused_by_safety_offers_resume(live_server: Any, page: Any) -> None:
    bot_id = live_server.create_bot("btc-paused", "BTC-USD")
    engine = sa.create_engine(live_server.settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(Bot)
            .where(Bot.id == bot_id)
            .values(status=BotStatus.PAUSED, status_reason="3 losses in a row")
        )
    engine.dispose()
    page.goto(f"{live_server.url}/bots/{bot_id}/edit")
    page.locator("#status-text", has_text="PAUSED — 3 losses in a row").wait_for(timeout=5000)
    keep_token(page)
    page.on("dialog", lambda d: d.accept())
    page.click("#btn-resume")
    page.locator("#status-text", has_text="RUNNING").wait_for(timeout=5000)
    assert page.locator("#btn-resume").is_hidden()


def settle(live_server: Any, trade_id: int) -> dict[str, Any]:
    """Fill and settle a paper order the live server placed (it runs no order sync): the paper
    exchange fills after its fill delay, so sync until the trade is final."""
    import time

    from coinpilot.services import build_services

    services = build_services(live_server.settings, migrate=False)
    try:
        deadline = time.monotonic() + 15
        while True:
            services.sync.sync_all()
            trade: dict[str, Any] = live_server.request("GET", f"/trades/{trade_id}").json()
            if trade["status"] == "SETTLED" or time.monotonic() > deadline:
                return trade
            time.sleep(0.2)
    finally:
        services.close()


def test_analytics_view_renders_modes_side_by_side(live_server: Any, page: Any) -> None:
    bot_id = live_server.create_bot("btc-analytics", "BTC-USD")
    live_server.post("/trading/enable")
    buy = live_server.post("/trades/execute", json={"bot_id": bot_id, "side": "buy", "quote_size": "10"})
    size = settle(live_server, buy["trade"]["id"])["filled_base_size"]
    sell = live_server.post("/trades/execute", json={"bot_id": bot_id, "side": "sell", "base_size": size})
    assert settle(live_server, sell["trade"]["id"])["status"] == "SETTLED"
    realised = live_server.request("GET", "/analytics").json()["modes"]["mock"]["stats"]["total_pnl"]
    for _ in range(3):
        live_server.post(f"/bots/{bot_id}/evaluate")
    page.goto(live_server.url + "/analytics")
    page.wait_for_selector("article.mode-card[data-mode='mock'] table.stats-table")
    modes = page.locator("article.mode-card").evaluate_all("els => els.map(e => e.dataset.mode)")
    assert modes == ["mock", "production", "backtest"]
    mock = page.locator("article.mode-card[data-mode='mock']")
    assert page.locator("article.mode-card[data-mode='mock'] svg.curve polyline").count() == 1
    shown = mock.locator("table.stats-table tr", has_text="Realised P&L").locator("td").inner_text()
    assert shown.replace("\u2212", "-").replace("$", "").replace("+", "") == f"{float(realised):.2f}"
    assert "$0.00" in page.locator("article.mode-card[data-mode='production']").inner_text()
    page.click("#acc-run")
    page.wait_for_selector("#accuracy-table")
    assert page.locator("#accuracy-table tr").count() == 4  # header + three signals
    shot(page, "analytics")
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shot(page, "analytics-phone")
    assert page.log.errors == []
