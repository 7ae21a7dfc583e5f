"""What a browser may do with this server: security headers, the Host allowlist, local docs.

- Every response carries a strict Content-Security-Policy (scripts, styles and connections
  from this origin only, no inline script, no framing), ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``.
- A request whose ``Host`` is not in ``allowed_hosts`` is refused with 400 before any route
  runs: a DNS-rebinding page reaches 127.0.0.1 under its own name, so without this check it
  could read every tokenless GET.
- ``/docs`` is Swagger UI from the ``fastapi-offline`` wheel's assets, started by a local
  script (FastAPI's own page loads unpinned JavaScript from a CDN with an inline script).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_DIR = Path(__file__).resolve().parent.parent / "web" / "docs"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def host_name(host_header: str) -> str | None:
    """The name in a Host header without its port (``[::1]:8000`` -> ``::1``); None if malformed."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not value[end + 1 :].startswith(":")):
            return None
        return value[1:end]
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name or None


class BrowserGuard:
    """Pure ASGI middleware (it wraps every route, static files and docs alike)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = {h.strip().lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        name = host_name(headers.get(b"host", b"").decode("latin-1"))
        if name is None or name not in self.allowed:
            body = (
                b"Host header not allowed: add the name you use to reach Coinpilot to COINPILOT_ALLOWED_HOSTS"
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        *SECURITY_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_local_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI) from assets on this machine, under the strict CSP."""
    from fastapi_offline.core import _STATIC_PATH

    app.mount("/docs-assets/vendor", StaticFiles(directory=_STATIC_PATH), name="docs-vendor")
    app.mount("/docs-assets/local", StaticFiles(directory=DOCS_DIR), name="docs-local")
    page = (DOCS_DIR / "index.html").read_text()

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)
