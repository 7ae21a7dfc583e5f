"""The dashboard's controls in real headless Chromium against the live app.

Trading enable, emergency stop/release and bot stop: the token, the confirmation dialogs and what
reaches the API (see conftest.py for the live server).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e._dashboard import card, open_dashboard, save_token

pytestmark = pytest.mark.browser


def test_control_without_token_shows_the_401_refusal_and_changes_nothing(live_server: Any, page: Any) -> None:
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.accept())
    page.click("#btn-enable")
    message = page.locator("#action-message")
    page.wait_for_function(
        "() => /401/.test(document.querySelector('#action-message').textContent)", timeout=5000
    )
    assert "no API token set" in message.inner_text()
    assert live_server.summary()["trading"]["state"] == "HALTED"


def test_dismissed_confirmation_sends_no_request(live_server: Any, page: Any) -> None:
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.dismiss())
    page.click("#btn-enable")
    page.click("#btn-emergency-stop")  # prompt dismissed: no stop
    page.wait_for_timeout(300)
    assert page.log.posts() == []
    assert live_server.summary()["trading"]["state"] == "HALTED"


def test_control_with_saved_token_enables_trading_and_sends_bearer_header(
    live_server: Any, page: Any
) -> None:
    from tests.e2e.conftest import API_TOKEN

    open_dashboard(page, live_server.url)
    page.fill("#token-input", API_TOKEN)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/check")):
        page.click("#token-form button[type=submit]")
    page.locator("#token-state", has_text="Token checked").wait_for(timeout=3000)
    assert page.evaluate("sessionStorage.getItem('coinpilot.apiToken')") == API_TOKEN
    assert page.evaluate("localStorage.getItem('coinpilot.apiToken')") is None
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/trading/enable")
    ) as req:
        page.click("#btn-enable")
    assert req.value.headers.get("authorization") == f"Bearer {API_TOKEN}"
    assert dialogs and "Enable trading" in dialogs[0]
    page.locator("#trading-state", has_text="Trading ACTIVE").wait_for(timeout=5000)
    assert live_server.summary()["trading"]["state"] == "ACTIVE"


def test_emergency_stop_sends_reason_halts_and_release_gives_exits_only(live_server: Any, page: Any) -> None:
    from tests.e2e.conftest import API_TOKEN

    save_token(page, API_TOKEN)
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.accept("e2e drill") if d.type == "prompt" else d.accept())

    with page.expect_request(lambda r: r.url.endswith("/safety/emergency-stop")) as req:
        page.click("#btn-emergency-stop")
    body = json.loads(req.value.post_data or "{}")
    assert body == {"reason": "e2e drill", "cancel_open_orders": False, "close_positions": False}
    banner = page.locator("#emergency-banner")
    banner.wait_for(state="visible", timeout=5000)
    assert "e2e drill" in banner.inner_text()
    assert live_server.summary()["trading"]["state"] == "HALTED"
    page.locator("#trading-state", has_text="Trading HALTED").wait_for(timeout=5000)

    page.click("#btn-emergency-release")
    page.locator("#trading-state", has_text="Trading REDUCING").wait_for(timeout=5000)
    assert "REDUCING" in banner.inner_text() and "stop-losses keep working" in banner.inner_text()
    assert live_server.summary()["trading"]["state"] == "REDUCING"


def test_bot_stop_button_stops_a_running_bot(live_server: Any, page: Any) -> None:
    from tests.e2e.conftest import API_TOKEN

    bot = live_server.create_bot("btc-e2e", "BTC-USD")
    live_server.post(f"/bots/{bot}/start")
    save_token(page, API_TOKEN)
    open_dashboard(page, live_server.url)
    card(page, "btc-e2e").locator("button[data-bot-action=stop]").click()
    card(page, "btc-e2e").locator(".bot-status", has_text="STOPPED").wait_for(timeout=5000)
    statuses = {b["id"]: b["status"] for b in live_server.summary()["bots"]}
    assert statuses[bot] == "STOPPED"


def test_a_wrong_token_is_checked_and_not_saved(live_server: Any, page: Any) -> None:
    open_dashboard(page, live_server.url)
    page.fill("#token-input", "wrong-token-0123456789")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/check")) as resp:
        page.click("#token-form button[type=submit]")
    assert resp.value.status == 401
    page.locator("#token-state", has_text="refused").wait_for(timeout=3000)
    assert page.evaluate("sessionStorage.getItem('coinpilot.apiToken')") is None


def test_during_an_emergency_stop_release_is_the_main_action_not_enable(live_server: Any, page: Any) -> None:
    live_server.post("/trading/enable")
    live_server.post("/safety/emergency-stop", json={"reason": "drill"})
    open_dashboard(page, live_server.url)
    page.locator("#emergency-banner").wait_for(state="visible", timeout=5000)
    assert page.locator("#btn-enable").is_disabled()
    assert "btn-primary" not in (page.locator("#btn-enable").get_attribute("class") or "")
    assert "btn-primary" in (page.locator("#btn-emergency-release").get_attribute("class") or "")
    assert page.locator("#btn-emergency-release").is_enabled()


def test_bot_page_pause_button_states_the_consequence_and_pauses_a_running_bot(
    live_server: Any, page: Any
) -> None:
    from tests.e2e.conftest import API_TOKEN

    bot = live_server.create_bot("btc-pause", "BTC-USD")
    live_server.post(f"/bots/{bot}/start")
    save_token(page, API_TOKEN)
    page.goto(f"{live_server.url}/bots/{bot}")
    pause = page.locator("button[data-page-action=pause]")
    pause.wait_for(timeout=10_000)
    notes = page.locator(".page-controls .notes").inner_text()
    assert "no new entries; stop-loss, trailing stop and take-profit keep running" in notes
    assert page.locator("button[data-page-action=stop]").count() == 1  # next to the existing stop
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept("checking the news")))
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/api/v1/bots/{bot}/pause")
    ) as req:
        pause.click()
    assert json.loads(req.value.post_data or "{}") == {"reason": "checking the news"}
    page.locator("#bot-page-status", has_text="PAUSED").wait_for(timeout=5000)
    assert dialogs and "no new entries" in dialogs[0].lower()
    assert page.locator("button[data-page-action=pause]").count() == 0
    assert page.locator("button[data-page-action=start]", has_text="Resume").count() == 1
    statuses = {b["id"]: b["status"] for b in live_server.summary()["bots"]}
    assert statuses[bot] == "PAUSED"
    assert "paused by default: checking the news" in page.locator(".page-controls .notes").inner_text()


def test_the_controls_move_trading_through_active_halted_and_reducing(live_server: Any, page: Any) -> None:
    """Issue 13: every trading state is reachable from the page, and the pill follows each step."""
    from tests.e2e.conftest import API_TOKEN

    save_token(page, API_TOKEN)
    open_dashboard(page, live_server.url)
    page.on("dialog", lambda d: d.accept("e2e states") if d.type == "prompt" else d.accept())
    pill = page.locator("#trading-state")
    pill.filter(has_text="Trading HALTED").wait_for(timeout=5000)

    steps = [
        ("#btn-enable", "ACTIVE"),
        ("#btn-emergency-stop", "HALTED"),
        ("#btn-emergency-release", "REDUCING"),
        ("#btn-enable", "ACTIVE"),
        ("#btn-disable", "HALTED"),
    ]
    for button, expected in steps:
        page.click(button)
        pill.filter(has_text=f"Trading {expected}").wait_for(timeout=5000)
        assert live_server.summary()["trading"]["state"] == expected, button
    assert page.log.errors == []
