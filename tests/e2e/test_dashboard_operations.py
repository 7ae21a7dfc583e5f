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
    assert "state active" in texts[0] and "default" in texts[0]
    assert '{"state":"HALTED"}' in texts[0] and '{"state":"ACTIVE"}' in texts[0]
    assert any("bot created" in t and str(bot_id) in t and "panel-bot" in t for t in texts)
    note = page.locator("#escalation-note")
    assert "mock mode is not escalated" in note.inner_text()
    assert page.locator("#operations a[download]").get_attribute("href") == "/api/v1/audit.csv"
    assert page.log.errors == []


def test_text_from_the_api_is_never_parsed_as_html(live_server: Any, page: Any) -> None:
    live_server.post("/trading/disable", json={"reason": "<img src=x onerror=window.__pwned=1>"})
    open_dashboard(page, live_server.url)
    page.locator("#audit-body tr").first.wait_for(timeout=5000)
    assert "<img" in page.locator("#audit-body").inner_text()
    assert page.locator("#audit-body img").count() == 0
    assert page.evaluate("window.__pwned === undefined")


def test_production_escalation_shows_the_step_its_record_and_what_the_next_needs(page: Any) -> None:
    from tests.e2e._dashboard_contract import CONTRACT_SUMMARY, FAKE_ORIGIN, serve_contract

    serve_contract(page, CONTRACT_SUMMARY)
    open_dashboard(page, FAKE_ORIGIN)
    page.locator("#escalation-step").wait_for(timeout=5000)
    assert page.locator("#escalation-step").inner_text().startswith("Step 1 (canary)")
    assert "$10 a trade, 3 trades a day" in page.locator("#escalation").inner_text()
    assert "2 settled, 0 failed" in page.locator("#escalation-record").inner_text()
    assert "3 more settled trade(s)" in page.locator("#escalation-missing").inner_text()
    assert page.locator("#btn-escalation-approve").is_disabled()  # not before a clean record
    row = page.locator("#audit-body tr").first.inner_text()
    for text in ("alice", "bot updated", '{"trade_size_usd":"10"}', '{"trade_size_usd":"12"}'):
        assert text in row, text
    assert page.log.errors == []


def _log_to_the_server_buffer(live_server: Any) -> Any:
    """Configure the process's logging (as `coinpilot serve` does); returns a restore function."""
    import logging

    from coinpilot.logs import configure_logging

    root = logging.getLogger()
    saved = list(root.handlers), root.level

    def restore() -> None:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])

    configure_logging(live_server.settings)
    return restore


def test_the_recent_log_panel_shows_server_lines_as_text_and_only_polls_while_open(
    live_server: Any, page: Any
) -> None:
    import logging

    restore = _log_to_the_server_buffer(live_server)
    try:
        log = logging.getLogger("coinpilot.e2e")
        log.info("quiet info line")
        log.warning("<img src=x onerror=window.__pwned=1> odd fill", extra={"bot": 7, "trade": 42})
        open_dashboard(page, live_server.url)
        page.wait_for_timeout(6500)  # one dashboard poll: the closed panel asks for nothing
        assert not [u for _, _, u in page.log.requests if "/api/v1/logs" in u]

        page.click("#recent-log summary")
        rows = page.locator("#log-body tr")
        rows.filter(has_text="odd fill").wait_for(timeout=5000)
        row = rows.filter(has_text="odd fill").first.inner_text()
        for text in ("WARNING", "<img src=x onerror=window.__pwned=1> odd fill", "bot 7", "trade 42"):
            assert text in row, text
        assert page.locator("#log-body img").count() == 0
        assert page.evaluate("window.__pwned === undefined")
        assert "quiet info line" in page.locator("#log-body").inner_text()

        with page.expect_request(lambda r: "/api/v1/logs" in r.url and "level=WARNING" in r.url):
            page.select_option("#log-level", "WARNING")
        page.wait_for_function(
            "() => !/quiet info line/.test(document.querySelector('#log-body').textContent)", timeout=5000
        )
        log.error("a later error line")
        rows.filter(has_text="a later error line").wait_for(timeout=7000)  # the next 5 s poll

        page.click("#recent-log summary")  # closed again: no more requests
        page.wait_for_timeout(300)
        count = len([u for _, _, u in page.log.requests if "/api/v1/logs" in u])
        page.wait_for_timeout(6000)
        assert len([u for _, _, u in page.log.requests if "/api/v1/logs" in u]) == count
        assert page.log.errors == []
    finally:
        restore()
