"""The browser side: security headers on every response, the Host allowlist against DNS
rebinding, and API docs served from local assets only (issue 11)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import AUTH

PAGES = [
    "/",
    "/api/v1/health",
    "/api/v1/bots",
    "/docs",
    "/openapi.json",
    "/api/v1/bots/999",
    "/static/app.js",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(client, path) -> None:
    r = client.get(path)
    csp = r.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == ["'self'"], csp
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("referrer-policy") == "no-referrer"


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil", "", "[::2]:8000"],
)
def test_a_request_for_a_host_not_allowed_is_refused(client, host) -> None:
    """A DNS-rebinding page reaches the server under its own name: refused before any route."""
    before = client.get("/api/v1/trading/status").json()
    for path in ("/api/v1/bots/status/summary", "/api/v1/safety/audit", "/"):
        r = client.get(path, headers={"Host": host})
        assert r.status_code == 400, (path, host, r.text)
        assert "Host" in r.text
    r = client.post("/api/v1/trading/enable", headers={**AUTH, "Host": host})
    assert r.status_code == 400
    assert client.get("/api/v1/trading/status").json() == before


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000"])
def test_loopback_hosts_are_allowed(client, host) -> None:
    assert client.get("/api/v1/health", headers={"Host": host}).status_code == 200


def test_a_configured_host_is_allowed(settings, services) -> None:
    from fastapi.testclient import TestClient

    from coinpilot.api.app import create_app

    app = create_app(settings.model_copy(update={"allowed_hosts": ["pi.lan"]}), services)
    with TestClient(app, base_url="http://pi.lan:8000") as c:
        assert c.get("/api/v1/health").status_code == 200
        assert c.get("/api/v1/health", headers={"Host": "127.0.0.1"}).status_code == 400


def test_docs_load_only_local_assets_and_no_inline_script(client) -> None:
    html = client.get("/docs").text
    assert not re.search(r"https?://", html), "docs reference an outside URL"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script in /docs"
    assert " on" not in re.sub(r"<script[^>]*>", "", html).lower().replace("\n", " ").split("<body")[0]
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs
    for src in srcs:
        assert src.startswith("/"), src
        r = client.get(src)
        assert r.status_code == 200, src
        assert not re.search(rb"https?://(?:cdn|unpkg|fonts)\.", r.content[:5000]), src
    assert client.get("/redoc").status_code in (200, 404)
