"""Helpers shared by the dashboard browser tests: where the page lives and how to drive it.

Split out of the dashboard tests so the live, control and contract modules use one definition of
opening the dashboard, finding a bot's card and running the page's timers on Playwright's clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import coinpilot.web

STATIC = Path(coinpilot.web.__file__).parent / "static"
POLL_WAIT_MS = 6500  # one 5 s poll plus slack

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
    page.wait_for_selector("#bots tr.bot-row, #bots .empty", timeout=5000)


def card(page: Any, name: str) -> Any:
    """A bot's row in the overview's bots table."""
    return page.locator("tr.bot-row", has=page.locator(".bot-name", has_text=name))


def save_token(page: Any, token: str) -> None:
    """Put the API token where the page keeps it (sessionStorage) before the page loads."""
    page.add_init_script(f"sessionStorage.setItem('coinpilot.apiToken', '{token}')")


# A strict policy like the one the server sends in production: nothing inline, nothing remote.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def enforce_strict_csp(page: Any, origin: str) -> None:
    """Serve every HTML page of ``origin`` with STRICT_CSP and record any violation."""
    page.add_init_script(RECORD_CSP_VIOLATIONS)

    def add_header(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": STRICT_CSP}
        route.fulfill(response=response, headers=headers)

    page.route(
        lambda url: url.startswith(origin) and "/api/" not in url and "/static/" not in url, add_header
    )
