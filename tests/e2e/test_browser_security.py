"""In real Chromium: /docs renders from local assets with outside network cut off, and neither
it nor the dashboard trips the strict Content-Security-Policy (issue 11)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e._dashboard import open_dashboard

pytestmark = pytest.mark.browser


def _local_only(page: Any, base: str) -> list[str]:
    """Abort every request that leaves the live server; returns the URLs it tried."""
    own = urlsplit(base).netloc
    outside: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == own:
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside


def test_docs_render_with_no_outside_network_and_no_csp_violation(live_server: Any, page: Any) -> None:
    outside = _local_only(page, live_server.url)
    page.goto(f"{live_server.url}/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=15000)
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert "Coinpilot" in page.locator(".swagger-ui .info .title").inner_text()
    assert outside == []
    assert [e for e in page.log.errors if "Content Security Policy" in e] == []


def test_dashboard_runs_under_the_csp(live_server: Any, page: Any) -> None:
    outside = _local_only(page, live_server.url)
    open_dashboard(page, live_server.url)
    assert outside == []
    assert page.log.errors == []
