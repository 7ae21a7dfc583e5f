"""The dashboard's operations panel (its own module, operations.js) in headless Chromium: the
audit trail with who changed what, and the risk escalation state."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e._dashboard import open_dashboard

pytestmark = pytest.mark.browser


def test_the_panel_shows_who_changed_what_and_that_mock_is_not_escalated(live_server: Any, page: Any) -> None:
    bot_id = live_server.create_bot("panel-bot", "BTC-USD")
    live_server.post("/trading/enable")
    open_dashboard(page, live_server.url)
    rows = page.locator("#audit-body tr")
    rows.first.wait_for(timeout=5000)
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert "enable trading" in texts[0] and "default" in texts[0]
    assert any("bot created" in t and str(bot_id) in t and "panel-bot" in t for t in texts)
    note = page.locator("#escalation-note")
    assert "mock mode is not escalated" in note.inner_text()
    assert page.locator("#operations a[download]").get_attribute("href") == "api/v1/audit.csv"
    assert page.log.errors == []


def test_text_from_the_api_is_never_parsed_as_html(live_server: Any, page: Any) -> None:
    live_server.post("/trading/disable", json={"reason": "<img src=x onerror=window.__pwned=1>"})
    open_dashboard(page, live_server.url)
    page.locator("#audit-body tr").first.wait_for(timeout=5000)
    assert "<img" in page.locator("#audit-body").inner_text()
    assert page.locator("#audit-body img").count() == 0
    assert page.evaluate("window.__pwned === undefined")
